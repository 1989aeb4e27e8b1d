"""`TeacherCache`: the teacher's outputs, computed once per example and reused in later epochs.

Keyed by the dataset index (so the dataset must not be reshuffled into new examples), on the CPU, without padding,
up to a memory limit; moved back to the student's device, re-padded, for each batch. It holds what the active losses
read (logits, hidden states, attention maps), never query/key/value states.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from transformers.utils import logging

logger = logging.get_logger(__name__)


def entry_bytes(entry) -> int:
    """Bytes held by the tensors in a (nested) cache entry."""
    if isinstance(entry, torch.Tensor):
        return entry.numel() * entry.element_size()
    if isinstance(entry, dict):
        return sum(entry_bytes(value) for value in entry.values())
    if isinstance(entry, (tuple, list)):
        return sum(entry_bytes(value) for value in entry)
    return 0  # None (an output no loss reads) or the token-level flag


def _slice_row(result: dict, row: int, length: int, seq_len: int) -> dict:
    """One example's teacher outputs without padding, on the CPU: (tensor, is_token_level) pairs, None where no loss
    reads the output. Token-level tensors (hidden states, per-token logits) are cut to the example's length; attention
    maps on both axes."""

    def cut(tensor: torch.Tensor | None) -> tuple[torch.Tensor, bool] | None:
        if tensor is None:
            return None
        if tensor.dim() == 4:  # attention [batch, heads, query, key]
            return tensor[row, :, :length, :length].detach().cpu(), True
        if tensor.dim() >= 2 and tensor.shape[1] == seq_len:
            return tensor[row, :length].detach().cpu(), True
        return tensor[row].detach().cpu(), False

    logits = result["logits"]
    out: dict = {"logits": tuple(cut(part) for part in logits) if isinstance(logits, tuple) else cut(logits)}
    for key in ("hidden_states", "attentions"):
        layers = result[key]
        out[key] = None if layers is None else tuple(cut(layer) for layer in layers)
    return out


def _stack_rows(rows: list[dict], length: int, device: torch.device) -> dict:
    """Cached rows re-padded to this batch's length, stacked, on `device` (padding positions are masked in every
    loss)."""

    def pad(entry: tuple[torch.Tensor, bool]) -> torch.Tensor:
        value, token_level = entry
        if not token_level:
            return value
        missing = length - value.shape[-2 if value.dim() == 3 else 0]
        if value.dim() == 3:  # attention [heads, query, key]
            return F.pad(value, (0, missing, 0, missing))
        return F.pad(value, (0, 0) * (value.dim() - 1) + (0, missing))

    def stack(entries):
        if entries[0] is None:
            return None
        return torch.stack([pad(entry) for entry in entries]).to(device, non_blocking=True)

    first = rows[0]
    out: dict = {}
    if first["logits"] is not None and isinstance(first["logits"][0], tuple):  # QA: (start, end)
        out["logits"] = tuple(stack([row["logits"][i] for row in rows]) for i in range(len(first["logits"])))
    else:
        out["logits"] = stack([row["logits"] for row in rows])
    for key in ("hidden_states", "attentions"):
        layers = first[key]
        out[key] = None if layers is None else tuple(stack([row[key][i] for row in rows]) for i in range(len(layers)))
    return out


class TeacherCache:
    """Teacher outputs by example index, up to `limit_mb` of CPU memory; past it, later examples are recomputed each
    epoch (one warning says so)."""

    def __init__(self, limit_mb: float):
        self.limit_mb = limit_mb
        self.entries: dict[int, dict] = {}
        self.bytes = 0
        self.full = False

    def __len__(self) -> int:
        return len(self.entries)

    def __contains__(self, key: int) -> bool:
        return key in self.entries

    def __getitem__(self, key: int) -> dict:
        """One example's entry: (tensor on the CPU, is_token_level) pairs by output, None where no loss reads it."""
        return self.entries[key]

    def clear(self) -> None:
        self.entries.clear()
        self.bytes = 0
        self.full = False

    def batch(self, keys: list[int], length: int, device: torch.device) -> dict | None:
        """The batch of `keys` padded to `length` on `device`, or None unless every key is cached."""
        if not all(key in self.entries for key in keys):
            return None
        return _stack_rows([self.entries[key] for key in keys], length, device)

    def add(self, result: dict, keys: list[int], attention_mask: torch.Tensor) -> None:
        """Keep each row of a batch's teacher outputs (`result`: logits, hidden_states, attentions) under its key."""
        limit = self.limit_mb * 2**20
        seq_len = attention_mask.shape[1]
        for row, (key, length) in enumerate(zip(keys, attention_mask.sum(-1).tolist())):
            if key in self.entries or self.full:
                continue
            entry = _slice_row(result, row, int(length), seq_len)
            size = entry_bytes(entry)
            if self.bytes + size > limit:
                self.full = True  # stop trying
                logger.warning(
                    f"The teacher-output cache reached teacher_cache_mb={self.limit_mb:g} after {len(self)} examples; "
                    "the others are recomputed each epoch (raise --teacher_cache_mb to cache more)."
                )
                return
            self.entries[key] = entry
            self.bytes += size
