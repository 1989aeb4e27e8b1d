"""Budgeted ranks (`convert --target_mb`) against the presets' uniform ranks at the same size, after distillation and
fine-tuning: is a rank per matrix better, not only different?

For each preset (default LF-V3 and LF-V2, at reproduce's CPU widths): the uniform arm converts the distilled small-kd
with the preset's scaled ranks; its `model.safetensors` size is the budgeted arm's `--target_mb`. Both arms start from
the same small-kd, go through SVD (their reconstruction error is recorded), get the same distillation steps with the
same seed, and are fine-tuned with that seed on each task (default NSMC, qpair, KorSTS); seeds pair the arms. Each
task's trivial and TF-IDF baselines are computed on the same rows. Writes benchmarks/results/rank_budget.json, .md and
.png (score against size, both arms, small-kd as the dense end).

    python -m benchmarks.rank_budget                  # --scale quick: reproduce's hour shapes, shorter training
    python -m benchmarks.rank_budget --scale hour     # reproduce --scale hour's steps (not run yet: several hours)
    python -m benchmarks.rank_budget --stage prepare  # then, in parallel: --stage train --seeds 1 / --seeds 2 ...
    python -m benchmarks.rank_budget --stage table    # the table of what is finished

With `--teacher T` (and `--small-kd S`, a dense student distilled from T) the arms start from an existing teacher
instead of the scale's own; `--name` keeps that run's results beside the default ones.

Every step is a `kr-electra-kd` command whose finished output (`.done`) is reused, so a stopped run resumes.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from benchmarks.common import DATA, RESULTS, command_line, require_model_folder
from benchmarks.report import save_results
from benchmarks.reproduce import SCALES
from training.defaults import BENCHMARK_FINETUNE_LEARNING_RATE, RANK_FIELDS, RESULTS_FILE
from training.recipe import (
    PipelineArguments,
    StageNotRun,
    finetune_options,
    run_pipeline,
    run_step,
    scaled_preset,
    shape_string,
    task_data_dir,
)
from training.task_baselines import primary_score, task_baselines

# `quick`: reproduce's hour shapes and data, with fewer teacher and distillation steps and fewer fine-tuning rows, so
# that 2 arms x 2 presets x 3 seeds fit in about 2 hours on 2 cores.
RANK_BUDGET_SCALES = {
    "quick": {**SCALES["hour"], "teacher_steps": 600, "distill_steps": 300, "max_train_samples": 8000},
    "hour": dict(SCALES["hour"]),
    "tiny": dict(SCALES["tiny"]),
}
ARMS = ("uniform", "budgeted")
RANK_KEYS = RANK_FIELDS


def pipeline_arguments(args: argparse.Namespace, seed: int = 42) -> PipelineArguments:
    return PipelineArguments(
        output_dir=str(args.work_dir),
        corpus=args.corpus,
        student_presets=["small-kd"],
        tasks=args.tasks,
        data_dir=args.data_dir,
        finetune_learning_rate=BENCHMARK_FINETUNE_LEARNING_RATE,
        seed=seed,
        **RANK_BUDGET_SCALES[args.scale],
    )


def teacher_path(args: argparse.Namespace) -> Path:
    return Path(args.teacher) if args.teacher else args.work_dir / "teacher"


def small_kd_path(args: argparse.Namespace) -> Path:
    return Path(args.small_kd) if args.small_kd else args.work_dir / "students" / "small-kd"


def distill_options(args: argparse.Namespace, seed: int, output: Path, init: Path | None = None) -> dict:
    """`kr-electra-kd distill`'s options for a small-kd-shaped student (from `init` when given) at the scale."""
    pipeline = pipeline_arguments(args, seed)
    shape = scaled_preset("small-kd", args.settings["student_width"], args.settings["student_layers"])
    options = {"teacher": str(teacher_path(args)), "student_preset": "small-kd", "student_shape": shape_string(shape)}
    options |= {"student_init": str(init)} if init else {}
    options |= {"corpus": list(args.corpus), "output_dir": str(output)}
    options |= {"max_corpus_lines": pipeline.max_corpus_lines, "seed": seed}
    options |= {"max_seq_length": pipeline.max_seq_length, "report_to": "none"}
    options |= {"max_steps": pipeline.distill_steps, "save_steps": 200, "save_total_limit": 1}
    return options | {"per_device_train_batch_size": pipeline.batch_size, "logging_steps": 50}


