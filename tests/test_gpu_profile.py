"""The one-GPU reproduction profile: its settings, its path end to end at micro scale, and the Trainer defaults it
relies on (sharded reading, the GPU kernels)."""

from __future__ import annotations

import json

import pytest


def test_the_gpu_budget_table_shows_the_estimates_the_code_makes():
    """The docstring's budget table (what a reader plans slots by) states the minutes GPU_BUDGET_MINUTES estimates
    from the measured rates, and each student stage fits one 9-minute slot."""
    from benchmarks import reproduce

    gpu, budget = reproduce.SCALES["gpu"], reproduce.GPU_BUDGET_MINUTES
    assert f"| {budget['teacher']} | {gpu['teacher_steps']:,} / 5.9 steps/s measured |" in reproduce.__doc__
    assert f"| {budget['small-kd']} | {gpu['distill_steps']:,} / 6.5 steps/s measured |" in reproduce.__doc__
    assert f"| {budget['small-lf-v1/v2/v3'] / 3:.1f} each |" in reproduce.__doc__
    assert budget["small-kd"] <= 9


@pytest.mark.slow  # the whole reproduce pipeline at micro scale
def test_gpu_profile_keeps_the_paper_shapes_within_its_budget_and_runs_at_micro_scale(tmp_path, monkeypatch):
    from benchmarks import reproduce
    from training.recipe import PACKAGE_DATA

    gpu = reproduce.SCALES["gpu"]
    assert (
        gpu["teacher_width"] == gpu["student_width"] == 1.0 and gpu["teacher_layers"] is gpu["student_layers"] is None
    )
    assert gpu["max_train_samples"] is gpu["max_eval_samples"] is gpu["max_corpus_lines"] is None  # all the data
    # The same profile with every size shrunk (full sample data kept): the gpu path end to end on the CPU.
    micro = dict(teacher_width=1 / 12, teacher_layers=2, teacher_steps=4, student_width=0.125, student_layers=2)
    micro |= dict(distill_steps=4, batch_size=8, vocab_size=2000, max_seq_length=32, finetune_epochs=0.1)
    monkeypatch.setitem(reproduce.SCALES, "gpu", {**gpu, **micro})
    argv = ["--scale", "gpu", "--tasks", "nsmc", "--students", "small-kd", "small-lf-v1"]
    argv += ["--corpus", str(PACKAGE_DATA / "sample_corpus.txt"), "--data-dir", str(PACKAGE_DATA / "sample_nsmc")]
    assert reproduce.main([*argv, "--work-dir", str(tmp_path / "work"), "--output-dir", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "reproduce.json").read_text())
    assert set(result["models"]) == {"teacher", "small-kd", "small-lf-v1"}
    assert result["results"]["small-lf-v1"]["nsmc"]["num_eval_samples"] == 200  # the whole sample test split
    lf = json.loads((tmp_path / "work" / "students" / "small-lf-v1" / "distillation.json").read_text())
    assert lf["student_init"]["svd"]["ranks"] == {"ffn_rank": 7}  # factorized from small-kd, as in the paper


def test_trainer_defaults_let_each_process_read_its_shards_and_use_the_gpu_kernels(tmp_path):
    import torch
    from transformers import HfArgumentParser, TrainingArguments

    from training.trainer_common import PRETRAINING_DEFAULTS

    parser = HfArgumentParser(TrainingArguments)
    parser.set_defaults(**PRETRAINING_DEFAULTS)
    (args,) = parser.parse_args_into_dataclasses(args=["--output_dir", str(tmp_path)])
    assert args.accelerator_config.dispatch_batches is False  # not process 0 reading every batch for all
    assert (PRETRAINING_DEFAULTS.get("optim") == "adamw_torch_fused") == torch.cuda.is_available()
    assert ("tf32" in PRETRAINING_DEFAULTS) == ("bf16" in PRETRAINING_DEFAULTS)
