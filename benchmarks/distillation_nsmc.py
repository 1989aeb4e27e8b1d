"""Does distillation help? Distilled students against the same student trained for the same steps without the
teacher, all fine-tuned on the same NSMC slices, at CPU scale on ../shared/data.

1. tokenizer on the unlabeled corpus; 2. a small teacher pre-trained (ELECTRA) for a fixed budget, then fine-tuned
   on an NSMC training slice;
3. student "no teacher": ELECTRA-pre-trained on the corpus for S steps, then fine-tuned for F steps;
4. student "distilled": distilled from the teacher (task-agnostic: RTD soft targets, hidden states, attention) for the
   same S steps, then fine-tuned for the same F steps;
5. student "distilled twice": the same task-agnostic student, then F steps of task-specific distillation from the
   fine-tuned teacher on the same training slice plus an unlabeled transfer set of reviews that the teacher labels
   (TinyBERT's recipe; the texts come from the corpus, beyond the lines used for pre-training);
6. optional (`--students ... student_minilm`): student "MiniLM relations": distilled for the same S steps with
   MiniLMv2's self-attention relation loss alone (`--weight_minilm 1`, every other weight 0), then fine-tuned for F
   steps; the table then adds its paired difference with the "distilled" student (the default loss mix).

Every student sees S + F steps of batch --batch-size and the same labelled reviews; students are fine-tuned with
several seeds (each seed draws its own training and test slices, shared by all students: a paired comparison).

    python -m benchmarks.distillation_nsmc   # about 90 minutes on one core (5,416 s measured, machine shared)

Writes benchmarks/results/distillation_nsmc.json and .md (with the command; `--result-name` for another name). Every step is the `kr-electra-kd`
sub-command a user would run; finished steps are skipped when the script is run again with the same --work-dir.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from benchmarks.common import (
    BASELINES,
    RESULTS,
    add_scale_arguments,
    command_line,
    nsmc_baselines,
    pretraining_options,
    score_cells,
    summary,
    task_options,
    task_step_count,
    teacher_preset,
    train_tokenizer,
    write_transfer_set,
)
from benchmarks.report import save_results
from training.defaults import RESULTS_FILE
from training.distillation import LOSSES, weight_option
from training.recipe import run_step, scaled_preset, shape_string

# name -> (label in the table, what was done): the students every run trains
STUDENTS = {
    "student_no_teacher": ("student, no teacher", "ELECTRA pre-training, then fine-tuning"),
    "student_distilled": ("student, distilled", "distilled from the teacher, then fine-tuning"),
    "student_distilled_twice": (
        "student, distilled twice",
        "distilled from the teacher, then distilled from the fine-tuned teacher on the training slice and a "
        "teacher-labelled transfer set",
    ),
}
# ... and those a run trains when --students names them
EXTRA_STUDENTS = {
    "student_minilm": (
        "student, MiniLM relations",
        "distilled from the teacher with MiniLMv2's self-attention relation loss alone, then fine-tuning",
    ),
}
# The loss options of each task-agnostic distilled student (the default mix: none).
LOSS_MIXES = {
    "student_distilled": {},
    "student_minilm": {weight_option(name): 1.0 if name == "minilm" else 0.0 for name in LOSSES},
}


def _baseline_lines(result: dict) -> tuple[list[str], list[str]]:
    """Table rows of the baselines, and the distilled student's comparison with the classical one."""
    baselines, accuracy = result.get("baselines"), result["nsmc_accuracy"]
    if not baselines or "student_distilled" not in accuracy:
        return [], []
    rows = []
    for kind, (label, what) in BASELINES.items():
        score = baselines[kind]
        rows.append(f"| *{label}* | none | {what} | {score_cells(score)} |")
    classical, distilled = baselines["classical"], accuracy["student_distilled"]
    wins = sum(a > b for a, b in zip(distilled["per_seed"], classical["per_seed"]))
    comparison = (
        f"- {STUDENTS['student_distilled'][0]}, against TF-IDF + logistic regression on the same labelled reviews: "
        f"{distilled['mean'] - classical['mean']:+.2f} points (better on {wins} of {len(classical['per_seed'])} seeds)."
    )
    return rows, [comparison]


