"""`kr-electra-kd finetune`: fine-tune a model on one Korean task with `Trainer` and write a results JSON.

    kr-electra-kd finetune --model runs/student --task nsmc --data-dir ../shared/data/nsmc --max-train-samples 3000

Writes OUTPUT_DIR/ with the fine-tuned model (safetensors, config with the label names, tokenizer; loads with
`pipeline()`) and OUTPUT_DIR/results.json. Checkpoints are kept while training, so an interrupted run resumes
when started again with the same --output-dir; they are removed once the run has finished.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from transformers import Trainer, TrainingArguments, set_seed

from modeling_kr_electra_kd.pipeline_kr_electra_kd import default_doc_stride
from training.arguments import check_output_dir, command_parser, overwrite_field
from training.defaults import FINETUNE_LEARNING_RATE, RESULTS_FILE
from training.errors import bad_input, one_line_errors
from training.evaluation import (
    DataArguments,
    check_labels,
    check_tokenizer,
    data_collator_for,
    load_task_model,
    resolve_max_seq_length,
    score,
    write_results,
)
from training.loading import load_config, load_tokenizer
from training.outputs import atomic_output, bytes_of, guards_outputs
from training.provenance import portable_path
from training.task_baselines import data_baselines
from training.tasks import QUESTION_ANSWERING, TASKS, build_compute_metrics, get_task, load_task_data, tokenize_dataset
from training.tokenizer import make_tokenizer_config_portable
from training.trainer_common import (
    device_trainer_defaults,
    resume_checkpoint,
    save_steps_sets_strategy,
    train_or_restore,
)

# Defaults of Trainer's own options for this command (all still overridable on the command line).
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
    overwrite_output_dir: bool = overwrite_field()


def parse_arguments(argv: list[str] | None) -> tuple[FinetuneArguments, DataArguments, TrainingArguments]:
    parser = command_parser((FinetuneArguments, DataArguments, TrainingArguments), "kr-electra-kd finetune")
    parser.set_defaults(**TRAINING_DEFAULTS)
    # The default output folder depends on the model and task.
    return parser.parse(
        save_steps_sets_strategy(parser, argv),
        late_defaults=lambda known: {
            "output_dir": str(Path("runs") / f"{Path(known.model).name or 'model'}-{known.task}")
        },
    )


def build_trainer(
    task, model, tokenizer, training_args: TrainingArguments, train_features, data, max_seq_length: int, doc_stride: int
) -> Trainer:
    """Trainer with the task's collator and, except for QA (scored after training, through n-best post-processing),
    its metrics on the eval split while training when --eval_strategy asks for them."""
    eval_features = None
    if task.kind != QUESTION_ANSWERING and training_args.eval_strategy != "no":
        eval_features = tokenize_dataset(task, data["eval"], tokenizer, max_seq_length, doc_stride, training=False)
    return Trainer(
        model=model,
        args=training_args,
        train_dataset=train_features,
        eval_dataset=eval_features,
        data_collator=data_collator_for(task, tokenizer),
        processing_class=tokenizer,
        compute_metrics=None if task.kind == QUESTION_ANSWERING else build_compute_metrics(task),
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


@one_line_errors
@guards_outputs
def main(argv: list[str] | None = None) -> int:
    args, data_args, training_args = parse_arguments(argv)
    started = time.perf_counter()
    output_dir = Path(training_args.output_dir)
    # Everything that can be wrong with the input is checked here, before any training step.
    with bad_input():
        check_output_dir(output_dir, args.overwrite_output_dir)
        task = get_task(args.task)
        config = load_config(args.model)  # the model resolved (folder or Hub) before any data is read
        max_seq_length = resolve_max_seq_length(data_args.max_seq_length, task, config)
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
        model = load_task_model(args.model, task, config)
        tokenizer = load_tokenizer(args.tokenizer or args.model, "--tokenizer" if args.tokenizer else "--model")
        check_tokenizer(tokenizer, model)
        doc_stride = data_args.doc_stride or default_doc_stride(max_seq_length)
        train_features = tokenize_dataset(task, data["train"], tokenizer, max_seq_length, doc_stride, training=True)
        checkpoint = training_args.resume_from_checkpoint
        if checkpoint is None and output_dir.is_dir():
            # the newest intact checkpoint (one a kill left half-written is skipped, and the line says which); with
            # only damaged ones, refused unless --overwrite_output_dir
            checkpoint = resume_checkpoint(output_dir, restart_if_damaged=args.overwrite_output_dir)
    if data.num_bad_rows_skipped:
        print(f"Skipped {data.num_bad_rows_skipped} malformed row(s), e.g.:\n  " + "\n  ".join(data.bad_row_examples))

    trainer = build_trainer(task, model, tokenizer, training_args, train_features, data, max_seq_length, doc_stride)
    if (stopped := train_or_restore(trainer, checkpoint)) is not None:
        return stopped
    # model and results appear together, once both are complete: a kill or a full disk leaves the checkpoints only
    with atomic_output(output_dir, needed=bytes_of(model)) as staging:
        save_finetuned(trainer, training_args, output_dir, into=staging)
        scores = score(trainer, task, data["eval"], tokenizer, data_args, max_seq_length)
        results = write_results(
            staging / RESULTS_FILE,
            task,
            scores,
            args.model,
            data,
            data_args.data_dir,
            num_train_samples=len(data["train"]),
            seconds=time.perf_counter() - started,
            seed=training_args.seed,
            baselines=data_baselines(task, data) if args.baselines else None,
        )
    if not args.keep_checkpoints:
        for folder in output_dir.glob("checkpoint-*"):
            shutil.rmtree(folder)
    print(json.dumps(results["metrics"], indent=2))
    print(f"Fine-tuned model and {RESULTS_FILE} in {output_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
