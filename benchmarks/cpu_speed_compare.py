"""CPU inference speed of the students against the teacher, for two versions of the modeling code in one run.

The old version is the modeling file (and its config file) of a git commit, imported as a separate package; the new
one is the working tree's. Every model (random weights: speed does not depend on training) runs a padded batch
(`benchmarks.common.random_inputs`) under `torch.no_grad`; rounds interleave versions and presets so machine noise
hits all of them alike (every other round in reverse order, so neither version always runs first), and the timed
blocks of all rounds (`time_blocks`) give the median and interquartile range.
Each round also times `--cpu-calls` calls in process CPU time, which a busy machine's other processes inflate far
less than wall time (one thread). What counts is each student's speed-up over the teacher of its own version, and the
new/old time of each preset.

    python -m benchmarks.cpu_speed_compare                       # 8 x 128 tokens, 3 rounds, 1 thread
    python -m benchmarks.cpu_speed_compare --old-commit 7e36d3b --rounds 2

Writes benchmarks/results/cpu_speed_compare.json and .md.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import transformers

from benchmarks.common import REPO, RESULTS, command_line, cpu_model, quartiles, random_inputs, time_blocks
from benchmarks.report import save_results

PRESETS = ["teacher-base", "small-kd", "small-lf-v2", "small-lf-v3"]
CODE = ("configuration_kr_electra_kd.py", "modeling_kr_electra_kd.py")
OLD_PACKAGE = "kr_electra_kd_old_modeling"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--old-commit", default="7e36d3b", help="Commit whose modeling code is the old version.")
    parser.add_argument("--presets", nargs="+", default=PRESETS, help="The first is the reference (the teacher).")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seq-length", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--min-run-time", type=float, default=1.0, help="Seconds timed per model and round.")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--cpu-calls", type=int, default=2, help="Calls timed in process CPU time per model and round.")
    parser.add_argument("--output-dir", type=Path, default=RESULTS)
    return parser.parse_args(argv)


def import_old_version(commit: str, folder: Path):
    """The modeling module of `commit`, from its two code files written into `folder` as a package."""
    package = folder / OLD_PACKAGE
    package.mkdir(parents=True, exist_ok=True)
    (package / "__init__.py").write_text("")
    for name in CODE:
        source = subprocess.run(
            ["git", "-C", str(REPO), "show", f"{commit}:modeling_kr_electra_kd/{name}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        (package / name).write_text(source, encoding="utf-8")
    # Imported as a package from its folder (the benchmarks do not touch sys.path): its relative imports then work.
    spec = importlib.util.spec_from_file_location(
        OLD_PACKAGE, package / "__init__.py", submodule_search_locations=[str(package)]
    )
    sys.modules[OLD_PACKAGE] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sys.modules[OLD_PACKAGE])
    return importlib.import_module(f"{OLD_PACKAGE}.modeling_kr_electra_kd")


def build_models(modules: dict, presets: list[str]) -> dict[tuple[str, str], torch.nn.Module]:
    """(version, preset) -> that version's encoder with the preset's shape, in eval mode."""
    models = {}
    for version, module in modules.items():
        config_class = importlib.import_module(module.__name__.rsplit(".", 1)[0] + ".configuration_kr_electra_kd")
        for preset in presets:
            torch.manual_seed(0)
            config = config_class.KRElectraKDConfig.from_preset(preset)
            models[version, preset] = module.KRElectraKDModel(config).eval()
    return models


def cpu_seconds(call, calls: int) -> list[float]:
    """Process CPU time of each of `calls` calls."""
    times = []
    for _ in range(calls):
        start = time.process_time()
        call()
        times.append(time.process_time() - start)
    return times


def time_models(models: dict, args: argparse.Namespace) -> tuple[dict, dict]:
    """Wall-time blocks and CPU-time calls (seconds per batch) of every model, pooled over interleaved rounds."""
    vocab = min(model.config.vocab_size for model in models.values())
    inputs = random_inputs(args.batch, args.seq_length, vocab)
    blocks: dict[tuple[str, str], list[float]] = {key: [] for key in models}
    cpu: dict[tuple[str, str], list[float]] = {key: [] for key in models}
    torch.set_num_threads(args.threads)
    for round_index in range(args.rounds):
        order = list(models.items())
        for key, model in order if round_index % 2 == 0 else order[::-1]:

            def call(model=model):
                with torch.no_grad():
                    model(**inputs)

            blocks[key] += time_blocks(call, args.min_run_time, args.threads)
            cpu[key] += cpu_seconds(call, args.cpu_calls)
            print(f"round {round_index + 1}/{args.rounds} {key[0]:>3} {key[1]:<13} {1000 * blocks[key][-1]:.1f} ms")
    return blocks, cpu


def summarize(blocks: dict, cpu: dict, presets: list[str]) -> dict:
    """Per version and preset: wall-time median and quartiles, CPU-time median, in ms, and the speed-ups over the
    reference (first) preset by each clock."""
    table: dict[str, dict] = {}
    for (version, preset), times in blocks.items():
        first, median, third = quartiles(times)
        table.setdefault(version, {})[preset] = {
            "median_ms": round(1000 * median, 2),
            "iqr_ms": [round(1000 * first, 2), round(1000 * third, 2)],
            "blocks": len(times),
            "cpu_median_ms": round(1000 * quartiles(cpu[version, preset])[1], 2),
        }
    for rows in table.values():
        reference = rows[presets[0]]
        for row in rows.values():
            row["speedup_vs_" + presets[0]] = round(reference["median_ms"] / row["median_ms"], 2)
            row["cpu_speedup_vs_" + presets[0]] = round(reference["cpu_median_ms"] / row["cpu_median_ms"], 2)
    return table


def markdown(result: dict) -> str:
    reference = result["presets"][0]
    key = "speedup_vs_" + reference
    old, new = result["versions"]["old"], result["versions"]["new"]
    lines = [
        f"CPU forward time, batch {result['batch']} x {result['seq_length']} tokens (padded), {result['threads']} "
        f"thread(s), {result['rounds']} interleaved rounds, median (IQR) ms; old = modeling code of "
        f"{result['old_commit']}, new = this tree. Machine: {result['cpu']}.",
        "",
        f"| preset | old ms | new ms | new / old | old speed-up vs {reference} | new speed-up vs {reference} "
        "| old CPU ms | new CPU ms | new / old (CPU) | old CPU speed-up | new CPU speed-up |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for preset in result["presets"]:
        o, n = old[preset], new[preset]
        lines.append(
            f"| {preset} | {o['median_ms']:.1f} ({o['iqr_ms'][0]:.1f}-{o['iqr_ms'][1]:.1f}) "
            f"| {n['median_ms']:.1f} ({n['iqr_ms'][0]:.1f}-{n['iqr_ms'][1]:.1f}) "
            f"| {n['median_ms'] / o['median_ms']:.2f} | {o[key]:.2f}x | {n[key]:.2f}x "
            f"| {o['cpu_median_ms']:.1f} | {n['cpu_median_ms']:.1f} | {n['cpu_median_ms'] / o['cpu_median_ms']:.2f} "
            f"| {o['cpu_' + key]:.2f}x | {n['cpu_' + key]:.2f}x |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    import modeling_kr_electra_kd.modeling_kr_electra_kd as new_module

    with tempfile.TemporaryDirectory() as folder:
        modules = {"old": import_old_version(args.old_commit, Path(folder)), "new": new_module}
        blocks, cpu = time_models(build_models(modules, args.presets), args)
    result = {
        "command": command_line("cpu_speed_compare", argv),
        "old_commit": args.old_commit,
        "cpu": cpu_model(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "batch": args.batch,
        "seq_length": args.seq_length,
        "threads": args.threads,
        "rounds": args.rounds,
        "presets": args.presets,
        "versions": summarize(blocks, cpu, args.presets),
    }
    return save_results(result, args.output_dir, "cpu_speed_compare", markdown)


if __name__ == "__main__":
    main()
