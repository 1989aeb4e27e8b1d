"""The library runs behind the commands (`run_pretraining`, `run_distillation`, `run_finetuning`, `run_conversion`,
`run_evaluation`), which the recipe and the benchmarks call instead of a command's argv: the command's option names
and defaults, bad input as ValueError, the output folder locked for the call and released after it, and stop-is-save
(SIGTERM: the checkpoint saved, SystemExit 143, the next call resumes)."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from conftest import build_tiny_tokenizer
from test_finetune import save_tiny_model
from test_tasks import fixture_texts

from training import finetuning, pretraining
from training.conversion import run_conversion
from training.distillation.run import run_distillation
from training.evaluation import run_evaluation
from training.finetuning import run_finetuning
from training.outputs import LOCK_FILE
from training.pretraining import run_pretraining

QUIET = {"disable_tqdm": True, "report_to": "none", "logging_steps": 100, "seed": 0}


@pytest.mark.parametrize(
    "run, options, expected",
    [
        (
            run_pretraining,
            {"corpus": ["c.txt"], "tokenizer": "t", "epochs": 1},
            "Unknown pre-training option(s): epochs",
        ),
        (run_distillation, {"teacher": "t", "student": "s"}, "Unknown distillation option(s): student"),
        (run_finetuning, {"model": "m", "task": "nsmc", "lr": 1e-4}, "Unknown fine-tuning option(s): lr"),
        (run_conversion, {"model": "m", "output_dir": "o", "rank": 8}, "Unknown conversion option(s): rank"),
        (run_evaluation, {"model": "m", "tasks": ["nsmc"]}, "Unknown evaluation option(s): tasks"),
        (run_finetuning, {"model": "m", "task": "nsmc", "max_train_samples": 0}, "--max_train_samples must be"),
    ],
)
def test_a_library_run_refuses_an_unknown_option_or_a_bad_number_before_anything_runs(run, options, expected):
    with pytest.raises(ValueError) as error:
        run(**options)
    assert str(error.value).startswith(expected)


def test_library_runs_take_the_commands_defaults():
    from transformers import TrainingArguments

    from training.commands import finetune as finetune_command

    _, _, parsed = finetune_command.parse_arguments(["--model", "runs/m", "--task", "nsmc"])
    assert parsed.output_dir == finetuning.default_output_dir("runs/m", "nsmc") == str(Path("runs") / "m-nsmc")
    for key, value in finetuning.TRAINING_DEFAULTS.items():
        assert getattr(parsed, key) == getattr(TrainingArguments(output_dir="x", **{key: value}), key), key


def locked_while_training(monkeypatch, module, output: Path) -> list[bool]:
    """Record, when training starts, whether `output` holds the run's lock."""
    seen = []
    train_or_restore = module.train_or_restore

    def recording(trainer, checkpoint):
        seen.append((output / LOCK_FILE).exists())
        return train_or_restore(trainer, checkpoint)

    monkeypatch.setattr(module, "train_or_restore", recording)
    return seen


@pytest.mark.slow
def test_run_pretraining_locks_its_folder_while_it_runs_and_leaves_a_teacher(
    tmp_path, korean_texts, fixtures_dir, monkeypatch, capsys
):
    tokenizer = tmp_path / "tokenizer"
    build_tiny_tokenizer(korean_texts).save_pretrained(tokenizer)
    output = tmp_path / "teacher"
    seen = locked_while_training(monkeypatch, pretraining, output)
    options = {"corpus": [str(fixtures_dir / "corpus.txt")], "tokenizer": str(tokenizer), "preset": "tiny"}
    folder = run_pretraining(**options, output_dir=str(output), max_steps=2, per_device_train_batch_size=8, **QUIET)
    assert folder == output and seen == [True]
    assert (output / "model.safetensors").is_file() and (output / "generator" / "config.json").is_file()
    assert not (output / LOCK_FILE).exists()  # released when the call returned
    assert f"Saved the teacher (discriminator) to {output}" in capsys.readouterr().out


@pytest.mark.slow
def test_run_finetuning_stopped_by_sigterm_saves_exits_143_and_the_next_call_resumes(
    tmp_path, fixtures_dir, korean_texts, monkeypatch, capsys
):
    from transformers.trainer_callback import DefaultFlowCallback

    model = save_tiny_model(tmp_path / "model", build_tiny_tokenizer(fixture_texts(fixtures_dir, korean_texts), 4000))
    output = tmp_path / "run"
    options = {"model": str(model), "task": "paws", "data_dir": str(fixtures_dir / "tasks/paws")}
    options |= {"output_dir": str(output), "per_device_train_batch_size": 2, "max_steps": 4, "save_steps": 2, **QUIET}
    on_step_end = DefaultFlowCallback.on_step_end

    def send(self, args, state, control, **kwargs):
        if state.global_step == 3:
            os.kill(os.getpid(), signal.SIGTERM)
        return on_step_end(self, args, state, control, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(DefaultFlowCallback, "on_step_end", send)
        seen = locked_while_training(patch, finetuning, output)
        with pytest.raises(SystemExit) as stopped:
            run_finetuning(**options)
    assert stopped.value.code == 143 and seen == [True]
    assert (output / "checkpoint-3").is_dir() and not (output / LOCK_FILE).exists()
    assert "stopped by SIGTERM at step 3" in capsys.readouterr().err
    results = run_finetuning(**options)
    assert results["task"] == "paws" and (output / "results.json").is_file()
    assert f"Resuming from {output / 'checkpoint-3'}" in capsys.readouterr().out
    assert not (output / LOCK_FILE).exists()
