"""The `kr-electra-kd` command line as a new user meets it: bad and surprising input ends in one line that says what
to do, help is short, and a finished model is never replaced without --overwrite_output_dir."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from training import __version__
from training.arguments import check_model_source, check_output_dir
from training.cli import COMMANDS, HELP_DIR, render_help
from training.cli import main as cli

COMMANDS_WITH_TRAINER = ("finetune", "distill", "pretrain-teacher")


def run(capsys, argv: list[str]) -> tuple[int, str, str]:
    code = cli(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]


# --------------------------------------------------------------------------------------------------------------------
# Command-line mistakes: one line each
# --------------------------------------------------------------------------------------------------------------------

BAD_COMMAND_LINES = [
    # argv, what the one line must say
    (
        ["finetune", "--model", "m", "--task", "nsmc", "--lerning_rate", "1e-3"],
        "--lerning_rate (did you mean --learning_rate?)",
    ),
    (["finetune", "--model", "m", "--task", "nsmc", "--max-train-sample", "5x"], "--max-train-sample"),
    (["distill", "--teacher", "t", "--corpus", "c.txt", "--temprature", "2"], "did you mean --temperature?"),
    (["convert", "--model", "m", "--output_dir", "o", "--ffn-rnk", "8"], "did you mean --ffn_rank?"),
    (["evaluate", "--model", "m", "--data_dirr", "d"], "did you mean --data_dir?"),
    (["pretrain-teacher", "--corpus", "c", "--tokenizer", "t", "--presett", "tiny"], "did you mean --preset?"),
    (["card", "--model", "m", "--result", "r.json", "--bogus"], "--bogus"),
    (["export", "--model", "m", "--output_dir", "o", "--quantise", "int8"], "did you mean --quantize?"),
    (["finetune", "--task", "nsmc"], "the following arguments are required: --model"),
    (["convert", "--model", "m"], "the following arguments are required: --output_dir"),
    (["finetune", "--model", "m", "--task", "nsmc", "--on_bad_rows", "maybe"], "invalid choice: 'maybe'"),
    (["finetune", "--model", "m", "--task", "nsmc", "--warmup_steps", "-1"], "warmup_steps"),
    (["finetune", "--model", "m", "--task", "nsmc", "stray"], "unexpected value(s) stray"),
    (["finetun"], "unknown command 'finetun'; did you mean 'finetune'?"),
]


@pytest.mark.parametrize("argv, expected", BAD_COMMAND_LINES, ids=[" ".join(a) for a, _ in BAD_COMMAND_LINES])
def test_a_command_line_mistake_is_one_line(capsys, argv, expected):
    code, out, err = run(capsys, argv)
    assert code == 2 and not out
    assert expected in one_line(err)
    assert "Traceback" not in err and "usage:" not in err


def test_version(capsys):
    code, out, _ = run(capsys, ["--version"])
    assert code == 0 and one_line(out) == f"kr-electra-kd {__version__}"
    assert __version__ and __version__[0].isdigit()


@pytest.mark.parametrize("command", COMMANDS_WITH_TRAINER)
def test_short_help_shows_the_commands_options_first_and_hides_most_trainer_options(capsys, command):
    code, short, _ = run(capsys, [command, "--help"])
    assert code == 0
    first_line = short.splitlines()[0]
    assert first_line.startswith(f"usage: kr-electra-kd {command} ") and first_line.endswith("[options]")
    heading = short.index("Trainer options")
    assert short.index("--overwrite_output_dir") < heading and short.index("--seed") > heading
    assert f"kr-electra-kd {command} --help-all" in short
    assert "--adam_beta1" not in short and len(short.splitlines()) < 260
    code, full, _ = run(capsys, [command, "--help-all"])
    assert code == 0 and "--adam_beta1" in full and len(full.splitlines()) > 2 * len(short.splitlines())


@pytest.mark.parametrize("command", COMMANDS)
def test_stored_short_help_is_current(command):
    # `<command> --help` prints training/help/<command>.txt; it must be what the command's parser prints now
    stored = HELP_DIR / f"{command}.txt"
    assert stored.is_file(), f"{command}: no {stored.name} in training/help; run `python scripts/update_help.py`"
    assert stored.read_text(encoding="utf-8") == render_help(command), (
        f"{command}: training/help/{stored.name} is stale; run `python scripts/update_help.py`"
    )


# The commands that read or write one model folder (or Hub id), which they all call --model (issue 35: card and upload
# called it --model_dir, so `card --model ft` was "ambiguous option").
MODEL_COMMANDS = {"finetune", "evaluate", "export", "convert", "demo", "card", "upload"}
MODEL_FOLDER_OPTION = re.compile(r"--model(?:[_-](?:dir|directory|folder|path|name|name[_-]or[_-]path))?")


def option_names(help_text: str) -> set[str]:
    """The option names a command's help lists (`  --name, --alias VALUE   help...`)."""
    names = set()
    for line in help_text.splitlines():
        if line.startswith("  -"):
            names.update(re.findall(r"(?:^|, )(--?[\w-]+)", line.strip().split("  ")[0]))
    return names