def prepare(args: argparse.Namespace) -> dict[str, dict]:
    """Tokenizer, teacher and small-kd (reproduce's recipe; --teacher and --small-kd replace them), then both arms'
    conversions of small-kd per preset."""
    small_kd = small_kd_path(args)
    if args.teacher is None:
        try:
            run_pipeline(pipeline_arguments(args), stages={"tokenizer", "teacher", "small-kd"})
        except StageNotRun as pending:  # the recipe's own fine-tuning stages come next; this benchmark runs its own
            if not pending.stage.startswith("finetune"):
                raise
    elif args.small_kd is None:
        run_step("distill small-kd", small_kd, "distill", distill_options(args, 42, small_kd))
    conversions = {}
    for preset in args.presets:
        scaled = scaled_preset(preset, args.settings["student_width"], args.settings["student_layers"])
        uniform = args.work_dir / "convert" / f"{preset}-uniform"
        rank_options = {key: scaled[key] for key in RANK_KEYS if scaled.get(key)}
        run_step(f"convert {preset} uniform", uniform, "convert",
                 {"model": str(small_kd), "output_dir": str(uniform), **rank_options})  # fmt: skip
        target_mb = (uniform / "model.safetensors").stat().st_size / 1e6
        budgeted = args.work_dir / "convert" / f"{preset}-budgeted"
        run_step(f"convert {preset} budgeted", budgeted, "convert",
                 {"model": str(small_kd), "output_dir": str(budgeted), "target_mb": float(f"{target_mb:.6f}")})  # fmt: skip
        conversions[preset] = {
            "uniform": {"ranks": {key: scaled.get(key) for key in RANK_KEYS}, **_conversion(uniform)},
            "budgeted": {"target_mb": target_mb, **_conversion(budgeted)},
        }
    return conversions


def _conversion(folder: Path) -> dict:
    """What the SVD left before any training: size, and each matrix's relative reconstruction error."""
    report = json.loads((folder / "lowrank_report.json").read_text(encoding="utf-8"))
    errors = [matrix["relative_error"] for matrix in report["matrices"]]
    weights = [matrix["shape"][0] * matrix["shape"][1] for matrix in report["matrices"]]
    return {
        "path": str(folder),
        "size_mb": (folder / "model.safetensors").stat().st_size / 1e6,
        "mean_relative_error": statistics.mean(errors),
        "size_weighted_relative_error": sum(e * w for e, w in zip(errors, weights)) / sum(weights),
        "max_relative_error": max(errors),
        "ranks_by_group": (report.get("budget") or {}).get("ranks_by_group"),
    }


def train(args: argparse.Namespace, seed: int) -> None:
    """For one seed: distil each arm from its conversion, then fine-tune it on every task."""
    pipeline = pipeline_arguments(args, seed)
    for preset in args.presets:
        for arm in ARMS:
            init = args.work_dir / "convert" / f"{preset}-{arm}"
            student = args.work_dir / f"seed{seed}" / f"{preset}-{arm}"
            run_step(f"seed {seed} distill {preset} {arm}", student, "distill",
                     distill_options(args, seed, student, init))  # fmt: skip
            for task in args.tasks:
                output = student.parent / f"{preset}-{arm}-{task}"
                step = f"seed {seed} finetune {preset} {arm} {task}"
                run_step(step, output, "finetune", finetune_options(pipeline, str(student), task, output))


def _score(folder: Path) -> float | None:
    results = folder / RESULTS_FILE
    if not results.exists():
        return None
    data = json.loads(results.read_text(encoding="utf-8"))
    return data["metrics"][data["primary_metric"]]


def collect(args: argparse.Namespace, conversions: dict) -> dict:
    """Scores of every finished (preset, arm, seed, task), small-kd's own fine-tuned scores, and the baselines."""
    rows: dict = {}
    for preset in args.presets:
        for arm in ARMS:
            per_seed = {}
            for seed in args.seeds:
                scores = {task: _score(args.work_dir / f"seed{seed}" / f"{preset}-{arm}-{task}") for task in args.tasks}
                if all(value is not None for value in scores.values()):
                    per_seed[str(seed)] = scores
            rows[f"{preset} {arm}"] = {"preset": preset, "arm": arm, **conversions[preset][arm], "per_seed": per_seed}
    dense = {}
    for seed in args.seeds:
        scores = {task: _score(args.work_dir / f"seed{seed}" / f"small-kd-{task}") for task in args.tasks}
        if all(value is not None for value in scores.values()):
            dense[str(seed)] = scores
    rows["small-kd"] = {"preset": "small-kd", "arm": "dense", "size_mb": _size(small_kd_path(args)), "per_seed": dense}
    return rows


