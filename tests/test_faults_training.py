"""Training stopped from outside (issue 30, the training side): SIGTERM and SIGINT save and exit 143 / 130, a second
signal stops at once, kill -9 while a checkpoint is written, damaged checkpoints, exact resume of the three training
commands, and the settings refused before any step. Tiny shapes throughout; every resumed run is compared with an
uninterrupted one at max difference 0.0."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import build_tiny_tokenizer
from safetensors.torch import load_file
from test_finetune import save_tiny_model
from test_tasks import fixture_texts

from training import checkpoints
from training.commands import distill
from training.commands import evaluate as evaluate_command
from training.commands import finetune as finetune_command
from training.commands import pretrain_teacher as pretrain
from training.trainer_common import resume_checkpoint

QUIET = ["--disable_tqdm", "true", "--report_to", "none", "--logging_steps", "100"]
PRETRAIN_STEPS = 12


THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread here and in the subprocesses: float sums then do not depend on how many threads the load on
    the machine leaves a run (training.threads), and an interrupted run can match an uninterrupted one bit for bit."""
    import torch

    threads = torch.get_num_threads()
    # Subprocesses inherit the environment: OpenMP and MKL at one thread each (an earlier in-process command may have
    # left its own MKL_NUM_THREADS there); training.threads keeps a given OMP_NUM_THREADS as the user's setting.
    given = {name: os.environ.get(name) for name in THREAD_VARIABLES}
    torch.set_num_threads(1)
    os.environ.update(dict.fromkeys(THREAD_VARIABLES, "1"))
    yield
    torch.set_num_threads(threads)
    for name, value in given.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def max_difference(first: Path, second: Path) -> float:
    a, b = load_file(first / "model.safetensors"), load_file(second / "model.safetensors")
    assert a.keys() == b.keys()
    return max((a[name] - b[name]).abs().max().item() for name in a)


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def stop_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("stopped")]


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory, korean_texts):
    folder = tmp_path_factory.mktemp("tokenizer")
    build_tiny_tokenizer(korean_texts).save_pretrained(folder)
    return folder


def pretrain_argv(tokenizer_dir, fixtures_dir, output: Path, steps: int = PRETRAIN_STEPS, *extra: str) -> list[str]:
    argv = ["--corpus", str(fixtures_dir / "corpus.txt"), "--tokenizer", str(tokenizer_dir), "--preset", "tiny"]
    argv += ["--output_dir", str(output), "--max_steps", str(steps), "--save_steps", "4", "--save_total_limit", "3"]
    return argv + ["--per_device_train_batch_size", "8", "--seed", "0", *QUIET, *extra]


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory, tokenizer_dir, fixtures_dir) -> Path:
    """An uninterrupted tiny pre-training run of PRETRAIN_STEPS steps (checkpoints every 4, the last three kept)."""
    folder = tmp_path_factory.mktemp("pretrained")
    assert pretrain.main(pretrain_argv(tokenizer_dir, fixtures_dir, folder)) == 0
    return folder


def start(command: str, argv: list[str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "training.cli", command, *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(path: Path, process: subprocess.Popen, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert process.poll() is None, f"the run ended before {path} appeared: {process.communicate()[1][-2000:]}"
        assert time.monotonic() < deadline, f"{path} did not appear"
        time.sleep(0.02)


# --------------------------------------------------------------------------------------------------------------------
# Stopping is saving
# --------------------------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_sigterm_saves_a_checkpoint_and_the_rerun_ends_with_the_uninterrupted_weights(
    pretrained, tokenizer_dir, fixtures_dir, tmp_path
):
    output = tmp_path / "teacher"
    argv = pretrain_argv(tokenizer_dir, fixtures_dir, output)
    process = start("pretrain-teacher", argv)
    wait_for(output / "checkpoints" / "checkpoint-4" / "trainer_state.json", process)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=240)
    assert process.returncode == 143, stderr[-2000:]
    assert "Traceback" not in stderr
    [line] = stop_lines(stderr)
    step = int(line.split(" at step ")[1].split(";")[0])
    checkpoint = output / "checkpoints" / f"checkpoint-{step}"
    assert 4 < step < PRETRAIN_STEPS
    assert (
        line
        == f"stopped by SIGTERM at step {step}; saved checkpoint {checkpoint}; run the same command again to resume."
    )
    assert checkpoints.newest_intact_checkpoint(output / "checkpoints") == checkpoint
    assert not (output / "model.safetensors").exists()  # the finished model only when training has finished

    assert pretrain.main(argv) == 0
    assert max_difference(output, pretrained) == 0.0


@pytest.mark.slow
def test_kill_9_while_checkpoints_are_written_loses_nothing(pretrained, tokenizer_dir, fixtures_dir, tmp_path, capsys):
    """Two kills, each the moment a checkpoint folder appears (while Trainer writes it); the third run finishes."""
    output = tmp_path / "teacher"
    argv = pretrain_argv(tokenizer_dir, fixtures_dir, output)
    for step in (4, 8):
        process = start("pretrain-teacher", argv)
        wait_for(output / "checkpoints" / f"checkpoint-{step}", process)
        process.kill()
        process.communicate(timeout=60)
        assert process.returncode == -signal.SIGKILL
    assert pretrain.main(argv) == 0
    assert "Resuming from" in capsys.readouterr().out
    assert max_difference(output, pretrained) == 0.0


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory, fixtures_dir, korean_texts) -> Path:
    tokenizer = build_tiny_tokenizer(fixture_texts(fixtures_dir, korean_texts), vocab_size=4000)
    return save_tiny_model(tmp_path_factory.mktemp("tiny-model"), tokenizer)


