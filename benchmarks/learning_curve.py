"""How does a teacher's NSMC accuracy grow with its ELECTRA pre-training steps? A learning curve against the same
shape randomly initialised (the control), the trivial and the TF-IDF + logistic-regression baselines on the same
labelled reviews, at the CPU scale of benchmarks/distillation_nsmc.py (same tokenizer, teacher shape, sequence
length, batch, training slice, task steps and test reviews).

1. tokenizer on the unlabeled corpus;
2. ONE teacher pre-training run (on the whole corpus by default) to the largest of --steps, keeping a checkpoint at
   every listed step count (so a point at step N is step N of that run, learning-rate schedule included: the
   earlier points are not annealed like a run that stops at N);
3. each listed checkpoint's discriminator saved as a teacher folder, fine-tuned on the NSMC training slice of every
   seed and scored on that seed's test reviews; step 0 is the same shape randomly initialised, one random teacher per
   seed, fine-tuned alike (the control: what the labels alone teach, which pre-training must beat to be worth its
   cost). Each point's paired difference from the control (seed by seed) is "above the control beyond noise" when
   its mean exceeds twice the larger of the two standard deviations over seeds;
4. per checkpoint: the training seconds to reach it, the losses beside their trivial values (the generator's MLM loss
   beside the unigram entropy of the corpus, the discriminator's RTD loss beside a constant prediction's), and whether
   the encoder's states have collapsed (training/diagnostics.py) on --collapse-texts NSMC test reviews that no
   fine-tuning run scores;
5. baselines on each seed's own slices; a least-squares fit accuracy = a + b ln(steps) says where the curve would
   cross the classical baseline if it has not yet (an extrapolation, not a measurement).

Levers are compared without code changes: --pretrain-option / --finetune-option KEY=VALUE (repeatable) pass keyword
options to run_pretraining / run_finetuning, --teacher-shape overrides the teacher's shape, --result-name names the
results; every option that changes a run is part of its work folder's name, so two variants never share one.

    python -m benchmarks.learning_curve          # about {minutes} minutes on 2 cores (estimated from measured rates)
    python -m benchmarks.learning_curve --pretrain-option learning_rate=2e-4 --result-name curve_lr2e-4

Writes benchmarks/results/<result name>.json, .md and .png (benchmarks/compare_curves.py tables several of them;
benchmarks/pretraining_seeds.py reads one recipe's curves on several pre-training seeds, --pretrain-option seed=N).
Finished steps are skipped when the script is run again with the same --work-dir, and a teacher fine-tuned there
before (the same weights, tokenizer, config, options and seed: a variant's controls) is not fine-tuned again.
"""

from __future__ import annotations

import argparse
import hashlib
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
    embeddings_only_models,
    keyword_options,
    nsmc_baselines,
    paired_difference,
    pretraining_options,
    random_model,
    score_cells,
    summary,
    task_options,
    task_step_count,
    teacher_preset,
    train_tokenizer,
    verdict,
)
from benchmarks.report import save_results
from training.defaults import RESULTS_FILE
from training.recipe import run_step, shape_string, step_seconds

# 0: the same shape randomly initialised, fine-tuned alike: what the task's labels alone teach (the control).
DEFAULT_STEPS = [0, 750, 1500, 3000, 6000]
DEFAULT_SEEDS = [42, 43, 44]
# Corpus lines the generator's trivial loss (the unigram entropy) is counted on.
UNIGRAM_LINES = 20000
# Options the script sets itself: a --pretrain-option / --finetune-option may not give them.
SET_BY_SCRIPT = {
    "--pretrain-option": {"tokenizer", "output_dir", "max_steps", "save_steps", "save_total_limit", "corpus"},
    "--finetune-option": {"model", "output_dir", "seed", "task", "data_dir"},
}
# Measured on the 2-core machine (shared): seconds per teacher pre-training step (4,800 steps: 2,285 s), per
# fine-tuning (375 task steps and 5,000 test reviews: about 110-130 s), for the tokenizer and for the starting
# embeddings (ppmi-svd on 500k lines: 34-38 s); for the --help estimate only.
SECONDS_PER_PRETRAINING_STEP = 0.5
SECONDS_PER_FINETUNING = 130
SECONDS_TOKENIZER = 30
SECONDS_EMBEDDING_INIT = 40