def _size(folder: Path) -> float:
    return (folder / "model.safetensors").stat().st_size / 1e6


def finetune_dense(args: argparse.Namespace, seed: int) -> None:
    """small-kd itself fine-tuned with the seed: the dense end of the size axis."""
    pipeline = pipeline_arguments(args, seed)
    small_kd = small_kd_path(args)
    for task in args.tasks:
        output = args.work_dir / f"seed{seed}" / f"small-kd-{task}"
        run_step(f"seed {seed} finetune small-kd {task}", output, "finetune",
                 finetune_options(pipeline, str(small_kd), task, output))  # fmt: skip


def baselines(args: argparse.Namespace) -> dict:
    """Each task's trivial and classical baseline on each seed's own fine-tuning and test rows."""
    out: dict = {}
    for task in args.tasks:
        data_dir = task_data_dir(pipeline_arguments(args), task)
        per_seed = {}
        for seed in args.seeds:
            result = task_baselines(task, data_dir, args.settings["max_train_samples"],
                                    args.settings["max_eval_samples"], seed)  # fmt: skip
            per_seed[str(seed)] = {kind: primary_score(result, kind) for kind in ("trivial", "classical")}
            out.setdefault(task, {"methods": {kind: result[kind]["method"] for kind in ("trivial", "classical")}})
            out[task]["splits"] = result["splits"]
        out[task]["per_seed"] = per_seed
        for kind in ("trivial", "classical"):
            out[task][kind] = statistics.mean(values[kind] for values in per_seed.values())
    return out


def summarize(rows: dict, tasks: list[str]) -> None:
    """Each row's mean ± sd per task and of the task average; each budgeted row's paired difference to its uniform
    row, seed by seed."""
    for row in rows.values():
        seeds = row["per_seed"]
        row["seeds"] = len(seeds)
        averages = [statistics.mean(scores[task] for task in tasks) for scores in seeds.values()]
        row["average"] = _mean_sd(averages)
        row["tasks"] = {task: _mean_sd([scores[task] for scores in seeds.values()]) for task in tasks}
    for name, row in rows.items():
        if row["arm"] != "budgeted":
            continue
        uniform = rows[name.replace("budgeted", "uniform")]["per_seed"]
        paired = [
            statistics.mean(row["per_seed"][seed][t] - uniform[seed][t] for t in tasks)
            for seed in row["per_seed"]
            if seed in uniform
        ]
        row["paired_difference"] = {**_mean_sd(paired), "per_seed": paired, "wins": sum(d > 0 for d in paired)}


def _mean_sd(values: list[float]) -> dict:
    if not values:
        return {"mean": None, "sd": None}
    return {"mean": statistics.mean(values), "sd": statistics.stdev(values) if len(values) > 1 else 0.0}


def _cell(stat: dict) -> str:
    return "n/a" if stat["mean"] is None else f"{stat['mean']:.1f} ± {stat['sd']:.1f}"


def markdown(result: dict) -> str:
    tasks = result["tasks"]
    lines = [
        f"Budgeted ranks (`convert --target_mb`, a rank per matrix) against the presets' uniform ranks at the same "
        f"size. Scale `{result['scale']}` on {result['machine']}; command: `{result['command']}`.",
        "",
        "| model | size (MB, fp32) | SVD error before distillation (size-weighted / max) | seeds | "
        + " | ".join(tasks) + " | average | budgeted - uniform (paired, per seed) |",
        "|---|---|---|---|" + "---|" * len(tasks) + "---|---|",
    ]  # fmt: skip
    for name, row in result["rows"].items():
        error = "dense" if row["arm"] == "dense" else (
            f"{row['size_weighted_relative_error']:.3f} / {row['max_relative_error']:.3f}")  # fmt: skip
        paired = row.get("paired_difference")
        paired_cell = ""
        if paired and paired["mean"] is not None:
            per_seed = ", ".join(f"{value:+.2f}" for value in paired["per_seed"])
            paired_cell = f"{paired['mean']:+.2f} ({per_seed}; {paired['wins']} of {len(paired['per_seed'])} better)"
        cells = " | ".join(_cell(row["tasks"][task]) for task in tasks)
        lines.append(f"| {name} | {row['size_mb']:.3f} | {error} | {row['seeds']} | {cells} | "
                     f"{_cell(row['average'])} | {paired_cell} |")  # fmt: skip
    for kind, label in (("trivial", "trivial baseline"), ("classical", "classical baseline")):
        scores = [result["baselines"][task][kind] for task in tasks]
        cells = " | ".join(f"{score:.1f}" for score in scores)
        lines.append(f"| *{label}* | | | | {cells} | {statistics.mean(scores):.1f} | |")
    lines += ["", *_notes(result)]
    return "\n".join(lines)


