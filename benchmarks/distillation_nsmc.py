"""Does distillation help? Distilled students against the same student trained for the same steps without the
teacher, all fine-tuned on the same NSMC slices, at CPU scale on ../shared/data.

1. tokenizer on the unlabeled corpus; 2. a small teacher pre-trained (ELECTRA) for a fixed budget, then fine-tuned
   on an NSMC training slice;
3. student "no teacher": ELECTRA-pre-trained on the corpus for S steps, then fine-tuned for F steps;
4. student "distilled": distilled from the teacher (task-agnostic: RTD soft targets, hidden states, attention) for the
   same S steps, then fine-tuned for the same F steps;
5. student "distilled twice": the same task-agnostic student, then F steps of task-specific distillation from the
   fine-tuned teacher on the same training slice plus an unlabeled transfer set of reviews that the teacher labels
   (TinyBERT's recipe; the texts come from the corpus, beyond the lines used for pre-training).

Every student sees S + F steps of batch --batch-size and the same labelled reviews; students are fine-tuned with
several seeds (each seed draws its own training and test slices, shared by all students: a paired comparison).

    python -m benchmarks.distillation_nsmc   # about 90 minutes on one core (5,416 s measured, machine shared)

Writes benchmarks/results/distillation_nsmc.json and .md (with the command). Every step is the `kr-electra-kd`
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
from training.recipe import run_step, scaled_preset, shape_string

# name -> (label in the table, what was done)
STUDENTS = {
    "student_no_teacher": ("student, no teacher", "ELECTRA pre-training, then fine-tuning"),
    "student_distilled": ("student, distilled", "distilled from the teacher, then fine-tuning"),
    "student_distilled_twice": (
        "student, distilled twice",
        "distilled from the teacher, then distilled from the fine-tuned teacher on the training slice and a "
        "teacher-labelled transfer set",
    ),
}


def _baseline_lines(result: dict) -> tuple[list[str], list[str]]:
    """Table rows of the baselines, and the distilled student's comparison with the classical one."""
    baselines, accuracy = result.get("baselines"), result["nsmc_accuracy"]
    if not baselines:
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


