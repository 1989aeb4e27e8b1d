"""Batch-1 latency on CPU: PyTorch eager against `torch.compile(model)`, one preset, batch 1 x 128 tokens.

At batch 1 a small model is bound by per-operation overhead (Python, dispatch, kernel launches), not by arithmetic;
compiling fuses the small operations. Random weights (speed does not depend on training), a 30,000-word vocabulary,
no padding. Each measurement is `torch.utils.benchmark.Timer`'s `blocked_autorange` (which warms up first), eager and
compiled interleaved in every round so machine noise hits both alike; the blocks of all rounds give the median and
interquartile range. The first compiled call (the compilation itself) is timed separately. The machine's load average
is recorded beside the figures: on a shared machine they are upper bounds.

    python -m benchmarks.compile_latency                          # small-lf-v3, about 2 minutes on 2 quiet cores
    python -m benchmarks.compile_latency --preset tiny --rounds 1 --min_run_time 0.2   # smoke run

Writes benchmarks/results/compile_latency.json and .md. The GPU figures (CUDA graphs via `mode="reduce-overhead"`)
come from `python -m benchmarks.gpu_check`.
"""

from __future__ import annotations

import argparse
import os
import time
from functools import partial
from pathlib import Path

import torch

from benchmarks.common import RESULTS, cpu_model, quartiles, random_inputs, time_blocks
from benchmarks.report import save_results
from modeling_kr_electra_kd import PRESETS, KRElectraKDConfig, KRElectraKDModel


def run(args: argparse.Namespace) -> dict:
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = KRElectraKDModel(KRElectraKDConfig.from_preset(args.preset, vocab_size=args.vocab_size)).eval()
    inputs = random_inputs(1, args.seq_length, args.vocab_size)
    compiled = torch.compile(model)
    with torch.no_grad():
        expected = model(**inputs).last_hidden_state
        start = time.perf_counter()
        got = compiled(**inputs).last_hidden_state
        compile_s = time.perf_counter() - start
        max_difference = (got - expected).abs().max().item()
        runners = {"eager": lambda batch: model(**batch), "torch.compile": lambda batch: compiled(**batch)}
        blocks = {name: [] for name in runners}
        for _ in range(args.rounds):
            for name, runner in runners.items():
                blocks[name] += time_blocks(partial(runner, inputs), args.min_run_time, args.threads)
    latency = {}
    for name, times in blocks.items():
        first, median, third = quartiles(times)
        latency[name] = {"median_ms": median * 1e3, "iqr_ms": [first * 1e3, third * 1e3], "blocks": len(times)}
    return {
        "what": "ms per forward of the encoder (KRElectraKDModel), batch 1, CPU, random weights",
        "preset": args.preset,
        "batch": 1,
        "seq_length": args.seq_length,
        "vocab_size": args.vocab_size,
        "threads": args.threads,
        "cpu": cpu_model(),
        "load_average_1min": os.getloadavg()[0],
        "torch": torch.__version__,
        "compile_mode": "default",
        "first_compiled_call_s": compile_s,
        "max_abs_difference": max_difference,
        "latency": latency,
        "speedup": latency["eager"]["median_ms"] / latency["torch.compile"]["median_ms"],
    }


def to_markdown(result: dict) -> str:
    lines = [
        f"Batch-1 latency of `{result['preset']}` (encoder, batch 1 x {result['seq_length']} tokens, "
        f"{result['threads']} threads, {result['cpu']}; load average {result['load_average_1min']:.1f} while measured)",
        "",
        "| PyTorch | median ms | interquartile range ms |",
        "|---|---|---|",
    ]
    for name, row in result["latency"].items():
        low, high = row["iqr_ms"]
        lines.append(f"| {name} | {row['median_ms']:.2f} | {low:.2f} - {high:.2f} |")
    lines += [
        "",
        f"torch.compile: {result['speedup']:.2f}x eager's speed; the first call (compilation) took "
        f"{result['first_compiled_call_s']:.0f} s; largest output difference {result['max_abs_difference']:.1e}.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="small-lf-v3", choices=sorted(PRESETS))
    parser.add_argument("--seq_length", type=int, default=128)
    parser.add_argument("--vocab_size", type=int, default=30000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3, help="Interleaved rounds of eager and compiled timing.")
    parser.add_argument("--min_run_time", type=float, default=2.0, help="Seconds per timed block set.")
    parser.add_argument("--output_dir", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    save_results(run(args), args.output_dir, "compile_latency", to_markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
