"""One whole distillation from its settings: the distill command's rules, as a library.

- the `generator/` folder beside a teacher is its generator for `--corrupt_inputs` (`generator_source`);
- `--max_seq_length` is checked against the positions of teacher and student from their configs alone;
- a transfer corpus fits single-text tasks only;
- teacher, tokenizer, generator and student are loaded and checked together (`load_models`);
- with the teacher-output cache on, the corpus is read unshuffled and finite (the cache is keyed by position);
- the collator follows the mode (masking for --corrupt_inputs, padding, the task's);
- `distillation.json` beside the student records how it was made (training/model_card.py reads it).

`prepare_distillation` does every check and builds the trainer; `Distillation.train` and `Distillation.save` run and
save it. `run_distillation(**options)` does all three from keyword arguments named as the command's options:

    run_distillation(teacher="teacher", corpus=["corpus.txt"], student_preset="small-lf-v3", max_steps=800,
                     output_dir="student")
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from datasets import Dataset, concatenate_datasets
from transformers import DataCollatorWithPadding, PreTrainedModel, PreTrainedTokenizerBase, TrainingArguments

from modeling_kr_electra_kd import PRESETS, KRElectraKDPreTrainedModel
from training.arguments import check_length, check_model_source, check_output_dir, overwrite_field, split_options
from training.corpus import (
    DatasetArguments,
    corpus_source,
    dataset_options,
    read_corpus,
    streamed_corpus,
    tokenized_corpus,
)
from training.defaults import BUILT_STUDENT_INITS, MLM_PROBABILITY
from training.distillation.config import DistillationConfig
from training.distillation.losses import REPLACED_TOKEN_DETECTION
from training.distillation.students import build_student, load_generator
from training.distillation.trainer import DistillationTrainer
from training.electra_objective import masking_collator
from training.embedding_init import (
    embedding_init_field,
    embedding_init_lines_field,
    embedding_init_std_field,
    embedding_init_window_field,
    initialise_embeddings,
)
from training.evaluation import data_collator_for
from training.loading import load_config, load_model, load_tokenizer
from training.outputs import atomic_output, bytes_of, output_run
from training.provenance import portable_path
from training.tasks import get_task, load_task_data, single_text_tasks, tokenize_dataset
from training.tokenizer import check_same_vocabulary, check_tokenizer_matches_config, save_tokenizer
from training.trainer_common import (
    PRETRAINING_DEFAULTS,
    TrainTimer,
    max_train_seconds_field,
    parse_shape,
    resume_checkpoint,
    train_or_restore,
)

# Trainer defaults of a distillation (the command's and run_distillation's). The teacher needs every input column,
# which the student wrapper's signature does not list.
DISTILL_DEFAULTS = {**PRETRAINING_DEFAULTS, "remove_unused_columns": False}
RECORD_FILE = "distillation.json"


@dataclass
class DistillArguments:
    teacher: str = field(
        metadata={"help": "Teacher folder or Hub id (this family, ELECTRA or BERT) with its tokenizer."}
    )
    student_preset: str = field(default="small-kd", metadata={"help": f"Student shape: {', '.join(PRESETS)}."})
    student_shape: str | None = field(
        default=None, metadata={"help": "Overrides of the student preset, e.g. 'hidden_size=128,num_hidden_layers=4'."}
    )
    student_init: str = field(
        default="random",
        metadata={
            "help": "random | teacher-layers | a trained student's folder or Hub id (SVD-converted to the "
            "preset's ranks when they differ)."
        },
    )
    embedding_init: str = embedding_init_field(
        "random",
        "Here: the token embeddings of a student distilled from random initialisation (--student_init random, "
        "task-agnostic), at its embedding width (or embedding_rank); the teacher's start, measured for students by "
        "benchmarks/ablation.py.",
    )
    embedding_init_lines: int = embedding_init_lines_field()
    embedding_init_std: float = embedding_init_std_field()
    embedding_init_window: int = embedding_init_window_field()
    student_tokenizer: str | None = field(
        default=None, metadata={"help": "The student's tokenizer, if not the teacher's; it must equal the teacher's."}
    )
    corpus: list[str] | None = field(
        default=None,
        metadata={
            "help": "Unlabeled text files (one text per line, .txt or .gz) or folders of them for task-agnostic "
            "distillation; streamed, never loaded whole. Or a dataset: --dataset_name."
        },
    )
    max_corpus_lines: int | None = field(default=None, metadata={"help": "Use at most this many corpus lines."})
    task: str | None = field(default=None, metadata={"help": "Task-specific distillation on this task instead."})
    data_dir: str | None = field(default=None, metadata={"help": "The task's local data folder (default: the Hub)."})
    max_train_samples: int | None = field(default=None, metadata={"help": "Cap on the task's training examples."})
    transfer_corpus: list[str] | None = field(
        default=None,
        metadata={
            "help": "Unlabeled texts of the task's kind, labelled by the teacher (single-text tasks: nsmc, "
            "kohate*, ner)."
        },
    )
    max_seq_length: int = field(
        default=128,
        metadata={"help": "Inputs are truncated to this many tokens (the length of the packed corpus blocks)."},
    )
    packing: bool = field(
        default=True,
        metadata={
            "help": "Task-agnostic: join consecutive corpus texts into full blocks; --no_packing: one text each."
        },
    )
    corrupt_inputs: bool = field(
        default=False,
        metadata={
            "help": "Task-agnostic: teacher and student read ELECTRA-corrupted text (an ELECTRA generator resamples "
            "--mlm_probability of the tokens), where the teacher's replaced-token head has something to teach; on "
            "clean text its soft-target KL is about 1e-3."
        },
    )
    generator: str | None = field(
        default=None,
        metadata={
            "help": "The ELECTRA generator (masked LM) for --corrupt_inputs: folder or Hub id. Default: the "
            "teacher folder's generator/ (written by pretrain-teacher)."
        },
    )
    mlm_probability: float = field(
        default=MLM_PROBABILITY, metadata={"help": "Share of tokens --corrupt_inputs resamples."}
    )
    max_train_seconds: float | None = max_train_seconds_field()
    overwrite_output_dir: bool = overwrite_field()


def generator_source(args: DistillArguments) -> str:
    """The folder or Hub id --corrupt_inputs samples from, checked before anything is loaded."""
    if args.task is not None:
        raise ValueError("--corrupt_inputs is for task-agnostic distillation (--corpus), not --task.")
    source = args.generator
    if source is None:
        beside = Path(args.teacher) / "generator"
        if not (beside / "config.json").is_file():
            raise ValueError(
                f"--corrupt_inputs needs a generator and the teacher has none at {beside}: pass --generator (a folder "
                "or Hub id, e.g. the ELECTRA generator released with the teacher)."
            )
        source = str(beside)
    check_model_source(source, "--generator")
    return source


def check_max_seq_length(args: DistillArguments) -> None:
    """--max_seq_length against the positions of the teacher and of the student (the teacher's, unless --student_shape
    or a --student_init folder says otherwise), read from their configs only."""
    limits = [("the teacher's", load_config(args.teacher, "--teacher").max_position_embeddings)]
    if args.student_init not in BUILT_STUDENT_INITS:
        limits.append(("the student's", load_config(args.student_init, "--student_init").max_position_embeddings))
    shape = parse_shape(args.student_shape)
    if shape.get("max_position_embeddings") is not None:
        limits.append(("the student's", shape["max_position_embeddings"]))
    whose, limit = min(limits, key=lambda item: item[1])
    check_length("--max_seq_length", args.max_seq_length, limit, whose)


def _task_datasets(args: DistillArguments, task, tokenizer, seed: int) -> Dataset:
    # the same seeded subset as `kr-electra-kd finetune --seed` draws, so the two can be compared example for example
    data = load_task_data(task, data_dir=args.data_dir, max_train_samples=args.max_train_samples, seed=seed)
    train = tokenize_dataset(task, data["train"], tokenizer, args.max_seq_length)
    if not args.transfer_corpus:
        return train
    if not task.single_text:
        raise ValueError(
            f"--transfer_corpus takes plain texts, which fit single-text tasks ({', '.join(single_text_tasks())}), "
            f"not {task.name}."
        )
    # The teacher labels the transfer texts; with them in the mix only the teacher-based loss parts apply.
    transfer = tokenized_corpus(read_corpus(args.transfer_corpus), tokenizer, args.max_seq_length)
    keep = [column for column in ("input_ids", "token_type_ids", "attention_mask") if column in train.column_names]
    return concatenate_datasets([train.select_columns(keep), transfer.select_columns(keep)])


def _portable_init(student_init: str, output_dir: Path) -> str:
    """--student_init as distillation.json records it: a keyword, a Hub id, or a path relative to the output folder."""
    return student_init if student_init in BUILT_STUDENT_INITS else portable_path(student_init, output_dir)


def check_arguments(
    args: DistillArguments, distillation: DistillationConfig, output_dir: Path, dataset: DatasetArguments | None = None
) -> tuple:
    """Every check that needs no weights; returns the task (None: task-agnostic), the generator source for
    --corrupt_inputs (None without) and the corpus source (None with --task)."""
    check_output_dir(output_dir, args.overwrite_output_dir)
    check_model_source(args.teacher, "--teacher")
    if args.student_init not in BUILT_STUDENT_INITS:
        check_model_source(args.student_init, "--student_init")
    corpus_flag = "--dataset_name" if dataset_options(dataset) else "--corpus" if args.corpus is not None else None
    if (corpus_flag is None) == (args.task is None):
        raise ValueError(
            "Give exactly one of --corpus or --dataset_name (task-agnostic) or --task (task-specific distillation)."
        )
    if args.embedding_init != "random" and (args.task is not None or args.student_init != "random"):
        given = f"--task {args.task}" if args.task is not None else f"--student_init {args.student_init}"
        raise ValueError(
            f"--embedding_init {args.embedding_init} starts a randomly initialised student's token embeddings from "
            f"the --corpus, so it does not combine with {given}: drop one of them."
        )
    distillation.validate(corrupted_inputs=args.corrupt_inputs)
    distillation.check_labels(
        corpus_flag if args.task is None else "--transfer_corpus" if args.transfer_corpus else None
    )
    generator_from = generator_source(args) if args.corrupt_inputs else None
    task = get_task(args.task) if args.task is not None else None
    check_max_seq_length(args)  # from the configs alone, before any weights are read
    source = corpus_source(args.corpus, dataset) if task is None else None
    return task, generator_from, source


@dataclass
class Models:
    """What `load_models` returns: the teacher with its tokenizer, the student, and the generator if any."""

    teacher: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    student: KRElectraKDPreTrainedModel
    init_note: dict
    generator: KRElectraKDPreTrainedModel | None


def load_models(args: DistillArguments, task, generator_from: str | None, seed: int) -> Models:
    """Teacher (checked against --task and its tokenizer), generator, and the student built from --student_init."""
    head = task.head if task is not None else "pretraining"
    tokenizer = load_tokenizer(args.teacher, "--teacher")
    if args.student_tokenizer:
        check_same_vocabulary(tokenizer, load_tokenizer(args.student_tokenizer, "--student_tokenizer"))
    teacher = load_model(args.teacher, head=head, flag="--teacher")
    if task is not None and getattr(teacher.config, "finetuning_task", task.name) != task.name:
        raise ValueError(
            f"The teacher was fine-tuned on {teacher.config.finetuning_task}, not {task.name}: fine-tune it on "
            f"{task.name} first (`kr-electra-kd finetune --task {task.name}`)."
        )
    check_tokenizer_matches_config(tokenizer, teacher.config)
    generator = load_generator(generator_from, teacher.config) if generator_from else None
    torch.manual_seed(seed)
    student, init_note = build_student(
        teacher, tokenizer, head, task, args.student_preset, args.student_shape, args.student_init
    )
    if args.student_init not in BUILT_STUDENT_INITS:
        try:
            student_tokenizer = load_tokenizer(args.student_init, "--student_init")
        except ValueError:
            student_tokenizer = None  # the student folder has no tokenizer of its own: it gets the teacher's
        if student_tokenizer is not None:
            check_same_vocabulary(tokenizer, student_tokenizer)
    return Models(teacher, tokenizer, student, init_note, generator)


def build_train_data(args: DistillArguments, distillation: DistillationConfig, task, tokenizer, seed: int, source=None):
    """The training set: the streamed corpus `source` (task-agnostic) or the task's data (+ transfer texts), indexed
    for the teacher cache when it is on."""
    if task is not None:
        train = _task_datasets(args, task, tokenizer, seed)
        if distillation.cache_teacher_outputs:
            train = train.add_column("example_index", list(range(len(train))))
        return train
    # Unshuffled with the teacher cache: it is keyed by position, which must hold the same block each epoch.
    # Endless (one epoch to max_steps, exact resume) except with the cache, whose keys must recur each pass.
    train = streamed_corpus(
        source,
        tokenizer,
        args.max_seq_length,
        args.max_corpus_lines,
        args.packing,
        None if distillation.cache_teacher_outputs else seed,
        endless=not distillation.cache_teacher_outputs,
    )
    if distillation.cache_teacher_outputs:
        train = train.map(lambda _, indices: {"example_index": indices}, with_indices=True, batched=True)
    return train


def pick_collator(args: DistillArguments, task, tokenizer, corrupting: bool):
    """Masking for --corrupt_inputs, padding for plain corpus blocks, the task's collator (None: QA windows come
    padded)."""
    if task is None:
        return masking_collator(tokenizer, args.mlm_probability) if corrupting else DataCollatorWithPadding(tokenizer)
    if task.kind == "question-answering":
        return None
    return data_collator_for(task, tokenizer)


def _dataset_record(dataset: DatasetArguments | None, output_dir: Path) -> dict | None:
    """The --dataset_name options as distillation.json records them (a local dataset relative to the output)."""
    options = dataset_options(dataset)
    if not options:
        return None
    return {**options, "dataset_name": portable_path(options["dataset_name"], output_dir)}


def distillation_record(
    args: DistillArguments,
    distillation: DistillationConfig,
    trainer: DistillationTrainer,
    models: Models,
    output_dir,
    dataset: DatasetArguments | None = None,
) -> dict:
    """distillation.json: how the student was made, with paths relative to the output folder (or Hub ids), since
    the record is published with the student."""
    losses = [entry for entry in trainer.state.log_history if "loss" in entry]
    return {
        "teacher": portable_path(args.teacher, output_dir),
        "student_preset": args.student_preset,
        "student_shape": parse_shape(args.student_shape),
        "student_init": {**models.init_note, "init": _portable_init(args.student_init, output_dir)},
        "embedding_init": args.embedding_init,
        "mode": "task-agnostic" if args.task is None else "task-specific",
        "corrupted_inputs": models.generator is not None,
        "corpus": [portable_path(path, output_dir) for path in args.corpus or []] or None,
        "dataset": _dataset_record(dataset, output_dir),
        "task": args.task,
        "transfer_corpus": [portable_path(path, output_dir) for path in args.transfer_corpus or []] or None,
        "steps": trainer.state.global_step,
        "loss_weights": distillation.weights(),
        "temperature": distillation.temperature,
        "layer_map": trainer.layer_map,
        "first_loss": losses[0] if losses else None,
        "last_loss": losses[-1] if losses else None,
        "parameters": sum(p.numel() for p in models.student.parameters()),
        "distillation_config": asdict(distillation),
    }


def write_student(
    args, distillation, trainer: DistillationTrainer, models: Models, output_dir: Path, dataset=None
) -> None:
    """The Hub-ready student folder: model, tokenizer and distillation.json, moved into place once complete."""
    with atomic_output(output_dir, needed=bytes_of(models.student)) as staging:
        models.student.save_pretrained(staging)
        save_tokenizer(models.tokenizer, staging)
        record = distillation_record(args, distillation, trainer, models, output_dir, dataset)
        (staging / RECORD_FILE).write_text(json.dumps(record, indent=2, ensure_ascii=False), encoding="utf-8")
    print(f"Saved the student to {output_dir}.")


@dataclass
class Distillation:
    """A distillation ready to train: what `prepare_distillation` checked, loaded and built."""

    args: DistillArguments
    distillation: DistillationConfig
    output_dir: Path
    models: Models
    trainer: DistillationTrainer
    resume_from: str | None  # the checkpoint training continues from, if any
    dataset: DatasetArguments | None = None  # the --dataset_name corpus, if any

    def train(self) -> int | None:
        """Train (from the last checkpoint in output_dir/checkpoints when there is one); None when it ran to its end,
        or the exit status of the signal that stopped it with a checkpoint (training.interrupts). A bad line deep in a
        streamed corpus is met only here (training.corpus.CorpusError)."""
        return train_or_restore(self.trainer, self.resume_from)

    def save(self) -> Path:
        """The Hub-ready student folder with distillation.json (written by the main process only); its path."""
        if self.trainer.is_world_process_zero():
            write_student(self.args, self.distillation, self.trainer, self.models, self.output_dir, self.dataset)
        return self.output_dir


def prepare_distillation(
    args: DistillArguments,
    distillation: DistillationConfig,
    training_args: TrainingArguments,
    dataset: DatasetArguments | None = None,
) -> Distillation:
    """Every check, the models, the data (--corpus files, the `dataset` or the task's) and the trainer; training_args.output_dir is the student's folder (its
    checkpoints go to output_dir/checkpoints). Bad input raises ValueError (or OSError) before any training."""
    output_dir = Path(training_args.output_dir)
    training_args.output_dir = str(output_dir / "checkpoints")
    task, generator_from, source = check_arguments(args, distillation, output_dir, dataset)
    models = load_models(args, task, generator_from, training_args.seed)
    if source is not None:  # task-agnostic: the student's embeddings start as --embedding_init says
        initialise_embeddings(models.student, models.tokenizer, args, source)
    trainer = DistillationTrainer(
        model=models.student,
        teacher=models.teacher,
        distillation=distillation,
        head=task.kind if task is not None else REPLACED_TOKEN_DETECTION,  # task kinds are head kinds
        args=training_args,
        train_dataset=build_train_data(args, distillation, task, models.tokenizer, training_args.seed, source),
        data_collator=pick_collator(args, task, models.tokenizer, models.generator is not None),
        processing_class=models.tokenizer,
        generator=models.generator,
        callbacks=[TrainTimer(args.max_train_seconds)],
    )
    last = resume_checkpoint(training_args.output_dir, models.student.config)
    trainer.check_resumable(last)
    return Distillation(args, distillation, output_dir, models, trainer, last, dataset)


def run_distillation(**options) -> Path:
    """One whole distillation, from keyword arguments named as the distill command's options (`teacher`,
    `output_dir`, `corpus`, `dataset_name` or `task`, the `weight_<loss>` options, any TrainingArguments field, ...), with the
    command's defaults; returns the student's folder. Runs in its own `output_run` (the output folder is locked until
    it returns). Bad input raises ValueError (the command's one-line errors); a run stopped by SIGTERM/SIGINT saves its
    checkpoint and raises SystemExit with the signal's exit status."""
    own, loss, dataset, trainer = split_options(
        options, (DistillArguments, DistillationConfig, DatasetArguments, TrainingArguments), "distillation"
    )
    training_args = TrainingArguments(**{**DISTILL_DEFAULTS, **trainer})
    with output_run():
        run = prepare_distillation(
            DistillArguments(**own), DistillationConfig(**loss), training_args, DatasetArguments(**dataset)
        )
        stopped = run.train()
        if stopped is not None:  # SIGTERM/SIGINT: the checkpoint is written and the line printed; the process ends
            raise SystemExit(stopped)
        return run.save()
