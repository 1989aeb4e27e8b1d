"""What a user gets from a bad input, before anything heavy runs: a numeric option out of range, a model source that is
damaged, misspelled or unreachable, and what a saved tokenizer carries and needs to load.

- Every numeric option of every command is range-checked when the command line is parsed (training.arguments'
  NUMBER_RULES): one line naming the option and its range, exit code 2, no model loaded.
- Every command that loads a model does it through training.loading: a truncated model.safetensors is one line naming
  the file, a misspelled folder names the closest folder beside it.
- Saved tokenizers keep only what describes them, and load without remote code.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest
from conftest import build_tiny_tokenizer
from transformers import AutoConfig, PreTrainedModel, TrainingArguments

from modeling_kr_electra_kd import KRElectraKDConfig, KRElectraKDForPreTraining, KRElectraKDForSequenceClassification
from training.arguments import NUMBER_RULES, Bounds, number_rule
from training.cli import main as cli
from training.commands import convert as lowrank
from training.commands import distill, evaluate, export, finetune, upload
from training.commands.convert import ConvertArguments
from training.commands.distill import DistillArguments
from training.commands.evaluate import EvaluateArguments
from training.commands.export import ExportArguments
from training.commands.finetune import FinetuneArguments
from training.commands.pretrain_teacher import PretrainArguments
from training.commands.train_tokenizer import TokenizerArguments
from training.distillation import DistillationConfig
from training.evaluation import DataArguments
from training.recipe import PipelineArguments
from training.tasks import get_task
from training.tokenizer import RUNTIME_TOKENIZER_KEYS, save_tokenizer

# Each command that takes numbers: its argument dataclasses, and the least command line that parses.
COMMANDS = {
    "quickstart": ((PipelineArguments,), []),
    "train-tokenizer": ((TokenizerArguments,), ["--corpus", "c.txt", "--output_dir", "OUT"]),
    "pretrain-teacher": (
        (PretrainArguments, TrainingArguments),
        ["--corpus", "c.txt", "--tokenizer", "tok", "--output_dir", "OUT"],
    ),
    "distill": (
        (DistillArguments, DistillationConfig, TrainingArguments),
        ["--teacher", "teacher", "--corpus", "c.txt", "--output_dir", "OUT"],
    ),
    "convert": ((ConvertArguments,), ["--model", "m", "--output_dir", "OUT"]),
    "finetune": ((FinetuneArguments, DataArguments, TrainingArguments), ["--model", "m", "--task", "nsmc"]),
    "evaluate": ((EvaluateArguments, DataArguments), ["--model", "m"]),
    "export": ((ExportArguments,), ["--model", "m", "--output_dir", "OUT"]),
}
# Trainer's own numeric options that must be checked before Trainer (or torch) meets them.
TRAINER_NUMBERS = (
    "learning_rate",
    "per_device_train_batch_size",
    "per_device_eval_batch_size",
    "gradient_accumulation_steps",
    "num_train_epochs",
    "max_steps",
    "warmup_steps",
    "weight_decay",
    "seed",
)


def _is_numeric(field: dataclasses.Field) -> bool:
    text = str(field.type)
    return any(name in text for name in ("int", "float")) and "dict" not in text and "str" not in text


def _own_numeric_fields(types_: tuple[type, ...]) -> list[str]:
    return [
        field.name
        for dtype in types_
        if dtype is not TrainingArguments
        for field in dataclasses.fields(dtype)
        if _is_numeric(field)
    ]


def _refused(rule: Bounds) -> float:
    """A value just outside `rule`."""
    if rule.low is not None:
        return rule.low if rule.low_open else rule.low - 1
    return rule.high if rule.high_open else rule.high + 1


def _rows() -> list[tuple[str, str, float]]:
    rows = []
    for command, (types_, _) in COMMANDS.items():
        names = _own_numeric_fields(types_)
        if TrainingArguments in types_:
            names += [name for name in NUMBER_RULES if name in {f.name for f in dataclasses.fields(TrainingArguments)}]
        rows += [(command, name, _refused(number_rule(name))) for name in dict.fromkeys(names)]
    return rows


@pytest.fixture
def nothing_loads(monkeypatch):
    """Any attempt to read a model, its config or a tokenizer fails the test."""
    from transformers import AutoTokenizer

    def refuse(*args, **kwargs):
        raise AssertionError("a model, config or tokenizer was loaded before the options were checked")

    monkeypatch.setattr(PreTrainedModel, "from_pretrained", classmethod(refuse))
    monkeypatch.setattr(AutoConfig, "from_pretrained", classmethod(refuse))
    monkeypatch.setattr(AutoTokenizer, "from_pretrained", classmethod(refuse))


# --------------------------------------------------------------------------------------------------------------------
# Numbers
# --------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", COMMANDS)
def test_every_numeric_option_has_a_range(command):
    types_, _ = COMMANDS[command]
    missing = [name for name in _own_numeric_fields(types_) if number_rule(name) is None]
    assert not missing, f"{command}: give {missing} a range in training.arguments.NUMBER_RULES"
    if TrainingArguments in types_:
        assert set(TRAINER_NUMBERS) <= set(NUMBER_RULES)


@pytest.mark.parametrize("command, option, value", _rows(), ids=lambda item: str(item))
def test_a_number_out_of_range_is_one_line_before_anything_loads(
    capsys, tmp_path, nothing_loads, command, option, value
):
    _, base = COMMANDS[command]
    argv = [str(tmp_path / "out") if item == "OUT" else item for item in base]
    shown = f"{int(value)}" if float(value).is_integer() else f"{value:g}"
    started = time.perf_counter()
    code = cli([command, *argv, f"--{option}={shown}"])
    seconds = time.perf_counter() - started
    err = capsys.readouterr().err.strip()
    rule = number_rule(option)
    assert code == 2 and err == f"kr-electra-kd {command}: --{option} must be {rule} (got {value:g})"
    assert seconds < 5, f"{seconds:.1f} s before the one line"
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "command, option, value, line",
    [
        ("finetune", "learning_rate", "-1e-3", "--learning_rate must be > 0 (got -0.001)"),
        ("finetune", "per_device_train_batch_size", "0", "--per_device_train_batch_size must be >= 1 (got 0)"),
        ("finetune", "max_steps", "0", "--max_steps must be >= 1 (or -1: train for --num_train_epochs) (got 0)"),
        ("distill", "mlm_probability", "1", "--mlm_probability must be in (0, 1) (got 1)"),
        ("distill", "layer_map", "0", "--layer_map must be >= 1 (got 0)"),
        ("convert", "energy", "1.5", "--energy must be in (0, 1] (got 1.5)"),
        ("quickstart", "teacher_width", "0", "--teacher_width must be in (0, 1] (got 0)"),
    ],
)
def test_the_issues_examples(capsys, tmp_path, nothing_loads, command, option, value, line):
    argv = [str(tmp_path / "out") if item == "OUT" else item for item in COMMANDS[command][1]]
    assert cli([command, *argv, f"--{option}={value}"]) == 2
    assert capsys.readouterr().err.strip() == f"kr-electra-kd {command}: {line}"


def test_accepted_edges_pass_the_check():
    from training.arguments import check_numbers

    values = {"max_steps": -1, "warmup_steps": 0.1, "mlm_probability": 0.15, "energy": 1.0, "layer_map": [1, 2]}
    assert check_numbers(values) is None
    assert check_numbers({"max_seq_length": None, "overwrite_output_dir": True}) is None


def _save_model(folder: Path, tokenizer, head=KRElectraKDForPreTraining, **config) -> Path:
    model_config = KRElectraKDConfig.from_preset("tiny", vocab_size=len(tokenizer), **config)
    head(model_config).save_pretrained(folder)
    save_tokenizer(tokenizer, folder)
    return folder


def test_distill_refuses_a_length_beyond_the_models_positions_before_loading(
    capsys, tmp_path, tiny_tokenizer, monkeypatch
):
    teacher = _save_model(tmp_path / "teacher", tiny_tokenizer, max_position_embeddings=512)
    monkeypatch.setattr(PreTrainedModel, "from_pretrained", classmethod(lambda *a, **k: pytest.fail("loaded")))
    base = ["--teacher", str(teacher), "--corpus", "c.txt", "--output_dir", str(tmp_path / "out")]
    capsys.readouterr()  # what saving printed
    assert distill.main([*base, "--max_seq_length", "4096"]) == 2
    line = "error: --max_seq_length 4096 exceeds the teacher's max_position_embeddings (512); pass at most 512."
    assert capsys.readouterr().err.strip() == line
    shape = ["--student_shape", "max_position_embeddings=256", "--max_seq_length", "300"]
    assert distill.main([*base, *shape]) == 2
    assert "300 exceeds the student's max_position_embeddings (256)" in capsys.readouterr().err


def test_finetune_checks_the_model_and_its_length_before_reading_data(capsys, tmp_path, tiny_tokenizer, monkeypatch):
    model = _save_model(tmp_path / "model", tiny_tokenizer)  # the tiny preset has 128 positions
    monkeypatch.setattr(PreTrainedModel, "from_pretrained", classmethod(lambda *a, **k: pytest.fail("loaded")))
    capsys.readouterr()  # what saving printed
    missing_data = ["--task", "nsmc", "--data_dir", str(tmp_path / "no-data"), "--output_dir", str(tmp_path / "o")]
    assert finetune.main(["--model", str(model), "--max_seq_length", "129", *missing_data]) == 2
    assert "--max_seq_length 129 exceeds the model's max_position_embeddings (128)" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------------------------------
# Model sources
# --------------------------------------------------------------------------------------------------------------------


@pytest.fixture
def damaged(tmp_path, tiny_tokenizer) -> Path:
    """A fine-tuned nsmc model whose model.safetensors lost its second half."""
    task = get_task("nsmc")
    folder = _save_model(
        tmp_path / "damaged",
        tiny_tokenizer,
        head=KRElectraKDForSequenceClassification,
        id2label=task.id2label,
        label2id=task.label2id,
        finetuning_task="nsmc",
    )
    weights = folder / "model.safetensors"
    with weights.open("r+b") as handle:
        handle.truncate(weights.stat().st_size // 2)
    return folder


DAMAGED_RUNS = {
    "evaluate": (evaluate.main, ["--model", "MODEL", "--data_dir", "NSMC"]),
    "finetune": (finetune.main, ["--model", "MODEL", "--task", "nsmc", "--data_dir", "NSMC", "--output_dir", "OUT"]),
    "export": (export.main, ["--model", "MODEL", "--output_dir", "OUT"]),
    "convert": (lowrank.main, ["--model", "MODEL", "--output_dir", "OUT", "--ffn_rank", "8"]),
    "distill --teacher": (distill.main, ["--teacher", "MODEL", "--corpus", "CORPUS", "--output_dir", "OUT"]),
    "distill --student_init": (
        distill.main,
        ["--teacher", "TEACHER", "--student_init", "MODEL", "--corpus", "CORPUS", "--output_dir", "OUT"],
    ),
}


@pytest.mark.parametrize("run", DAMAGED_RUNS)
def test_a_damaged_weights_file_is_one_line_naming_it(run, damaged, tmp_path, fixtures_dir, tiny_tokenizer, capsys):
    main, argv = DAMAGED_RUNS[run]
    places = {
        "MODEL": str(damaged),
        "NSMC": str(fixtures_dir / "tasks/nsmc"),
        "OUT": str(tmp_path / "out"),
        "CORPUS": str(fixtures_dir / "corpus.txt"),
        "TEACHER": str(_save_model(tmp_path / "teacher", tiny_tokenizer)),
    }
    capsys.readouterr()  # what saving printed
    assert main([places.get(item, item) for item in argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        f"error: model.safetensors in {damaged} is damaged (Error while deserializing header: incomplete metadata, "
        "file not fully covered); re-download or re-save it."
    )
    assert not (tmp_path / "out").exists()


def test_upload_names_a_damaged_weights_file_in_one_line(damaged, capsys):
    capsys.readouterr()  # what saving printed
    assert upload.main(["--model", str(damaged), "--repo_id", "org/name", "--dry_run"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: model.safetensors in {damaged} is damaged (") and "\n" not in err


@pytest.mark.slow  # a subprocess / the whole real dev set
def test_a_misspelled_folder_with_the_hub_unreachable_names_the_closest_folder(tmp_path, tiny_tokenizer):
    _save_model(tmp_path / "lf3-nsmc", tiny_tokenizer)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    argv = ["finetune", "--model", "lf3-nsmx", "--task", "nsmc", "--data_dir", "no-such-data"]
    result = subprocess.run(
        [sys.executable, "-m", "training.cli", *argv],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == (
        "error: --model: no local folder `lf3-nsmx` (did you mean `lf3-nsmc`?) and the Hub is unreachable; check the "
        "folder name, or the network (or the Hub cache, with HF_HUB_OFFLINE=1) for a Hub id."
    )


def test_a_name_the_hub_does_not_know_is_named(tmp_path, monkeypatch):
    from huggingface_hub.errors import RepositoryNotFoundError

    from training.loading import load_config

    def not_found(*args, **kwargs):
        response = types.SimpleNamespace(headers={}, status_code=404, request=None, url="")
        try:
            raise RepositoryNotFoundError("404", response=response)
        except RepositoryNotFoundError as cause:
            raise OSError("org/missing is not a local folder and is not a valid model identifier") from cause

    monkeypatch.setattr(AutoConfig, "from_pretrained", classmethod(not_found))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError) as error:
        load_config("org/missing")
    assert str(error.value).startswith("--model: no local folder `org/missing` and no Hub model `org/missing`;")


def test_a_misspelled_relative_path_names_the_closest_folder(tmp_path, monkeypatch):
    from training.arguments import check_model_source

    (tmp_path / "students" / "small-lf-v3").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(
        ValueError, match=r"--teacher ./students/smal-lf-v3: no such folder \(did you mean `./students/small-lf-v3`\?\)"
    ):
        check_model_source("./students/smal-lf-v3", "--teacher")
    with pytest.raises(ValueError, match=r"\(did you mean `./students`\?\)"):
        check_model_source("./student")


# --------------------------------------------------------------------------------------------------------------------
# Saved tokenizers
# --------------------------------------------------------------------------------------------------------------------


def test_saved_tokenizers_keep_no_run_time_keys(tmp_path, tiny_tokenizer):
    from transformers import AutoTokenizer

    tiny_tokenizer.save_pretrained(tmp_path / "source")
    # loaded and called as the commands do; transformers writes such keys back on save
    loaded = AutoTokenizer.from_pretrained(tmp_path / "source", local_files_only=True)
    loaded(["안녕하세요"], max_length=64, stride=0, truncation=True, padding="max_length")
    loaded.save_pretrained(tmp_path / "raw")
    raw = json.loads((tmp_path / "raw" / "tokenizer_config.json").read_text(encoding="utf-8"))
    assert {"is_local", "local_files_only"} & set(raw), "transformers no longer saves them: the test shows nothing"
    save_tokenizer(loaded, tmp_path / "clean")
    clean = json.loads((tmp_path / "clean" / "tokenizer_config.json").read_text(encoding="utf-8"))
    assert not set(clean) & set(RUNTIME_TOKENIZER_KEYS)
    assert clean["tokenizer_class"] == "PreTrainedTokenizerFast" and clean["model_max_length"] == 128


def test_upload_refuses_run_time_tokenizer_keys(tmp_path, tiny_tokenizer, capsys):
    folder = _save_model(tmp_path / "student", tiny_tokenizer)
    config_file = folder / "tokenizer_config.json"
    config = json.loads(config_file.read_text(encoding="utf-8"))
    config.update(is_local=True, local_files_only=True, max_length=64, stride=0)
    config_file.write_text(json.dumps(config), encoding="utf-8")
    capsys.readouterr()  # what saving printed
    assert upload.main(["--model", str(folder), "--repo_id", "org/name", "--dry_run"]) == 2
    assert capsys.readouterr().err.strip() == (
        f"error: {config_file} holds run-time keys is_local, local_files_only, max_length, stride (how the tokenizer "
        "was loaded or called, not what it is); re-save it with training.tokenizer.save_tokenizer, or delete those keys."
    )


TOKENIZER_LOADS = """
import sys
from transformers import AutoTokenizer, PreTrainedTokenizerFast
for folder in sys.argv[1:]:
    tokenizer = PreTrainedTokenizerFast.from_pretrained(folder)
    assert isinstance(tokenizer, PreTrainedTokenizerFast), type(tokenizer)
    assert tokenizer("안녕하세요")["input_ids"][0] == tokenizer.cls_token_id
    print("loaded", folder)
    sys.stdout.flush()
"""


@pytest.mark.slow  # a subprocess / the whole real dev set
def test_saved_folders_tokenizers_load_without_remote_code(tmp_path, korean_texts, capsys):
    """A student, a fine-tuned model and an export, loaded by a plain transformers process that does not import this
    package, with stdin closed: the tokenizer loads as README shows, with no question about custom code."""
    tokenizer = build_tiny_tokenizer(korean_texts)
    student = _save_model(tmp_path / "student", tokenizer)
    task = get_task("nsmc")
    finetuned = _save_model(
        tmp_path / "finetuned", tokenizer, KRElectraKDForSequenceClassification, id2label=task.id2label
    )
    assert cli(["export", "--model", str(finetuned), "--output_dir", str(tmp_path / "onnx")]) == 0
    capsys.readouterr()
    folders = [str(student), str(finetuned), str(tmp_path / "onnx")]
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    result = subprocess.run(
        [sys.executable, "-c", TOKENIZER_LOADS, *folders],
        cwd=tmp_path,
        env={**env, "HF_HUB_OFFLINE": "1"},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("loaded") == 3
    assert "custom code" not in result.stdout + result.stderr
