"""Does an ablation's result hold across teachers? Several benchmarks/ablation.py results that differ only in the
teacher (for example one recipe's teachers of several pre-training seeds), read together: per teacher and over every
(teacher, fine-tuning seed) pair, each row's accuracy, each student's share of its teacher, and each student's paired
gains over the controls of its own run (the random-init student, the embeddings-only student when the changed student
starts from corpus embeddings) and over TF-IDF on the same slices, beyond noise by the ablation's rule (the mean gain
over twice the larger sd of the two sides); and the change itself (changed minus baseline student), paired.

    python -m benchmarks.ablation --teacher runs/a/teacher --name kd_a --change --embedding_init ppmi-svd
    python -m benchmarks.ablation --teacher runs/b/teacher --name kd_b --change --embedding_init ppmi-svd
    python -m benchmarks.ablation_teachers ablation_kd_a ablation_kd_b

Writes benchmarks/results/ablation_teachers.json and .md (--output-name names them).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from benchmarks.ablation import STUDENTS, teacher_shares
from benchmarks.common import BASELINES, classical_per_seed, comparison_main, paired_difference, summary
from benchmarks.pretraining_seeds import gain_text

# What the runs may differ in: the teacher, and what only names or places the run or adds a control row.
MAY_DIFFER = {"teacher", "name", "work_dir", "output_dir", "self_pretrained_control"}
# What each student is read against: the run's own rows and the TF-IDF baseline on the same slices.
REFERENCES = {
    "random_init": "the random-init student",
    "embeddings_only": "the embeddings-only student",
    "classical": "TF-IDF",
}
ROWS = ("teacher", *STUDENTS)


def load_ablation(results_dir: Path, name: str) -> dict:
    """An ablation's result; a ValueError naming the file and the fix when it is missing or has no teacher row."""
    path = results_dir / f"{name}.json"
    if not path.is_file():
        raise ValueError(f"{path}: no such result; run python -m benchmarks.ablation ... --name {name.removeprefix('ablation_')}.")  # fmt: skip
    result = json.loads(path.read_text(encoding="utf-8"))
    if "teacher" not in result.get("nsmc_accuracy", {}):
        raise ValueError(f"{path}: written before ablations fine-tuned the teacher and controls; re-run it.")
    return result


def check_one_ablation(names: list[str], results: list[dict]) -> None:
    """A ValueError naming the result and the setting when the runs differ in more than the teacher."""
    first = results[0]["settings"]
    for name, result in zip(names, results):
        settings = result["settings"]
        other = {key for key in set(first) | set(settings) if key not in MAY_DIFFER and first.get(key) != settings.get(key)}  # fmt: skip
        if other:
            raise ValueError(f"{name}: differs from {names[0]} in {', '.join(sorted(other))}; only the teacher may differ.")  # fmt: skip
    teachers = [result["settings"]["teacher"] for result in results]
    if len(set(teachers)) != len(teachers):
        raise ValueError(f"the runs share a teacher ({', '.join(teachers)}): give each its own --teacher.")


def reference_scores(result: dict) -> dict[str, list[float]]:
    """Per fine-tuning seed, the scores a student is read against (REFERENCES; the embeddings-only row when run)."""
    accuracy = result["nsmc_accuracy"]
    return {kind: accuracy[kind]["per_seed"] for kind in REFERENCES if kind in accuracy} | {
        "classical": classical_per_seed(result)
    }


def rows(scores: dict[str, list[float]], references: dict[str, list[float]]) -> dict:
    """Per row its accuracy, per student its share of the teacher and paired gains, and the change (changed minus
    baseline student), from the rows' and references' scores on the same (teacher, fine-tuning seed) pairs."""
    students = {
        name: {
            "share_of_teacher": summary(teacher_shares(scores[name], scores["teacher"])),
            "gains": {kind: paired_difference(scores[name], against) for kind, against in references.items()},
        }
        for name in STUDENTS
    }
    change = paired_difference(scores["changed"], scores["baseline"])
    return {"accuracy": {row: summary(scores[row]) for row in ROWS}, "students": students, "change": change}


