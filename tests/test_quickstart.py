"""The README's main job, end to end on the shipped sample (shortened step counts; same code path)."""

from __future__ import annotations

import json
import re

import pytest

from training import publishing
from training.commands.quickstart import main
from training.recipe import StageProgress


@pytest.mark.slow
def test_quickstart_runs_the_whole_pipeline_and_resumes(tmp_path, capsys):
    argv = ["--output_dir", str(tmp_path), "--teacher_steps", "40", "--distill_steps", "40", "--finetune_epochs", "1"]
    argv += ["--vocab_size", "3000", "--max_corpus_lines", "600"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    # each of the 5 steps says where the run is, once it starts and once it is done; the ETA starts once one is timed
    stage_lines = [line for line in out.splitlines() if re.match(r"\[\d/5\] ", line)]
    assert len(stage_lines) == 10, stage_lines
    assert stage_lines[0] == f"[1/5] tokenizer: writing {tmp_path / 'tokenizer'}"  # a library call, not a command
    assert stage_lines[2].startswith("[2/5] teacher: kr-electra-kd pretrain-teacher")
    assert re.match(
        r"\[3/5\] distill small-lf-v3 \(about \d+ (s|min) left, fine-tuning not yet timed\): ", stage_lines[4]
    )
    assert re.match(r"\[5/5\] finetune small-lf-v3 nsmc \(about \d+ (s|min) left\): ", stage_lines[8])
    assert re.match(r"\[2/5\] teacher done in \d+ (s|min)$", stage_lines[3])
    student = tmp_path / "finetuned" / "small-lf-v3-nsmc"
    for name in ("model.safetensors", "modeling_kr_electra_kd.py", "tokenizer.json", "README.md", "results.json"):
        assert (student / name).is_file(), name
    results = json.loads((student / "results.json").read_text())
    assert results["task"] == "nsmc" and results["num_eval_samples"] == 200
    assert "| teacher |" in out and "| small-lf-v3 |" in out
    assert "| *trivial baseline* |" in out and "| *classical baseline* |" in out
    assert set(results["baselines"]) == {"trivial", "classical"}  # the pipeline fine-tunes with --baselines
    assert "positive" in out or "negative" in out  # the pipeline() prediction on the saved folder
    # the card says the score is on the packaged sample, names no local teacher as base_model, and upload.py's checks
    # (card matches results.json, no local path in any file sent) pass
    metadata = publishing.check_folder(student)
    assert results["data_source"] == "sample:sample_nsmc" and "base_model" not in metadata
    assert "e9t/nsmc" not in json.dumps(metadata) and "measured on sample data" in (student / "README.md").read_text()
    config = json.loads((tmp_path / "students" / "small-lf-v3" / "config.json").read_text())
    assert config["ffn_rank"] and config["attention_rank"] and config["embedding_rank"]
    # a second run finds every step done and only re-reads the results
    assert main(argv) == 0
    assert "[1/5] tokenizer already done" in capsys.readouterr().out


def test_stage_progress_estimates_the_time_left_from_finished_steps():
    stages = [("train-tokenizer", None), ("pretrain-teacher", 100), ("distill", 50), ("distill", 50)]
    progress = StageProgress(stages + [("finetune", None)] * 2)
    assert progress.begin("tokenizer") == "[1/6] tokenizer"  # nothing timed yet
    progress.finish(10.0)
    assert progress.begin("teacher") == "[2/6] teacher"  # a tokenizer's time says nothing about training steps
    progress.finish(100.0)  # 1 s per training step
    assert progress.begin("distill a") == "[3/6] distill a (about 100 s left, fine-tuning not yet timed)"
    progress.finish(80.0)  # distillation's own time now decides
    assert progress.begin("distill b") == "[4/6] distill b (about 80 s left, fine-tuning not yet timed)"
    progress.finish(80.0)
    assert progress.begin("finetune x") == "[5/6] finetune x"
    progress.finish(300.0)
    assert progress.begin("finetune y") == "[6/6] finetune y (about 5 min left)"


def test_the_recipe_hands_its_corpus_or_dataset_to_every_step_that_reads_one(tmp_path, monkeypatch, capsys):
    """quickstart --dataset_name: the tokenizer, the teacher and the students read the dataset (no --corpus); without
    either the package's sample; with both, one line before any step."""
    from training import recipe, tokenizer
    from training.corpus import DatasetArguments
    from training.provenance import PACKAGE_DATA

    class Stop(Exception):
        pass

    def recorded(step, output, command, options=None, progress=None):
        if callable(command):  # the tokenizer step: a library call
            return command()
        if command == "finetune":
            raise Stop
        calls[command] = options
        return output

    def tokenizer_call(corpus, output_dir, *args, dataset=None, **options):
        calls["tokenizer"] = (corpus, dataset)

    monkeypatch.setattr(recipe, "run_step", recorded)
    monkeypatch.setattr(tokenizer, "train_tokenizer_from_corpus", tokenizer_call)
    dataset = DatasetArguments("wikimedia/wikipedia", "20231101.ko", text_column_name="text")
    options = {"dataset_name": "wikimedia/wikipedia", "dataset_config_name": "20231101.ko"}
    options |= {"dataset_split": "train", "text_column_name": "text"}
    sample = [str(PACKAGE_DATA / "sample_corpus.txt")]
    for given, corpus, expected in ((dataset, None, options), (None, sample, {"corpus": sample})):
        calls: dict = {}
        with pytest.raises(Stop):
            recipe.run_pipeline(recipe.PipelineArguments(output_dir=str(tmp_path)), dataset=given)
        assert calls["tokenizer"] == (corpus, given)
        for command in ("pretrain-teacher", "distill"):
            assert {key: calls[command].get(key) for key in [*expected, "corpus"]} == {"corpus": corpus, **expected}
    capsys.readouterr()
    both = ["--corpus", "texts.txt", "--dataset_name", "wikimedia/wikipedia", "--output_dir", str(tmp_path / "q")]
    assert main(both) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "error: Give either --corpus (text files) or --dataset_name (a `datasets` dataset), not both."
    ]