def _label(name: str) -> tuple[str, str]:
    return {**STUDENTS, **EXTRA_STUDENTS}[name]


def _table(result: dict) -> list[str]:
    settings, accuracy = result["settings"], result["nsmc_accuracy"]
    steps = settings["student_steps"]
    rows = {
        "student_no_teacher": (f"{steps} ELECTRA steps", "fine-tuning"),
        "student_distilled": (f"{steps} distillation steps", "fine-tuning"),
        "student_distilled_twice": (
            f"{steps} distillation steps",
            f"distillation from the fine-tuned teacher, + {settings['transfer_samples']:,} teacher-labelled reviews",
        ),
        "student_minilm": (f"{steps} distillation steps, MiniLM relation loss alone", "fine-tuning"),
    }
    lines = [
        "| model | before the task | on the task | NSMC accuracy | per seed |",
        "|---|---|---|---|---|",
        f"| teacher | {settings['teacher_steps']} ELECTRA steps | fine-tuning | {accuracy['teacher']:.2f} | |",
    ]
    for name, (before, on_task) in rows.items():
        if name in accuracy:
            lines.append(f"| {_label(name)[0]} | {before} | {on_task} | {score_cells(accuracy[name])} |")
    return lines


def _comparisons(result: dict) -> list[str]:
    """One line per student against the student without teacher, and MiniLM against the default loss mix."""
    accuracy, seeds = result["nsmc_accuracy"], result["settings"]["seeds"]
    lines = []
    for name, wins in result["seeds_beating_no_teacher"].items():
        difference = accuracy[name]["mean"] - accuracy["student_no_teacher"]["mean"]
        lines.append(
            f"- {_label(name)[0]} ({_label(name)[1]}): {difference:+.2f} points against the student without teacher "
            f"(better on {wins} of {len(seeds)} seeds)."
        )
    paired = result.get("minilm_minus_default")
    if paired:
        lines.append(
            f"- {_label('student_minilm')[0]} minus {_label('student_distilled')[0]} (the default loss mix), paired by "
            f"seed: {paired['mean']:+.2f} ± {paired['stdev']:.2f} points "
            f"({' / '.join(f'{value:+.2f}' for value in paired['per_seed'])}; better on {paired['wins']} of "
            f"{len(seeds)} seeds): {_verdict(paired, len(seeds))}."
        )
    trivial = (result.get("baselines") or {}).get("trivial")
    students = [name for name in accuracy if name != "teacher"]
    if trivial and all(accuracy[name]["mean"] < trivial["mean"] + 2 for name in students):
        lines.append(
            "- No student is 2 points above the trivial baseline: at this scale the students did not learn the task, "
            "and the table says nothing about which loss is better."
        )
    return lines


def _verdict(paired: dict, seeds: int) -> str:
    """Within noise unless the mean paired difference is over two standard errors from 0."""
    if abs(paired["mean"]) <= 2 * paired["stdev"] / seeds**0.5:
        return "within noise (under two standard errors of the paired differences)"
    return "MiniLM better" if paired["mean"] > 0 else "the default mix better"