def test_every_command_names_its_model_folder_the_same_way():
    named = {}
    for command in COMMANDS:
        options = option_names(render_help(command))  # the live parser's
        named[command] = sorted(name for name in options if MODEL_FOLDER_OPTION.fullmatch(name))
    assert {command: names for command, names in named.items() if names} == dict.fromkeys(MODEL_COMMANDS, ["--model"])


def test_card_takes_model_and_the_old_model_dir_with_one_deprecation_line(capsys, tmp_path):
    missing = str(tmp_path / "missing")
    assert cli(["card", "--model", missing]) == 2
    assert (
        capsys.readouterr().err == f"error: {missing} has no config.json: pass a folder written by save_pretrained.\n"
    )
    assert cli(["card", "--model_dir", missing]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "kr-electra-kd card: --model_dir: old spelling, deprecated; use --model.",
        f"error: {missing} has no config.json: pass a folder written by save_pretrained.",
    ]


def test_help_and_usage_docstrings_name_no_folder_users_lack():
    # ../shared/ is this project's own data folder, not a user's: examples name a placeholder such as nsmc/
    training = Path(__file__).resolve().parents[1] / "training"
    modules = ["evaluation", "finetuning", "tokenizer", "task_baselines", "tasks/__init__"]
    files = [*HELP_DIR.glob("*.txt"), *(training / "commands").glob("*.py")]
    files += [training / f"{name}.py" for name in modules]
    naming = [path.name for path in files if "../shared" in path.read_text(encoding="utf-8")]
    assert not naming, naming


