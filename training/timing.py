"""The one latency timer: benchmarks (size_speed, compile_latency, rank_budget) and `convert --target_ms` time with it,
so a latency budget means what the benchmark tables mean. A library module: torch only."""

from __future__ import annotations

import statistics
from collections.abc import Callable


def time_blocks(call: Callable[[], object], min_run_time: float, threads: int = 1) -> list[float]:
    """Seconds per call of each block `torch.utils.benchmark.Timer.blocked_autorange` times (it warms up and sizes
    the blocks first), with `threads` torch threads. Pool the blocks of interleaved rounds and read them with
    `quartiles`. On CUDA the timer synchronizes, so the blocks are device time."""
    from torch.utils.benchmark import Timer

    timer = Timer(stmt="call()", globals={"call": call}, num_threads=threads)
    return list(timer.blocked_autorange(min_run_time=min_run_time).times)


def quartiles(values: list[float]) -> tuple[float, float, float]:
    """First quartile, median and third quartile of timed blocks."""
    if len(values) == 1:
        return values[0], values[0], values[0]
    first, median, third = statistics.quantiles(values, n=4, method="inclusive")
    return first, median, third


def random_inputs(batch: int, length: int, vocab: int) -> dict:
    """Random token ids; the first half of the batch (none at batch 1) is padded over its second half."""
    import torch

    generator = torch.Generator().manual_seed(0)
    input_ids = torch.randint(5, vocab, (batch, length), generator=generator)
    attention_mask = torch.ones(batch, length, dtype=torch.long)
    attention_mask[: batch // 2, length // 2 :] = 0
    input_ids[attention_mask == 0] = 0  # the pad id
    return {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": torch.zeros_like(input_ids)}
