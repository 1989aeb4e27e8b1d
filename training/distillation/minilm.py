"""MiniLMv2's multi-head self-attention relation loss (Wang et al. 2021, "MiniLMv2: Multi-Head Self-Attention
Relation Distillation for Compressing Pretrained Transformers").

For one teacher layer and one student layer, the queries, keys and values are each split into the same number of
relation heads A_r; a relation is R = softmax(X X^T / sqrt(d_r)) over the positions for X in Q, K, V (d_r: the width
of one relation head, the model's width / A_r). The relations are [batch, A_r, seq, seq] whatever the widths, so a
narrow student compares with a wide teacher without a projection. The loss is KL(R_teacher || R_student) averaged
over relation heads and valid query positions (padding keys get no probability), summed over Q-Q, K-K and V-V.
The registered loss that applies it to a batch (`minilm_relation_loss`) is in losses.py, which imports this module.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def log_relations(states: torch.Tensor, heads: int, attention_mask: torch.Tensor | None) -> torch.Tensor:
    """log softmax(X X^T / sqrt(d_r)) of `states` [batch, seq, width] split into `heads` relation heads:
    [batch, heads, seq, seq]; keys where `attention_mask` [batch, seq] is 0 are left out of the softmax."""
    batch, seq, width = states.shape
    if width % heads:
        raise ValueError(f"A width of {width} does not split into {heads} relation heads.")
    per_head = states.view(batch, seq, heads, width // heads).transpose(1, 2)  # [batch, heads, seq, d_r]
    scores = per_head @ per_head.transpose(-1, -2) / math.sqrt(width // heads)
    if attention_mask is not None:
        padding = (attention_mask == 0)[:, None, None, :]
        scores = scores.masked_fill(padding, torch.finfo(scores.dtype).min)
    return F.log_softmax(scores.float(), dim=-1)


def relation_kl(student_qkv, teacher_qkv, heads: int, attention_mask: torch.Tensor | None) -> torch.Tensor:
    """Sum over Q, K and V of KL(R_teacher || R_student) with `heads` relation heads, averaged over heads and the
    non-padding query positions. `student_qkv` / `teacher_qkv`: (query, key, value) states, each [batch, seq, width]
    (the two widths may differ; each must split into `heads`)."""
    total = 0.0
    for student_states, teacher_states in zip(student_qkv, teacher_qkv):
        student_log = log_relations(student_states, heads, attention_mask)
        teacher_log = log_relations(teacher_states, heads, attention_mask)
        kl = F.kl_div(student_log, teacher_log, log_target=True, reduction="none").sum(-1).mean(1)  # [batch, seq]
        if attention_mask is None:
            total = total + kl.mean()
        else:
            mask = attention_mask.to(kl.dtype)
            total = total + (kl * mask).sum() / mask.sum().clamp(min=1.0)
    return total
