"""Model cards from results JSON, and upload.py's checks (no network: the Hub API is mocked)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from unittest import mock

import pytest
import torch
from huggingface_hub import ModelCard
from huggingface_hub.repocard_data import model_index_to_eval_results

import upload
from model_cards.generate import main as card_main
from model_cards.generate import write_model_card
from modeling_kr_electra_kd import KRElectraKDConfig, KRElectraKDForSequenceClassification


def _results(task="nsmc", accuracy=81.25, n=400):
    return {
        "task": task,
        "primary_metric": "accuracy",
        "metrics": {"accuracy": accuracy},
        "splits": {"eval": "ratings_test.txt"},
        "num_eval_samples": n,
    }


@pytest.fixture()
def student_dir(tmp_path, tiny_tokenizer):
    torch.manual_seed(0)
    config = KRElectraKDConfig.from_preset(
        "tiny", vocab_size=len(tiny_tokenizer), ffn_rank=16, id2label={0: "negative", 1: "positive"}
    )
    config.finetuning_task = "nsmc"
    folder = tmp_path / "student-nsmc"
    KRElectraKDForSequenceClassification(config).save_pretrained(folder)
    tiny_tokenizer.save_pretrained(folder)
    (folder / "results.json").write_text(json.dumps(_results()), encoding="utf-8")
    (tmp_path / "teacher.json").write_text(json.dumps(_results(accuracy=84.5)), encoding="utf-8")
    (folder / "distillation.json").write_text(
        json.dumps(
            {
                "teacher": "org/kr-electra-teacher",
                "mode": "task-agnostic",
                "steps": 123,
                "temperature": 2.0,
                "loss_weights": {"kl": 1.0, "hidden": 1.0},
            }
        )  # fmt: skip
    )
    return folder


def test_card_metadata_parses_back_and_matches_the_numbers(student_dir):
    write_model_card(
        student_dir, [student_dir / "results.json"], [student_dir.parent / "teacher.json"], repo_id="org/s"
    )
    card = ModelCard.load(student_dir / "README.md")
    data = card.data.to_dict()
    assert data["language"] == "ko" and data["library_name"] == "transformers" and data["license"] == "apache-2.0"
    assert data["pipeline_tag"] == "text-classification" and data["base_model"] == "org/kr-electra-teacher"
    model_name, results = model_index_to_eval_results(data["model-index"])
    assert model_name == "s" and results[0].metric_type == "accuracy" and results[0].metric_value == 81.25
    assert results[0].dataset_type == "e9t/nsmc"
    text = card.text
    assert "| nsmc | accuracy | 81.25 | 84.50 | 96.2% | 400 |" in text
    assert "| 2 | 64 | 128 | 32 | dense | dense | 16 |" in text  # architecture from the config
    assert "Steps: 123" in text and "trust_remote_code=True" in text


def test_card_without_results_says_so(student_dir):
    card = write_model_card(student_dir)
    assert "No task results have been measured" in card.text
    assert "model-index" not in card.data.to_dict()


def test_card_shows_the_baselines_the_results_carry(student_dir):
    results = _results()
    results["baselines"] = {
        "trivial": {"metrics": {"accuracy": 50.0}, "method": "majority class"},
        "classical": {"metrics": {"accuracy": 80.5}, "method": "char 1-4-gram TF-IDF + logistic regression"},
    }
    text = write_model_card(student_dir, [results]).text
    assert (
        "- nsmc (accuracy): this model 81.25; without a neural model 50.00 (majority class) and 80.50 "
        "(char 1-4-gram TF-IDF + logistic regression)." in text
    )
    assert "Baselines on the same" not in write_model_card(student_dir, [_results()]).text


def test_results_that_do_not_match_the_model_are_refused(student_dir, tmp_path):
    with pytest.raises(ValueError, match="fine-tuned on nsmc"):
        write_model_card(student_dir, [_results(task="kornli")])
    with pytest.raises(ValueError, match="not a results JSON"):
        (tmp_path / "bad.json").write_text("{}")
        write_model_card(student_dir, [tmp_path / "bad.json"])
    assert card_main(["--model_dir", str(student_dir), "--results", str(tmp_path / "missing.json")]) == 2


def _ready(student_dir):
    write_model_card(student_dir, [student_dir / "results.json"])
    return student_dir


@pytest.mark.parametrize(
    ("remove", "message"),
    [
        ("modeling_kr_electra_kd.py", "modeling_kr_electra_kd.py .named in auto_map. is missing"),
        ("model.safetensors", "no model.safetensors"),
        ("tokenizer.json", "no tokenizer"),
        ("README.md", "no README.md"),
        ("config.json", "no config.json"),
    ],
)
def test_folder_checks_catch_each_missing_piece(student_dir, remove, message):
    _ready(student_dir)
    (student_dir / remove).unlink()
    with pytest.raises(upload.UploadError, match=message):
        upload.check_folder(student_dir)


def test_malformed_card_metadata_and_repo_refs_are_caught(student_dir):
    _ready(student_dir)
    card = (student_dir / "README.md").read_text()
    (student_dir / "README.md").write_text(card.replace("value: 81.25", "value: [oops"))
    with pytest.raises(upload.UploadError, match="invalid metadata"):
        upload.check_folder(student_dir)
    _ready(student_dir)
    config = json.loads((student_dir / "config.json").read_text())
    config["auto_map"]["AutoModel"] = "org/repo--modeling_kr_electra_kd.KRElectraKDModel"
    (student_dir / "config.json").write_text(json.dumps(config))
    with pytest.raises(upload.UploadError, match="another repo"):
        upload.check_folder(student_dir)


def test_dry_run_of_a_saved_tiny_student(student_dir, capsys):
    _ready(student_dir)
    assert upload.main(["--model-dir", str(student_dir), "--repo-id", "org/kr-tiny", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "org/kr-tiny" in out and "model.safetensors" in out and '"language": "ko"' in out


def test_bad_repo_id_and_missing_token_are_one_line_errors(student_dir, capsys, monkeypatch):
    _ready(student_dir)
    assert upload.main(["--model-dir", str(student_dir), "--repo-id", "no-slash"]) == 1
    assert "not of the form ORG/NAME" in capsys.readouterr().err
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_HOME", str(student_dir.parent / "empty_hf_home"))
    with mock.patch("huggingface_hub.get_token", return_value=None):
        assert upload.main(["--model-dir", str(student_dir), "--repo-id", "org/kr-tiny"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no Hugging Face token" in err


def test_upload_is_one_commit_or_none(student_dir, tmp_path, capsys, monkeypatch):
    _ready(student_dir)
    second = tmp_path / "many" / "second"
    shutil.copytree(student_dir, second)
    shutil.copytree(student_dir, tmp_path / "many" / "first")
    monkeypatch.setenv("HF_TOKEN", "hf_test")
    with (
        mock.patch("huggingface_hub.HfApi.create_repo") as create,
        mock.patch(
            "huggingface_hub.HfApi.upload_folder", return_value=mock.Mock(commit_url="https://hub/commit/1")
        ) as commit,
    ):
        assert upload.main(["--all", str(tmp_path / "many"), "--repo-id", "org"]) == 0
    assert create.call_count == 2 and commit.call_count == 2  # one commit per folder
    assert {c.kwargs["repo_id"] for c in commit.call_args_list} == {"org/first", "org/second"}
    # a folder that fails its checks stops everything before any network call
    (second / "model.safetensors").unlink()
    with (
        mock.patch("huggingface_hub.HfApi.create_repo") as create,
        mock.patch("huggingface_hub.HfApi.upload_folder") as commit,
    ):
        assert upload.main(["--all", str(tmp_path / "many"), "--repo-id", "org"]) == 1
    assert create.call_count == 0 and commit.call_count == 0
    # no network: one line, non-zero
    with mock.patch("huggingface_hub.HfApi.create_repo", side_effect=ConnectionError("Failed to resolve host")):
        assert upload.main(["--model-dir", str(student_dir), "--repo-id", "org/x"]) == 1
    assert "cannot reach the Hugging Face Hub" in capsys.readouterr().err


def test_card_command_writes_readme(student_dir):
    argv = ["--model_dir", str(student_dir), "--results", str(student_dir / "results.json")]
    assert card_main(argv) == 0 and Path(student_dir / "README.md").is_file()
