"""How does a teacher's NSMC accuracy grow with its ELECTRA pre-training steps? A learning curve against the trivial
and the TF-IDF + logistic-regression baselines on the same labelled reviews, at the CPU scale of
benchmarks/distillation_nsmc.py (same tokenizer, teacher shape, sequence length, batch, training slice, task steps and
test reviews).

1. tokenizer on the unlabeled corpus;
2. ONE teacher pre-training run (on the whole corpus by default) to the largest of --steps, keeping a checkpoint at
   every listed step count (so a point at step N is step N of that run, learning-rate schedule included: the
   earlier points are not annealed like a run that stops at N);
3. each listed checkpoint's discriminator saved as a teacher folder, fine-tuned on the NSMC training slice (per seed)
   and scored on the test reviews; step 0 is the same shape randomly initialised and fine-tuned alike (the control:
   what the labels alone teach, which pre-training must beat to be worth its cost);
4. baselines on each seed's own slices; a least-squares fit accuracy = a + b ln(steps) says where the curve would
   cross the classical baseline if it has not yet (an extrapolation, not a measurement).

    python -m benchmarks.learning_curve          # about {minutes} minutes on 2 cores (estimated from measured rates)

Writes benchmarks/results/learning_curve.json, .md and .png. Finished steps are skipped when the script is run
again with the same --work-dir.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from functools import reduce
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
)
from benchmarks.report import save_results
from training.defaults import RESULTS_FILE
from training.recipe import run_step, shape_string, step_seconds

# 0: the same shape randomly initialised, fine-tuned alike: what the task's labels alone teach (the control).
DEFAULT_STEPS = [0, 750, 1500, 3000, 6000]
# Measured on the 2-core machine (shared): seconds per teacher pre-training step (80 steps: 44 s with start-up),
# per fine-tuning (375 task steps and 5,000 test reviews: 131 s) and for the tokenizer; for the --help estimate only.
SECONDS_PER_PRETRAINING_STEP = 0.5
SECONDS_PER_FINETUNING = 130
SECONDS_TOKENIZER = 30


def estimated_minutes(steps: list[int], seeds: int) -> int:
    """Rough wall time of a run from scratch (see the measured rates above)."""
    seconds = (
        SECONDS_TOKENIZER + max(steps) * SECONDS_PER_PRETRAINING_STEP + len(steps) * seeds * SECONDS_PER_FINETUNING
    )
    return round(seconds / 60)


def log_linear_fit(steps: list[int], accuracy: list[float]) -> dict | None:
    """Least squares accuracy = a + b ln(steps); None with fewer than two step counts."""
    if len(set(steps)) < 2:
        return None
    x = [math.log(step) for step in steps]
    mean_x, mean_y = sum(x) / len(x), sum(accuracy) / len(accuracy)
    b = sum((u - mean_x) * (v - mean_y) for u, v in zip(x, accuracy)) / sum((u - mean_x) ** 2 for u in x)
    return {"a": mean_y - b * mean_x, "b": b}


def crossing(steps: list[int], accuracy: list[float], baseline: float) -> dict:
    """Where the curve meets `baseline`: the first measured step at or above it, else the log-linear fit's estimate."""
    fit = log_linear_fit(steps, accuracy)
    result: dict = {"fit": fit, "baseline": baseline, "points": len(steps)}
    above = [step for step, value in zip(steps, accuracy) if value >= baseline]
    if above:
        return {**result, "status": "measured", "first_step_above": above[0],
                "text": f"At or above the TF-IDF baseline ({baseline:.2f}) from {above[0]:,} steps (measured)."}  # fmt: skip
    if fit is None:
        return {**result, "status": "no fit",
                "text": f"Below the TF-IDF baseline ({baseline:.2f}); one step count is too few for a fit."}  # fmt: skip
    slope = f"accuracy = {fit['a']:.2f} + {fit['b']:.2f} ln(steps)"
    if fit["b"] <= 0:
        return {**result, "status": "not approaching",
                "text": f"Below the TF-IDF baseline ({baseline:.2f}) and not approaching it: {slope} (b <= 0)."}  # fmt: skip
    steps_needed = math.exp((baseline - fit["a"]) / fit["b"])
    return {
        **result,
        "status": "extrapolated",
        "crossing_steps": round(steps_needed),
        "text": f"Below the TF-IDF baseline ({baseline:.2f}); {slope} crosses it at about {steps_needed:,.0f} steps "
        f"(extrapolated from {len(steps)} points; a log-linear fit, not a measurement).",
    }


