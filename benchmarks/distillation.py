"""Does distillation help? A distilled student against the same student trained for the same steps without the
teacher, both fine-tuned on the same NSMC slices, at CPU scale on ../shared/data.

1. tokenizer on the unlabeled corpus; 2. a small teacher pre-trained (ELECTRA) for a fixed budget;
3. student A: distilled from the teacher (task-agnostic: RTD soft targets, hidden states, attention) for S steps;
4. student B: the same shape, ELECTRA-pre-trained on the same corpus for the same S steps with no teacher;
5. teacher, A and B fine-tuned on an NSMC training slice and scored on an NSMC test slice.

    python benchmarks/distillation.py            # about 15-20 minutes on 2 cores

Writes benchmarks/results/distillation_nsmc.json and .md (with the command). Every step is the `kr-electra-kd`
sub-command a user would run; finished steps are skipped when the script is run again with the same --work-dir.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from training.pipeline import run_step, scaled_preset, shape_string  # noqa: E402

DATA = REPO.parent / "shared" / "data"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default=str(DATA / "corpus" / "nsmc_unselected_reviews.txt.gz"))
    parser.add_argument("--corpus-lines", type=int, default=60000)
    parser.add_argument("--vocab-size", type=int, default=12000)
    parser.add_argument("--teacher-steps", type=int, default=1500)
    parser.add_argument("--student-steps", type=int, default=800)
    parser.add_argument("--train-samples", type=int, default=6000)
    parser.add_argument("--eval-samples", type=int, default=3000)
    parser.add_argument("--seq-length", type=int, default=64)
    parser.add_argument("--work-dir", type=Path, default=Path("runs/distillation_benchmark"))
    parser.add_argument("--output-dir", type=Path, default=REPO / "benchmarks" / "results")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    started = time.time()
    work = args.work_dir
    common = ["--seed", str(args.seed), "--report_to", "none", "--per_device_train_batch_size", "32"]
    common += ["--logging_steps", "50", "--save_steps", "500", "--save_total_limit", "1", "--disable_tqdm", "true"]
    corpus = ["--corpus", args.corpus, "--max_corpus_lines", str(args.corpus_lines)]

    tokenizer = run_step(
        "tokenizer",
        work / "tokenizer",
        "train-tokenizer",
        [
            "--corpus",
            args.corpus,
            "--max_lines",
            str(args.corpus_lines),
            "--vocab_size",
            str(args.vocab_size),
            "--output_dir",
            str(work / "tokenizer"),
        ],  # fmt: skip
    )
    teacher_shape = scaled_preset("teacher-base", width=1 / 3, layers=4)
    teacher = run_step(
        "teacher",
        work / "teacher",
        "pretrain-teacher",
        [
            *corpus,
            "--tokenizer",
            str(tokenizer),
            "--preset",
            "teacher-base",
            "--shape",
            shape_string(teacher_shape),
            "--max_steps",
            str(args.teacher_steps),
            "--max_seq_length",
            str(args.seq_length),
            "--output_dir",
            str(work / "teacher"),
            *common,
        ],  # fmt: skip
    )
    student_shape = scaled_preset("small-kd", width=0.5, layers=4)
    distilled = run_step(
        "distilled student",
        work / "student_distilled",
        "distill",
        [
            "--teacher",
            str(teacher),
            "--student_preset",
            "small-kd",
            "--student_shape",
            shape_string(student_shape),
            *corpus,
            "--max_steps",
            str(args.student_steps),
            "--max_seq_length",
            str(args.seq_length),
            "--output_dir",
            str(work / "student_distilled"),
            *common,
        ],  # fmt: skip
    )
    baseline = run_step(
        "student without teacher",
        work / "student_no_teacher",
        "pretrain-teacher",
        [
            *corpus,
            "--tokenizer",
            str(tokenizer),
            "--preset",
            "small-kd",
            "--shape",
            shape_string(student_shape),
            "--max_steps",
            str(args.student_steps),
            "--max_seq_length",
            str(args.seq_length),
            "--output_dir",
            str(work / "student_no_teacher"),
            *common,
        ],  # fmt: skip
    )
    scores = {}
    for name, model in (("teacher", teacher), ("student_distilled", distilled), ("student_no_teacher", baseline)):
        output = work / f"finetuned_{name}"
        run_step(
            f"finetune {name}",
            output,
            "finetune",
            [
                "--model",
                str(model),
                "--task",
                "nsmc",
                "--data_dir",
                str(DATA / "nsmc"),
                "--output_dir",
                str(output),
                "--max_train_samples",
                str(args.train_samples),
                "--max_eval_samples",
                str(args.eval_samples),
                "--max_seq_length",
                str(args.seq_length),
                "--num_train_epochs",
                "2",
                "--learning_rate",
                "2e-4",
                "--seed",
                str(args.seed),
                "--report_to",
                "none",
                "--disable_tqdm",
                "true",
            ],  # fmt: skip
        )
        scores[name] = json.loads((output / "results.json").read_text(encoding="utf-8"))

    def params(folder: Path) -> int:
        return (
            json.loads((folder / "distillation.json").read_text())["parameters"]
            if (folder / "distillation.json").is_file()
            else None
        )

    result = {
        "command": "python benchmarks/distillation.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "settings": {**vars(args), "work_dir": str(args.work_dir), "output_dir": str(args.output_dir)},
        "teacher_shape": teacher_shape,
        "student_shape": student_shape,
        "nsmc_accuracy": {name: result["metrics"]["accuracy"] for name, result in scores.items()},
        "num_train_samples": scores["teacher"]["num_train_samples"],
        "num_eval_samples": scores["teacher"]["num_eval_samples"],
        "distilled_student_parameters": params(Path(distilled)),
        "distilled_beats_no_teacher": scores["student_distilled"]["metrics"]["accuracy"]
        > scores["student_no_teacher"]["metrics"]["accuracy"],
        "seconds": round(time.time() - started),
    }
    result["settings"]["corpus"] = args.corpus
    args.output_dir.mkdir(parents=True, exist_ok=True)
    (args.output_dir / "distillation_nsmc.json").write_text(json.dumps(result, indent=2, default=str), encoding="utf-8")
    accuracy = result["nsmc_accuracy"]
    lines = [
        f"NSMC accuracy after fine-tuning on {result['num_train_samples']:,} reviews, scored on "
        f"{result['num_eval_samples']:,} test reviews (CPU scale; command: `{result['command']}`).",
        "",
        "| model | steps before fine-tuning | NSMC accuracy |",
        "|---|---|---|",
        f"| teacher ({shape_string(teacher_shape)}) | {args.teacher_steps} ELECTRA | {accuracy['teacher']:.2f} |",
        f"| student, distilled from the teacher | {args.student_steps} distillation | {accuracy['student_distilled']:.2f} |",
        f"| same student, no teacher | {args.student_steps} ELECTRA | {accuracy['student_no_teacher']:.2f} |",
    ]
    (args.output_dir / "distillation_nsmc.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
