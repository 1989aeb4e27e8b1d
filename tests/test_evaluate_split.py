"""`evaluate` scores a model on its own eval split: for a task trained on a held-out part of its evaluation file
(NER here: the fixtures have no train file), the split comes from the fine-tuning seed in the model's results.json."""

from __future__ import annotations

import json

import pytest
from conftest import build_tiny_tokenizer
from test_tasks import fixture_texts

from modeling_kr_electra_kd import KRElectraKDConfig, KRElectraKDForPreTraining
from training.commands import evaluate as evaluate_command
from training.commands import finetune as finetune_command

pytestmark = pytest.mark.slow  # every test reads the model the finetune command trains (module fixture)

QUIET = ["--disable-tqdm", "true", "--logging-steps", "1000"]


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module")
def ner_model(tmp_path_factory, fixtures_dir, korean_texts):
    """A tiny model fine-tuned (1 step) on NER with seed 7."""
    tokenizer = build_tiny_tokenizer(fixture_texts(fixtures_dir, korean_texts), vocab_size=4000)
    source = tmp_path_factory.mktemp("tiny")
    KRElectraKDForPreTraining(KRElectraKDConfig.from_preset("tiny", vocab_size=len(tokenizer))).save_pretrained(source)
    tokenizer.save_pretrained(source)
    output = tmp_path_factory.mktemp("ner")
    argv = ["--model", str(source), "--task", "ner", "--data-dir", str(fixtures_dir / "tasks" / "ner")]
    argv += ["--output-dir", str(output), "--max-steps", "1", "--seed", "7", *QUIET]
    assert finetune_command.main(argv) == 0
    return output


def test_evaluate_takes_the_holdout_split_from_results_json(ner_model, fixtures_dir, tmp_path, capsys):
    trained = json.loads((ner_model / "results.json").read_text(encoding="utf-8"))
    argv = ["--model", str(ner_model), "--data_dir", str(fixtures_dir / "tasks" / "ner")]
    assert evaluate_command.main([*argv, "--output_file", str(tmp_path / "eval.json")]) == 0
    scored = json.loads((tmp_path / "eval.json").read_text(encoding="utf-8"))
    assert scored["seed"] == 7
    assert scored["splits"]["eval"] == trained["splits"]["eval"]
    assert scored["num_eval_samples"] == trained["num_eval_samples"]
    assert scored["metrics"] == trained["metrics"]  # the same rows, the same model: the same scores

    capsys.readouterr()
    assert evaluate_command.main([*argv, "--seed", "42"]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "fine-tuned with seed 7" in error and "--seed 42" in error


def test_evaluate_refuses_a_holdout_split_it_cannot_know(ner_model, fixtures_dir, tmp_path, capsys):
    import shutil

    model = tmp_path / "model"
    shutil.copytree(ner_model, model)
    (model / "results.json").unlink()
    argv = ["--model", str(model), "--data_dir", str(fixtures_dir / "tasks" / "ner")]
    assert evaluate_command.main(argv) == 2
    assert "pass the seed it was fine-tuned with (--seed)" in capsys.readouterr().err
    assert evaluate_command.main([*argv, "--seed", "7", "--output_file", str(tmp_path / "eval.json")]) == 0