# The point of the teacher's starting embeddings (--embedding_init) with no ELECTRA step, scored like a checkpoint.
EMBEDDINGS_ONLY = "embeddings_only"
EMBEDDINGS_ONLY_LABEL = "0, starting embeddings only (no ELECTRA step)"


def estimated_minutes(steps: list[int], seeds: int) -> int:
    """Rough wall time of a run from scratch (see the measured rates above)."""
    scored_points = len(steps) + 1  # the listed steps and the starting-embeddings point (the default ppmi-svd)
    seconds = (
        SECONDS_TOKENIZER
        + SECONDS_EMBEDDING_INIT
        + max(steps) * SECONDS_PER_PRETRAINING_STEP
        + scored_points * seeds * SECONDS_PER_FINETUNING
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


# Arguments and the recipe ------------------------------------------------------------------------------------------


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.format(minutes=estimated_minutes(DEFAULT_STEPS, len(DEFAULT_SEEDS))),
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
    parser.add_argument("--seeds", type=int, nargs="+", default=DEFAULT_SEEDS,
                        help="Fine-tuning seeds (each with its own random-init control); the first seeds pre-training.")  # fmt: skip
    parser.add_argument("--pretrain-option", action="append", metavar="KEY=VALUE",
                        help="A run_pretraining keyword option (repeatable), e.g. learning_rate=2e-4.")  # fmt: skip
    parser.add_argument("--finetune-option", action="append", metavar="KEY=VALUE",
                        help="A run_finetuning keyword option (repeatable), e.g. warmup_steps=0.1.")  # fmt: skip
    parser.add_argument("--teacher-shape", default=None, metavar="KEY=VALUE,...",
                        help="Overrides of the teacher's shape, e.g. num_hidden_layers=6,intermediate_size=512.")  # fmt: skip
    parser.add_argument("--collapse-texts", type=int, default=1000,
                        help="NSMC test reviews no fine-tuning scores, on which collapse is measured.")  # fmt: skip
    parser.add_argument("--result-name", default="learning_curve", help="Name of the results files.")
    parser.add_argument("--work-dir", type=Path, default=Path("runs/learning_curve"))
    parser.add_argument("--output-dir", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if min(args.steps) < 0 or max(args.steps) < 1:
        parser.error("--steps: give positive step counts (and 0 for the randomly initialised control)")
    args.steps = sorted(set(args.steps))
    try:
        args.pretrain_options = checked_options(args.pretrain_option, "--pretrain-option")
        args.finetune_options = checked_options(args.finetune_option, "--finetune-option")
        args.shape = teacher_shape(args.teacher_shape)
    except ValueError as error:
        parser.error(str(error))
    return args


def checked_options(items: list[str] | None, flag: str) -> dict:
    """`flag`'s KEY=VALUE items as keyword options; a ValueError for a bad item or an option the script sets."""
    options = keyword_options(items, flag)
    taken = sorted(set(options) & SET_BY_SCRIPT[flag])
    if taken:
        raise ValueError(f"{flag} {taken[0]}: set by the script itself (see --help); leave it out.")
    return options


def teacher_shape(overrides: str | None) -> dict:
    """The CPU-scale teacher's shape with `overrides` ('key=value,...') applied, checked as a config."""
    from modeling_kr_electra_kd import KRElectraKDConfig
    from training.trainer_common import parse_shape

    overrides_given = parse_shape(overrides)
    unknown = sorted(set(overrides_given) - set(KRElectraKDConfig().to_dict()))
    if unknown:
        raise ValueError(f"--teacher-shape {unknown[0]}: not a KRElectraKDConfig field; e.g. num_hidden_layers=6.")
    shape = {**teacher_preset(), **overrides_given}
    try:
        KRElectraKDConfig(**shape)
    except (TypeError, ValueError) as error:
        raise ValueError(f"--teacher-shape {overrides!r}: {error}") from None
    return shape


def recipe(args: argparse.Namespace) -> dict:
    """Every option of the run's tokenizer, pre-training and fine-tuning (library keyword options, paths of the work
    folder left out), and the teacher shape."""
    pretrained_steps = [step for step in args.steps if step]
    every = reduce(math.gcd, pretrained_steps)  # checkpoints land exactly on every listed step, and all are kept
    longest = max(args.steps)
    pretraining = pretraining_options(args, args.seeds[0], every, longest // every, corpus_lines=args.pretraining_lines)
    pretraining |= {"preset": "teacher-base", "shape": shape_string(args.shape), "max_steps": longest}
    return {
        "tokenizer": {"corpus": args.corpus, "corpus_lines": args.corpus_lines, "vocab_size": args.vocab_size},
        "pretraining": pretraining | args.pretrain_options,
        "finetuning": task_options(args) | {"max_eval_samples": args.eval_samples} | args.finetune_options,
        "teacher_shape": args.shape,
        "pretraining_defaults": pretraining_defaults(pretraining | args.pretrain_options),
        "corpus_lines": args.pretraining_lines or "the whole corpus",
        "checkpoint_every": every,
    }


def pretraining_defaults(given: dict) -> dict:
    """The pre-training options the run leaves at the package's defaults (the command's and Trainer's defaults it
    sets), so the recipe says what was in force, e.g. `embedding_init`, not only what was given."""
    import dataclasses

    from training.pretraining import PretrainArguments
    from training.trainer_common import PRETRAINING_DEFAULTS

    own = {f.name: f.default for f in dataclasses.fields(PretrainArguments) if f.default is not dataclasses.MISSING}
    return {key: value for key, value in (own | PRETRAINING_DEFAULTS).items() if key not in given}


def folder_key(*parts: dict) -> str:
    """A short hash of `parts` (options): folders of runs that differ in any option never share a name."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:10]


def work_folders(work: Path, run_recipe: dict) -> dict[str, Path]:
    """The tokenizer's folder (keyed by its options), the pre-training run's (by the tokenizer's and pre-training's,
    the package defaults in force included: a run made before a default changed is never reused after it) and the
    fine-tunings' (by the fine-tuning's; shared by every run, see finetuned_accuracy)."""
    tokenizer, pretraining = run_recipe["tokenizer"], run_recipe["pretraining"]
    in_force = pretraining | run_recipe["pretraining_defaults"]
    return {
        "tokenizer": work / f"tokenizer_{folder_key(tokenizer)}",
        "run": work / f"electra_{pretraining['max_steps']}steps_{folder_key(tokenizer, in_force)}",
        "finetunings": work / f"finetuned_{folder_key(run_recipe['finetuning'])}",
    }


# What each checkpoint is besides its score --------------------------------------------------------------------------


def held_out_reviews(nsmc_dir: str, eval_samples: int, seeds: list[int], count: int) -> list[str]:
    """The first `count` NSMC test reviews (file order) that no seed's scored subset holds: texts no fine-tuning run
    reads or is scored on."""
    from training.tasks import load_task_data

    scored = set()
    for seed in seeds:
        data = load_task_data("nsmc", nsmc_dir, max_eval_samples=eval_samples, seed=seed, eval_only=True)
        scored.update(data["eval"]["text"])
    texts = [text for text in load_task_data("nsmc", nsmc_dir, eval_only=True)["eval"]["text"] if text not in scored]
    if len(texts) < 2:
        raise ValueError(f"{nsmc_dir}: no NSMC test reviews left beside the scored ones; lower --eval-samples.")
    return texts[:count]


def generator_trivial_loss(tokenizer: Path, run_recipe: dict) -> dict:
    """The unigram entropy (nats) of the corpus pre-training reads, on its first UNIGRAM_LINES lines: the MLM loss of
    a generator that ignores context."""
    from training.corpus import iter_corpus_lines
    from training.diagnostics import unigram_entropy
    from training.loading import load_tokenizer

    pretraining = run_recipe["pretraining"]
    lines = min(UNIGRAM_LINES, pretraining.get("max_corpus_lines") or UNIGRAM_LINES)
    texts = list(iter_corpus_lines(pretraining["corpus"], max_lines=lines))
    return {"unigram_entropy": round(unigram_entropy(load_tokenizer(tokenizer), texts), 4), "lines": len(texts)}


def checkpoint_measures(checkpoint: Path | None, teacher: Path, texts: list[str], max_length: int) -> dict:
    """A teacher's training seconds and rate to reach its checkpoint (None: the random control), its last logged
    losses, and its encoder's collapse measures on `texts`."""
    from training.diagnostics import representation_collapse
    from training.loading import load_model, load_tokenizer
    from training.trainer_common import training_seconds

    measures: dict = {"pretraining_seconds": None, "steps_per_second": None, "losses": None}
    if checkpoint is not None:
        state = json.loads((checkpoint / "trainer_state.json").read_text(encoding="utf-8"))
        seconds = training_seconds(state["log_history"])
        measures["pretraining_seconds"] = round(seconds, 1) if seconds is not None else None
        if seconds:
            measures["steps_per_second"] = round(state["global_step"] / seconds, 3)
        measures["losses"] = pretraining_losses(checkpoint)
    model = load_model(teacher, flag="teacher")
    measures["collapse"] = representation_collapse(model, load_tokenizer(teacher), texts, max_length=max_length)
    return measures


def teacher_of(run: Path, step: int, seed: int, tokenizer: Path) -> Path:
    """The teacher folder of `step` (0: the random control of `seed`), written once."""
    from training.pretraining import teacher_from_checkpoint

    teacher = run / (f"teacher_step{step}" if step else f"teacher_step0_seed{seed}")
    if not (teacher / "tokenizer_config.json").is_file():  # written last
        if step:
            teacher_from_checkpoint(run / "pretrained" / "checkpoints" / f"checkpoint-{step}", teacher, tokenizer)
        else:
            random_model(run / "pretrained", teacher, tokenizer, seed)
    return teacher


def embeddings_only_teachers(run: Path, tokenizer: Path, run_recipe: dict, seeds: list[int]) -> dict[int, Path]:
    """Each seed's random teacher with the token embeddings the pre-training run starts from (its --embedding_init)
    and no ELECTRA step: what the embeddings alone bring. Empty when the run starts from random embeddings."""
    from training.pretraining import PretrainArguments

    fields = {name for name in PretrainArguments.__dataclass_fields__}
    args = PretrainArguments(**{key: value for key, value in run_recipe["pretraining"].items() if key in fields},
                             tokenizer=str(tokenizer))  # fmt: skip
    return embeddings_only_models(args, run / "pretrained", tokenizer, run, seeds, "teacher")


# Written beside every saved model by transformers, not part of what the model computes: the modeling code copied
# from the package (it changes with the package) and the config's version stamps.
KEY_IGNORED_SUFFIXES = {".py"}
KEY_IGNORED_CONFIG_FIELDS = {"transformers_version", "_name_or_path"}


def config_key(path: Path) -> bytes:
    """A config.json's fields that differ from KRElectraKDConfig's defaults, canonically serialised: a field added to
    the config later (written at its default) leaves an older teacher's key unchanged."""
    from modeling_kr_electra_kd import KRElectraKDConfig

    defaults = KRElectraKDConfig().to_dict()
    config = json.loads(path.read_text("utf-8"))
    kept = {
        name: value
        for name, value in config.items()
        if name not in KEY_IGNORED_CONFIG_FIELDS and (name not in defaults or defaults[name] != value)
    }
    return json.dumps(kept, sort_keys=True).encode("utf-8")


def content_key(folder: Path) -> str:
    """A short hash of what `folder`'s model computes: its weights, tokenizer and config (fields at their defaults
    and the copied modeling code left out, see KEY_IGNORED_*). Two teachers share it only when their weights and
    tokenizer are byte-identical and their configs say the same; a fine-tuning made before the package gained a
    config field or changed its modeling code is still reused."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix not in KEY_IGNORED_SUFFIXES):
        digest.update(path.relative_to(folder).as_posix().encode("utf-8") + b"\0")
        digest.update(config_key(path) if path.name == "config.json" else path.read_bytes())
    return digest.hexdigest()[:16]


def finetuned_accuracy(label: str, teacher: Path, seed: int, folders: dict, run_recipe: dict) -> tuple[float, Path]:
    """`teacher` fine-tuned on `seed` with the run's fine-tuning options, and the fine-tuned folder. Its folder is keyed
    by the teacher's bytes and those options, not by the pre-training run: the controls (each seed's random teacher,
    the embeddings-only teacher) are the same bytes for every variant that shares the tokenizer, shape and starting
    embeddings, so a second variant's curve reuses their fine-tunings instead of repeating six of them."""
    output = folders["finetunings"] / f"teacher_{content_key(teacher)}_seed{seed}"
    options = {"model": str(teacher), "output_dir": str(output), "seed": seed, **run_recipe["finetuning"]}
    run_step(f"finetune {label}, seed {seed}", output, "finetune", options)
    return json.loads((output / RESULTS_FILE).read_text("utf-8"))["metrics"]["accuracy"], output


def score_checkpoints(
    args: argparse.Namespace, folders: dict, run_recipe: dict, texts: list[str]
) -> tuple[dict, dict, list[Path]]:
    """NSMC accuracy per seed ({step: [accuracy]}) of the teacher at each listed step (0: each seed's random
    control), each step's measures (step 0: the first seed's control), and the fine-tuned folders scored."""
    run, tokenizer = folders["run"], folders["tokenizer"] / "tokenizer"
    scores: dict[str, list[float]] = {}
    measures: dict[str, dict] = {}
    finetuned: list[Path] = []

    def score(point: str, label: str, teachers: dict[int, Path]) -> None:
        scores[point] = []
        for run_seed, teacher in teachers.items():
            accuracy, output = finetuned_accuracy(label, teacher, run_seed, folders, run_recipe)
            scores[point].append(accuracy)
            finetuned.append(output)

    for step in args.steps:
        teachers = {seed: teacher_of(run, step, seed, tokenizer) for seed in args.seeds}
        score(str(step), f"teacher at step {step}", teachers)
        checkpoint = run / "pretrained" / "checkpoints" / f"checkpoint-{step}" if step else None
        measures[str(step)] = checkpoint_measures(checkpoint, teachers[args.seeds[0]], texts, args.seq_length)
    teachers = embeddings_only_teachers(run, tokenizer, run_recipe, args.seeds)
    if teachers:  # the embeddings pre-training starts from, without its ELECTRA steps
        score(EMBEDDINGS_ONLY, "embeddings-only teacher", teachers)
        measures[EMBEDDINGS_ONLY] = checkpoint_measures(None, teachers[args.seeds[0]], texts, args.seq_length)
    return scores, measures, finetuned


# The result ----------------------------------------------------------------------------------------------------------


def against_control(scores: dict[str, list[float]]) -> dict[str, dict]:
    """Each pre-trained step's paired difference from the random-init control, seed by seed (mean ± sd, wins), and
    whether it is above the control beyond noise: its mean exceeds twice the larger standard deviation over seeds of
    the point and of the control (None with one seed: no estimate of noise)."""
    if "0" not in scores:
        return {}
    return {step: paired_difference(values, scores["0"]) for step, values in scores.items() if step != "0"}


def build_result(args, argv, run_recipe: dict, folders: dict, measured: tuple, started: float) -> dict:
    scores, measures, finetuned, trivial = measured
    pretrained_steps = [step for step in args.steps if step]
    accuracy = {step: summary(values) for step, values in scores.items()}
    baselines = nsmc_baselines(args.nsmc_dir, args.train_samples, args.eval_samples, args.seeds)
    return {
        "command": command_line("learning_curve", argv),
        "settings": {**vars(args), "work_dir": str(args.work_dir), "output_dir": str(args.output_dir)},
        "recipe": run_recipe,
        "work_folder": folders["run"].name,
        "teacher_shape": args.shape,
        "task_steps": task_step_count(args),
        "checkpoint_every": run_recipe["checkpoint_every"],
        "nsmc_accuracy": accuracy,
        "against_control": against_control(scores),
        "checkpoints": measures,
        "trivial_losses": trivial,
        "pretraining_losses": {step: measure["losses"] for step, measure in measures.items()},
        "baselines": baselines,
        "crossing": crossing(
            pretrained_steps, [accuracy[str(step)]["mean"] for step in pretrained_steps], baselines["classical"]["mean"]
        ),
        "seconds": round(time.time() - started),
        # what the curve costs from scratch, even when this invocation reused finished steps
        "step_seconds": round(
            step_seconds(folders["run"]) + step_seconds(folders["tokenizer"]) + sum(map(step_seconds, finetuned))
        ),
    }


def options_text(options: dict) -> str:
    """Options as the table shows them: a path (the corpus, the task's folder) by its name, as the README's commands
    name them; the JSON keeps the path."""

    def shown(value):
        if isinstance(value, list):
            return [shown(item) for item in value]
        return Path(value).name if isinstance(value, str) and "/" in value else value

    return ", ".join(f"{key}={shown(value)}" for key, value in options.items())


def recipe_lines(result: dict) -> list[str]:
    run_recipe, settings = result["recipe"], result["settings"]
    tokenizer, trivial = run_recipe["tokenizer"], result["trivial_losses"]
    return [
        f"Recipe (work folder `{result['work_folder']}`):",
        f"- tokenizer: WordPiece, vocabulary {tokenizer['vocab_size']:,}, on the first {tokenizer['corpus_lines']:,} "
        "corpus lines;",
        f"- teacher shape: `{shape_string(result['teacher_shape'])}`;",
        f"- pre-training (run_pretraining; corpus lines: {run_recipe['corpus_lines']}): "
        f"`{options_text(run_recipe['pretraining'])}`; package defaults in force: "
        f"`{options_text(run_recipe.get('pretraining_defaults', {}))}`;",
        f"- fine-tuning (run_finetuning, per seed {', '.join(map(str, settings['seeds']))}): "
        f"`{options_text(run_recipe['finetuning'])}`;",
        f"- options given: pre-training `{options_text(settings['pretrain_options']) or 'none'}`, fine-tuning "
        f"`{options_text(settings['finetune_options']) or 'none'}`, teacher shape `{settings['teacher_shape'] or 'none'}`.",
        f"Trivial losses: the generator's, the unigram entropy of the corpus ({trivial['lines']:,} lines), "
        f"{trivial['unigram_entropy']:.3f} nats; the discriminator's, a constant prediction's, as logged.",
    ]


def accuracy_lines(result: dict) -> list[str]:
    lines = [
        "| pre-training steps | teacher NSMC accuracy | per seed | minus control (paired, mean ± sd) | above the "
        "control beyond noise |",
        "|---|---|---|---|---|",
    ]
    for step, score in result["nsmc_accuracy"].items():
        if step == "0":
            lines.append(f"| 0 (random initialisation: no pre-training) | {score_cells(score)} | (the control) | |")
            continue
        paired = result["against_control"].get(step)
        label = EMBEDDINGS_ONLY_LABEL if step == EMBEDDINGS_ONLY else f"{int(step):,}"
        difference = f"{paired['mean']:+.2f} ± {paired['stdev']:.2f}" if paired else "no control run"
        lines.append(f"| {label} | {score_cells(score)} | {difference} | {verdict(paired) if paired else ''} |")
    for kind, (label, _) in BASELINES.items():
        lines.append(f"| *{label}* | {score_cells(result['baselines'][kind])} | | |")
    return lines


def measure_lines(result: dict) -> list[str]:
    lines = [
        "| pre-training steps | training s | steps/s | RTD loss (constant) | MLM loss (unigram "
        f"{result['trivial_losses']['unigram_entropy']:.2f}) | [CLS] cosine | mean-pool cosine | token cosine | "
        "effective rank: mean-pool / [CLS] |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for step, measures in result["checkpoints"].items():
        losses, collapse = measures["losses"], measures["collapse"]
        seconds = measures["pretraining_seconds"]
        rate = measures["steps_per_second"]
        constant = f" ({losses['loss_rtd_constant']:.3f})" if losses and "loss_rtd_constant" in losses else ""
        rtd, mlm = (f"{losses['loss_rtd']:.3f}{constant}", f"{losses['loss_mlm']:.2f}") if losses else ("", "")
        label = {"0": "0 (control, first seed)", EMBEDDINGS_ONLY: EMBEDDINGS_ONLY_LABEL + ", first seed"}.get(
            step, f"{int(step):,}" if step.isdigit() else step
        )
        lines.append(
            f"| {label} | {'' if seconds is None else f'{seconds:,.0f}'} | {'' if rate is None else f'{rate:.2f}'} "
            f"| {rtd} | {mlm} | {collapse['cls_mean_cosine']:.3f} | {collapse['mean_pool_mean_cosine']:.3f} | "
            f"{collapse['token_mean_cosine']:.3f} | {collapse['mean_pool_effective_rank']:.1f} / "
            f"{collapse['cls_effective_rank']:.1f} |"
        )
    return lines


def markdown(result: dict) -> str:
    settings = result["settings"]
    seeds = ", ".join(map(str, settings["seeds"]))
    texts = next(iter(result["checkpoints"].values()))["collapse"]["texts"]
    lines = [
        f"Data: NSMC ratings_train {settings['train_samples']:,} labels / ratings_test {settings['eval_samples']:,} "
        f"reviews, seeds {seeds}; CPU scale; command: `{result['command']}`; {result['step_seconds']:,} s in all "
        f"(the steps' own times, also when reused; this invocation: {result['seconds']:,} s).",
        "",
        *recipe_lines(result),
        "",
        f"One pre-training run to {max(settings['steps']):,} steps; every checkpoint listed is fine-tuned for "
        f"{result['task_steps']} steps per seed and scored (a point at N steps is that run's checkpoint, its learning "
        "rate not yet decayed: not a run that stops at N). Accuracy (%): mean ± sd over seeds; the control is the same "
        "shape randomly initialised, one random teacher per seed; above the control beyond noise: the mean paired "
        "difference is over twice the larger sd (the point's or the control's).",
        "",
        *accuracy_lines(result),
        "",
        result["crossing"]["text"],
        "",
        f"Per checkpoint: training seconds to reach it, losses last logged before it beside their trivial values, and "
        f"the encoder's last hidden states on {texts:,} NSMC test reviews no fine-tuning scores (cosines near 1 and an "
        "effective rank near 1: collapsed).",
        "",
        *measure_lines(result),
    ]
    return "\n".join(lines) + "\n"


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = {int(step): score for step, score in result["nsmc_accuracy"].items() if step.isdigit()}
    steps = [step for step in points if step]
    means = [points[step]["mean"] for step in steps]
    sds = [points[step]["stdev"] for step in steps]
    seeds = len(result["settings"]["seeds"])
    figure, axis = plt.subplots(figsize=(6, 4))
    axis.plot(steps, means, marker="o", label=f"fine-tuned teacher (mean, ± sd over {seeds} seeds)")
    axis.fill_between(steps, [m - s for m, s in zip(means, sds)], [m + s for m, s in zip(means, sds)], alpha=0.25)
    if 0 in points:  # a log axis has no 0: the control is a line with its band
        control = points[0]
        axis.axhline(control["mean"], linestyle="-.", color="tab:red", label="same shape, no pre-training")
        axis.axhspan(control["mean"] - control["stdev"], control["mean"] + control["stdev"], color="tab:red", alpha=0.1)
    if EMBEDDINGS_ONLY in result["nsmc_accuracy"]:
        only = result["nsmc_accuracy"][EMBEDDINGS_ONLY]["mean"]
        axis.axhline(only, linestyle="-", color="tab:green", linewidth=0.8, label=EMBEDDINGS_ONLY_LABEL)
    for (kind, (label, _)), style in zip(BASELINES.items(), (":", "--")):
        axis.axhline(result["baselines"][kind]["mean"], linestyle=style, color="grey", label=label)
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


def main(argv: list[str] | None = None) -> int:
    args = parse_arguments(argv)
    started = time.time()
    run_recipe = recipe(args)
    folders = work_folders(args.work_dir, run_recipe)
    tokenizer = train_tokenizer(args, folders["tokenizer"])
    run = folders["run"]
    run_step(
        f"teacher pre-training to {max(args.steps)} steps",
        run / "pretrained",
        "pretrain-teacher",
        {"tokenizer": str(tokenizer), "output_dir": str(run / "pretrained"), **run_recipe["pretraining"]},
    )
    texts = held_out_reviews(args.nsmc_dir, args.eval_samples, args.seeds, args.collapse_texts)
    scores, measures, finetuned = score_checkpoints(args, folders, run_recipe, texts)
    trivial = generator_trivial_loss(tokenizer, run_recipe)
    result = build_result(args, argv, run_recipe, folders, (scores, measures, finetuned, trivial), started)
    result = save_results(result, args.output_dir, args.result_name, markdown)
    plot(result, args.output_dir / f"{args.result_name}.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