def markdown(result: dict) -> str:
    settings = result["settings"]
    seeds = ", ".join(map(str, settings["seeds"]))
    lines = [
        f"NSMC accuracy (%) after training on {settings['train_samples']:,} labelled reviews, scored on "
        f"{settings['eval_samples']:,} test reviews; students: mean ± sd over seeds {seeds} (each seed draws its own "
        f"training and test slices, the same for every student). CPU scale; command: `{result['command']}`.",
        "",
        f"Every student has the shape `{shape_string(result['student_shape'])}` "
        f"({result['student_parameters']:,} parameters) and trains {settings['student_steps']} steps before the task "
        f"and {result['task_steps']} steps on it, batch {settings['batch_size']}. Teacher: "
        f"`{shape_string(result['teacher_shape'])}`, {settings['teacher_steps']} ELECTRA steps, fine-tuned once "
        f"(seed {settings['seeds'][0]}).",
        "",
        *_table(result),
    ]
    baseline_rows, baseline_comparison = _baseline_lines(result)
    lines += [*baseline_rows, "", *_comparisons(result), *baseline_comparison]
    return "\n".join(lines) + "\n"


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_scale_arguments(parser)
    parser.add_argument("--teacher-steps", type=int, default=1500, help="Teacher ELECTRA pre-training steps.")
    parser.add_argument("--student-steps", type=int, default=800, help="Student steps before the task (S).")
    parser.add_argument(
        "--transfer-samples", type=int, default=20000, help="Unlabelled reviews the fine-tuned teacher labels."
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 43, 44], help="Seeds of the student runs.")
    parser.add_argument(
        "--students",
        nargs="+",
        default=list(STUDENTS),
        choices=[*STUDENTS, *EXTRA_STUDENTS],
        help="The students to train and score (default: the first three).",
    )
    parser.add_argument("--work-dir", type=Path, default=Path("runs/distillation_benchmark"))
    parser.add_argument("--output-dir", type=Path, default=RESULTS)
    parser.add_argument("--result-name", default="distillation_nsmc", help="Name of the .json and .md written.")
    return parser.parse_args(argv)


def prepare_teacher(args: argparse.Namespace, work: Path) -> tuple[Path, Path, Path]:
    """The tokenizer, the pre-trained teacher and the teacher fine-tuned on NSMC (seed: the first)."""
    tokenizer = train_tokenizer(args, work)
    teacher = run_step(
        "teacher",
        work / "teacher",
        "pretrain-teacher",
        {"tokenizer": str(tokenizer), "preset": "teacher-base", "shape": shape_string(teacher_preset()),
         "max_steps": args.teacher_steps, "output_dir": str(work / "teacher"),
         **pretraining_options(args, args.seeds[0])},
    )  # fmt: skip
    teacher_nsmc = run_step(
        "finetune teacher",
        work / "finetuned_teacher",
        "finetune",
        {"model": str(teacher), "output_dir": str(work / "finetuned_teacher"), "seed": args.seeds[0],
         **task_options(args), "max_eval_samples": args.eval_samples},
    )  # fmt: skip
    return tokenizer, teacher, teacher_nsmc


def student_options() -> dict:
    return {"student_preset": "small-kd", "student_shape": shape_string(scaled_preset("small-kd", width=0.5, layers=4))}


def pretrain_students(args: argparse.Namespace, work: Path, tokenizer: Path, teacher: Path) -> dict[str, Path]:
    """The students before the task: ELECTRA pre-training without the teacher, or task-agnostic distillation with
    each student's loss mix, all for S steps."""
    pretraining = pretraining_options(args, args.seeds[0])
    models = {}
    for name in args.students:
        if name in LOSS_MIXES:
            models[name] = run_step(
                name.replace("_", " "), work / name, "distill",
                {"teacher": str(teacher), **student_options(), **LOSS_MIXES[name],
                 "max_steps": args.student_steps, "output_dir": str(work / name), **pretraining},
            )  # fmt: skip
    if "student_no_teacher" in args.students:
        models["student_no_teacher"] = run_step(
            "student without teacher", work / "student_no_teacher", "pretrain-teacher",
            {"tokenizer": str(tokenizer), "preset": "small-kd",
             "shape": shape_string(scaled_preset("small-kd", width=0.5, layers=4)), "max_steps": args.student_steps,
             "output_dir": str(work / "student_no_teacher"), **pretraining},
        )  # fmt: skip
    return models


def _accuracy(results: Path) -> float:
    return json.loads(results.read_text("utf-8"))["metrics"]["accuracy"]