def _notes(result: dict) -> list[str]:
    tasks = result["tasks"]
    metrics = ", ".join(f"{task}: {result['metrics'][task]}" for task in tasks)
    notes = [
        f"Scores: each task's primary metric ({metrics}), mean ± "
        "sd over seeds; the seed sets distillation and fine-tuning and picks the fine-tuning and test rows, the same "
        "for both arms. The paired column is the budgeted arm's task average minus the uniform arm's, seed by seed.",
        f"Settings: {json.dumps(result['settings'])}.",
        "Baselines (italic rows, mean over the seeds' rows): "
        + "; ".join(
            f"{t}: {result['baselines'][t]['methods']['trivial']} / {result['baselines'][t]['methods']['classical']}"
            for t in tasks
        )
        + ".",  # fmt: skip
    ]
    for name, row in result["rows"].items():
        if row.get("ranks_by_group"):
            groups = "; ".join(f"{group} {r['min']}-{r['max']} (median {r['median']}, {r['dense']} dense)"
                               for group, r in row["ranks_by_group"].items())  # fmt: skip
            notes.append(f"{name}: ranks by group: {groups}.")
        elif row.get("ranks"):
            notes.append(f"{name}: ranks {row['ranks']}.")
    if result.get("teacher"):  # runs made before --teacher existed pre-trained their own
        small_kd = f"`{result['small_kd']}`" if result.get("small_kd") else "distilled from it at the scale"
        notes.append(f"Teacher `{result['teacher']}` (the settings' teacher_* and vocab_size unused: it brings its "
                     f"own tokenizer); small-kd {small_kd}.")  # fmt: skip
    notes.append(result["verdict"])
    return ["- " + note for note in notes]