def pretraining_losses(checkpoint: Path) -> dict | None:
    """The discriminator's and generator's losses last logged up to `checkpoint` (its trainer_state.json), None before
    the first log: beside a fine-tuned score they show whether the teacher still learns its own task."""
    from training.pretraining import last_pretraining_log

    history = json.loads((checkpoint / "trainer_state.json").read_text(encoding="utf-8"))["log_history"]
    last = last_pretraining_log(history)
    if last is None:
        return None
    losses = {"step": last["step"], "loss_rtd": round(last["loss_rtd"], 4), "loss_mlm": round(last["loss_mlm"], 3)}
    if "loss_rtd_constant" in last:  # logged since the constant prediction's loss was added
        losses["loss_rtd_constant"] = round(last["loss_rtd_constant"], 4)
    return losses


def random_teacher(pretrained: Path, output_dir: Path, tokenizer: Path, seed: int) -> Path:
    """The pre-trained teacher's shape with fresh weights (seeded), saved like a teacher: the step-0 control."""
    import torch
    from transformers import AutoTokenizer

    from modeling_kr_electra_kd import KRElectraKDConfig, KRElectraKDForPreTraining
    from training.pretraining import save_teacher

    torch.manual_seed(seed)
    discriminator = KRElectraKDForPreTraining(KRElectraKDConfig.from_pretrained(pretrained))
    return save_teacher(output_dir, discriminator, AutoTokenizer.from_pretrained(tokenizer))


