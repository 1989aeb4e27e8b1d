"""The README's main job, end to end on the shipped sample (shortened step counts; same code path)."""

from __future__ import annotations

import json

import pytest

import upload
from training.quickstart import main


@pytest.mark.slow
def test_quickstart_runs_the_whole_pipeline_and_resumes(tmp_path, capsys):
    argv = ["--output_dir", str(tmp_path), "--teacher_steps", "40", "--distill_steps", "40", "--finetune_epochs", "1"]
    argv += ["--vocab_size", "3000", "--max_corpus_lines", "600"]
    assert main(argv) == 0
    out = capsys.readouterr().out
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
    metadata = upload.check_folder(student)
    assert results["data_source"] == "sample:sample_nsmc" and "base_model" not in metadata
    assert "e9t/nsmc" not in json.dumps(metadata) and "measured on sample data" in (student / "README.md").read_text()
    config = json.loads((tmp_path / "students" / "small-lf-v3" / "config.json").read_text())
    assert config["ffn_rank"] and config["attention_rank"] and config["embedding_rank"]
    # a second run finds every step done and only re-reads the results
    assert main(argv) == 0
    assert "already done" in capsys.readouterr().out