def test_help_and_tasks_do_not_import_torch():
    # what made `kr-electra-kd tasks`, `--help` and `<command> --help` take 5-11 s (a startup-time check, so run in a
    # fresh process)
    code = (
        "import sys; from training.cli import COMMANDS, main\n"
        "for command in COMMANDS: assert main([command, '--help']) == 0\n"
        "heavy = sorted({'torch', 'transformers'} & set(sys.modules))\n"
        "assert not heavy, f'<command> --help imported {heavy}'\n"
        "main(['tasks']); main(['--help']); main(['--version'])\n"
        "assert 'torch' not in sys.modules, 'torch was imported'"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "nsmc" in result.stdout and "usage: kr-electra-kd finetune" in result.stdout


# --------------------------------------------------------------------------------------------------------------------
# --model naming a local folder
# --------------------------------------------------------------------------------------------------------------------


def test_a_missing_or_empty_model_folder_is_named(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "file.txt").write_text("x")
    cases = [
        ("./no_such_dir", "--model ./no_such_dir: no such folder"),
        (str(tmp_path / "gone"), "no such folder"),
        ("a/b/c", "no such folder"),
        (str(tmp_path / "empty"), "has no config.json, so it is not a saved model"),
        (str(tmp_path / "file.txt"), "is a file"),
    ]
    for value, expected in cases:
        with pytest.raises(ValueError, match=expected):
            check_model_source(value)
    check_model_source("org/some-model")  # a Hub id is left to the Hub
    check_model_source("bert-base-multilingual-cased")


@pytest.mark.parametrize(
    "argv",
    [
        ["finetune", "--model", "./no_such_dir", "--task", "nsmc"],
        ["evaluate", "--model", "./no_such_dir"],
        ["convert", "--model", "./no_such_dir", "--output_dir", "OUT", "--ffn_rank", "8"],
        ["distill", "--teacher", "./no_such_dir", "--corpus", "c.txt", "--output_dir", "OUT"],
    ],
)
def test_commands_name_a_missing_model_folder(capsys, tmp_path, argv):
    argv = [str(tmp_path / "out") if item == "OUT" else item for item in argv]
    code, _, err = run(capsys, argv)
    assert code == 2 and "./no_such_dir: no such folder" in one_line(err)


# --------------------------------------------------------------------------------------------------------------------
# A finished model is not silently replaced
# --------------------------------------------------------------------------------------------------------------------


def finished_folder(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("config.json", "results.json", "training_args.json"):
        (folder / name).write_text("{}", encoding="utf-8")
    (folder / "model.safetensors").write_bytes(b"old weights")
    (folder / "README.md").write_text("---\n---\nold card", encoding="utf-8")
    return folder


@pytest.mark.parametrize(
    "argv",
    [
        ["finetune", "--model", "org/m", "--task", "nsmc", "--output_dir", "OUT"],
        ["distill", "--teacher", "org/t", "--corpus", "c.txt", "--output_dir", "OUT"],
        ["pretrain-teacher", "--corpus", "c.txt", "--tokenizer", "tok", "--output_dir", "OUT"],
        ["convert", "--model", "org/m", "--output_dir", "OUT", "--ffn_rank", "8"],
        ["export", "--model", "org/m", "--output_dir", "OUT"],
    ],
    ids=lambda argv: argv[0],
)
def test_every_command_refuses_a_folder_with_a_finished_model(capsys, tmp_path, argv):
    output = finished_folder(tmp_path / "done")
    code, _, err = run(capsys, [str(output) if item == "OUT" else item for item in argv])
    assert code == 2
    line = one_line(err)
    assert str(output) in line and "--overwrite_output_dir" in line and "already holds a finished model" in line
    assert (output / "model.safetensors").read_bytes() == b"old weights" and (output / "results.json").is_file()


def test_an_unfinished_or_empty_folder_is_accepted_and_overwrite_removes_what_described_the_old_model(tmp_path):
    check_output_dir(tmp_path / "new", overwrite=False)
    (tmp_path / "interrupted" / "checkpoint-2").mkdir(parents=True)
    check_output_dir(tmp_path / "interrupted", overwrite=False)  # finetune resumes from its checkpoint
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(ValueError, match="is a file"):
        check_output_dir(tmp_path / "a-file", overwrite=False)

    output = finished_folder(tmp_path / "done")
    (output / "checkpoint-4").mkdir()
    (output / "eval_results_nsmc.json").write_text("{}")
    check_output_dir(output, overwrite=True)
    left = sorted(path.name for path in output.iterdir())
    assert left == ["config.json", "model.safetensors"]  # replaced by the new run's own


def test_pretraining_resumes_its_own_checkpoints_but_refuses_a_finished_folder_without_them(tmp_path):
    output = finished_folder(tmp_path / "teacher")
    with pytest.raises(ValueError, match="already holds a finished model"):
        check_output_dir(output, overwrite=False, checkpoints=output / "checkpoints")
    (output / "checkpoints" / "checkpoint-500").mkdir(parents=True)
    check_output_dir(output, overwrite=False, checkpoints=output / "checkpoints")  # a resume: allowed


def test_convert_into_a_finetuned_folder_leaves_no_stale_results(capsys, tmp_path, tiny_tokenizer):
    from modeling_kr_electra_kd import KRElectraKDConfig, KRElectraKDForSequenceClassification

    source = tmp_path / "dense"
    KRElectraKDForSequenceClassification(
        KRElectraKDConfig.from_preset("tiny", vocab_size=len(tiny_tokenizer))
    ).save_pretrained(source)
    tiny_tokenizer.save_pretrained(source)
    output = finished_folder(tmp_path / "finetuned")
    argv = ["convert", "--model", str(source), "--output_dir", str(output), "--ffn_rank", "8"]
    assert cli(argv) == 2 and (output / "results.json").is_file()
    capsys.readouterr()
    assert cli([*argv, "--overwrite_output_dir"]) == 0
    assert "removed results.json" in capsys.readouterr().out
    assert not (output / "results.json").exists() and not (output / "training_args.json").exists()
    assert not (output / "README.md").exists()
    assert json.loads((output / "config.json").read_text())["ffn_rank"] == 8


def test_a_command_destroys_the_process_group_it_ran_under(tmp_path, monkeypatch):
    """Under torchrun a command leaves torch.distributed cleanly: left to interpreter exit, a finished gloo rank
    sometimes aborted ("terminate called without an active exception") and failed the launch."""
    import torch.distributed as dist

    monkeypatch.setitem(COMMANDS, "noop", ("builtins:len", "a command that does nothing"))
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'rendezvous'}", rank=0, world_size=1)
    try:
        assert cli(["noop"]) == 0
        assert not dist.is_initialized()
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def test_an_onnx_export_is_a_finished_model_and_overwriting_drops_its_old_files(tmp_path):
    onnx = tmp_path / "exported" / "onnx"
    onnx.mkdir(parents=True)
    (onnx / "model.onnx").write_bytes(b"old graph")
    (onnx / "model_quantized.onnx").write_bytes(b"old int8 graph")
    with pytest.raises(ValueError, match="already holds a finished model \\(onnx/model.onnx\\)"):
        check_output_dir(tmp_path / "exported", overwrite=False)
    check_output_dir(tmp_path / "exported", overwrite=True)
    assert not onnx.exists()  # a new export without --quantize leaves no int8 file of the old model beside it


def test_every_command_reports_errors_through_the_one_handler():
    """Every command's main is wrapped by training.errors.one_line_errors, and no command prints `error:` itself."""
    import ast
    import importlib

    for target, _ in COMMANDS.values():
        module_name = target.split(":")[0]
        module = importlib.import_module(module_name)
        assert getattr(module.main, "__wrapped__", None) is not None, f"{module_name}.main lacks @one_line_errors"
        source = Path(module.__file__).read_text(encoding="utf-8")
        prints = [
            node.lineno
            for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.Call)
            and getattr(node.func, "id", None) == "print"
            and node.args
            and ast.unparse(node.args[0]).lstrip("f'\"").startswith("error:")
        ]
        assert not prints, f"{module_name} prints its own error at lines {prints}: raise CommandError instead"


def test_the_handler_prints_one_line_and_returns_the_code(capsys):
    from training.errors import CommandError, bad_input, one_line_errors

    @one_line_errors
    def main(argv):
        with bad_input():
            raise OSError(f"{argv[0]} is missing\nsecond line")

    assert main(["x.txt"]) == 2 and capsys.readouterr().err == "error: x.txt is missing\n"

    @one_line_errors
    def network(argv):
        raise CommandError("the Hub is unreachable", code=1)

    assert network([]) == 1 and capsys.readouterr().err == "error: the Hub is unreachable\n"

    @one_line_errors
    def bug(argv):
        raise KeyError("a bug is not bad input")

    with pytest.raises(KeyError):
        bug([])
