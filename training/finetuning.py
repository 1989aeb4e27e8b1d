"""Fine-tuning on one Korean task, the library behind `kr-electra-kd finetune`.

`prepare_finetuning` checks the input, loads the data, the model and its tokenizer and builds the trainer (resuming
from the newest complete checkpoint in the output folder); `Finetuning.train` trains and `Finetuning.save` writes the
model with results.json, both moved into place together once complete. `run_finetuning(**options)` does all three
from keyword arguments named as the command's options, with its defaults:

    run_finetuning(model="runs/student", task="nsmc", data_dir="nsmc/", max_train_samples=3000)

What fine-tuning shares with evaluation (the task model, the tokenizer check, scoring, the results file) is
training/evaluation.py.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase, Trainer, TrainingArguments, set_seed

from modeling_kr_electra_kd import CLASSIFIER_POOLINGS
from modeling_kr_electra_kd.pipeline_kr_electra_kd import default_doc_stride
from training.arguments import check_output_dir, overwrite_field, split_options
from training.defaults import FINETUNE_LEARNING_RATE, RESULTS_FILE
from training.evaluation import (
    DataArguments,
    check_classifier_pooling,
    check_labels,
    check_tokenizer,
    data_collator_for,
    load_task_model,
    resolve_max_seq_length,
    score,
    write_results,
)
from training.learning_rates import ScaledLearningRatesMixin
from training.loading import load_config, load_tokenizer
from training.outputs import atomic_output, bytes_of, output_run
from training.provenance import portable_path
from training.task_baselines import data_baselines
from training.tasks import (
    QUESTION_ANSWERING,
    TASKS,
    Task,
    TaskDatasetDict,
    build_compute_metrics,
    get_task,
    load_task_data,
    tokenize_dataset,
)
from training.tokenizer import make_tokenizer_config_portable
from training.trainer_common import device_trainer_defaults, resume_checkpoint, train_or_restore

# Defaults of Trainer's own options for fine-tuning (the command's and run_finetuning's; all overridable).
TRAINING_DEFAULTS = {
    "learning_rate": FINETUNE_LEARNING_RATE,
    "num_train_epochs": 3.0,
    "per_device_train_batch_size": 32,
    "per_device_eval_batch_size": 64,
    "warmup_steps": 0.1,  # a float below 1 is a share of the total steps
    "save_strategy": "epoch",
    "save_total_limit": 1,
    "logging_steps": 50,
    "report_to": "none",
    **device_trainer_defaults(),  # pinned memory only with a GPU; bf16 and the fused AdamW on one
}


# The command's arguments live here, not in training/commands/finetune.py: `run_finetuning` builds them from keyword
# options with their defaults, and a library may not import a command.
@dataclass
class FinetuneArguments:
    model: str = field(
        metadata={
            "help": "Model to fine-tune: a folder or Hub id of this family (pre-trained or distilled), or a stock "
            "ELECTRA/BERT checkpoint (converted on load)."
        }
    )
    task: str = field(
        metadata={
            "help": f"Korean task: {', '.join(TASKS)}. kohate is the 3-class hate label (macro-F1, as the Korean "
            "benchmarks report); kohate-binary is hate+offensive vs none (as the paper frames it); kohate-bias the "
            "bias label. `kr-electra-kd tasks` lists them."
        }
    )
    tokenizer: str | None = field(
        default=None, metadata={"help": "Tokenizer folder or Hub id, when the model folder has none."}
    )
    max_train_samples: int | None = field(
        default=None, metadata={"help": "Train on a seeded random subset of this many examples (default: all)."}
    )
    keep_checkpoints: bool = field(
        default=False, metadata={"help": "Keep the Trainer checkpoints in --output-dir after a finished run."}
    )
    baselines: bool = field(
        default=False,
        metadata={
            "help": "Also score the task's trivial and classical baselines (majority class, TF-IDF + logistic "
            "regression, ...: training/task_baselines.py) on the same rows, into results.json and the model card."
        },
    )
    layerwise_lr_decay: float = field(
        default=1.0,
        metadata={
            "help": "ELECTRA's layer-wise learning-rate decay D in (0, 1] (Clark et al., 2020): the task head trains "
            "at --learning_rate, encoder layer i of L at learning_rate * D**(L - i), the embeddings at "
            "learning_rate * D**(L + 1), so the lower, more general layers move least. 1.0: off by default: at 0.8 "
            "a small CPU-trained teacher scored lower on NSMC (benchmarks/results/pretraining_levers.md)."
        },
    )
    reinit_top_layers: int = field(
        default=0,
        metadata={
            "help": "Re-initialise the top N encoder layers (the model's own initialisation, from the run's seed) "
            "before fine-tuning: the top layers of a pre-trained model are the most specialised to its pre-training "
            "task and can hurt fine-tuning (Zhang et al., 2021, Revisiting Few-sample BERT Fine-tuning). 0: off by "
            "default: N=1 changed no NSMC score beyond noise (benchmarks/results/pretraining_levers.md)."
        },
    )
    classifier_pooling: str | None = field(
        default=None,
        metadata={
            "help": "What a sentence task's head reads: cls (the first token's last hidden state, ELECTRA's) or mean "
            "(the mean of every non-padding token's). Default: the model's own config (cls unless saved with mean). "
            "A briefly pre-trained ELECTRA's [CLS] states are nearly the same for every sentence (pre-training gives "
            "that token no objective) while its mean states are not; yet on NSMC (4k labels, 3 seeds) mean moved a "
            "frozen-embedding 750-step teacher from 81.33 to 81.48 and its random-init control from 77.37 to 77.96, "
            "within noise (benchmarks/results/pretraining_levers.md). Web (ONNX) export takes cls only.",
            "choices": list(CLASSIFIER_POOLINGS),
        },
    )
    overwrite_output_dir: bool = overwrite_field()


def default_output_dir(model: str, task: str) -> str:
    """Where a fine-tuning writes when no output folder is given: runs/MODEL-TASK."""
    return str(Path("runs") / f"{Path(model).name or 'model'}-{task}")


# A parameter's place in the encoder, by name: `...encoder.layer.<i>.` (whatever it holds, low-rank factors too), or the
# embeddings (`...embeddings.`, `...embeddings_project.`).
LAYER_PARAMETER = re.compile(r"(?:^|\.)encoder\.layer\.(\d+)\.")
EMBEDDING_PARAMETER = re.compile(r"(?:^|\.)embeddings(?:_project)?\.")


def layer_decay_exponent(name: str, num_layers: int) -> int:
    """How many times `--layerwise_lr_decay` scales parameter `name`'s learning rate: L - i in encoder layer i of L,
    L + 1 in the embeddings, 0 elsewhere (the task head, and a pre-LN encoder's final layer norm, which feeds it)."""
    if match := LAYER_PARAMETER.search(name):
        return num_layers - int(match[1])
    return num_layers + 1 if EMBEDDING_PARAMETER.search(name) else 0


class FinetuneTrainer(ScaledLearningRatesMixin, Trainer):
    """Trainer with `--layerwise_lr_decay`: parameter `name` trains at learning_rate * decay ** layer_decay_exponent
    (training.learning_rates builds the groups; with a decay of 1, Trainer's own optimizer)."""

    def __init__(self, *args, layerwise_lr_decay: float = 1.0, **kwargs):
        super().__init__(*args, **kwargs)
        self.layerwise_lr_decay = layerwise_lr_decay

    def learning_rate_scale(self, name: str) -> float:
        return self.layerwise_lr_decay ** layer_decay_exponent(name, self.model.config.num_hidden_layers)


def check_reinit_top_layers(count: int, config) -> None:
    """Refuse (one-line ValueError) `--reinit_top_layers` beyond the model's encoder layers."""
    if count > config.num_hidden_layers:
        raise ValueError(
            f"--reinit_top_layers {count}: the model has {config.num_hidden_layers} encoder layers; choose 0 to "
            f"{config.num_hidden_layers}."
        )


def reinit_top_layers(model: PreTrainedModel, count: int, seed: int) -> None:
    """Re-initialise the top `count` encoder layers, and nothing else, with the model's own weight initialisation
    (`_init_weights`, transformers' per-module hook), from a generator seeded with `seed` (the global one is left as
    it was). Zhang et al. (2021): the top layers of a pre-trained model fit its pre-training task, and fresh ones can
    fine-tune better."""
    check_reinit_top_layers(count, model.config)
    layers = model.base_model.encoder.layer
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for layer in layers[len(layers) - count :]:
            layer.apply(model._init_weights)


def build_trainer(
    task, model, tokenizer, args: FinetuneArguments, training_args: TrainingArguments, train_features, data, lengths
) -> Trainer:
    """Trainer with the task's collator, `--layerwise_lr_decay` and, except for QA (scored after training, through
    n-best post-processing), its metrics on the eval split while training when --eval_strategy asks for them.
    `lengths`: (max_seq_length, doc_stride)."""
    eval_features = None
    if task.kind != QUESTION_ANSWERING and training_args.eval_strategy != "no":
        eval_features = tokenize_dataset(task, data["eval"], tokenizer, *lengths, training=False)
    return FinetuneTrainer(
        model=model,
        args=training_args,
        train_dataset=train_features,
        eval_dataset=eval_features,
        data_collator=data_collator_for(task, tokenizer),
        processing_class=tokenizer,
        compute_metrics=None if task.kind == QUESTION_ANSWERING else build_compute_metrics(task),
        layerwise_lr_decay=args.layerwise_lr_decay,
    )


def save_finetuned(
    trainer: Trainer, training_args: TrainingArguments, output_dir: Path, into: Path | None = None
) -> None:
    """The fine-tuned model with a portable tokenizer and its training arguments as JSON (paths relative to
    `output_dir`), written to `into` (default: `output_dir`; the staging folder of `training.outputs.atomic_output`)."""
    into = output_dir if into is None else into
    trainer.save_model(str(into))
    make_tokenizer_config_portable(into)  # loads with transformers 4.x too, without run-time keys
    # Trainer pickles its arguments beside the model; keep a readable JSON copy instead (no pickles in the folder).
    (into / "training_args.bin").unlink(missing_ok=True)
    recorded = training_args.to_dict()
    for key in ("output_dir", "logging_dir", "resume_from_checkpoint"):  # run-relative, as everything published
        if isinstance(recorded.get(key), str):
            recorded[key] = portable_path(recorded[key], output_dir)
    (into / "training_args.json").write_text(json.dumps(recorded, indent=2), encoding="utf-8")


@dataclass
class Finetuning:
    """A fine-tuning ready to train: what `prepare_finetuning` checked, loaded and built."""

    args: FinetuneArguments
    data_args: DataArguments
    training_args: TrainingArguments
    task: Task
    data: TaskDatasetDict
    tokenizer: PreTrainedTokenizerBase
    max_seq_length: int
    trainer: Trainer
    resume_from: str | None  # the checkpoint training continues from, if any
    started: float  # time.perf_counter() when the run began: results.json records the seconds it took

    @property
    def output_dir(self) -> Path:
        return Path(self.training_args.output_dir)

    def train(self) -> int | None:
        """Train (from `resume_from` when set); None when it ran to its end, or the exit status of the signal that
        stopped it with a checkpoint (training.interrupts)."""
        return train_or_restore(self.trainer, self.resume_from)

    def save(self) -> dict:
        """Score the eval split and write the model with results.json, both moved into place once complete (a kill or
        a full disk leaves the checkpoints only); then drop the checkpoints unless kept. Returns the results."""
        with atomic_output(self.output_dir, needed=bytes_of(self.trainer.model)) as staging:
            save_finetuned(self.trainer, self.training_args, self.output_dir, into=staging)
            scores = score(
                self.trainer, self.task, self.data["eval"], self.tokenizer, self.data_args, self.max_seq_length
            )
            results = write_results(
                staging / RESULTS_FILE,
                self.task,
                scores,
                self.args.model,
                self.data,
                self.data_args.data_dir,
                num_train_samples=len(self.data["train"]),
                seconds=time.perf_counter() - self.started,
                seed=self.training_args.seed,
                baselines=data_baselines(self.task, self.data) if self.args.baselines else None,
            )
        if not self.args.keep_checkpoints:
            for folder in self.output_dir.glob("checkpoint-*"):
                shutil.rmtree(folder)
        print(json.dumps(results["metrics"], indent=2))
        print(f"Fine-tuned model and {RESULTS_FILE} in {self.output_dir}")
        return results


def _train_features(task: Task, data: TaskDatasetDict, tokenizer, data_args: DataArguments, max_seq_length: int):
    doc_stride = data_args.doc_stride or default_doc_stride(max_seq_length)
    return tokenize_dataset(task, data["train"], tokenizer, max_seq_length, doc_stride, training=True), doc_stride


def prepare_finetuning(
    args: FinetuneArguments, data_args: DataArguments, training_args: TrainingArguments
) -> Finetuning:
    """Every check on the input (before any training step), the data, the model with its new head, its tokenizer and
    the trainer, resuming from the newest complete checkpoint in the output folder (a damaged one is refused unless
    --overwrite_output_dir). Bad input raises ValueError (or OSError)."""
    started = time.perf_counter()
    output_dir = Path(training_args.output_dir)
    check_output_dir(output_dir, args.overwrite_output_dir)
    task = get_task(args.task)
    config = load_config(args.model)  # the model resolved (folder or Hub) before any data is read
    max_seq_length = resolve_max_seq_length(data_args.max_seq_length, task, config)
    check_reinit_top_layers(args.reinit_top_layers, config)
    check_classifier_pooling(args.classifier_pooling, task)
    data = load_task_data(
        task,
        data_dir=data_args.data_dir,
        on_bad_rows=data_args.on_bad_rows,
        max_train_samples=args.max_train_samples,
        max_eval_samples=data_args.max_eval_samples,
        seed=training_args.seed,
    )
    check_labels(task, data)
    set_seed(training_args.seed)  # the new head's initialisation follows the seed, not what ran before it
    model = load_task_model(args.model, task, config, args.classifier_pooling)
    reinit_top_layers(model, args.reinit_top_layers, training_args.seed)
    tokenizer = load_tokenizer(args.tokenizer or args.model, "--tokenizer" if args.tokenizer else "--model")
    check_tokenizer(tokenizer, model)
    train_features, doc_stride = _train_features(task, data, tokenizer, data_args, max_seq_length)
    if data.num_bad_rows_skipped:
        print(f"Skipped {data.num_bad_rows_skipped} malformed row(s), e.g.:\n  " + "\n  ".join(data.bad_row_examples))
    lengths = (max_seq_length, doc_stride)
    trainer = build_trainer(task, model, tokenizer, args, training_args, train_features, data, lengths)
    checkpoint = training_args.resume_from_checkpoint
    if checkpoint is None and output_dir.is_dir():
        # the newest complete checkpoint: one a kill left half-written is skipped, and the line says which
        checkpoint = resume_checkpoint(output_dir, restart_if_damaged=args.overwrite_output_dir)
    return Finetuning(
        args, data_args, training_args, task, data, tokenizer, max_seq_length, trainer, checkpoint, started
    )


def run_finetuning(**options) -> dict:
    """One whole fine-tuning, from keyword arguments named as the finetune command's options (`model`, `task`,
    `output_dir`, `data_dir`, any TrainingArguments field, ...), with the command's defaults (output_dir:
    runs/MODEL-TASK; `save_steps` without `save_strategy` saves every `save_steps`); returns the results. Runs in its
    own `output_run` (the output folder is locked until it returns). Bad input raises ValueError; a run stopped by
    SIGTERM/SIGINT saves its checkpoint and raises SystemExit with the signal's exit status."""
    own, data, trainer = split_options(options, (FinetuneArguments, DataArguments, TrainingArguments), "fine-tuning")
    trainer = {**TRAINING_DEFAULTS, **trainer}
    if "save_steps" in options and "save_strategy" not in options:
        trainer["save_strategy"] = "steps"
    trainer.setdefault("output_dir", default_output_dir(own.get("model", ""), own.get("task", "")))
    with output_run():
        run = prepare_finetuning(FinetuneArguments(**own), DataArguments(**data), TrainingArguments(**trainer))
        stopped = run.train()
        if stopped is not None:  # the checkpoint is written and the line printed; the process ends
            raise SystemExit(stopped)
        return run.save()
