"""Baselines beside the saved benchmark results: what each task scores without a neural model, on the same rows.

For every task of benchmarks/results/reproduce.json (same data, seed, max_train_samples and max_eval_samples as its
run) and for each seed of distillation_nsmc.json (that seed's NSMC training and test slices), the trivial score and a
classical baseline (training/task_baselines.py says which). Adds them to both JSON files and re-renders reproduce.md and
distillation_nsmc.md from the saved scores: no model is retrained. (reproduce.py and distillation_nsmc.py compute the same
baselines themselves on every run.)

    python -m benchmarks.baseline_table   # about 4 minutes on one core (most of it the all-labels NSMC baseline)

Writes benchmarks/results/baselines.json and .md.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

from benchmarks.common import RESULTS, command_line, nsmc_baselines
from benchmarks.distillation_nsmc import markdown as distillation_markdown
from benchmarks.report import save_results
from benchmarks.reproduce import baselines_for, table_from_result
from training.recipe import PipelineArguments
from training.task_baselines import LEARNED_MARGIN, learned_tasks, primary_score, task_baselines


def pipeline_arguments(settings: dict) -> PipelineArguments:
    """The PipelineArguments a saved run used (fields this version does not know are left out)."""
    known = {field.name for field in dataclasses.fields(PipelineArguments)}
    return PipelineArguments(**{key: value for key, value in settings.items() if key in known})


def baselines_markdown(reproduce: dict | None, distillation: dict | None, all_labels: dict | None = None) -> str:
    lines = [
        f"What each task scores without a neural model, on the rows the models of each benchmark train and are scored "
        f"on. A task counts as learned when the teacher clears its trivial score by {LEARNED_MARGIN:g} points. "
        "Command: `python -m benchmarks.baseline_table`.",
    ]
    if reproduce:
        baselines = reproduce["baselines"]
        teacher = reproduce["models"]["teacher"]["scores"]
        learned, _ = learned_tasks(teacher, baselines)
        lines += [
            "",
            f"`reproduce.py --scale {reproduce['scale']}` (seed {reproduce['settings']['seed']}):",
            "",
            "| task | metric | train / test rows | trivial | classical | teacher | learned | trivial method | "
            "classical method |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for task, record in baselines.items():
            lines.append(
                f"| {task} | {record['primary_metric']} | {record['num_train_samples']:,} / "
                f"{record['num_eval_samples']:,} | {primary_score(record, 'trivial'):.1f} | "
                f"{primary_score(record, 'classical'):.1f} | {teacher[task]:.1f} | "
                f"{'yes' if task in learned else 'no'} | {record['trivial']['method']} | "
                f"{record['classical']['method']} |"
            )
    if distillation:
        baselines, settings = distillation["baselines"], distillation["settings"]
        lines += [
            "",
            f"`distillation_nsmc.py`: NSMC accuracy, {settings['train_samples']:,} training and {settings['eval_samples']:,} "
            "test reviews per seed:",
            "",
            "| seed | trivial | classical |",
            "|---|---|---|",
        ]
        for seed, record in baselines["per_seed"].items():
            lines.append(
                f"| {seed} | {primary_score(record, 'trivial'):.2f} | {primary_score(record, 'classical'):.2f} |"
            )
        lines.append(
            f"| mean ± sd | {baselines['trivial']['mean']:.2f} ± {baselines['trivial']['stdev']:.2f} | "
            f"{baselines['classical']['mean']:.2f} ± {baselines['classical']['stdev']:.2f} |"
        )
    if all_labels:
        lines += [
            "",
            f"For scale, the classical baseline trained on all {all_labels['num_train_samples']:,} NSMC training "
            f"reviews scores {primary_score(all_labels, 'classical'):.2f} on the seed-{all_labels['seed']} test slice "
            f"({all_labels['seconds']:.0f} s).",
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results-dir", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    started = time.time()
    folder = args.results_dir
    reproduce_path, distillation_path = folder / "reproduce.json", folder / "distillation_nsmc.json"
    reproduce = json.loads(reproduce_path.read_text("utf-8")) if reproduce_path.is_file() else None
    distillation = json.loads(distillation_path.read_text("utf-8")) if distillation_path.is_file() else None
    if reproduce is None and distillation is None:
        print(
            f"error: neither {reproduce_path} nor {distillation_path} exists; run the benchmarks first.",
            file=sys.stderr,
        )
        return 2
    all_labels = None
    if reproduce:
        reproduce["baselines"] = baselines_for(pipeline_arguments(reproduce["settings"]))
        rows, table = table_from_result(reproduce, reproduce["baselines"])
        reproduce["models"] = rows
        save_results(reproduce, folder, "reproduce", lambda _: table)
    if distillation:
        settings = distillation["settings"]
        distillation["baselines"] = nsmc_baselines(
            settings["nsmc_dir"], settings["train_samples"], settings["eval_samples"], settings["seeds"]
        )
        # What more labels alone buy: the classical baseline on the whole training file, same test slice as seed 1.
        all_labels = task_baselines("nsmc", settings["nsmc_dir"], None, settings["eval_samples"], settings["seeds"][0])
        save_results(distillation, folder, "distillation_nsmc", distillation_markdown)
    result = {
        "command": command_line("baseline_table", argv),
        "learned_margin": LEARNED_MARGIN,
        "reproduce": {"scale": reproduce["scale"], "tasks": reproduce["baselines"]} if reproduce else None,
        "distillation_nsmc": distillation["baselines"] if distillation else None,
        "nsmc_all_labels": all_labels,
        "seconds": round(time.time() - started),
    }
    save_results(result, folder, "baselines", lambda _: baselines_markdown(reproduce, distillation, all_labels))
    return 0


if __name__ == "__main__":
    sys.exit(main())
