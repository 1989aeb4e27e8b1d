"""bf16 autocast through pre-training and every distillation loss (on the CPU here)."""

from __future__ import annotations

import json
import math

import pytest
from transformers import TrainerState

from training.commands import distill
from training.commands import pretrain_teacher as pretrain

QUIET = ["--disable_tqdm", "true", "--report_to", "none", "--use_cpu", "true", "--seed", "0"]


def _logged(folder, key="loss") -> list[float]:
    state = TrainerState.load_from_json(str(next(folder.glob("checkpoints/checkpoint-*")) / "trainer_state.json"))
    return [entry[key] for entry in state.log_history if key in entry and "train_runtime" not in entry]


@pytest.mark.slow  # pre-training and distillation, end to end
def test_bf16_autocast_pretraining_and_every_distillation_loss(tmp_path, tiny_tokenizer, fixtures_dir):
    tiny_tokenizer.save_pretrained(tmp_path / "tok")
    corpus = str(fixtures_dir / "corpus.txt")
    common = ["--bf16", "true", "--max_steps", "3", "--logging_steps", "1", "--save_steps", "3", *QUIET]
    teacher = tmp_path / "teacher"
    argv = ["--corpus", corpus, "--tokenizer", str(tmp_path / "tok"), "--preset", "tiny", "--output_dir", str(teacher)]
    assert pretrain.main([*argv, *common, "--max_seq_length", "32"]) == 0
    for key in ("loss", "loss_mlm", "loss_rtd"):
        assert len(_logged(teacher, key)) == 3 and all(map(math.isfinite, _logged(teacher, key))), key
    student = tmp_path / "student"
    argv = ["--teacher", str(teacher), "--student_preset", "tiny", "--corpus", corpus, "--output_dir", str(student)]
    argv += ["--student_shape", "hidden_size=32,num_attention_heads=2", "--weight_embedding", "1", "--weight_hard", "1"]
    assert distill.main([*argv, *common, "--max_seq_length", "32"]) == 0
    record = json.loads((student / "distillation.json").read_text())
    parts = ("kl", "hidden", "attention", "embedding")  # the defaults and embedding; unlabeled text has no labels
    for key in ("loss", *(f"loss_{part}" for part in parts)):
        assert len(_logged(student, key)) == 3 and all(map(math.isfinite, _logged(student, key))), key
    assert record["steps"] == 3
