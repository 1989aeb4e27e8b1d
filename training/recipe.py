"""The whole recipe as one job: tokenizer -> teacher -> distilled (low-rank) students -> fine-tune -> evaluate -> cards.

Every step is the library call behind a `kr-electra-kd` sub-command a user would run by hand (`run_pretraining`,
`run_distillation`, `run_finetuning`: the commands are thin layers over them, so the pipeline cannot drift from the
commands), with its options derived from one `PipelineArguments`; each step's line shows the equivalent command. A finished step leaves its output folder and is
skipped when the pipeline runs again, so an interrupted run resumes where it stopped.

`kr-electra-kd quickstart` runs it on the package's embedded Korean sample; `benchmarks/reproduce.py` runs it at CPU
scale on the real data and prints the paper-style table.
"""

from __future__ import annotations

import functools
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from modeling_kr_electra_kd import PRESETS, KRElectraKDConfig, check_preset
from training.corpus import DatasetArguments, dataset_options
from training.defaults import RANK_FIELDS, RECIPE_FINETUNE_LEARNING_RATE, RESULTS_FILE
from training.provenance import PACKAGE_DATA


def scaled_preset(name: str, width: float = 1.0, layers: int | None = None) -> dict:
    """A preset's shape with every width (hidden, FFN, embedding and the ranks) multiplied by `width` and, optionally,
    another layer count; heads keep ELECTRA's 64-wide heads where the width allows. Used to run the paper's shapes at
    CPU scale while keeping their proportions."""
    check_preset(name)
    if not 0 < width <= 1:
        raise ValueError(f"width must be in (0, 1], got {width}.")
    shape = dict(PRESETS[name])
    for key in ("hidden_size", "intermediate_size", "embedding_size", *RANK_FIELDS):
        if shape.get(key) is not None:
            shape[key] = max(1, round(shape[key] * width))
    shape["num_attention_heads"] = max(1, math.gcd(shape["hidden_size"], max(1, shape["hidden_size"] // 64)))
    if layers is not None:
        shape["num_hidden_layers"] = layers
    KRElectraKDConfig(**shape)  # validate now, not mid-pipeline
    return shape


@dataclass
class PipelineArguments:
    output_dir: str = field(default="quickstart_output", metadata={"help": "Where every step writes its folder."})
    corpus: list[str] | None = field(
        default=None,
        metadata={
            "help": "Unlabeled Korean text (one text a line, .txt or .gz; a folder: every such file in it) for "
            "tokenizer, teacher, distillation; or a dataset: --dataset_name. Default: the package's Korean sample."
        },
    )
    max_corpus_lines: int | None = field(default=None, metadata={"help": "Use at most this many corpus lines."})
    teacher: str | None = field(
        default=None,
        metadata={
            "help": "An existing teacher (folder or Hub id, ELECTRA/BERT or this family) with its tokenizer; "
            "skips tokenizer training and teacher pre-training."
        },
    )
    vocab_size: int = field(default=8000, metadata={"help": "Vocabulary size of the tokenizer trained on the corpus."})
    teacher_preset: str = field(default="teacher-base", metadata={"help": "Teacher shape (scaled by teacher_width)."})
    teacher_width: float = field(default=1 / 6, metadata={"help": "Width multiplier of the teacher preset."})
    teacher_layers: int | None = field(default=4, metadata={"help": "Teacher layers (None: the preset's)."})
    teacher_steps: int = field(default=600, metadata={"help": "Teacher pre-training steps."})
    student_presets: list[str] = field(
        default_factory=lambda: ["small-lf-v3"],
        metadata={
            "help": "Students to make: small-kd is distilled; small-lf-v* are factorized from small-kd when it "
            "is also listed, else distilled directly in their low-rank shape."
        },
    )
    student_width: float = field(default=0.25, metadata={"help": "Width multiplier of the student presets."})
    student_layers: int | None = field(default=4, metadata={"help": "Student layers (None: the preset's)."})
    distill_steps: int = field(default=600, metadata={"help": "Task-agnostic distillation steps per student."})
    packing: bool = field(
        default=True,
        metadata={
            "help": "Teacher pre-training and task-agnostic distillation on packed blocks of corpus texts (the "
            "commands' default); --no_packing: one text per example."
        },
    )
    batch_size: int = field(default=32, metadata={"help": "Batch size of pre-training and distillation."})
    max_seq_length: int = field(default=64, metadata={"help": "Sequence length of pre-training and distillation."})
    tasks: list[str] = field(default_factory=lambda: ["nsmc"], metadata={"help": "Tasks to fine-tune and evaluate."})
    data_dir: str | None = field(
        default=str(PACKAGE_DATA / "sample_nsmc"),
        metadata={
            "help": "Task data folder, or a parent folder holding one folder per task (the form several tasks need)."
        },
    )
    max_train_samples: int | None = field(default=None, metadata={"help": "Cap on fine-tuning examples per task."})
    max_eval_samples: int | None = field(default=None, metadata={"help": "Cap on evaluation examples per task."})
    finetune_epochs: float = field(default=3.0, metadata={"help": "Fine-tuning epochs per task."})
    finetune_learning_rate: float = field(
        default=RECIPE_FINETUNE_LEARNING_RATE, metadata={"help": "Fine-tuning learning rate."}
    )
    finetune_warmup: float = field(
        default=0.1,
        metadata={"help": "Share of the fine-tuning steps spent warming the learning rate up (small models need it)."},
    )
    seed: int = field(default=42, metadata={"help": "Seed of every step."})


class StageProgress:
    """Numbers a pipeline's steps ("[2/5] teacher: ...") and estimates the time left from the steps that finished.

    A remaining step is estimated from the finished steps of the same command (their mean time, scaled by training
    steps where known), else from the seconds per training step of every finished pre-training or distillation; a
    fine-tuning before any finished is not estimated (its step count depends on the data) and the line says so.
    """

    def __init__(self, stages: list[tuple[str, int | None]]) -> None:
        self.stages = stages  # (command, training steps or None), in the order the pipeline runs them
        self.finished: list[tuple[str, int | None, float]] = []  # (command, training steps, seconds)
        self.started = 0  # stages begun so far

    def _estimate(self, command: str, steps: int | None) -> float | None:
        same = [(n, seconds) for c, n, seconds in self.finished if c == command]
        if same:
            mean = sum(seconds for _, seconds in same) / len(same)
            known = [n for n, _ in same if n]
            return mean * steps / (sum(known) / len(known)) if steps and len(known) == len(same) else mean
        timed = [(n, seconds) for _, n, seconds in self.finished if n]
        if steps and timed:
            return steps * sum(seconds for _, seconds in timed) / sum(n for n, _ in timed)
        return None

    def begin(self, step: str) -> str:
        """'[i/N] step' for the next step, with the time this and every later step should take once one is timed."""
        self.started += 1
        label = f"[{self.started}/{len(self.stages)}] {step}"
        estimates = [self._estimate(command, steps) for command, steps in self.stages[self.started - 1 :]]
        known = [seconds for seconds in estimates if seconds is not None]
        if not known:
            return label
        untimed = ", fine-tuning not yet timed" if len(known) < len(estimates) else ""
        return f"{label} (about {_duration(sum(known))} left{untimed})"

    def finish(self, seconds: float) -> None:
        command, steps = self.stages[self.started - 1]
        self.finished.append((command, steps, seconds))


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


class StageNotRun(Exception):
    """Raised by `run_pipeline(stages=...)` at the first unfinished step of a stage it was not asked to run."""

    def __init__(self, stage: str):
        super().__init__(stage)
        self.stage = stage


def pipeline_stages(args: PipelineArguments) -> dict[str, Path]:
    """The pipeline's stages in order, each with the folder its step writes: `tokenizer` and `teacher` (unless a
    teacher is given), one per student preset, then `finetune <model> <task>` for every model and task. A stage is
    finished when its folder holds `.done` (written by `run_step`)."""
    root = Path(args.output_dir)
    stages = {} if args.teacher is not None else {"tokenizer": root / "tokenizer", "teacher": root / "teacher"}
    stages.update({preset: root / "students" / preset for preset in args.student_presets})
    for model in ["teacher", *args.student_presets]:
        stages.update({f"finetune {model} {task}": root / "finetuned" / f"{model}-{task}" for task in args.tasks})
    return stages


def _library_steps() -> dict[str, Callable[..., object]]:
    """The library call behind each sub-command a step runs by name, taking the command's options as keywords
    (imported when a step runs: they pull in torch and transformers)."""
    from training.conversion import run_conversion
    from training.distillation.run import run_distillation
    from training.evaluation import run_evaluation
    from training.finetuning import run_finetuning
    from training.pretraining import run_pretraining

    return {
        "pretrain-teacher": run_pretraining,
        "distill": run_distillation,
        "finetune": run_finetuning,
        "evaluate": run_evaluation,
        "convert": run_conversion,
    }


def command_line(command: str, options: dict) -> str:
    """The `kr-electra-kd` command line equivalent to a library step (shown in its progress line, so the step can be
    rerun by hand); a list is several values of one flag, True a bare flag, False its `--no_` form."""
    words = ["kr-electra-kd", command]
    for name, value in options.items():
        if value is True:
            words.append(f"--{name}")
        elif value is False:
            words.append(f"--no_{name}")
        else:
            words += [f"--{name}", *map(str, value if isinstance(value, list) else [value])]
    return " ".join(words)


def run_step(
    step: str,
    output: Path,
    command: str | Callable[[], object],
    options: dict | None = None,
    progress: StageProgress | None = None,
) -> Path:
    """Run one step unless its output is complete (a finished step); fail loudly if it fails. `command` is a call (a
    function of no arguments) or the name of a sub-command whose library call (`_library_steps`) runs with `options`
    as keywords; bad input to it raises RuntimeError naming the step."""
    stage = progress.begin(step) if progress else f"[{step}]"
    done = output / ".done"
    if done.exists():
        print(f"{stage} already done: {output}")
        if progress:
            progress.finish(float(done.read_text()))  # its time when it ran: a resumed run's estimate uses it
        return output
    shown = command_line(command, options or {}) if isinstance(command, str) else f"writing {output}"
    print(f"{stage}: {shown}", flush=True)
    started = time.time()
    call = command if callable(command) else functools.partial(_library_steps()[command], **(options or {}))
    try:
        call()
    except (RuntimeError, ValueError) as error:
        raise RuntimeError(f"step {step!r} failed: {error}") from None
    seconds = time.time() - started
    done.parent.mkdir(parents=True, exist_ok=True)
    done.write_text(f"{seconds:.1f}\n")
    if progress:
        progress.finish(seconds)
        print(f"[{progress.started}/{len(progress.stages)}] {step} done in {_duration(seconds)}", flush=True)
    return output


def step_seconds(output_dir: str | Path) -> float:
    """Total time the finished steps under `output_dir` took when they ran (each `.done` written by `run_step` holds
    its step's seconds): what a pipeline costs, even when this invocation reused every step."""
    return sum(float(done.read_text()) for done in Path(output_dir).rglob(".done"))


def shape_string(shape: dict) -> str:
    return ",".join(f"{key}={value}" for key, value in shape.items())


def task_data_dir(args: PipelineArguments, task_name: str) -> str | None:
    """Several tasks: `data_dir` holds one folder per task, named as in the task registry's `data_folder`
    (kohate-binary and kohate-bias read kohate/). One task: `data_dir` is its folder, or a parent holding that folder,
    so the same data root serves one task or several."""
    if args.data_dir is None:
        return None
    from training.tasks import get_task

    task_folder = Path(args.data_dir) / get_task(task_name).data_folder
    if len(args.tasks) == 1 and not task_folder.is_dir():
        return args.data_dir
    return str(task_folder)


def check_pipeline_lengths(args: PipelineArguments) -> None:
    """--max_seq_length against the teacher's positions (the given teacher's config, or the preset's), before any
    step runs: a step would otherwise fail only after the ones before it have trained."""
    from training.arguments import check_length

    if args.teacher is None:
        limit = KRElectraKDConfig(**scaled_preset(args.teacher_preset)).max_position_embeddings
    else:
        from training.loading import load_config

        limit = load_config(args.teacher, "--teacher").max_position_embeddings
    check_length("--max_seq_length", args.max_seq_length, limit, "the teacher's")


@dataclass
class _PipelineRun:
    """What every step of one `run_pipeline` call shares: the arguments, each stage's folder, the options common to
    the training steps, and which stages may run (None: all)."""

    args: PipelineArguments
    folders: dict[str, Path]
    stages: set[str] | None
    progress: StageProgress
    dataset: DatasetArguments | None = None  # the --dataset_name corpus, if any

    def step(self, stage: str, step: str, output: Path, command: str | Callable[[], object], options=None) -> Path:
        if self.stages is not None and stage not in self.stages and not (output / ".done").exists():
            raise StageNotRun(stage)
        return run_step(step, output, command, options, self.progress)

    def corpus_files(self) -> list[str] | None:
        """--corpus, or the package's sample when neither --corpus nor --dataset_name is given."""
        if self.args.corpus or dataset_options(self.dataset):
            return list(self.args.corpus) if self.args.corpus else None
        return [str(PACKAGE_DATA / "sample_corpus.txt")]

    def corpus_options(self) -> dict:
        files = self.corpus_files()
        options: dict = {"corpus": files} if files else {}
        options |= dataset_options(self.dataset)
        if self.args.max_corpus_lines:
            options["max_corpus_lines"] = self.args.max_corpus_lines
        return options

    def common_options(self) -> dict:
        """The options every training step (pre-training, distillation) shares."""
        args = self.args
        common = {"seed": args.seed, "report_to": "none", "save_steps": 200, "save_total_limit": 1}
        return {**common, "per_device_train_batch_size": args.batch_size, "logging_steps": 50}


def _planned_steps(args: PipelineArguments) -> list[tuple[str, int | None]]:
    """(command, steps) of every step in order, for the progress lines' estimate."""
    planned = [("train-tokenizer", None), ("pretrain-teacher", args.teacher_steps)] if args.teacher is None else []
    planned += [("distill", args.distill_steps)] * len(args.student_presets)
    return planned + [("finetune", None)] * ((1 + len(args.student_presets)) * len(args.tasks))


def _train_teacher(run: _PipelineRun) -> str:
    """Steps 1-2: the tokenizer and the teacher pre-trained with it; returns the teacher folder (or the given one)."""
    args = run.args
    if args.teacher is not None:
        return args.teacher
    tokenizer_dir = run.folders["tokenizer"]
    from training.tokenizer import train_tokenizer_from_corpus

    run.step("tokenizer", "tokenizer", tokenizer_dir, lambda: train_tokenizer_from_corpus(
        run.corpus_files(), tokenizer_dir, args.vocab_size, max_lines=args.max_corpus_lines,
        dataset=run.dataset))  # fmt: skip
    teacher_dir = run.folders["teacher"]
    teacher_shape = scaled_preset(args.teacher_preset, args.teacher_width, args.teacher_layers)
    options = {**run.corpus_options(), "tokenizer": str(tokenizer_dir), "preset": args.teacher_preset}
    options |= {"shape": shape_string(teacher_shape), "output_dir": str(teacher_dir)}
    options |= {"max_steps": args.teacher_steps, "max_seq_length": args.max_seq_length, **run.common_options()}
    if not args.packing:
        options["packing"] = False
    run.step("teacher", "teacher", teacher_dir, "pretrain-teacher", options)
    return str(teacher_dir)


def _distill_students(run: _PipelineRun, teacher: str) -> dict[str, dict]:
    """Step 3: small-kd is distilled; low-rank students are factorized from it by SVD and distilled again when it is in
    the list (the paper's recipe), otherwise distilled directly in their low-rank shape."""
    args = run.args
    dense_dir = Path(args.output_dir) / "students" / "small-kd"
    students = {}
    for preset in args.student_presets:
        shape = scaled_preset(preset, args.student_width, args.student_layers)
        student_dir = run.folders[preset]
        options = {"teacher": teacher, "student_preset": preset, "student_shape": shape_string(shape)}
        options |= {**run.corpus_options(), "output_dir": str(student_dir), "max_seq_length": args.max_seq_length}
        options |= {"max_steps": args.distill_steps, **run.common_options()}
        if not args.packing:
            options["packing"] = False
        if preset != "small-kd" and "small-kd" in args.student_presets:
            options["student_init"] = str(dense_dir)
        run.step(preset, f"distill {preset}", student_dir, "distill", options)
        students[preset] = {"path": str(student_dir), "preset": preset, "shape": shape}
    return students


def finetune_options(args: PipelineArguments, model_path: str, task_name: str, output: Path) -> dict:
    """The options of the pipeline's fine-tuning of `model_path` on `task_name` into `output` (`run_finetuning`'s)."""
    options = {"model": model_path, "task": task_name, "output_dir": str(output)}
    data_dir = task_data_dir(args, task_name)
    if data_dir is not None:
        options["data_dir"] = data_dir
    if args.max_train_samples:
        options["max_train_samples"] = args.max_train_samples
    if args.max_eval_samples:
        options["max_eval_samples"] = args.max_eval_samples
    options |= {
        "num_train_epochs": args.finetune_epochs,
        "learning_rate": args.finetune_learning_rate,
        "warmup_steps": args.finetune_warmup,
    }
    return options | {"seed": args.seed, "report_to": "none", "logging_steps": 50, "baselines": True}


def _finetune_all(run: _PipelineRun, models: dict[str, dict]) -> None:
    """Step 4: fine-tune and evaluate every model on every task; each model's `results` maps task -> results.json."""
    for name, model in models.items():
        model["results"] = {}
        for task_name in run.args.tasks:
            step = f"finetune {name} {task_name}"
            output = run.folders[step]
            run.step(step, step, output, "finetune", finetune_options(run.args, model["path"], task_name, output))
            model["results"][task_name] = json.loads((output / RESULTS_FILE).read_text(encoding="utf-8"))
            model["results"][task_name]["model_dir"] = str(output)


def run_pipeline(
    args: PipelineArguments, stages: set[str] | None = None, dataset: DatasetArguments | None = None
) -> dict:
    """Run every step (skipping finished ones) and return {"models": {name: {...}}, "tasks": [...]}. With `stages`
    (names from `pipeline_stages`), run only those stages' steps: a finished step of another stage is reused, and the
    first unfinished one raises `StageNotRun` naming its stage. `dataset`: a `datasets` corpus (--dataset_name)
    instead of --corpus for the tokenizer, the teacher and the students."""
    check_pipeline_lengths(args)
    run = _PipelineRun(args, pipeline_stages(args), stages, StageProgress(_planned_steps(args)), dataset)
    if args.corpus and dataset_options(dataset):
        raise ValueError("Give either --corpus (text files) or --dataset_name (a `datasets` dataset), not both.")
    teacher = _train_teacher(run)
    models = {"teacher": {"path": teacher, "preset": args.teacher_preset}, **_distill_students(run, teacher)}
    _finetune_all(run, models)
    return {"models": models, "tasks": list(args.tasks)}


def write_cards(summary: dict) -> list[Path]:
    """A model card for every fine-tuned student, from its results and the teacher's on the same tasks."""
    from training.model_card import write_model_card

    written = []
    teacher = summary["models"]["teacher"]
    for name, model in summary["models"].items():
        if name == "teacher":
            continue
        for task, result in model["results"].items():
            folder = Path(result["model_dir"])
            write_model_card(
                folder,
                results=[folder / RESULTS_FILE],
                teacher_results=[Path(teacher["results"][task]["model_dir"]) / RESULTS_FILE],
                teacher=teacher["path"],
                distillation=Path(model["path"]) / "distillation.json",
            )
            written.append(folder / "README.md")
    return written


def print_summary(summary: dict) -> None:
    """The scores of every model on every task, its retention of the teacher's, and the baselines' rows."""
    tasks = summary["tasks"]
    teacher = summary["models"]["teacher"]["results"]
    print("\n| model | " + " | ".join(tasks) + " | retention of teacher |")
    print("|---|" + "---|" * (len(tasks) + 1))
    for name, model in summary["models"].items():
        scores = [model["results"][task]["metrics"][model["results"][task]["primary_metric"]] for task in tasks]
        teacher_scores = [teacher[task]["metrics"][teacher[task]["primary_metric"]] for task in tasks]
        retention = 100 * sum(scores) / max(sum(teacher_scores), 1e-9)
        print(f"| {name} | " + " | ".join(f"{score:.1f}" for score in scores) + f" | {retention:.1f}% |")
    # What each task scores without a neural model on the same rows (finetune --baselines, as the pipeline runs it).
    for kind in ("trivial", "classical") if all("baselines" in teacher[task] for task in tasks) else ():
        cells = [teacher[task]["baselines"][kind]["metrics"][teacher[task]["primary_metric"]] for task in tasks]
        print(f"| *{kind} baseline* | " + " | ".join(f"{score:.1f}" for score in cells) + " | |")
