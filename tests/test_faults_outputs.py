"""Output folders under faults (training/outputs.py): a kill during the final save, a full disk, two runs at once.

A kill -9 during the final save of distill and finetune (while the staging folder is written, after the first file
moved into place, before the last one) leaves no folder that looks finished, and the same command again resumes from
the complete checkpoint without refusing and without deleting checkpoints, leaving no temporary file. A full disk (a
file-size limit, or a small tmpfs as root) in finetune, convert and export is one line and exit code 2, with nothing
under a final name; the same command works once there is space. A second run into a folder a live run holds is
refused naming its PID; the lock of a killed run is taken over. The outputs of train-tokenizer (a folder), card
(README.md) and evaluate (--output_file, locked as one file) follow the same rules (issue 35).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from modeling_kr_electra_kd import KRElectraKDConfig, KRElectraKDForPreTraining
from training import outputs
from training.arguments import check_output_dir
from training.commands import card, convert, distill, evaluate, export, finetune, train_tokenizer
from training.errors import one_line_errors
from training.outputs import (
    FINISHED_MODEL_FILES,
    LOCK_FILE,
    DiskFullError,
    atomic_file,
    atomic_output,
    claim_output_file,
    claim_output_folder,
    disk_full_reason,
    guards_outputs,
)

FIXTURES = Path(__file__).resolve().parent / "fixtures"
QUIET = ["--disable_tqdm", "true", "--report_to", "none", "--logging_steps", "1000"]
MODEL_BYTES = 300_000  # the tiny models' model.safetensors / model.onnx are about 380 kB, every other file < 60 kB


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def _save_model(folder: Path, tokenizer, **overrides) -> Path:
    torch.manual_seed(0)
    config = KRElectraKDConfig.from_preset("tiny", vocab_size=overrides.pop("vocab_size", len(tokenizer)), **overrides)
    KRElectraKDForPreTraining(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory, tiny_tokenizer) -> Path:
    return _save_model(tmp_path_factory.mktemp("model"), tiny_tokenizer)


def _left_behind(folder: Path) -> list[str]:
    """What a crash may leave: staging folders beside `folder`, safetensors' temporary files and the lock in it."""
    beside = [path.name for path in folder.parent.glob(f".{folder.name}.partial-*")]
    inside = [str(path.relative_to(folder)) for path in folder.rglob(".tmp*")]
    return beside + inside + ([LOCK_FILE] if (folder / LOCK_FILE).exists() else [])


def _finished(folder: Path) -> list[str]:
    return [name for name in FINISHED_MODEL_FILES if (folder / name).exists()]


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


# ---------------------------------------------------------------- atomic outputs (fast)


def test_files_move_into_place_only_when_complete_and_checkpoints_stay(tmp_path, monkeypatch):
    target = tmp_path / "out"
    (target / "checkpoint-2").mkdir(parents=True)
    (target / "checkpoint-2" / "model.safetensors").write_text("checkpoint")
    moved = []
    with atomic_output(target) as staging:
        assert staging == tmp_path / f".out.partial-{os.getpid()}"
        for name in ("config.json", "model.safetensors", "results.json", "generator/config.json", "notes.txt"):
            (staging / name).parent.mkdir(exist_ok=True)
            (staging / name).write_text(name)
        assert sorted(path.name for path in target.iterdir()) == ["checkpoint-2"]  # nothing yet under a final name
        real_move = outputs._move_file
        monkeypatch.setattr(outputs, "_move_file", lambda source, to: (moved.append(to.name), real_move(source, to)))
    assert moved[-3:] == ["results.json", "model.safetensors", "config.json"]  # what makes a folder finished: last
    assert (target / "generator" / "config.json").read_text() == "generator/config.json"
    assert (target / "checkpoint-2" / "model.safetensors").read_text() == "checkpoint"
    assert _left_behind(target) == []


def test_an_error_while_writing_leaves_the_target_as_it_was(tmp_path):
    target = tmp_path / "out"
    (target / "checkpoint-2").mkdir(parents=True)
    with pytest.raises(RuntimeError, match="boom"), atomic_output(target) as staging:
        (staging / "config.json").write_text("{}")
        raise RuntimeError("boom")
    assert sorted(path.name for path in target.iterdir()) == ["checkpoint-2"] and _left_behind(target) == []