def pooled_rows(results: list[dict]) -> dict:
    """`rows` over every (teacher, fine-tuning seed) pair; the references every run has."""
    scores = {row: [value for result in results for value in result["nsmc_accuracy"][row]["per_seed"]] for row in ROWS}
    references = [reference_scores(result) for result in results]
    kinds = [kind for kind in REFERENCES if all(kind in run for run in references)]
    return rows(scores, {kind: [value for run in references for value in run[kind]] for kind in kinds})


def compare(names: list[str], results: list[dict]) -> dict:
    check_one_ablation(names, results)
    return {
        "ablations": names,
        "teachers": [result["settings"]["teacher"] for result in results],
        "change": results[0]["settings"]["change"],
        "fine_tuning_seeds": results[0]["settings"]["seeds"],
        "data": {key: results[0]["settings"][key] for key in ("train_samples", "eval_samples")},
        # the same slices for every run (the settings match), so one run's baselines are every run's
        "baselines": {kind: results[0]["baselines"][kind] for kind in BASELINES},
        "runs": {
            name: rows({row: result["nsmc_accuracy"][row]["per_seed"] for row in ROWS}, reference_scores(result))
            for name, result in zip(names, results)
        },
        "all_pairs": pooled_rows(results),
        "teacher_means": summary([result["nsmc_accuracy"]["teacher"]["mean"] for result in results]),
    }


def markdown(result: dict) -> str:
    change = " ".join(result["change"])
    labels = {"teacher": "teacher, fine-tuned", "baseline": "student (baseline)", "changed": f"student, `{change}`"}
    kinds = list(result["all_pairs"]["students"]["changed"]["gains"])
    data = result["data"]
    lines = [
        f"Data: NSMC ratings_train {data['train_samples']:,} labels / ratings_test {data['eval_samples']:,} reviews "
        "per fine-tuning seed (each seed its own slices, the same for every row and teacher). "
        f"One ablation, several teachers: {', '.join(f'`{name}`' for name in result['ablations'])} (teachers "
        f"{', '.join(f'`{teacher}`' for teacher in result['teachers'])}; nothing else differs), fine-tuned on seeds "
        f"{', '.join(map(str, result['fine_tuning_seeds']))}; command: `{result['command']}`.",
        "",
        "Accuracy (%): mean ± sd over fine-tuning seeds (all pairs: over every teacher and fine-tuning seed); share of "
        "the teacher seed by seed. Gains: paired on the same fine-tuning seed and slices, mean ± sd, how many pairs "
        "are above, and beyond noise when the mean exceeds twice the larger sd of the two sides.",
        "",
        f"| run | row | NSMC accuracy | share of the teacher | {' | '.join(f'over {REFERENCES[k]}' for k in kinds)} |",  # fmt: skip
        f"|---|---|---|---|{'---|' * len(kinds)}",
    ]
    for name, run in [*result["runs"].items(), ("all pairs", result["all_pairs"])]:
        for row in ROWS:
            accuracy, student = run["accuracy"][row], run["students"].get(row)
            share = f"{student['share_of_teacher']['mean']:.1f}% ± {student['share_of_teacher']['stdev']:.1f}" if student else ""  # fmt: skip
            gains = " | ".join(gain_text(student["gains"][kind]) if student else "" for kind in kinds)
            lines.append(f"| {name} | {labels[row]} | {accuracy['mean']:.2f} ± {accuracy['stdev']:.2f} | {share} | {gains} |")  # fmt: skip
    baselines = "; ".join(
        f"{label} {result['baselines'][kind]['mean']:.2f} ± {result['baselines'][kind]['stdev']:.2f}"
        for kind, (label, _) in BASELINES.items()
    )
    lines += ["", f"Baselines on the same slices (every run): {baselines}."]
    lines += ["", f"`{change}` (changed minus baseline student, paired):", ""]
    for name, run in [*result["runs"].items(), ("all pairs", result["all_pairs"])]:
        lines.append(f"- {name}: {gain_text(run['change'])}")
    spread = result["teacher_means"]
    lines.append(f"\nsd of the teachers' means: {spread['stdev']:.2f} (mean {spread['mean']:.2f}).")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    return comparison_main(
        argv, __doc__, "ablation_teachers", "Result names of ablations (ablation_<name>) that differ only in the teacher.",
        "ablation_teachers", load_ablation, compare, markdown,
    )  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