def markdown(result: dict) -> str:
    settings, accuracy = result["settings"], result["nsmc_accuracy"]
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
        "| model | before the task | on the task | NSMC accuracy | per seed |",
        "|---|---|---|---|---|",
        f"| teacher | {settings['teacher_steps']} ELECTRA steps | fine-tuning | {accuracy['teacher']:.2f} | |",
    ]
    rows = {
        "student_no_teacher": (f"{settings['student_steps']} ELECTRA steps", "fine-tuning"),
        "student_distilled": (f"{settings['student_steps']} distillation steps", "fine-tuning"),
        "student_distilled_twice": (
            f"{settings['student_steps']} distillation steps",
            f"distillation from the fine-tuned teacher, + {settings['transfer_samples']:,} teacher-labelled reviews",
        ),
    }
    for name, (before, on_task) in rows.items():
        score = accuracy[name]
        lines.append(f"| {STUDENTS[name][0]} | {before} | {on_task} | {score_cells(score)} |")
    baseline_rows, baseline_comparison = _baseline_lines(result)
    lines += baseline_rows
    baseline = accuracy["student_no_teacher"]["mean"]
    lines.append("")
    for name in ("student_distilled", "student_distilled_twice"):
        wins = result["seeds_beating_no_teacher"][name]
        lines.append(
            f"- {STUDENTS[name][0]} ({STUDENTS[name][1]}): {accuracy[name]['mean'] - baseline:+.2f} points against "
            "the student without teacher "
            f"(better on {wins} of {len(settings['seeds'])} seeds)."
        )
    lines += baseline_comparison
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_scale_arguments(parser)
    parser.add_argument("--teacher-steps", type=int, default=1500, help="Teacher ELECTRA pre-training steps.")
    parser.add_argument("--student-steps", type=int, default=800, help="Student steps before the task (S).")
    parser.add_argument(
        "--transfer-samples", type=int, default=20000, help="Unlabelled reviews the fine-tuned teacher labels."
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 43, 44], help="Seeds of the student runs.")
    parser.add_argument("--work-dir", type=Path, default=Path("runs/distillation_benchmark"))
    parser.add_argument("--output-dir", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    started = time.time()
    work, seed = args.work_dir, args.seeds[0]
    task_steps = task_step_count(args)
    pretraining = pretraining_options(args, seed)
    on_task = task_options(args)
    scoring = ["--task", "nsmc", "--data_dir", args.nsmc_dir, "--max_eval_samples", str(args.eval_samples)]
    scoring += ["--max_seq_length", str(args.seq_length)]

    tokenizer = train_tokenizer(args, work)
    teacher_shape = teacher_preset()
    teacher = run_step(
        "teacher",
        work / "teacher",
        "pretrain-teacher",
        ["--tokenizer", str(tokenizer), "--preset", "teacher-base", "--shape", shape_string(teacher_shape),
         "--max_steps", str(args.teacher_steps), "--output_dir", str(work / "teacher"), *pretraining],
    )  # fmt: skip
    student_shape = scaled_preset("small-kd", width=0.5, layers=4)
    student = ["--student_preset", "small-kd", "--student_shape", shape_string(student_shape)]
    distilled = run_step(
        "distilled student",
        work / "student_distilled",
        "distill",
        ["--teacher", str(teacher), *student, "--max_steps", str(args.student_steps),
         "--output_dir", str(work / "student_distilled"), *pretraining],
    )  # fmt: skip
    no_teacher = run_step(
        "student without teacher",
        work / "student_no_teacher",
        "pretrain-teacher",
        ["--tokenizer", str(tokenizer), "--preset", "small-kd", "--shape", shape_string(student_shape),
         "--max_steps", str(args.student_steps), "--output_dir", str(work / "student_no_teacher"), *pretraining],
    )  # fmt: skip
    teacher_nsmc = run_step(
        "finetune teacher",
        work / "finetuned_teacher",
        "finetune",
        ["--model", str(teacher), "--output_dir", str(work / "finetuned_teacher"), "--seed", str(seed), *on_task,
         "--max_eval_samples", str(args.eval_samples)],
    )  # fmt: skip
    transfer = write_transfer_set(args.corpus, args.corpus_lines, args.transfer_samples, work / "transfer_set.txt")

    scores: dict[str, list[float]] = {name: [] for name in STUDENTS}
    for run_seed in args.seeds:
        seeded = ["--seed", str(run_seed)]
        for name, model in (("student_no_teacher", no_teacher), ("student_distilled", distilled)):
            output = work / f"finetuned_{name}_seed{run_seed}"
            run_step(f"finetune {name} seed {run_seed}", output, "finetune",
                     ["--model", str(model), "--output_dir", str(output), *seeded, *on_task,
                      "--max_eval_samples", str(args.eval_samples)])  # fmt: skip
            scores[name].append(json.loads((output / "results.json").read_text("utf-8"))["metrics"]["accuracy"])
        output = work / f"student_distilled_twice_seed{run_seed}"
        run_step(f"task distillation seed {run_seed}", output, "distill",
                 ["--teacher", str(teacher_nsmc), *student, "--student_init", str(distilled),
                  "--transfer_corpus", str(transfer), "--output_dir", str(output), *seeded, *on_task])  # fmt: skip
        scored = output / "eval"
        run_step(f"score task distillation seed {run_seed}", scored, "evaluate",
                 ["--model", str(output), "--output_file", str(scored / "results.json"), *seeded, *scoring])  # fmt: skip
        scores["student_distilled_twice"].append(
            json.loads((scored / "results.json").read_text("utf-8"))["metrics"]["accuracy"]
        )

    teacher_result = json.loads((Path(teacher_nsmc) / "results.json").read_text(encoding="utf-8"))
    accuracy = {"teacher": teacher_result["metrics"]["accuracy"], **{name: summary(s) for name, s in scores.items()}}
    result = {
        "command": command_line("distillation_nsmc", argv),
        "settings": {**vars(args), "work_dir": str(args.work_dir), "output_dir": str(args.output_dir)},
        "teacher_shape": teacher_shape,
        "student_shape": student_shape,
        "student_parameters": json.loads((Path(distilled) / "distillation.json").read_text())["parameters"],
        "task_steps": task_steps,
        "models": {name: description for name, (_, description) in STUDENTS.items()},
        "nsmc_accuracy": accuracy,
        "seeds_beating_no_teacher": {
            name: sum(a > b for a, b in zip(scores[name], scores["student_no_teacher"]))
            for name in ("student_distilled", "student_distilled_twice")
        },
        "distilled_beats_no_teacher": {
            name: accuracy[name]["mean"] > accuracy["student_no_teacher"]["mean"]
            for name in ("student_distilled", "student_distilled_twice")
        },
        # Computed on every run, on the seeds' own slices, so that the table's baselines never go stale.
        "baselines": nsmc_baselines(args.nsmc_dir, args.train_samples, args.eval_samples, args.seeds),
        "seconds": round(time.time() - started),
    }
    save_results(result, args.output_dir, "distillation_nsmc", markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
