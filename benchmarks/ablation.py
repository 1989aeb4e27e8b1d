"""One change to task-agnostic distillation, measured on paired seeds: does it help the student on NSMC?

Two students of the same shape are distilled from the same teacher for the same steps on the same corpus; they
differ only by `--change` (extra `kr-electra-kd distill` options, e.g. `--corrupt_inputs`). Each is fine-tuned on
the NSMC training slice and scored on the test reviews with every seed (each seed draws its own slices, the same
for both students), so the difference per seed is a paired comparison. The trivial and TF-IDF + logistic-regression
baselines of those slices are printed beside them, and two controls fine-tuned alike on the same seeds: the teacher
itself (each student's share of its score) and the students' shape randomly initialised, one per seed (what the
labels alone teach that shape: a distilled student that does not beat it learned nothing from the teacher). When the
changed student starts from corpus embeddings (`--change --embedding_init ppmi-svd`), a third control is that shape
randomly initialised with the same starting embeddings and never distilled: what the embeddings alone bring, so the
gap over it is the teacher's. With --self-pretrained-control, a compute-matched control too: the students' shape
pre-trained by ELECTRA (`kr-electra-kd pretrain-teacher`) for the same steps, batch and corpus, from the changed
student's starting embeddings, with no teacher: what the same steps teach without one.
Settings are benchmarks/distillation_nsmc.py's CPU scale.

    python -m benchmarks.ablation --teacher runs/learning_curve/electra_6000steps/pretrained --change --corrupt_inputs

(about 25 minutes on 2 cores with the defaults). Writes benchmarks/results/ablation_<name>.json and .md; finished
steps are skipped when the script is run again with the same --work-dir.
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
    embeddings_only_models,
    nsmc_baselines,
    option_value,
    paired_difference,
    pretraining_options,
    random_model,
    require_model_folder,
    score_cells,
    summary,
    task_options,
    task_step_count,
    verdict,
)
from benchmarks.report import save_results
from modeling_kr_electra_kd import PRESETS
from training.defaults import RESULTS_FILE
from training.distillation.run import DistillArguments
from training.pretraining import PretrainArguments
from training.recipe import run_step, scaled_preset, shape_string, step_seconds

STUDENTS = ("baseline", "changed")
DISTILL_FIELDS = set(DistillArguments.__dataclass_fields__)
# The controls every student is read against (paired, seed by seed): result key, what the markdown calls it.
CONTROLS = {
    "above_random_init": ("random_init", "the random-init student"),
    "above_embeddings_only": ("embeddings_only", "the embeddings-only student"),
    "above_self_pretrained": ("self_pretrained", "the self-pretrained student"),
}
STARTING_EMBEDDING_FIELDS = sorted(
    key for key in DISTILL_FIELDS & set(PretrainArguments.__dataclass_fields__) if key.startswith("embedding_init")
)
DISTILL_ONLY = ("teacher", "student_preset", "student_shape")  # every other distillation option pre-trains alike


def markdown(result: dict) -> str:
    settings, accuracy = result["settings"], result["nsmc_accuracy"]
    change = " ".join(settings["change"])
    lines = [
        f"Data: NSMC ratings_train {settings['train_samples']:,} labels / ratings_test {settings['eval_samples']:,} "
        f"reviews, seeds {', '.join(map(str, settings['seeds']))} (each seed its own slices, the same for every "
        f"row); CPU scale; command: `{result['command']}`; {result['step_seconds']:,} s in all.",
        "",
        f"Both students: {settings.get('student_preset', 'small-kd')} `{shape_string(result['student_shape'])}`, "
        f"{settings['student_steps']} task-agnostic "
        f"distillation steps from the teacher `{settings['teacher']}`, then {result['task_steps']} fine-tuning steps. "
        f"They differ only by `{change}`. Every row is fine-tuned alike; accuracy (%): mean ± sd over seeds; share of "
        "the teacher: the student's accuracy over the teacher's, seed by seed.",
        "",
        "| model | NSMC accuracy | per seed | share of the teacher |",
        "|---|---|---|---|",
    ]
    labels = {"baseline": "student, distilled (baseline)", "changed": f"student, distilled with `{change}`"}
    rows = [("teacher, fine-tuned (no distillation)", accuracy.get("teacher"), "")]
    rows.append(("student shape, randomly initialised (no teacher)", accuracy.get("random_init"), ""))
    shares = result.get("share_of_teacher", {})
    rows.append((
        "student shape, randomly initialised with the changed student's starting embeddings (no teacher)",
        accuracy.get("embeddings_only"), shares.get("embeddings_only")))  # fmt: skip
    rows.append((
        f"student shape, ELECTRA-pre-trained for the same {settings['student_steps']} steps from the changed student's "
        "starting embeddings (no teacher)", accuracy.get("self_pretrained"), shares.get("self_pretrained")))  # fmt: skip
    rows += [(labels[name], accuracy[name], shares.get(name)) for name in STUDENTS]
    rows += [(f"*{label}*", result["baselines"][kind], "") for kind, (label, _) in BASELINES.items()]
    for label, score, share in rows:
        if score is not None:  # results made before the controls were added have no teacher or random-init row
            share_cell = f"{share['mean']:.1f}% ± {share['stdev']:.1f}" if share else ""
            lines.append(f"| {label} | {score_cells(score)} | {share_cell} |")
    difference = result["difference"]
    lines += [
        "",
        f"- `{change}`: {difference['mean']:+.2f} points (paired, per seed "
        f"{' / '.join(f'{value:+.2f}' for value in difference['per_seed'])}; better on {difference['wins']} of "
        f"{len(difference['per_seed'])} seeds).",
    ]
    for key, (_, control) in CONTROLS.items():
        for name, paired in result.get(key, {}).items():
            lines.append(
                f"- {labels[name]} minus {control}, paired: {paired['mean']:+.2f} ± {paired['stdev']:.2f} points "
                f"(better on {paired['wins']} of {len(paired['per_seed'])} seeds); above it beyond noise: "
                f"{verdict(paired)}."
            )
    return "\n".join(lines) + "\n"


def teacher_shares(scores: list[float], teacher: list[float]) -> list[float]:
    """Seed by seed, a score as a percentage of the teacher's on the same seed."""
    return [round(100 * value / base, 1) for value, base in zip(scores, teacher)]