def finetune_argv(tiny_model, fixtures_dir, output: Path) -> list[str]:
    argv = ["--model", str(tiny_model), "--task", "paws", "--data-dir", str(fixtures_dir / "tasks/paws")]
    argv += ["--output-dir", str(output), "--per-device-train-batch-size", "2", "--max-steps", "6"]
    return [*argv, "--save-steps", "2", "--keep-checkpoints", "true", *QUIET]


@pytest.fixture(scope="module")
def finetuned(tmp_path_factory, tiny_model, fixtures_dir) -> Path:
    output = tmp_path_factory.mktemp("finetuned") / "run"
    assert finetune_command.main(finetune_argv(tiny_model, fixtures_dir, output)) == 0
    return output


def signal_at_step(monkeypatch, step: int, signum: int) -> None:
    """Send `signum` to this process at the end of training step `step` (as a scheduler would, mid-run)."""
    from transformers.trainer_callback import DefaultFlowCallback

    on_step_end = DefaultFlowCallback.on_step_end

    def send(self, args, state, control, **kwargs):
        if state.global_step == step:
            os.kill(os.getpid(), signum)
        return on_step_end(self, args, state, control, **kwargs)

    monkeypatch.setattr(DefaultFlowCallback, "on_step_end", send)


@pytest.mark.slow
def test_sigint_saves_exits_130_and_finetune_resumes_exactly(
    finetuned, tiny_model, fixtures_dir, tmp_path, monkeypatch, capsys
):
    output = tmp_path / "run"
    argv = finetune_argv(tiny_model, fixtures_dir, output)
    # The handlers found are put back: Python's default_int_handler, or SIG_IGN when the suite was started with SIGINT
    # ignored (nohup, `cmd &` in a script, many CI runners).
    found = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    with monkeypatch.context() as patch:
        signal_at_step(patch, 3, signal.SIGINT)  # 3: not a save step (every 2)
        assert finetune_command.main(argv) == 130
    assert {signum: signal.getsignal(signum) for signum in found} == found
    stderr = capsys.readouterr().err
    assert stop_lines(stderr) == [
        f"stopped by SIGINT at step 3; saved checkpoint {output / 'checkpoint-3'}; run the same command again to resume."
    ]
    assert checkpoints.newest_intact_checkpoint(output) == output / "checkpoint-3"
    assert finetune_command.main(argv) == 0
    assert f"Resuming from {output / 'checkpoint-3'}" in capsys.readouterr().out
    assert max_difference(output, finetuned) == 0.0


@pytest.mark.parametrize("found", [signal.SIG_IGN, signal.default_int_handler], ids=["ignored", "python-default"])
def test_the_stop_handlers_put_back_the_handler_they_found(found):
    """Whatever SIGINT was when the suite started (ignored under nohup or `cmd &`), the handlers restore it."""
    from training.interrupts import StopOnSignal
    from training.stop_signals import stopping_at_once

    before = signal.signal(signal.SIGINT, found)
    try:
        stop = StopOnSignal()
        stop.install()
        assert signal.getsignal(signal.SIGINT) not in (found, signal.SIG_DFL)  # training's own handler
        stop.uninstall()
        assert signal.getsignal(signal.SIGINT) is found
        with stopping_at_once():  # outside training SIGINT stays as found; SIGTERM is raised as an interrupt
            assert signal.getsignal(signal.SIGINT) is found
            assert signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, signal.SIG_IGN)
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    finally:
        signal.signal(signal.SIGINT, before)


