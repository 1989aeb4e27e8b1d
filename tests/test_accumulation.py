"""Gradient accumulation does not change training: one step of batch 8 and one step of 4 accumulated batches of 2 see
the same loss and gradient norm, for pre-training, task-agnostic and task-specific distillation.

Both runs see the same examples (same seed: same sampler order), equal-length rows (so a mean over micro-batches is
the mean over the batch), no dropout, and fixed masks; the generator's sampling is replaced by its argmax so both
runs corrupt the same tokens."""

from __future__ import annotations

import pytest
import torch
from transformers import TrainingArguments

from modeling_kr_electra_kd import (
    KRElectraKDConfig,
    KRElectraKDForMaskedLM,
    KRElectraKDForPreTraining,
    KRElectraKDForSequenceClassification,
)
from training.distillation import DistillationConfig, DistillationTrainer
from training.electra_objective import ElectraGeneratorDiscriminator, generator_config
from training.pretraining import ElectraPreTrainer

VOCAB, LENGTH, ROWS, MASK_ID = 60, 12, 16, 4
NO_DROPOUT = {"hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0, "vocab_size": VOCAB}


def _rows(labels: bool = False) -> list[dict]:
    generator = torch.Generator().manual_seed(0)
    rows = []
    for index in range(ROWS):
        ids = [2, *torch.randint(5, VOCAB, (LENGTH - 2,), generator=generator).tolist(), 3]
        row = {"input_ids": ids, "attention_mask": [1] * LENGTH, "token_type_ids": [0] * LENGTH}
        if labels:
            row["labels"] = index % 2
        rows.append(row)
    return rows


def _stack(rows: list[dict]) -> dict[str, torch.Tensor]:
    return {key: torch.tensor([row[key] for row in rows]) for key in rows[0]}


def _fixed_masks(rows: list[dict]) -> dict[str, torch.Tensor]:
    """Positions 3, 6 and 9 of every row masked for the generator: the same in any batching."""
    batch = _stack(rows)
    labels = torch.full_like(batch["input_ids"], -100)
    labels[:, [3, 6, 9]] = batch["input_ids"][:, [3, 6, 9]]
    batch["input_ids"] = batch["input_ids"].masked_fill(labels != -100, MASK_ID)
    return {**batch, "labels": labels}


def _args(tmp_path, batch: int, accumulation: int) -> TrainingArguments:
    return TrainingArguments(
        output_dir=str(tmp_path), max_steps=1, logging_steps=1, per_device_train_batch_size=batch,
        gradient_accumulation_steps=accumulation, learning_rate=1e-3, report_to=[], disable_tqdm=True,
        save_strategy="no", seed=0, use_cpu=True,
    )  # fmt: skip


def _first_log(trainer) -> tuple[float, float]:
    trainer.train()
    entry = trainer.state.log_history[0]
    return entry["loss"], entry["grad_norm"]


def _pretraining(tmp_path, batch, accumulation):
    torch.manual_seed(0)
    config = KRElectraKDConfig.from_preset("tiny", **NO_DROPOUT)
    model = ElectraGeneratorDiscriminator(
        KRElectraKDForPreTraining(config), KRElectraKDForMaskedLM(generator_config(config))
    )
    model.sample_replacements = lambda logits: logits.argmax(-1)  # deterministic corruption
    trainer = ElectraPreTrainer(
        model=model, args=_args(tmp_path, batch, accumulation), train_dataset=_rows(), data_collator=_fixed_masks
    )
    return _first_log(trainer)


def _distillation(tmp_path, batch, accumulation, head, labels):
    torch.manual_seed(0)
    teacher = head(KRElectraKDConfig.from_preset("tiny", **NO_DROPOUT))
    student = head(KRElectraKDConfig.from_preset("tiny", hidden_size=32, ffn_rank=16, **NO_DROPOUT))
    every_part = DistillationConfig(weight_hard=1.0, weight_embedding=1.0)
    trainer = DistillationTrainer(
        model=student, teacher=teacher, distillation=every_part, args=_args(tmp_path, batch, accumulation),
        train_dataset=_rows(labels), data_collator=_stack,
    )  # fmt: skip
    return _first_log(trainer)


CASES = {
    "pretraining": _pretraining,
    "task-agnostic-distillation": lambda *a: _distillation(*a, KRElectraKDForPreTraining, labels=False),
    "task-distillation": lambda *a: _distillation(*a, KRElectraKDForSequenceClassification, labels=True),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES)
def test_batch_8x1_equals_batch_2x4(case, tmp_path):
    loss_one, norm_one = CASES[case](tmp_path / "8x1", 8, 1)
    loss_four, norm_four = CASES[case](tmp_path / "2x4", 2, 4)
    assert loss_four == pytest.approx(loss_one, rel=0.01)
    assert norm_four == pytest.approx(norm_one, rel=0.01)
