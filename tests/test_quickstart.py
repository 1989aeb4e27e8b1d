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