def change_options(change: list[str]) -> dict:
    """--change's distill options as run_distillation's keyword options: `--name value` (several values: a list),
    `--name=value`, a bare `--name` (True) or `--no_name` (False); dashes in names read as underscores."""
    options: dict = {}
    name = None
    for token in change:
        if token.startswith("--"):
            name, _, value = token[2:].replace("-", "_").partition("=")
            if value:
                options[name] = option_value(value)
            elif name.startswith("no_"):
                name = name[3:]
                options[name] = False
            else:
                options[name] = True
            continue
        if name is None:
            raise ValueError(f"--change: {token!r} follows no option name.")
        value = option_value(token)
        previous = options[name]
        options[name] = (
            value if previous is True else [*previous, value] if isinstance(previous, list) else [previous, value]
        )
    return options


def finetuned_accuracy(args: argparse.Namespace, work: Path, name: str, model: Path, seed: int) -> float:
    """`model` fine-tuned on `seed`'s NSMC training slice (once: a finished run is reused) and its test accuracy."""
    output = work / f"finetuned_{name}_seed{seed}"
    run_step(f"finetune {name} seed {seed}", output, "finetune",
             {"model": str(model), "output_dir": str(output), "seed": seed, **task_options(args),
              "max_eval_samples": args.eval_samples})  # fmt: skip
    return json.loads((output / RESULTS_FILE).read_text("utf-8"))["metrics"]["accuracy"]


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_scale_arguments(parser)
    parser.add_argument("--teacher", required=True, help="Teacher folder (pre-trained, not fine-tuned).")
    parser.add_argument(
        "--change", nargs=argparse.REMAINDER, required=True, help="The distill options of the changed student (last)."
    )
    parser.add_argument("--name", default=None, help="Results name (default: from --change).")
    parser.add_argument(
        "--student-preset",
        default="small-kd",
        choices=[name for name in PRESETS if "small" in name],
        help="Both students' preset, at half its width and 4 layers (e.g. small-lf-v3: low-rank).",
    )
    parser.add_argument("--student-steps", type=int, default=800, help="Distillation steps of each student.")
    parser.add_argument(
        "--self-pretrained-control",
        action="store_true",
        help="Also pre-train the students' shape itself (pretrain-teacher, --student-steps, no teacher) and "
        "fine-tune it alike: the compute-matched control.",
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 43, 44], help="Fine-tuning seeds (paired).")
    parser.add_argument("--work-dir", type=Path, default=Path("runs/ablation"))
    parser.add_argument("--output-dir", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if not args.change:
        parser.error("--change needs at least one distill option, e.g. --change --corrupt_inputs")
    require_model_folder(parser, "--teacher", args.teacher, "a pre-trained teacher folder")
    return args


def scores_of_every_row(args: argparse.Namespace, work: Path, distilling: dict) -> dict[str, list[float]]:
    """Per seed: both students (distilled, then fine-tuned) and the controls fine-tuned alike."""
    scores: dict[str, list[float]] = {name: [] for name in (*STUDENTS, "teacher", "random_init")}
    # The changed student first: it is what the ablation is about, so a run stopped half-way has it.
    for variant, extra in (("changed", change_options(args.change)), ("baseline", {})):
        student = work / f"student_{variant}"
        run_step(f"distil {variant}", student, "distill", {**distilling, **extra, "output_dir": str(student)})
        scores[variant] = [finetuned_accuracy(args, work, variant, student, seed) for seed in args.seeds]
    for seed in args.seeds:
        scores["teacher"].append(finetuned_accuracy(args, work, "teacher", Path(args.teacher), seed))
        random_student = work / f"student_random_init_seed{seed}"
        if not (random_student / "tokenizer_config.json").is_file():  # written last
            baseline = work / "student_baseline"
            random_model(baseline, random_student, baseline, seed)
        scores["random_init"].append(finetuned_accuracy(args, work, "random_init", random_student, seed))
    changed = {**distilling, **change_options(args.change)}
    changed_args = DistillArguments(**{key: value for key, value in changed.items() if key in DISTILL_FIELDS})
    baseline = work / "student_baseline"
    controls = embeddings_only_models(changed_args, baseline, baseline, work, args.seeds, "student")
    if controls:
        scores["embeddings_only"] = [
            finetuned_accuracy(args, work, "embeddings_only", model, seed) for seed, model in controls.items()
        ]
    if args.self_pretrained_control:
        model = self_pretrained_student(args, work, distilling, changed_args)
        scores["self_pretrained"] = [finetuned_accuracy(args, work, "self_pretrained", model, s) for s in args.seeds]
    return scores


def self_pretrained_student(args: argparse.Namespace, work: Path, distilling: dict, changed: DistillArguments) -> Path:
    """The students' shape pre-trained by ELECTRA with the distillations' steps, batch, corpus and seed, the teacher's
    tokenizer and the changed student's starting embeddings (--embedding_init and its settings); every other option
    at pretrain-teacher's default."""
    shared = {key: getattr(changed, key) for key in STARTING_EMBEDDING_FIELDS}  # pretrain-teacher's default differs
    options = {key: value for key, value in distilling.items() if key not in DISTILL_ONLY}
    options |= {"tokenizer": args.teacher, "preset": args.student_preset, "shape": distilling["student_shape"]}
    output = work / "student_self_pretrained"
    run_step(
        "pre-train the student shape", output, "pretrain-teacher", {**options, **shared, "output_dir": str(output)}
    )
    return output


def main(argv: list[str] | None = None) -> int:
    args = parse_arguments(argv)
    name = args.name or "_".join(option.lstrip("-") for option in args.change).replace("/", "_")
    started = time.time()
    work = args.work_dir / name
    student_shape = scaled_preset(args.student_preset, width=0.5, layers=4)  # small-kd: distillation_nsmc.py's
    distilling = {"teacher": args.teacher, "student_preset": args.student_preset}
    distilling |= {"student_shape": shape_string(student_shape)}
    distilling |= {"max_steps": args.student_steps, **pretraining_options(args, args.seeds[0])}
    scores = scores_of_every_row(args, work, distilling)

    per_seed = [round(b - a, 2) for a, b in zip(scores["baseline"], scores["changed"])]
    shares = {
        name: summary(teacher_shares(scores[name], scores["teacher"]))
        for name in (*STUDENTS, "embeddings_only", "self_pretrained")  # the controls: what no teacher keeps
        if name in scores
    }
    result = {
        "command": command_line("ablation", argv),
        "settings": {**vars(args), "work_dir": str(args.work_dir), "output_dir": str(args.output_dir)},
        "student_shape": student_shape,
        "task_steps": task_step_count(args),
        "nsmc_accuracy": {variant: summary(values) for variant, values in scores.items()},
        "difference": {**summary(per_seed), "wins": sum(value > 0 for value in per_seed)},
        "share_of_teacher": shares,
        **{
            key: {name: paired_difference(scores[name], scores[control]) for name in STUDENTS}
            for key, (control, _) in CONTROLS.items()
            if control in scores
        },
        "baselines": nsmc_baselines(args.nsmc_dir, args.train_samples, args.eval_samples, args.seeds),
        "seconds": round(time.time() - started),
        "step_seconds": round(step_seconds(work)),
    }
    save_results(result, args.output_dir, f"ablation_{name}", markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
