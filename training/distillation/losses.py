"""The distillation losses: free functions on tensors (shapes in each docstring), and `LOSSES`, the registry the
trainer sums by name.

A registered loss is a `LossSpec`: a function of one `LossBatch` (what the student and the teacher produced for a
batch) returning a scalar, or None where it does not apply to the batch (the labels loss on unlabelled text); its
default weight (the default of the `--weight_<name>` option); and what it reads (`needs`), from which the trainer
decides what the models output, what the teacher-output cache holds and which projections it trains.

Adding a loss: write its function (in its own module if it is long), add one `LossSpec` to `LOSSES`, and test it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

from training.distillation.minilm import relation_kl
from training.tasks.registry import CLASSIFICATION, QUESTION_ANSWERING, REGRESSION, TOKEN_CLASSIFICATION

# Head kinds: what the soft-target loss compares. The task kinds of training.tasks (classification: logits
# [batch, classes]; regression: [batch, 1]; token classification: [batch, seq, classes]; question answering: (start,
# end), each [batch, seq]), and pre-training's replaced-token detection: [batch, seq], one logit per token.
REPLACED_TOKEN_DETECTION = "replaced-token-detection"

# What a loss may read (LossSpec.needs).
LOGITS = "logits"  # the teacher's and the student's head outputs
LABELS = "labels"  # the batch's labels (the student's own loss)
HIDDEN_STATES = "hidden_states"  # hidden states of the mapped layers (after each layer)
EMBEDDING = "embedding"  # the embedding output (hidden state 0)
ATTENTIONS = "attentions"  # attention maps of the mapped layers
QKV = "qkv"  # query, key and value states of the mapped layers (captured by hooks, never cached)
# The projections the trainer builds for a need (student width -> teacher width).
PROJECTED = {HIDDEN_STATES: "layers", EMBEDDING: "embedding"}


def masked_mean(values: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Mean of `values` [batch, seq, ...] over the positions where `mask` [batch, seq] is 1 (all when None)."""
    if mask is None:
        return values.mean()
    mask = mask.to(values.dtype)
    while mask.dim() < values.dim():
        mask = mask.unsqueeze(-1)
    weight = mask.expand_as(values)
    return (values * weight).sum() / weight.sum().clamp(min=1.0)


def soft_kl(student_logits, teacher_logits, temperature: float, mask: torch.Tensor | None = None) -> torch.Tensor:
    """KL(teacher || student) of the temperature-softened distributions over the last axis, times T^2, averaged over
    the other axes (only where `mask`, of the leading axes' shape, is 1). Logits: [..., classes]."""
    student_log_probs = F.log_softmax(student_logits / temperature, dim=-1)
    teacher_log_probs = F.log_softmax(teacher_logits / temperature, dim=-1)
    kl = F.kl_div(student_log_probs, teacher_log_probs, log_target=True, reduction="none").sum(-1)
    return masked_mean(kl, mask) * temperature**2


def _classes_kl(student_logits, teacher_logits, temperature, attention_mask):
    """[batch, classes]: one distribution per example."""
    return soft_kl(student_logits, teacher_logits, temperature)


def _token_classes_kl(student_logits, teacher_logits, temperature, attention_mask):
    """[batch, seq, classes]: one distribution per token, padding excluded."""
    return soft_kl(student_logits, teacher_logits, temperature, attention_mask)


def _regression_mse(student_logits, teacher_logits, temperature, attention_mask):
    """[batch, 1]: the teacher's prediction as the target (no temperature)."""
    return F.mse_loss(student_logits, teacher_logits)


def _span_kl(student_logits, teacher_logits, temperature, attention_mask):
    """(start, end), each [batch, seq]: distributions over positions, padding excluded; the mean of the two."""
    total = 0.0
    for student_part, teacher_part in zip(student_logits, teacher_logits):
        if attention_mask is not None:
            padding = attention_mask == 0
            student_part = student_part.masked_fill(padding, -1e4)
            teacher_part = teacher_part.masked_fill(padding, -1e4)
        total = total + soft_kl(student_part, teacher_part, temperature)
    return total / len(student_logits)


def _replaced_token_kl(student_logits, teacher_logits, temperature, attention_mask):
    """[batch, seq], one logit per token: the two outcomes [original, replaced] = softmax([0, logit]); padding
    excluded."""
    student_two = torch.stack([torch.zeros_like(student_logits), student_logits], dim=-1)
    teacher_two = torch.stack([torch.zeros_like(teacher_logits), teacher_logits], dim=-1)
    return soft_kl(student_two, teacher_two, temperature, attention_mask)


SOFT_TARGET_BY_HEAD: dict[str, Callable[..., torch.Tensor]] = {
    CLASSIFICATION: _classes_kl,
    REGRESSION: _regression_mse,
    TOKEN_CLASSIFICATION: _token_classes_kl,
    QUESTION_ANSWERING: _span_kl,
    REPLACED_TOKEN_DETECTION: _replaced_token_kl,
}
HEAD_KINDS = tuple(SOFT_TARGET_BY_HEAD)


def soft_target_kl(student_logits, teacher_logits, temperature: float, head: str, attention_mask=None) -> torch.Tensor:
    """Soft-target loss of a `head` (a HEAD_KINDS entry): KL x T^2 over classes [batch, classes], over each token's
    classes [batch, seq, classes], over start and end positions ((start, end), each [batch, seq]) or over the two
    outcomes of each token (replaced-token detection, [batch, seq]); MSE for regression [batch, 1]."""
    if head not in SOFT_TARGET_BY_HEAD:
        raise ValueError(f"Unknown head kind {head!r}; known: {', '.join(HEAD_KINDS)}.")
    return SOFT_TARGET_BY_HEAD[head](student_logits, teacher_logits, temperature, attention_mask)