# A command that is still loading its data when SIGTERM comes: `training.finetuning.load_task_data` says so in argv[1]
# and waits; argv[2:] is the kr-electra-kd command line.
LOADING = """
import sys, time
from pathlib import Path
import training.finetuning

def loading(*args, **kwargs):
    Path(sys.argv[1]).write_text("loading")
    time.sleep(600)

training.finetuning.load_task_data = loading
from training.cli import main
sys.exit(main(sys.argv[2:]))
"""


@pytest.mark.slow
def test_sigterm_while_a_command_loads_is_one_line_and_exit_143(tiny_model, fixtures_dir, tmp_path):
    output, reached = tmp_path / "run", tmp_path / "reached"
    process = subprocess.Popen(
        [sys.executable, "-c", LOADING, str(reached), "finetune", *finetune_argv(tiny_model, fixtures_dir, output)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for(reached, process)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 143, stderr[-2000:]  # not -15, killed without a word
    assert "Traceback" not in stderr
    assert stop_lines(stderr) == ["stopped by SIGTERM before training started; nothing was saved."]
    assert not output.exists()  # the folder the run made for its lock went with the lock


@pytest.mark.slow
def test_a_second_signal_while_saving_stops_at_once_with_the_previous_checkpoint_intact(
    finetuned, tiny_model, fixtures_dir, tmp_path, monkeypatch, capsys
):
    from transformers import Trainer

    output = tmp_path / "run"
    argv = finetune_argv(tiny_model, fixtures_dir, output)
    save_rng_state = Trainer._save_rng_state

    def second_signal(self, output_dir):  # written after the weights and optimizer, before trainer_state.json
        if self.state.global_step == 3:
            os.kill(os.getpid(), signal.SIGTERM)
        return save_rng_state(self, output_dir)

    with monkeypatch.context() as patch:
        signal_at_step(patch, 3, signal.SIGTERM)
        patch.setattr(Trainer, "_save_rng_state", second_signal)
        assert finetune_command.main(argv) == 143
    assert (output / "checkpoint-3").is_dir(), sorted(str(p) for p in output.rglob("*"))
    stderr = capsys.readouterr().err
    assert "Traceback" not in stderr
    assert stop_lines(stderr) == [
        f"stopped at step 3; last checkpoint: {output / 'checkpoint-2'} (run the same command again to resume from it)."
    ]
    assert not (output / "checkpoint-3" / "trainer_state.json").exists()  # left incomplete, not trusted
    assert finetune_command.main(argv) == 0
    assert f"Resuming from {output / 'checkpoint-2'}, skipping the incomplete checkpoint-3." in capsys.readouterr().out
    assert max_difference(output, finetuned) == 0.0


# --------------------------------------------------------------------------------------------------------------------
# Checkpoints checked before they are trusted
# --------------------------------------------------------------------------------------------------------------------


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


@pytest.mark.slow
@pytest.mark.parametrize(
    "damaged", ["model.safetensors", "optimizer.pt", "scheduler.pt", "rng_state.pth", "trainer_state.json"]
)
def test_a_damaged_newest_checkpoint_falls_back_to_the_intact_one(pretrained, tmp_path, capsys, damaged):
    folder = tmp_path / "checkpoints"
    shutil.copytree(pretrained / "checkpoints", folder)
    truncate(folder / f"checkpoint-{PRETRAIN_STEPS}" / damaged)
    previous = folder / f"checkpoint-{PRETRAIN_STEPS - 4}"
    assert resume_checkpoint(folder) == str(previous)
    [line] = capsys.readouterr().out.strip().splitlines()
    assert line.startswith(f"Resuming from {previous}, skipping the damaged checkpoint-{PRETRAIN_STEPS} ({damaged}: ")


@pytest.mark.slow
def test_with_every_checkpoint_damaged_the_run_refuses_unless_told_to_start_over(
    pretrained, tokenizer_dir, fixtures_dir, tmp_path, capsys
):
    output = tmp_path / "teacher"
    shutil.copytree(pretrained / "checkpoints", output / "checkpoints")
    for checkpoint in (output / "checkpoints").glob("checkpoint-*"):
        truncate(checkpoint / "optimizer.pt")
    argv = pretrain_argv(tokenizer_dir, fixtures_dir, output, 2)
    assert pretrain.main(argv) == 2
    [line] = error_lines(capsys.readouterr().err)
    assert (
        f"no intact checkpoint in {output / 'checkpoints'}: the damaged checkpoint-{PRETRAIN_STEPS} (optimizer.pt:"
        in line
    )
    assert "--overwrite_output_dir" in line
    assert len(list((output / "checkpoints").glob("checkpoint-*"))) == 3  # nothing deleted without the flag

    # finetune passes its --overwrite_output_dir on: the damaged checkpoints are removed and training starts over
    assert resume_checkpoint(output / "checkpoints", restart_if_damaged=True) is None
    assert "removed the damaged ones, starting from step 0" in capsys.readouterr().out
    assert not list((output / "checkpoints").glob("checkpoint-*"))


@pytest.mark.slow
def test_finetune_with_only_a_damaged_checkpoint_starts_over_only_when_told(
    finetuned, tiny_model, fixtures_dir, tmp_path, capsys
):
    output = tmp_path / "run"
    shutil.copytree(finetuned / "checkpoint-6", output / "checkpoint-6")
    truncate(output / "checkpoint-6" / "model.safetensors")
    argv = finetune_argv(tiny_model, fixtures_dir, output)
    assert finetune_command.main(argv) == 2
    [line] = error_lines(capsys.readouterr().err)
    assert line.startswith(f"error: no intact checkpoint in {output}: the damaged checkpoint-6 (model.safetensors: ")
    assert finetune_command.main([*argv, "--overwrite_output_dir", "true"]) == 0
    assert "removed the damaged ones, starting from step 0" in capsys.readouterr().out
    assert max_difference(output, finetuned) == 0.0


@pytest.mark.slow
def test_a_run_resumed_past_a_damaged_checkpoint_ends_with_the_uninterrupted_weights(
    pretrained, tokenizer_dir, fixtures_dir, tmp_path, capsys
):
    output = tmp_path / "teacher"
    shutil.copytree(pretrained / "checkpoints", output / "checkpoints")
    shutil.rmtree(output / "checkpoints" / f"checkpoint-{PRETRAIN_STEPS}")
    truncate(output / "checkpoints" / f"checkpoint-{PRETRAIN_STEPS - 4}" / "rng_state.pth")
    assert pretrain.main(pretrain_argv(tokenizer_dir, fixtures_dir, output)) == 0
    out = capsys.readouterr().out
    damaged = f"checkpoint-{PRETRAIN_STEPS - 4} (rng_state.pth: not a complete torch.save archive"
    assert f"checkpoint-{PRETRAIN_STEPS - 8}, skipping the damaged {damaged}" in out
    assert max_difference(output, pretrained) == 0.0


# --------------------------------------------------------------------------------------------------------------------
# Exact resume
# --------------------------------------------------------------------------------------------------------------------


def resumed_from(source: Path, output: Path, step: int) -> Path:
    """`output` with `source`'s checkpoints up to `step`: a run that stopped after saving step `step`."""
    shutil.copytree(source / "checkpoints", output / "checkpoints")
    for checkpoint in (output / "checkpoints").glob("checkpoint-*"):
        if checkpoints.step_of(checkpoint) > step:
            shutil.rmtree(checkpoint)
    return output


@pytest.mark.slow
def test_pretraining_without_packing_resumes_exactly(tokenizer_dir, fixtures_dir, tmp_path):
    full = tmp_path / "full"
    assert pretrain.main(pretrain_argv(tokenizer_dir, fixtures_dir, full, 8, "--packing", "false")) == 0
    resumed = resumed_from(full, tmp_path / "resumed", 4)
    assert pretrain.main(pretrain_argv(tokenizer_dir, fixtures_dir, resumed, 8, "--packing", "false")) == 0
    assert max_difference(resumed, full) == 0.0


@pytest.mark.slow
def test_pretraining_from_a_parquet_dataset_trains_as_from_the_text_file_and_resumes_exactly(
    pretrained, tokenizer_dir, fixtures_dir, tmp_path
):
    """corpus.txt's texts as a parquet dataset (--dataset_name, streamed): the `pretrained` run's weights to the bit,
    and a run stopped after step 4 resumes to the same weights."""
    from datasets import Dataset

    texts = [line.strip() for line in (fixtures_dir / "corpus.txt").read_text(encoding="utf-8").splitlines()]
    (tmp_path / "data").mkdir()
    Dataset.from_dict({"text": [text for text in texts if text]}).to_parquet(tmp_path / "data" / "train.parquet")

    def argv(output: Path) -> list[str]:
        files = pretrain_argv(tokenizer_dir, fixtures_dir, output)
        assert files[:2] == ["--corpus", str(fixtures_dir / "corpus.txt")]
        return ["--dataset_name", str(tmp_path / "data"), *files[2:]]

    full = tmp_path / "full"
    assert pretrain.main(argv(full)) == 0
    assert max_difference(full, pretrained) == 0.0
    resumed = resumed_from(full, tmp_path / "resumed", 4)
    assert pretrain.main(argv(resumed)) == 0
    assert max_difference(resumed, full) == 0.0


@pytest.mark.slow
@pytest.mark.parametrize("packing", ["true", "false"])
def test_distillation_on_corrupted_inputs_resumes_exactly(pretrained, fixtures_dir, tmp_path, packing):
    """--corrupt_inputs masks with the pre-training collator and samples from the generator: both must follow the
    checkpoint (on the streamed corpus, packed or not)."""

    def argv(output: Path) -> list[str]:
        arguments = ["--teacher", str(pretrained), "--student_preset", "tiny", "--corrupt_inputs"]
        arguments += ["--student_shape", "hidden_size=32,num_attention_heads=2", "--corpus"]
        arguments += [str(fixtures_dir / "corpus.txt"), "--output_dir", str(output), "--max_steps", "8"]
        arguments += ["--packing", packing, "--save_steps", "4", "--per_device_train_batch_size", "8"]
        return arguments + ["--seed", "0", *QUIET]

    full = tmp_path / "full"
    assert distill.main(argv(full)) == 0
    resumed = resumed_from(full, tmp_path / "resumed", 4)
    assert distill.main(argv(resumed)) == 0
    assert max_difference(resumed, full) == 0.0


# --------------------------------------------------------------------------------------------------------------------
# Refused before work starts
# --------------------------------------------------------------------------------------------------------------------

NO_TEACHER_LOSS = ["--weight_kl", "0", "--weight_hidden", "0", "--weight_attention", "0", "--weight_embedding", "0"]


@pytest.mark.slow
@pytest.mark.parametrize("source", ["--corpus", "--transfer_corpus"])
def test_hard_loss_alone_on_texts_without_labels_is_refused(pretrained, fixtures_dir, tmp_path, capsys, source):
    argv = ["--teacher", str(pretrained), "--student_preset", "tiny", "--output_dir", str(tmp_path / "out")]
    if source == "--corpus":
        argv += ["--corpus", str(fixtures_dir / "corpus.txt")]
    else:
        argv += ["--task", "nsmc", "--data_dir", str(fixtures_dir / "tasks/nsmc")]
        argv += ["--transfer_corpus", str(fixtures_dir / "corpus.txt")]
    assert distill.main([*argv, *NO_TEACHER_LOSS, "--weight_hard", "1", *QUIET]) == 2
    [line] = error_lines(capsys.readouterr().err)
    assert f"--weight_hard 1: only losses on labels are on, but {source} texts have no labels" in line
    assert "--weight_kl 1" in line
    assert not (tmp_path / "out" / "checkpoints").exists()


@pytest.mark.slow
def test_a_config_that_does_not_fit_its_weights_is_refused_in_one_line(tiny_model, fixtures_dir, tmp_path, capsys):
    model = tmp_path / "model"
    shutil.copytree(tiny_model, model)
    config = json.loads((model / "config.json").read_text())
    vocab_size = config["vocab_size"]
    config["vocab_size"] = vocab_size - 10
    (model / "config.json").write_text(json.dumps(config))
    data = ["--task", "paws", "--data-dir", str(fixtures_dir / "tasks/paws")]
    assert finetune_command.main(["--model", str(model), *data, "--output-dir", str(tmp_path / "ft"), *QUIET]) == 2
    assert evaluate_command.main(["--model", str(model), *data]) == 2
    lines = error_lines(capsys.readouterr().err)
    assert len(lines) == 2 and lines[0] == lines[1]
    assert f"config.json in {model} does not fit its model.safetensors: " in lines[0]
    assert f"is [{vocab_size}, " in lines[0] and f"but [{vocab_size - 10}, " in lines[0]

    from training.onnx_export import load_model as export_load_model

    with pytest.raises(ValueError, match="does not fit its model.safetensors"):
        export_load_model(str(model))


def test_finetune_save_steps_sets_the_step_save_strategy(tiny_model):
    argv = ["--model", str(tiny_model), "--task", "paws"]
    _, _, training_args = finetune_command.parse_arguments([*argv, "--save-steps", "10"])
    assert training_args.save_strategy == "steps" and training_args.save_steps == 10
    _, _, training_args = finetune_command.parse_arguments([*argv, "--save_steps=10", "--save_strategy", "epoch"])
    assert training_args.save_strategy == "epoch"
    _, _, training_args = finetune_command.parse_arguments(argv)
    assert training_args.save_strategy == "epoch"  # the default without --save_steps