def test_a_known_size_that_does_not_fit_is_refused_before_writing(tmp_path):
    free = outputs.free_bytes(tmp_path)
    with pytest.raises(DiskFullError) as error, atomic_output(tmp_path / "out", needed=free + 10**9):
        pytest.fail("the block must not run")
    message = str(error.value)
    assert (
        f"not enough space to write {tmp_path / 'out'}" in message
        and f"about {(free + 10**9) / 1e6:.1f} MB needed" in message
    )
    assert not (tmp_path / "out").exists() and _left_behind(tmp_path / "out") == []


def test_a_killed_runs_half_done_move_is_undone_and_its_leftovers_removed(tmp_path, capsys):
    """As a kill between moving model.safetensors and config.json leaves it: the folder must not look finished to the
    next run, which resumes from checkpoint-2 instead of refusing; safetensors' .tmpXXXXXX files go too."""
    target = tmp_path / "out"
    (target / "checkpoint-2").mkdir(parents=True)
    (target / "checkpoint-2" / "trainer_state.json").write_text("{}")
    (target / "checkpoint-2" / ".tmpAb12Cd").write_bytes(b"half a tensor")
    (target / ".tmpZz9Yy8").write_bytes(b"half a tensor")
    staging = tmp_path / f".out.partial-{_dead_pid()}"
    staging.mkdir()
    (staging / outputs.MOVING_FILE).write_text(json.dumps(["tokenizer.json", "model.safetensors", "config.json"]))
    (staging / "config.json").write_text("{}")  # not moved yet
    (target / "tokenizer.json").write_text("{}")
    (target / "model.safetensors").write_text("moved")
    guarded = guards_outputs(lambda argv: check_output_dir(target, overwrite=False))
    assert guarded([]) is None  # not refused
    assert sorted(path.name for path in target.iterdir()) == ["checkpoint-2"]
    assert (target / "checkpoint-2" / "trainer_state.json").is_file() and _left_behind(target) == []
    printed = capsys.readouterr().out
    assert f"Removed what an interrupted run left in {target.absolute()}" in printed
    assert "model.safetensors (half moved)" in printed and ".tmpAb12Cd" in printed


def test_outside_a_command_run_the_check_takes_no_lock(tmp_path):
    check_output_dir(tmp_path / "new", overwrite=False)
    assert not (tmp_path / "new").exists()


# ---------------------------------------------------------------- a full disk as one line (fast)


@pytest.mark.parametrize(
    "error",
    [
        OSError(errno.ENOSPC, "No space left on device"),
        OSError(errno.EFBIG, "File too large"),
        Exception("Error while serializing: I/O error: No space left on device (os error 28)"),  # safetensors
        RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 576 vs 534"),  # torch.save
    ],
    ids=["ENOSPC", "EFBIG", "safetensors", "torch.save"],
)
def test_full_disk_errors_are_recognised(error):
    assert disk_full_reason(error) is not None
    try:
        raise ValueError("while saving") from error
    except ValueError as chained:
        assert disk_full_reason(chained) is not None


def test_other_errors_are_not_a_full_disk():
    assert disk_full_reason(ValueError("No checkpoint found")) is None
    assert disk_full_reason(OSError(errno.ENOENT, "No such file")) is None


def test_a_full_disk_in_a_command_is_one_line_and_exit_code_2(tmp_path, capsys):
    def command(argv):
        check_output_dir(tmp_path / "out", overwrite=False)
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "out" / "optimizer.pt"))

    assert one_line_errors(guards_outputs(command))([]) == outputs.DISK_FULL_EXIT_CODE == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and error.startswith(f"error: not enough space to write {tmp_path / 'out'}")
    assert "Traceback" not in error and not (tmp_path / "out").exists()  # the lock went, with the folder it made