def attention_kl(student_attention: torch.Tensor, teacher_attention: torch.Tensor, attention_mask) -> torch.Tensor:
    """KL(teacher || student) between attention maps [batch, heads, query, key], summed over keys, averaged over
    heads and the non-padding queries; the heads are averaged first when their counts differ."""
    if student_attention.shape[1] != teacher_attention.shape[1]:
        student_attention = student_attention.mean(1, keepdim=True)
        teacher_attention = teacher_attention.mean(1, keepdim=True)
    eps = 1e-12
    kl = (teacher_attention * ((teacher_attention + eps).log() - (student_attention + eps).log())).sum(-1)
    kl = kl.mean(1)  # over heads -> [batch, query]
    return masked_mean(kl, attention_mask)


def hidden_mse(student_hidden: torch.Tensor, teacher_hidden: torch.Tensor, attention_mask) -> torch.Tensor:
    """Mean squared difference of [batch, seq, width] states over the non-padding tokens (the student's already
    projected to the teacher's width)."""
    return masked_mean((student_hidden - teacher_hidden).pow(2), attention_mask)


@dataclass
class LossBatch:
    """What the losses of one batch read. `student`: the student's outputs (`logits` or `start_logits`/`end_logits`,
    `loss`, `hidden_states`, `attentions`); `teacher`: the teacher's, as a dict with the same keys (None where no
    active loss reads them); `student_qkv` / `teacher_qkv`: layer index (0-based) -> (query, key, value) states, each
    [batch, seq, width]; `layer_map[i]`: the teacher layer (1-based) of student layer i + 1."""

    student: Any
    teacher: dict
    attention_mask: torch.Tensor | None
    layer_map: list[int]
    projections: Any
    temperature: float
    head: str
    teacher_config: Any = None
    student_qkv: dict[int, tuple] = field(default_factory=dict)
    teacher_qkv: dict[int, tuple] = field(default_factory=dict)


def head_logits(outputs):
    """A model output's head logits: (start, end) for QA, else `logits`."""
    if getattr(outputs, "start_logits", None) is not None:
        return outputs.start_logits, outputs.end_logits
    return outputs.logits


def _kl(batch: LossBatch):
    return soft_target_kl(head_logits(batch.student), batch.teacher["logits"], batch.temperature, batch.head,
                          batch.attention_mask)  # fmt: skip


def _hard(batch: LossBatch):
    return batch.student.loss  # None without labels: the part does not apply


def _hidden(batch: LossBatch):
    losses = [
        hidden_mse(
            batch.projections.layers[i](batch.student.hidden_states[i + 1]),
            batch.teacher["hidden_states"][t],
            batch.attention_mask,
        )
        for i, t in enumerate(batch.layer_map)
    ]
    return torch.stack(losses).mean()


def _attention(batch: LossBatch):
    losses = [
        attention_kl(batch.student.attentions[i], batch.teacher["attentions"][t - 1], batch.attention_mask)
        for i, t in enumerate(batch.layer_map)
    ]
    return torch.stack(losses).mean()


def _embedding(batch: LossBatch):
    projected = batch.projections.embedding(batch.student.hidden_states[0])
    return hidden_mse(projected, batch.teacher["hidden_states"][0], batch.attention_mask)


def minilm_relation_loss(batch: LossBatch) -> torch.Tensor:
    """MiniLMv2's relation loss (training/distillation/minilm.py): the last student layer against its mapped teacher
    layer, with the teacher's attention head count as the number of relation heads."""
    student_layer, teacher_layer = len(batch.layer_map) - 1, batch.layer_map[-1] - 1
    heads = batch.teacher_config.num_attention_heads
    return relation_kl(batch.student_qkv[student_layer], batch.teacher_qkv[teacher_layer], heads, batch.attention_mask)


@dataclass(frozen=True)
class LossSpec:
    """One registered loss: `compute(batch)` -> scalar (None: does not apply to this batch), its default weight, the
    help of its `--weight_<name>` option, and what it reads (LOGITS, LABELS, HIDDEN_STATES, ...)."""

    compute: Callable[[LossBatch], torch.Tensor | None]
    weight: float
    help: str
    needs: frozenset[str]


# The losses by name; each name is a `--weight_<name>` option and a logged `loss_<name>`.
LOSSES: dict[str, LossSpec] = {
    "kl": LossSpec(_kl, 1.0, "Weight of the soft-target KL loss (x T^2).", frozenset({LOGITS})),
    "hard": LossSpec(_hard, 0.0, "Weight of the student's own loss on the labels.", frozenset({LABELS})),
    "hidden": LossSpec(_hidden, 1.0, "Weight of the hidden-state MSE loss.", frozenset({HIDDEN_STATES})),
    "attention": LossSpec(_attention, 1.0, "Weight of the attention-distribution KL loss.", frozenset({ATTENTIONS})),
    "embedding": LossSpec(_embedding, 0.0, "Weight of the embedding-output MSE loss.", frozenset({EMBEDDING})),
    "minilm": LossSpec(
        minilm_relation_loss,
        0.0,
        "Weight of MiniLMv2's self-attention relation loss (Q-Q, K-K, V-V relations of the last student layer and "
        "its teacher layer).",
        frozenset({QKV}),
    ),
}
