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

    python benchmarks/distillation.py            # about 90 minutes on one core (5,416 s measured, machine shared)

Writes benchmarks/results/distillation_nsmc.json and .md (with the command). Every step is the `kr-electra-kd`
sub-command a user would run; finished steps are skipped when the script is run again with the same --work-dir.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.report import save_results  # noqa: E402
from training.baselines import primary_score, task_baselines  # noqa: E402
from training.corpus import iter_corpus_lines  # noqa: E402
from training.pipeline import run_step, scaled_preset, shape_string  # noqa: E402

DATA = REPO.parent / "shared" / "data"
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


def write_transfer_set(corpus: str, skip: int, count: int, path: Path) -> Path:
    """Corpus lines skip+1 .. skip+count (texts the teacher was not pre-trained on) as a plain text file."""
    if not path.is_file():
        lines = list(iter_corpus_lines([corpus], max_lines=skip + count))[skip:]
        if len(lines) < count:
            raise ValueError(f"{corpus} has only {skip + len(lines)} lines; the transfer set needs {skip + count}.")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def add_scale_arguments(parser: argparse.ArgumentParser) -> None:
    """The CPU-scale settings every NSMC benchmark of a pre-trained teacher shares (data, tokenizer, task)."""
    parser.add_argument("--corpus", default=str(DATA / "corpus" / "nsmc_unselected_reviews.txt.gz"))
    parser.add_argument("--nsmc-dir", default=str(DATA / "nsmc"), help="NSMC folder (ratings_train/test.txt[.gz]).")
    parser.add_argument("--corpus-lines", type=int, default=60000, help="Corpus lines for tokenizer and pre-training.")
    parser.add_argument("--vocab-size", type=int, default=16000)
    parser.add_argument("--train-samples", type=int, default=4000, help="Labelled NSMC reviews for every model.")
    parser.add_argument("--task-epochs", type=float, default=3.0, help="F = epochs over the training slice.")
    parser.add_argument("--eval-samples", type=int, default=5000, help="NSMC test reviews scored (seeded subset).")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=2e-4, help="Learning rate on the task.")
    parser.add_argument("--seq-length", type=int, default=64)


def teacher_preset() -> dict:
    """The CPU-scale teacher: teacher-base at a third of its width, 4 layers."""
    return scaled_preset("teacher-base", width=1 / 3, layers=4)


def task_step_count(args: argparse.Namespace) -> int:
    """F: --task-epochs over the training slice, in whole batches."""
    return -(-args.train_samples // args.batch_size) * round(args.task_epochs)


QUIET = ["--report_to", "none", "--disable_tqdm", "true", "--logging_steps", "50"]


def pretraining_options(
    args: argparse.Namespace, seed: int, save_steps: int = 500, save_total_limit: int = 1, corpus_lines: int = -1
) -> list[str]:
    """Trainer and corpus options of a pre-training or task-agnostic distillation step. `corpus_lines`: -1 for
    --corpus-lines, 0 for the whole corpus."""
    options = ["--per_device_train_batch_size", str(args.batch_size), *QUIET, "--save_steps", str(save_steps)]
    options += ["--save_total_limit", str(save_total_limit), "--seed", str(seed), "--corpus", args.corpus]
    lines = args.corpus_lines if corpus_lines == -1 else corpus_lines
    if lines:
        options += ["--max_corpus_lines", str(lines)]
    return options + ["--max_seq_length", str(args.seq_length)]


def task_options(args: argparse.Namespace) -> list[str]:
    """Options of a fine-tuning (or task distillation) step on the NSMC training slice, seed excluded."""
    options = ["--per_device_train_batch_size", str(args.batch_size), *QUIET]
    options += ["--max_seq_length", str(args.seq_length), "--learning_rate", str(args.learning_rate)]
    options += ["--max_steps", str(task_step_count(args)), "--max_train_samples", str(args.train_samples)]
    return options + ["--task", "nsmc", "--data_dir", args.nsmc_dir]


def train_tokenizer(args: argparse.Namespace, work: Path) -> Path:
    """The WordPiece tokenizer on the first --corpus-lines corpus lines (a finished one is reused)."""
    return run_step(
        "tokenizer",
        work / "tokenizer",
        "train-tokenizer",
        ["--corpus", args.corpus, "--max_lines", str(args.corpus_lines), "--vocab_size", str(args.vocab_size),
         "--output_dir", str(work / "tokenizer")],
    )  # fmt: skip


def summary(scores: list[float]) -> dict:
    return {
        "mean": round(statistics.mean(scores), 2),
        "stdev": round(statistics.stdev(scores), 2) if len(scores) > 1 else 0.0,
        "per_seed": scores,
    }


def nsmc_baselines(nsmc_dir: str, train_samples: int, eval_samples: int, seeds: list[int]) -> dict:
    """Trivial and classical baselines on each seed's own training and test slices (the students' rows)."""
    per_seed = {str(seed): task_baselines("nsmc", nsmc_dir, train_samples, eval_samples, seed) for seed in seeds}
    return {
        "per_seed": per_seed,
        **{kind: summary([primary_score(record, kind) for record in per_seed.values()]) for kind in BASELINES},
    }


# baseline -> (label in the table, what it is)
BASELINES = {
    "trivial": ("trivial baseline", "the better of the training majority class and guessing"),
    "classical": ("TF-IDF + logistic regression", "char 1-4-gram TF-IDF + logistic regression, same labelled reviews"),
}


def _baseline_lines(result: dict) -> tuple[list[str], list[str]]:
    """Table rows of the baselines, and the distilled student's comparison with the classical one."""
    baselines, accuracy = result.get("baselines"), result["nsmc_accuracy"]
    if not baselines:
        return [], []
    rows = []
    for kind, (label, what) in BASELINES.items():
        score = baselines[kind]
        per_seed = " / ".join(f"{value:.2f}" for value in score["per_seed"])
        rows.append(f"| *{label}* | none | {what} | {score['mean']:.2f} ± {score['stdev']:.2f} | {per_seed} |")
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
        per_seed = " / ".join(f"{value:.2f}" for value in score["per_seed"])
        lines.append(f"| {STUDENTS[name][0]} | {before} | {on_task} | "
                     f"{score['mean']:.2f} ± {score['stdev']:.2f} | {per_seed} |")  # fmt: skip
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
    parser.add_argument("--output-dir", type=Path, default=REPO / "benchmarks" / "results")
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
        "command": "python benchmarks/distillation.py " + " ".join(argv if argv is not None else sys.argv[1:]),
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