def test_export_refuses_a_tokenizer_larger_than_the_embeddings_before_writing(tiny_tokenizer, tmp_path, capsys):
    model = _save_model(tmp_path / "model", tiny_tokenizer, vocab_size=len(tiny_tokenizer) - 10)
    capsys.readouterr()
    assert export.main(["--model", str(model), "--output_dir", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err
    assert "Traceback" not in error and error.strip().splitlines()[-1].startswith(
        f"error: The tokenizer has {len(tiny_tokenizer)} tokens but the model's embeddings cover only 521;"
    )
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------- one run per folder


HOLDER = """
import sys, time
from training.arguments import check_output_dir
from training.outputs import guards_outputs

@guards_outputs
def hold(argv):
    check_output_dir(argv[0], overwrite=False)
    print("holding", flush=True)
    time.sleep(600)

hold(sys.argv[1:])
"""


@pytest.mark.slow
def test_a_second_run_into_a_held_folder_is_refused_and_a_killed_runs_lock_taken_over(tiny_model, tmp_path, capsys):
    output = tmp_path / "low"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(output)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "holding\n"
        argv = ["--model", str(tiny_model), "--output_dir", str(output), "--ffn_rank", "16"]
        assert convert.main(argv) == 2
        error = capsys.readouterr().err
        assert error.count("\n") == 1
        assert error.startswith(f"error: {output} is in use by another kr-electra-kd run (PID {holder.pid} on ")
        assert not (output / "config.json").exists()
    finally:
        holder.kill()
        holder.wait()
    assert convert.main(argv) == 0
    printed = capsys.readouterr().out
    assert f"Took over the lock of {output} from a run that no longer holds it (PID {holder.pid} on " in printed
    assert (output / "config.json").is_file() and _left_behind(output) == []  # the lock is released on exit


# ---------------------------------------------------------------- kill -9 during the final save


def _finetune_argv(model: Path, output: Path) -> list[str]:
    argv = ["--model", str(model), "--task", "paws", "--data_dir", str(FIXTURES / "tasks/paws")]
    argv += ["--output_dir", str(output), "--max_steps", "2", "--save_strategy", "steps", "--save_steps", "2"]
    return [*argv, "--keep_checkpoints", "true", "--per_device_train_batch_size", "2", *QUIET]


def _distill_argv(teacher: Path, output: Path) -> list[str]:
    argv = ["--teacher", str(teacher), "--student_preset", "tiny", "--student_shape", "hidden_size=32"]
    argv += ["--corpus", str(FIXTURES / "corpus.txt"), "--output_dir", str(output), "--max_steps", "2"]
    return [*argv, "--save_steps", "2", "--per_device_train_batch_size", "4", "--seed", "0", *QUIET]


COMMANDS = {  # command, its argv, where its checkpoints are
    "finetune": (finetune.main, _finetune_argv, "."),
    "distill": (distill.main, _distill_argv, "checkpoints"),
}
# Where the kill lands: while the staging folder is written (its model is saved, its JSON record not), after the
# first file moved into the output folder, and just before the last (model.safetensors moved, config.json not).
STAGES = ("writing", "first-moved", "before-last")


def _pause_at(stage: str, reached: Path) -> None:
    """In the child: at `stage`, say so in `reached` and wait to be killed."""

    def pause():
        reached.write_text(stage)
        time.sleep(600)

    if stage == "writing":
        write_text = Path.write_text

        def paused_write_text(self, *args, **kwargs):
            if outputs.PARTIAL_MARK in str(self):
                pause()
            return write_text(self, *args, **kwargs)

        Path.write_text = paused_write_text
        return
    move = outputs._move_file
    calls = []

    def paused_move(source, destination):
        calls.append(destination.name)
        if (stage == "first-moved" and len(calls) == 2) or (
            stage == "before-last" and destination.name == "config.json"
        ):
            pause()
        move(source, destination)

    outputs._move_file = paused_move


def _killed_during_final_save(main, argv: list[str], stage: str, reached: Path) -> int:
    """Run `main(argv)` in a forked child (torch already imported: no start-up cost), SIGKILL it at `stage`."""
    child = os.fork()
    if child == 0:  # pragma: no cover - the child
        try:
            torch.set_num_threads(1)  # as DataLoader workers: OpenMP's pool does not survive a fork
            _pause_at(stage, reached)
            main(argv)
        finally:
            os._exit(1)
    deadline = time.monotonic() + 240
    while not reached.exists():
        if os.waitpid(child, os.WNOHANG) != (0, 0):
            pytest.fail(f"the run ended before reaching the final save ({stage})")
        if time.monotonic() > deadline:
            os.kill(child, signal.SIGKILL)
            pytest.fail(f"the run did not reach the final save ({stage}) in time")
        time.sleep(0.05)
    os.kill(child, signal.SIGKILL)
    os.waitpid(child, 0)
    return child


@pytest.mark.slow
@pytest.mark.parametrize("stage", STAGES)
@pytest.mark.parametrize("command", COMMANDS)
def test_a_kill_during_the_final_save_is_resumed_without_refusing(command, stage, tiny_model, tmp_path, capsys):
    main, make_argv, checkpoints = COMMANDS[command]
    output = tmp_path / "out"
    argv = make_argv(tiny_model, output)
    killed = _killed_during_final_save(main, argv, stage, tmp_path / "reached")

    assert "config.json" not in _finished(output)  # never a finished-looking folder (but the rename in flight)
    moved = {"finetune": ["model.safetensors", "results.json"], "distill": ["model.safetensors"]}[command]
    assert _finished(output) == (moved if stage == "before-last" else [])  # (what the next run undoes)
    assert (tmp_path / f".out.partial-{killed}").is_dir()
    checkpoint = output / checkpoints / "checkpoint-2"
    assert (checkpoint / "trainer_state.json").is_file()
    assert json.loads((output / LOCK_FILE).read_text())["pid"] == killed

    capsys.readouterr()
    assert main(argv) == 0  # the same command again: neither refused nor started over
    printed = capsys.readouterr().out
    assert f"Took over the lock of {output.absolute()} from a run that no longer holds it (PID {killed} " in printed
    assert f"Removed what an interrupted run left in {output.absolute()}: " in printed
    assert f"Resuming from {checkpoint}" in printed
    assert f"{checkpoint} holds all 2 steps: saving the model without further training." in printed
    assert (checkpoint / "trainer_state.json").is_file()  # the checkpoints are still there, and no step was added
    assert sorted(path.name for path in checkpoint.parent.glob("checkpoint-*")) == ["checkpoint-2"]
    if command == "finetune":  # the model saved is the checkpoint's
        saved, kept = load_file(output / "model.safetensors"), load_file(checkpoint / "model.safetensors")
        assert saved.keys() == kept.keys() and all(torch.equal(saved[name], kept[name]) for name in saved)
    assert {"config.json", "model.safetensors"} <= set(_finished(output))
    assert _left_behind(output) == []


# ---------------------------------------------------------------- a full disk, then space again


@contextlib.contextmanager
def file_size_limit(limit: int):
    """Files of this process cannot grow past `limit` bytes (writes fail with EFBIG: SIGXFSZ ignored)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, handler)


@contextlib.contextmanager
def small_disk(folder: Path, size: str):
    """A tmpfs of `size` at `folder` (root only); yields a function that grows it (space freed)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root; the file-size-limit variant covers a full disk")
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True)
    if mounted.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield lambda: subprocess.run(["mount", "-o", "remount,size=64m", str(folder)], check=True)
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def _finetune_full_disk_argv(model: Path, output: Path, *save: str) -> list[str]:
    argv = ["--model", str(model), "--task", "paws", "--data_dir", str(FIXTURES / "tasks/paws")]
    return [*argv, "--output_dir", str(output), "--max_steps", "2", "--per_device_train_batch_size", "2", *save, *QUIET]


FULL_DISK_COMMANDS = {  # the command and its argv for a model folder and an output folder
    # the checkpoint at step 2 meets the full disk
    "finetune": (
        finetune.main,
        lambda model, out: _finetune_full_disk_argv(model, out, "--save_strategy", "steps", "--save_steps", "2"),
    ),
    # no checkpoint: the final save meets it
    "finetune-final": (finetune.main, lambda model, out: _finetune_full_disk_argv(model, out, "--save_strategy", "no")),
    "convert": (convert.main, lambda model, out: ["--model", str(model), "--output_dir", str(out), "--ffn_rank", "16"]),
    "export": (export.main, lambda model, out: ["--model", str(model), "--output_dir", str(out)]),
}


@pytest.mark.slow
@pytest.mark.parametrize("disk", ["file-size-limit", "tmpfs"])
@pytest.mark.parametrize("command", FULL_DISK_COMMANDS)
def test_a_full_disk_is_one_line_leaves_nothing_finished_and_the_rerun_works(
    command, disk, tiny_model, tmp_path, capsys
):
    main, make_argv = FULL_DISK_COMMANDS[command]
    with contextlib.ExitStack() as stack:
        if disk == "tmpfs":
            grow = stack.enter_context(small_disk(tmp_path / "disk", "200k"))
            output = tmp_path / "disk" / "out"
        else:
            output = tmp_path / "out"
        argv = make_argv(tiny_model, output)
        with file_size_limit(MODEL_BYTES) if disk == "file-size-limit" else contextlib.nullcontext():
            code = main(argv)
        error = capsys.readouterr().err.strip().splitlines()
        assert code == 2, error
        assert error[-1].startswith(f"error: not enough space to write {output}"), error
        assert "Traceback" not in "\n".join(error)
        if disk == "tmpfs" and command != "finetune":  # the size is known before the final output is written
            assert " MB needed, " in error[-1], error[-1]
        assert _finished(output) == [] and _left_behind(output) == []
        if disk == "tmpfs":
            grow()
        assert main(argv) == 0  # space again: the same command works
        assert "config.json" in _finished(output) and _left_behind(output) == []


# ---------------------------------------------------------------- one-file outputs; train-tokenizer, card, evaluate


def test_a_file_moves_into_place_only_when_complete(tmp_path):
    target = tmp_path / "results.json"
    target.write_text("old")
    with atomic_file(target) as staged:
        assert staged == tmp_path / f".results.json.partial-{os.getpid()}"
        staged.write_text("new")
        assert target.read_text() == "old"  # nothing under the final name until the block ends
    assert target.read_text() == "new" and sorted(path.name for path in tmp_path.iterdir()) == ["results.json"]
    with pytest.raises(RuntimeError, match="boom"), atomic_file(target) as staged:
        staged.write_text("half")
        raise RuntimeError("boom")
    assert target.read_text() == "new" and sorted(path.name for path in tmp_path.iterdir()) == ["results.json"]


def test_a_killed_runs_staged_files_are_removed_by_the_next_run(tmp_path, capsys):
    folder = tmp_path / "model"
    folder.mkdir()
    dead, alive = _dead_pid(), os.getppid()  # the shell that started the tests runs still
    for name in (f".README.md.partial-{dead}", f".eval.json.partial-{dead}", f".README.md.partial-{alive}"):
        (folder / name).write_text("half")
    guards_outputs(lambda argv: claim_output_file(folder / "eval.json", "--output_file"))([])
    # only the dead run's leftover of this output goes (the order of the names depends on the two PIDs' digits)
    assert sorted(path.name for path in folder.iterdir()) == sorted(
        [f".README.md.partial-{alive}", f".README.md.partial-{dead}"]
    )
    guards_outputs(lambda argv: claim_output_folder(folder, "--model"))([])
    assert sorted(path.name for path in folder.iterdir()) == [f".README.md.partial-{alive}"]  # a live run's stays
    assert f"Removed what an interrupted run left in {folder}: .README.md.partial-{dead}." in capsys.readouterr().out


@pytest.fixture(scope="module")
def nsmc_model(tmp_path_factory, tiny_model) -> Path:
    """The tiny model with an (untrained) nsmc head: what `evaluate --task nsmc` scores."""
    from training.evaluation import load_task_model
    from training.loading import load_config
    from training.tasks import get_task

    folder = tmp_path_factory.mktemp("nsmc-model")
    torch.manual_seed(0)
    load_task_model(str(tiny_model), get_task("nsmc"), load_config(str(tiny_model))).save_pretrained(folder)
    for path in tiny_model.glob("*token*"):
        shutil.copy(path, folder / path.name)
    return folder


# What makes a tokenizer folder look finished (AutoTokenizer reads them).
TOKENIZER_FILES = ["tokenizer.json", "tokenizer_config.json"]


def _tokenizer_output(tmp_path: Path, models: dict) -> tuple[list[str], Path, list[str]]:
    argv = ["--corpus", str(FIXTURES / "corpus.txt"), "--output_dir", str(tmp_path / "tok"), "--no_morphemes"]
    return [*argv, "--vocab_size", "200", "--min_frequency", "1"], tmp_path / "tok", TOKENIZER_FILES


def _card_output(tmp_path: Path, models: dict) -> tuple[list[str], Path, list[str]]:
    folder = tmp_path / "student"
    if not folder.exists():
        shutil.copytree(models["tiny"], folder)
    return ["--model", str(folder)], folder, ["README.md"]


def _evaluate_output(tmp_path: Path, models: dict) -> tuple[list[str], Path, list[str]]:
    argv = ["--model", str(models["nsmc"]), "--task", "nsmc", "--data_dir", str(FIXTURES / "tasks/nsmc")]
    return [*argv, "--output_file", str(tmp_path / "eval.json")], tmp_path / "eval.json", ["eval.json"]


ONE_RUN_COMMANDS = {  # main, its argv / output / the files it writes, the lock file, the flag that names the output
    "train-tokenizer": (train_tokenizer.main, _tokenizer_output, lambda out: out / LOCK_FILE, "--output_dir"),
    "card": (card.main, _card_output, lambda out: out / LOCK_FILE, "--model"),
    "evaluate": (evaluate.main, _evaluate_output, lambda out: out.parent / f".eval.json{LOCK_FILE}", "--output_file"),
}


def _written(output: Path, names: list[str]) -> list[str]:
    folder = output if output.suffix != ".json" else output.parent
    return [name for name in names if (folder / name).exists()]


def _staged(output: Path) -> list[str]:
    folder = output if output.suffix != ".json" else output.parent
    beside = [path.name for path in folder.parent.glob(f".{folder.name}.partial-*")]
    inside = [path.name for path in folder.glob(".*.partial-*")] if folder.is_dir() else []
    return beside + inside + [path.name for path in folder.glob(f"*{LOCK_FILE}")]


@pytest.mark.parametrize("command", ONE_RUN_COMMANDS)
def test_a_second_run_into_a_held_output_is_refused_in_one_line(command, tiny_model, nsmc_model, tmp_path, capsys):
    main, output_of, lock_of, flag = ONE_RUN_COMMANDS[command]
    argv, output, names = output_of(tmp_path, {"tiny": tiny_model, "nsmc": nsmc_model})
    lock = lock_of(output)
    lock.parent.mkdir(parents=True, exist_ok=True)
    holder = os.open(lock, os.O_RDWR | os.O_CREAT)  # as a live run holds it: flock refuses a second open file
    os.write(holder, json.dumps({"pid": 4242, "host": "elsewhere", "started": "noon"}).encode())
    fcntl.flock(holder, fcntl.LOCK_EX)
    try:
        capsys.readouterr()
        assert main(argv) == 2
    finally:
        os.close(holder)
    error = capsys.readouterr().err.strip().splitlines()
    assert error[-1] == (
        f"error: {output} is in use by another kr-electra-kd run (PID 4242 on elsewhere, since noon); wait for it "
        f"to finish, or choose another {flag}."
    ), error
    assert _written(output, names) == []
    assert main(argv) == 0  # the holder gone: the same command works, and releases its own lock
    assert _written(output, names) == names and _staged(output) == []


@pytest.mark.parametrize("command", ONE_RUN_COMMANDS)
def test_a_full_disk_in_a_one_file_or_tokenizer_output_is_one_line(command, tiny_model, nsmc_model, tmp_path, capsys):
    main, output_of, _, _ = ONE_RUN_COMMANDS[command]
    argv, output, names = output_of(tmp_path, {"tiny": tiny_model, "nsmc": nsmc_model})
    capsys.readouterr()
    with file_size_limit(300):  # the lock's record fits, no output does
        code = main(argv)
    error = capsys.readouterr().err.strip().splitlines()
    assert code == 2, error
    assert error[-1].startswith(f"error: not enough space to write {output}") and "Traceback" not in "\n".join(error)
    assert _written(output, names) == [] and _staged(output) == []
    assert main(argv) == 0  # space again: the same command works
    assert _written(output, names) == names and _staged(output) == []