def distil_twice(args: argparse.Namespace, work: Path, teacher_nsmc: Path, distilled: Path, seed: int) -> float:
    """Task-specific distillation of the distilled student from the fine-tuned teacher, scored on the seed's slice."""
    on_task, seeded = task_options(args), {"seed": seed}
    output = work / f"student_distilled_twice_seed{seed}"
    transfer = write_transfer_set(args.corpus, args.corpus_lines, args.transfer_samples, work / "transfer_set.txt")
    run_step(f"task distillation seed {seed}", output, "distill",
             {"teacher": str(teacher_nsmc), **student_options(), "student_init": str(distilled),
              "transfer_corpus": [str(transfer)], "output_dir": str(output), **seeded, **on_task})  # fmt: skip
    scoring = {"task": "nsmc", "data_dir": args.nsmc_dir, "max_eval_samples": args.eval_samples}
    scoring |= {"max_seq_length": args.seq_length}
    scored = output / "eval"
    run_step(f"score task distillation seed {seed}", scored, "evaluate",
             {"model": str(output), "output_file": str(scored / RESULTS_FILE), **seeded, **scoring})  # fmt: skip
    return _accuracy(scored / RESULTS_FILE)


def score_students(args, work: Path, models: dict[str, Path], teacher_nsmc: Path) -> dict[str, list[float]]:
    """Every student's NSMC accuracy on every seed's slices."""
    scores: dict[str, list[float]] = {name: [] for name in args.students}
    for seed in args.seeds:
        for name, model in models.items():
            output = work / f"finetuned_{name}_seed{seed}"
            run_step(f"finetune {name} seed {seed}", output, "finetune",
                     {"model": str(model), "output_dir": str(output), "seed": seed, **task_options(args),
                      "max_eval_samples": args.eval_samples})  # fmt: skip
            scores[name].append(_accuracy(output / RESULTS_FILE))
        if "student_distilled_twice" in args.students:
            distilled = models["student_distilled"]  # the task-agnostic student it starts from
            scores["student_distilled_twice"].append(distil_twice(args, work, teacher_nsmc, distilled, seed))
    return scores


def _paired(scores: dict[str, list[float]], name: str, against: str) -> dict | None:
    """Per-seed differences `name` - `against` (mean ± sd, wins), or None unless both were run."""
    if name not in scores or against not in scores:
        return None
    differences = [round(a - b, 2) for a, b in zip(scores[name], scores[against])]
    return {**summary(differences), "wins": sum(value > 0 for value in differences)}


def build_result(args, argv, scores: dict[str, list[float]], models: dict[str, Path], teacher_nsmc: Path) -> dict:
    accuracy = {"teacher": _accuracy(Path(teacher_nsmc) / RESULTS_FILE)}
    accuracy.update({name: summary(values) for name, values in scores.items()})
    compared = [name for name in scores if name != "student_no_teacher"] if "student_no_teacher" in scores else []
    first_distilled = next(path for name, path in models.items() if name in LOSS_MIXES)
    return {
        "command": command_line("distillation_nsmc", argv),
        "settings": {**vars(args), "work_dir": str(args.work_dir), "output_dir": str(args.output_dir)},
        "teacher_shape": teacher_preset(),
        "student_shape": scaled_preset("small-kd", width=0.5, layers=4),
        "student_parameters": json.loads((Path(first_distilled) / "distillation.json").read_text())["parameters"],
        "task_steps": task_step_count(args),
        "models": {name: _label(name)[1] for name in scores},
        "nsmc_accuracy": accuracy,
        "seeds_beating_no_teacher": {
            name: sum(a > b for a, b in zip(scores[name], scores["student_no_teacher"])) for name in compared
        },
        "distilled_beats_no_teacher": {
            name: accuracy[name]["mean"] > accuracy["student_no_teacher"]["mean"] for name in compared
        },
        "minilm_minus_default": _paired(scores, "student_minilm", "student_distilled"),
        # Computed on every run, on the seeds' own slices, so that the table's baselines never go stale.
        "baselines": nsmc_baselines(args.nsmc_dir, args.train_samples, args.eval_samples, args.seeds),
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_arguments(argv)
    if "student_distilled_twice" in args.students and "student_distilled" not in args.students:
        args.students.append("student_distilled")  # the student it starts from
    started = time.time()
    tokenizer, teacher, teacher_nsmc = prepare_teacher(args, args.work_dir)
    models = pretrain_students(args, args.work_dir, tokenizer, teacher)
    scores = score_students(args, args.work_dir, models, teacher_nsmc)
    result = {**build_result(args, argv, scores, models, teacher_nsmc), "seconds": round(time.time() - started)}
    save_results(result, args.output_dir, args.result_name, markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
