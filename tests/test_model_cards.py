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

from modeling_kr_electra_kd import KRElectraKDConfig, KRElectraKDForSequenceClassification
from training import publishing
from training.commands import upload
from training.commands.card import main as card_main
from training.model_card import write_model_card


def _results(task="nsmc", accuracy=81.25, n=400, data_source="hub:e9t/nsmc"):
    return {
        "task": task,
        "primary_metric": "accuracy",
        "metrics": {"accuracy": accuracy},
        "data_source": data_source,
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
    assert "| nsmc | accuracy | 81.25 | 84.50 | 96.2% | Hub dataset `e9t/nsmc` | ratings_test.txt | 400 |" in text
    assert "sample data" not in text
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
    assert card_main(["--model", str(student_dir), "--results", str(tmp_path / "missing.json")]) == 2


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
    with pytest.raises(publishing.PublishError, match=message):
        publishing.check_folder(student_dir)


def test_malformed_card_metadata_and_repo_refs_are_caught(student_dir):
    _ready(student_dir)
    card = (student_dir / "README.md").read_text()
    (student_dir / "README.md").write_text(card.replace("value: 81.25", "value: [oops"))
    with pytest.raises(publishing.PublishError, match="invalid metadata"):
        publishing.check_folder(student_dir)
    _ready(student_dir)
    config = json.loads((student_dir / "config.json").read_text())
    config["auto_map"]["AutoModel"] = "org/repo--modeling_kr_electra_kd.KRElectraKDModel"
    (student_dir / "config.json").write_text(json.dumps(config))
    with pytest.raises(publishing.PublishError, match="another repo"):
        publishing.check_folder(student_dir)


@pytest.mark.slow
def test_dry_run_of_a_saved_tiny_student(student_dir, capsys):
    _ready(student_dir)
    assert upload.main(["--model", str(student_dir), "--repo_id", "org/kr-tiny", "--dry_run"]) == 0
    out = capsys.readouterr().out
    assert "org/kr-tiny" in out and "model.safetensors" in out and '"language": "ko"' in out


@pytest.mark.slow
def test_bad_repo_id_and_missing_token_are_one_line_errors(student_dir, capsys, monkeypatch):
    _ready(student_dir)
    assert upload.main(["--model", str(student_dir), "--repo_id", "no-slash"]) == 2
    assert "not of the form ORG/NAME" in capsys.readouterr().err
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_HOME", str(student_dir.parent / "empty_hf_home"))
    with mock.patch("huggingface_hub.get_token", return_value=None):
        assert upload.main(["--model", str(student_dir), "--repo_id", "org/kr-tiny"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no Hugging Face token" in err


@pytest.mark.slow
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
        assert upload.main(["--all", str(tmp_path / "many"), "--repo_id", "org"]) == 0
    assert create.call_count == 2 and commit.call_count == 2  # one commit per folder
    assert {c.kwargs["repo_id"] for c in commit.call_args_list} == {"org/first", "org/second"}
    # a folder that fails its checks stops everything before any network call
    (second / "model.safetensors").unlink()
    with (
        mock.patch("huggingface_hub.HfApi.create_repo") as create,
        mock.patch("huggingface_hub.HfApi.upload_folder") as commit,
    ):
        assert upload.main(["--all", str(tmp_path / "many"), "--repo_id", "org"]) == 2
    assert create.call_count == 0 and commit.call_count == 0
    # no network: one line, non-zero
    with mock.patch("huggingface_hub.HfApi.create_repo", side_effect=ConnectionError("Failed to resolve host")):
        assert upload.main(["--model", str(student_dir), "--repo_id", "org/x"]) == 1  # the network, not the input
    assert "cannot reach the Hugging Face Hub" in capsys.readouterr().err


def test_card_command_writes_readme(student_dir, capsys):
    """The card the command writes carries what the results JSON it was given says: scores, baselines, name."""
    measured = _results(accuracy=77.75, n=321)
    measured["baselines"] = {
        "trivial": {"metrics": {"accuracy": 50.5}, "method": "majority class"},
        "classical": {"metrics": {"accuracy": 70.25}, "method": "char 1-4-gram TF-IDF + logistic regression"},
    }
    (student_dir / "results.json").write_text(json.dumps(measured), encoding="utf-8")
    teacher_results = student_dir.parent / "teacher.json"
    argv = ["--model", str(student_dir), "--results", str(student_dir / "results.json")]
    argv += ["--teacher_results", str(teacher_results), "--repo_id", "org/kr-tiny-nsmc"]
    assert card_main(argv) == 0 and Path(student_dir / "README.md").is_file()
    assert capsys.readouterr().out == f"Wrote {student_dir / 'README.md'}.\n"

    card = ModelCard.load(student_dir / "README.md")
    model_name, eval_results = model_index_to_eval_results(card.data.to_dict()["model-index"])
    score = measured["metrics"]["accuracy"]
    assert model_name == "kr-tiny-nsmc" and card.text.lstrip().startswith("# kr-tiny-nsmc\n")
    assert 'from_pretrained("org/kr-tiny-nsmc", trust_remote_code=True)' in card.text
    assert [(r.task_type, r.metric_type, r.metric_value) for r in eval_results] == [
        ("text-classification", "accuracy", score)
    ]
    teacher_score = json.loads(teacher_results.read_text())["metrics"]["accuracy"]
    assert (
        f"| nsmc | accuracy | {score:.2f} | {teacher_score:.2f} | {100 * score / teacher_score:.1f}% | "
        f"Hub dataset `e9t/nsmc` | ratings_test.txt | {measured['num_eval_samples']} |"
    ) in card.text
    trivial, classical = measured["baselines"]["trivial"], measured["baselines"]["classical"]
    assert (
        f"- nsmc (accuracy): this model {score:.2f}; without a neural model {trivial['metrics']['accuracy']:.2f} "
        f"({trivial['method']}) and {classical['metrics']['accuracy']:.2f} ({classical['method']})."
    ) in card.text


# --------------------------------------------------------------------------------------------------------------------
# Where the numbers came from, and no local path in what is published
# --------------------------------------------------------------------------------------------------------------------

DATA_SOURCES = [
    # data_source, model-index dataset type, words in the card, dataset listed in the metadata
    ("hub:e9t/nsmc", "e9t/nsmc", "Hub dataset `e9t/nsmc`", ["e9t/nsmc"]),
    ("sample:sample_nsmc", "kr-electra-kd-sample-nsmc", "**sample data** packaged with kr-electra-kd", None),
    # results.json written before data_source said "sample:"
    ("local:/x/training/data/sample_nsmc", "kr-electra-kd-sample-nsmc", "**sample data**", None),
    ("local:../../shared/data/nsmc", "nsmc", "local copy of the original files", None),
]


@pytest.mark.parametrize("data_source, dataset_type, words, datasets", DATA_SOURCES)
def test_the_card_names_the_data_the_score_came_from(student_dir, data_source, dataset_type, words, datasets):
    card = write_model_card(student_dir, [_results(accuracy=100.0, n=200, data_source=data_source)])
    data = card.data.to_dict()
    _, results = model_index_to_eval_results(data["model-index"])
    assert results[0].dataset_type == dataset_type and results[0].dataset_split == "ratings_test.txt"
    assert data.get("datasets") == datasets
    assert words in card.text
    assert ("These scores were measured on sample data" in card.text) == ("sample" in dataset_type)


def test_a_local_teacher_is_named_relative_to_the_card_and_never_base_model(student_dir, tmp_path, monkeypatch):
    teacher = tmp_path / "teacher"
    teacher.mkdir()
    monkeypatch.chdir(tmp_path)
    for given in ("teacher", str(teacher)):  # relative to where the command runs, and absolute
        card = write_model_card(student_dir, [student_dir / "results.json"], teacher=given)
        assert "base_model" not in card.data.to_dict()
        assert "Teacher: `../teacher` (a local folder" in card.text and str(tmp_path) not in card.text
    # distillation.json records paths relative to its own folder: the card re-bases them onto its folder
    record = {"teacher": "../teacher", "corpus": ["../corpus.txt"], "student_init": {"init": "random"}}
    (teacher / "distillation.json").write_text(json.dumps(record))
    card = write_model_card(student_dir, [student_dir / "results.json"], distillation=teacher / "distillation.json")
    assert "Teacher: `../teacher`" in card.text and "corpus ../corpus.txt" in card.text
    # a distillation on a local `datasets` folder (distill --dataset_name), re-based the same way; a Hub id as it is
    for given, shown in (("../data", "../data"), ("wikimedia/wikipedia", "wikimedia/wikipedia")):
        dataset = {"dataset_name": given, "dataset_config_name": "20231101.ko", "dataset_split": "train"}
        record = {"teacher": "../teacher", "corpus": None, "dataset": dataset, "student_init": {"init": "random"}}
        (teacher / "distillation.json").write_text(json.dumps(record))
        card = write_model_card(student_dir, [student_dir / "results.json"], distillation=teacher / "distillation.json")
        assert f"Mode: unknown, dataset `{shown}` (20231101.ko), split train" in card.text


def _upload_error(student_dir) -> str:
    with pytest.raises(publishing.PublishError) as caught:
        publishing.check_folder(student_dir)
    return str(caught.value)


def test_upload_refuses_a_card_whose_results_are_not_the_folders(student_dir):
    _ready(student_dir)
    publishing.check_folder(student_dir)  # the generated card matches
    results = json.loads((student_dir / "results.json").read_text())
    for change in ({"metrics": {"accuracy": 46.0}}, {"data_source": "sample:sample_nsmc"}):
        (student_dir / "results.json").write_text(json.dumps({**results, **change}))
        assert "model-index does not match" in _upload_error(student_dir)
    (student_dir / "results.json").unlink()
    assert "has no results.json to back them" in _upload_error(student_dir)


def test_upload_refuses_results_without_a_model_index(student_dir):
    _ready(student_dir)
    card = ModelCard.load(student_dir / "README.md")
    card.data.eval_results = None
    card.data.model_name = None
    card.save(student_dir / "README.md")
    assert "model-index" not in ModelCard.load(student_dir / "README.md").data.to_dict()
    assert "shows results but has no model-index" in _upload_error(student_dir)


LOCAL_PATHS = [
    # file, content change, what the error names
    (
        "results.json",
        {"model_name_or_path": "/home/user/kr/quickstart_output/students/small-lf-v3"},
        "model_name_or_path",
    ),
    ("results.json", {"data_source": "local:/home/me/data/nsmc"}, "data_source"),
    ("distillation.json", {"teacher": "/home/user/kr/quickstart_output/teacher"}, "teacher"),
    ("distillation.json", {"corpus": ["~/corpus.txt"]}, "corpus[0]"),
    ("distillation.json", {"dataset": {"dataset_name": "student-nsmc"}}, "dataset.dataset_name"),  # run-relative
    ("distillation.json", {"teacher": "student-nsmc"}, "teacher"),  # relative to where the command ran
    ("lowrank_report.json", {"source": "/tmp/dense-model"}, "source"),
]


@pytest.mark.parametrize("name, change, field", LOCAL_PATHS)
def test_upload_refuses_a_file_holding_a_local_path(student_dir, monkeypatch, name, change, field):
    _ready(student_dir)
    monkeypatch.chdir(student_dir.parent)
    path = student_dir / name
    data = json.loads(path.read_text()) if path.is_file() else {}
    path.write_text(json.dumps({**data, **change}))
    if name == "results.json":
        write_model_card(student_dir, [path])  # the card agrees with it: only the path is wrong
    message = _upload_error(student_dir)
    assert f"{name} field '{field}' holds the local path" in message


def test_upload_refuses_a_local_base_model_and_a_path_in_the_card_text(student_dir, tmp_path, monkeypatch):
    _ready(student_dir)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "quickstart_output" / "teacher").mkdir(parents=True)
    card = ModelCard.load(student_dir / "README.md")
    card.data.base_model = "quickstart_output/teacher"
    card.save(student_dir / "README.md")
    assert "README.md field 'base_model' holds the local path" in _upload_error(student_dir)
    _ready(student_dir)
    text = (student_dir / "README.md").read_text()
    (student_dir / "README.md").write_text(text + "\nTrained from `/home/user/kr/runs/teacher`.\n")
    assert "README.md field 'text' holds the local path '/home/user/kr/runs/teacher'" in _upload_error(student_dir)


def test_the_login_command_is_the_installed_hubs(monkeypatch):
    """`hf auth login` where huggingface_hub ships the `hf` CLI module, `huggingface-cli login` where it does not."""
    import sys

    import huggingface_hub.cli

    monkeypatch.setitem(sys.modules, "huggingface_hub.cli.hf", mock.Mock())
    assert publishing.login_command() == "hf auth login"
    monkeypatch.delattr(huggingface_hub.cli, "hf", raising=False)
    monkeypatch.setitem(sys.modules, "huggingface_hub.cli.hf", None)  # None in sys.modules: the import fails
    assert publishing.login_command() == "huggingface-cli login"


def test_upload_takes_the_old_flag_spellings_with_one_deprecation_line(tmp_path, capsys):
    assert upload.main(["--model-dir", str(tmp_path / "missing"), "--repo-id", "org/x", "--dry-run"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "kr-electra-kd upload: --model-dir, --repo-id, --dry-run: old spelling, deprecated; use --model, --repo_id, "
        "--dry_run.",
        f"error: {tmp_path / 'missing'} is not a folder: pass a model folder written by save_pretrained.",
    ]
    assert upload.main(["--model", str(tmp_path), "--all", str(tmp_path), "--repo_id", "org/x"]) == 2
    assert capsys.readouterr().err == (
        "error: pass exactly one of --model (one folder) and --all (a folder of model folders).\n"
    )