def markdown(result: dict) -> str:
    settings = result["settings"]
    seeds = ", ".join(map(str, settings["seeds"]))
    corpus = f"{settings['pretraining_lines']:,} corpus lines" if settings["pretraining_lines"] else "the whole corpus"
    lines = [
        f"Data: NSMC ratings_train {settings['train_samples']:,} labels / ratings_test {settings['eval_samples']:,} "
        f"reviews, seeds {seeds}; CPU scale; command: `{result['command']}`; {result['step_seconds']:,} s in all "
        f"(the steps' own times, also when reused; this invocation: {result['seconds']:,} s).",
        "",
        f"Teacher `{shape_string(result['teacher_shape'])}`, pre-trained (ELECTRA) once for {max(settings['steps']):,} "
        f"steps of batch {settings['batch_size']} on {corpus}; every checkpoint "
        f"listed is fine-tuned for {result['task_steps']} steps and scored (a point at N steps is that run's checkpoint, "
        "its learning rate not yet decayed: not a run that stops at N). Accuracy (%): mean ± sd over seeds.",
        "",
        "| pre-training steps | teacher NSMC accuracy | per seed | pre-training loss: RTD (constant prediction) / MLM |",
        "|---|---|---|---|",
    ]
    for step, score in result["nsmc_accuracy"].items():
        losses = result["pretraining_losses"][step]
        if int(step):
            label = f"{int(step):,}"
            constant = f" ({losses['loss_rtd_constant']:.3f})" if losses and "loss_rtd_constant" in losses else ""
            logged = f"{losses['loss_rtd']:.3f}{constant} / {losses['loss_mlm']:.2f}" if losses else "not logged yet"
        else:
            label, logged = "0 (random initialisation: no pre-training)", ""
        lines.append(f"| {label} | {score_cells(score)} | {logged} |")
    for kind, (label, _) in BASELINES.items():
        score = result["baselines"][kind]
        lines.append(f"| *{label}* | {score_cells(score)} | |")
    lines += ["", result["crossing"]["text"]]
    pretrained = {step: score["mean"] for step, score in result["nsmc_accuracy"].items() if int(step)}
    if "0" in result["nsmc_accuracy"]:
        control = result["nsmc_accuracy"]["0"]["mean"]
        best = max(pretrained, key=pretrained.get)
        lines.append(
            f"Against the same shape without pre-training ({control:.2f}): the best pre-trained checkpoint "
            f"({int(best):,} steps) is {pretrained[best] - control:+.2f} points."
        )
    return "\n".join(lines) + "\n"


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = {int(step): score["mean"] for step, score in result["nsmc_accuracy"].items()}
    steps, means = [step for step in points if step], [points[step] for step in points if step]
    figure, axis = plt.subplots(figsize=(6, 4))
    axis.plot(steps, means, marker="o", label="fine-tuned teacher")
    if 0 in points:  # a log axis has no 0: the control is a line
        axis.axhline(points[0], linestyle="-.", color="tab:red", label="same shape, no pre-training")
    for (kind, (label, _)), style in zip(BASELINES.items(), (":", "--")):
        axis.axhline(result["baselines"][kind]["mean"], linestyle=style, color="grey", label=label)
    fit = result["crossing"]["fit"]
    if fit is not None:
        end = max(steps + [result["crossing"].get("crossing_steps", 0)])
        xs = [steps[0] * (end / steps[0]) ** (i / 50) for i in range(51)]
        axis.plot(xs, [fit["a"] + fit["b"] * math.log(x) for x in xs], linewidth=0.8, label="a + b ln(steps) fit")
    axis.set_xscale("log")
    axis.set_xticks(steps, [f"{step:,}" for step in steps])  # the measured step counts, not powers of ten
    axis.minorticks_off()
    axis.set_xlabel("ELECTRA pre-training steps")
    axis.set_ylabel("NSMC accuracy (%)")
    axis.set_title("kr-electra-kd: teacher accuracy vs pre-training")
    axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.format(minutes=estimated_minutes(DEFAULT_STEPS, 1)),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_scale_arguments(parser)
    parser.add_argument("--steps", type=int, nargs="+", default=DEFAULT_STEPS, help="Pre-training step counts scored.")
    parser.add_argument(
        "--pretraining-lines",
        type=int,
        default=0,
        help="Corpus lines pre-training streams (0: the whole corpus, 512k reviews; the tokenizer reads --corpus-lines).",
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[42], help="Seeds of the fine-tuning runs.")
    parser.add_argument("--work-dir", type=Path, default=Path("runs/learning_curve"))
    parser.add_argument("--output-dir", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if min(args.steps) < 0 or max(args.steps) < 1:
        parser.error("--steps: give positive step counts (and 0 for the randomly initialised control)")
    args.steps = sorted(set(args.steps))
    return args


def score_checkpoints(args: argparse.Namespace, run: Path, tokenizer: Path) -> tuple[dict, dict]:
    """NSMC accuracy per seed ({step: [accuracy]}) of the teacher at each listed step (0: random weights), and its
    pre-training losses there."""
    from training.pretraining import teacher_from_checkpoint

    scores: dict[str, list[float]] = {}
    losses: dict[str, dict | None] = {}
    for step in args.steps:
        checkpoint = run / "pretrained" / "checkpoints" / f"checkpoint-{step}"
        losses[str(step)] = pretraining_losses(checkpoint) if step else None
        teacher = run / f"teacher_step{step}"
        if not (teacher / "tokenizer_config.json").is_file():  # written last
            if step:
                teacher_from_checkpoint(checkpoint, teacher, tokenizer)
            else:
                random_teacher(run / "pretrained", teacher, tokenizer, args.seeds[0])
        scores[str(step)] = []
        for run_seed in args.seeds:
            output = run / f"finetuned_step{step}_seed{run_seed}"
            run_step(f"finetune teacher at step {step}, seed {run_seed}", output, "finetune",
                     {"model": str(teacher), "output_dir": str(output), "seed": run_seed,
                      **task_options(args), "max_eval_samples": args.eval_samples})  # fmt: skip
            scores[str(step)].append(json.loads((output / RESULTS_FILE).read_text("utf-8"))["metrics"]["accuracy"])
    return scores, losses


def main(argv: list[str] | None = None) -> int:
    args = parse_arguments(argv)
    pretrained_steps = [step for step in args.steps if step]
    started = time.time()
    work, seed = args.work_dir, args.seeds[0]
    # Checkpoints land exactly on every listed step and all are kept (Trainer deletes the oldest beyond the limit).
    every = reduce(math.gcd, pretrained_steps)
    longest = max(args.steps)
    pretraining = pretraining_options(args, seed, every, longest // every, corpus_lines=args.pretraining_lines)

    tokenizer = train_tokenizer(args, work)
    teacher_shape = teacher_preset()
    # One folder per longest step count: its checkpoints depend on the whole run's learning-rate schedule.
    run = work / f"electra_{longest}steps"
    run_step(
        f"teacher pre-training to {longest} steps",
        run / "pretrained",
        "pretrain-teacher",
        {"tokenizer": str(tokenizer), "preset": "teacher-base", "shape": shape_string(teacher_shape),
         "max_steps": longest, "output_dir": str(run / "pretrained"), **pretraining},
    )  # fmt: skip
    scores, losses = score_checkpoints(args, run, tokenizer)

    accuracy = {step: summary(values) for step, values in scores.items()}
    baselines = nsmc_baselines(args.nsmc_dir, args.train_samples, args.eval_samples, args.seeds)
    result = {
        "command": command_line("learning_curve", argv),
        "settings": {**vars(args), "work_dir": str(args.work_dir), "output_dir": str(args.output_dir)},
        "teacher_shape": teacher_shape,
        "task_steps": task_step_count(args),
        "checkpoint_every": every,
        "nsmc_accuracy": accuracy,
        "pretraining_losses": losses,
        "baselines": baselines,
        "crossing": crossing(
            pretrained_steps, [accuracy[str(step)]["mean"] for step in pretrained_steps], baselines["classical"]["mean"]
        ),
        "seconds": round(time.time() - started),
        # what the curve costs from scratch, even when this invocation reused finished steps
        "step_seconds": round(step_seconds(run) + step_seconds(work / "tokenizer")),
    }
    result = save_results(result, args.output_dir, "learning_curve", markdown)
    plot(result, args.output_dir / "learning_curve.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