def verdict(rows: dict) -> str:
    """Whether the goal (a higher average at equal size) was reached, preset by preset, as measured: reached only when
    the paired difference is positive and beyond 2 standard errors of it; within them, not shown either way."""
    parts = []
    for name, row in rows.items():
        paired = row.get("paired_difference")
        if not paired or paired["mean"] is None:
            continue
        count = len(paired["per_seed"])
        standard_error = paired["sd"] / count**0.5 if count > 1 else None
        if standard_error is None:
            noise, outcome = "one seed: no estimate of noise", "not shown"
        elif abs(paired["mean"]) > 2 * standard_error:
            noise = f"beyond 2 standard errors ({standard_error:.2f})"
            outcome = "reached" if paired["mean"] > 0 else "not reached"
        else:
            noise, outcome = f"within 2 standard errors ({standard_error:.2f}) of no difference", "not shown"
        parts.append(f"{name.split()[0]}: {paired['mean']:+.2f} points on average ({paired['wins']} of {count} "
                     f"seeds better; {noise}): goal {outcome}")  # fmt: skip
    return "Verdict (higher average at equal size?): " + ("; ".join(parts) or "no finished pair yet") + "."


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 4))
    dense = result["rows"]["small-kd"]
    for arm, marker in (("uniform", "o"), ("budgeted", "s")):
        points = [row for row in result["rows"].values() if row["arm"] == arm and row["average"]["mean"] is not None]
        if dense["average"]["mean"] is not None:
            points.append(dense)
        points.sort(key=lambda row: row["size_mb"])
        axis.errorbar([row["size_mb"] for row in points], [row["average"]["mean"] for row in points],
                      yerr=[row["average"]["sd"] for row in points], marker=marker, capsize=3, label=arm)  # fmt: skip
    axis.set_xlabel("fp32 model.safetensors (MB)")
    axis.set_ylabel(f"average of {', '.join(result['tasks'])}")
    axis.set_title(f"Budgeted vs uniform ranks (scale {result['scale']}, mean ± sd over seeds)")
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", choices=list(RANK_BUDGET_SCALES), default="quick")
    parser.add_argument("--presets", nargs="+", default=["small-lf-v3", "small-lf-v2"])
    parser.add_argument("--tasks", nargs="+", default=["nsmc", "qpair", "korsts"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    parser.add_argument("--corpus", nargs="+", default=[str(DATA / "corpus" / "nsmc_unselected_reviews.txt.gz")])
    parser.add_argument("--data-dir", default=str(DATA))
    parser.add_argument("--work-dir", type=Path, default=None, help="Default: runs/rank_budget_<scale>.")
    parser.add_argument("--output-dir", type=Path, default=RESULTS)
    parser.add_argument("--teacher", default=None,
                        help="A pre-trained teacher folder to distil from, instead of pre-training the scale's own "
                        "(its tokenizer is used throughout).")  # fmt: skip
    parser.add_argument("--small-kd", default=None,
                        help="A dense small-kd student already distilled from --teacher, to convert (default: "
                        "distil one at the scale). Needs --teacher.")  # fmt: skip
    parser.add_argument("--name", default="rank_budget", help="Results name: <output-dir>/<name>.json, .md, .png.")
    parser.add_argument("--no-dense", action="store_true",
                        help="Skip fine-tuning small-kd itself (when another process running --stage train does it).")  # fmt: skip
    parser.add_argument("--stage", choices=["all", "prepare", "train", "dense", "table"], default="all",
                        help="prepare: teacher, small-kd and conversions; train: the --seeds' runs (dense: only "
                        "small-kd's fine-tuning); table: the results of what is finished.")  # fmt: skip
    args = parser.parse_args(argv)
    for option, folder in (("--teacher", args.teacher), ("--small-kd", args.small_kd)):
        require_model_folder(parser, option, folder, "a model folder")
    if args.small_kd and not args.teacher:
        parser.error("--small-kd needs --teacher (the teacher it was distilled from, which the arms distil from)")
    args.work_dir = args.work_dir or Path("runs") / f"rank_budget_{args.scale}"
    args.settings = RANK_BUDGET_SCALES[args.scale]
    started = time.time()
    conversions = prepare(args) if args.stage != "table" else _saved_conversions(args)
    _save_conversions(args, conversions)
    for seed in args.seeds if args.stage in ("all", "train", "dense") else []:
        if not args.no_dense:
            finetune_dense(args, seed)
        if args.stage != "dense":
            train(args, seed)
    if args.stage in ("prepare", "train", "dense"):
        return 0
    rows = collect(args, conversions)
    summarize(rows, args.tasks)
    result = {
        "command": command_line("rank_budget", argv),
        "scale": args.scale,
        "machine": _machine(),
        "settings": {key: value for key, value in args.settings.items()},
        "teacher": args.teacher,
        "small_kd": args.small_kd,
        "tasks": args.tasks,
        "metrics": _metrics(args),
        "seeds": args.seeds,
        "rows": rows,
        "baselines": baselines(args),
        "seconds": round(time.time() - started),
    }
    result["verdict"] = verdict(rows)
    saved = save_results(result, args.output_dir, args.name, markdown)
    plot(saved, args.output_dir / f"{args.name}.png")
    return 0


def _save_conversions(args: argparse.Namespace, conversions: dict) -> None:
    """Merge this run's presets into conversions.json: processes that train different --presets share the file."""
    path = args.work_dir / "conversions.json"
    saved = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    path.write_text(json.dumps({**saved, **conversions}, indent=2), encoding="utf-8")


def _saved_conversions(args: argparse.Namespace) -> dict:
    path = args.work_dir / "conversions.json"
    if not path.exists():
        sys.exit(f"error: {path} does not exist: run --stage prepare first.")
    return json.loads(path.read_text(encoding="utf-8"))


def _metrics(args: argparse.Namespace) -> dict[str, str]:
    from training.tasks import get_task

    return {task: get_task(task).primary_metric for task in args.tasks}


def _machine() -> str:
    import os

    from benchmarks.common import cpu_model

    return f"{cpu_model()}, {os.cpu_count()} CPUs"


if __name__ == "__main__":
    sys.exit(main())
