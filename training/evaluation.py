"""Evaluation on a Korean task, the library behind `kr-electra-kd evaluate` and `finetune`.

The one home of what fine-tuning shares with evaluation: loading a model with a task head, checking the
tokenizer against it, scoring with `Trainer` (QA through n-best post-processing) and writing the results JSON.

    kr-electra-kd evaluate --model runs/nsmc --data-dir ../shared/data/nsmc
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import transformers
from datasets import Dataset
from transformers import (
    DataCollatorForTokenClassification,
    DataCollatorWithPadding,
    PretrainedConfig,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    Trainer,
)

from modeling_kr_electra_kd.pipeline_kr_electra_kd import DEFAULT_MAX_ANSWER_LEN, DEFAULT_N_BEST, default_doc_stride
from training.arguments import check_length
from training.loading import load_model
from training.provenance import portable_data_source, portable_path
from training.tasks import (
    CLASSIFICATION,
    NER_EVAL_EXTRA_COLUMNS,
    ON_BAD_ROWS,
    QA_EVAL_EXTRA_COLUMNS,
    QUESTION_ANSWERING,
    REGRESSION,
    TASKS,
    TOKEN_CLASSIFICATION,
    TRUNCATED_COLUMN,
    Task,
    TaskDatasetDict,
    classification_metrics,
    count_truncated,
    korquad_metrics,
    ner_metrics,
    postprocess_ner_predictions,
    postprocess_qa_predictions,
    regression_metrics,
    tokenize_dataset,
)
from training.tokenizer import check_tokenizer_matches_config

# Config attribute naming the task a model was fine-tuned on, so `evaluate` needs no --task.
TASK_CONFIG_KEY = "finetuning_task"


@dataclass
class DataArguments:
    """Where the task's data comes from and how it is cut into model inputs (shared by finetune and evaluate)."""

    data_dir: str | None = field(
        default=None,
        metadata={
            "help": "Folder with the task's original files (e.g. ../shared/data/nsmc; `kr-electra-kd tasks --task "
            "NAME` lists them). Default: load the task's dataset from the Hugging Face Hub."
        },
    )
    max_eval_samples: int | None = field(
        default=None, metadata={"help": "Evaluate on a seeded random subset of this many examples (default: all)."}
    )
    on_bad_rows: str = field(
        default="fail",
        metadata={
            "help": "What to do with a malformed row (wrong field count, empty text, unknown label): 'fail' stops "
            "with its file and line, 'skip' leaves it out and counts it in the results JSON.",
            "choices": list(ON_BAD_ROWS),
        },
    )
    max_seq_length: int | None = field(
        default=None,
        metadata={
            "help": "Longest input in tokens (default: 128, 384 for korquad; never more than the model's "
            "max_position_embeddings)."
        },
    )
    doc_stride: int | None = field(
        default=None,
        metadata={
            "help": "korquad, ner: overlap in tokens between the windows of a context or sentence longer than "
            "max_seq_length (default: max_seq_length/4, as the question-answering pipeline)."
        },
    )
    n_best_size: int = field(
        default=DEFAULT_N_BEST, metadata={"help": "korquad: start and end candidates tried per window."}
    )
    max_answer_length: int = field(
        default=DEFAULT_MAX_ANSWER_LEN, metadata={"help": "korquad: longest answer, in tokens."}
    )


# --------------------------------------------------------------------------------------------------------------------
# Shared with finetune
# --------------------------------------------------------------------------------------------------------------------


def load_task_model(model_name_or_path: str, task: Task, config: PretrainedConfig) -> PreTrainedModel:
    """The model with `task`'s head, through `training.loading.load_model`: this family, or a stock ELECTRA/BERT
    checkpoint converted into it. `config`: the model's, as `load_config` read it.

    A checkpoint without the head (a pre-trained encoder) gets a freshly initialised one with the task's labels.
    """
    overrides: dict[str, Any] = {"num_labels": task.num_labels}
    if task.kind != QUESTION_ANSWERING:
        overrides.update(id2label=task.id2label, label2id=task.label2id)
    if task.kind == REGRESSION:
        overrides["problem_type"] = "regression"
    trained_on = getattr(config, TASK_CONFIG_KEY, None)
    if trained_on in TASKS and trained_on != task.name and TASKS[trained_on].num_labels != task.num_labels:
        raise ValueError(
            f"{model_name_or_path} was fine-tuned on {trained_on} ({TASKS[trained_on].num_labels} outputs); task "
            f"{task.name} needs {task.num_labels}. Start from the pre-trained (not fine-tuned) model."
        )
    model = load_model(model_name_or_path, head=task.head, **overrides)
    setattr(model.config, TASK_CONFIG_KEY, task.name)
    return model


def check_tokenizer(tokenizer: PreTrainedTokenizerBase, model: PreTrainedModel) -> None:
    """Raise ValueError when the tokenizer's ids do not fit the model's embeddings (before any training)."""
    check_tokenizer_matches_config(tokenizer, model.config)


def resolve_max_seq_length(requested: int | None, task: Task, config: PretrainedConfig) -> int:
    """--max_seq_length, or the task's default, within the model's positions (read from its config alone)."""
    limit = config.max_position_embeddings
    check_length("--max_seq_length", requested, limit)
    return requested or min(task.default_max_seq_length, limit)


def data_collator_for(task: Task, tokenizer: PreTrainedTokenizerBase):
    if task.kind == TOKEN_CLASSIFICATION:
        return DataCollatorForTokenClassification(tokenizer)
    if task.kind == QUESTION_ANSWERING:
        return None  # windows are already padded to max_seq_length
    return DataCollatorWithPadding(tokenizer)


def check_labels(task: Task, data: TaskDatasetDict) -> None:
    """Catch what the reader cannot: a training split whose labels cannot teach the task."""
    if task.kind != CLASSIFICATION:
        return
    present = set(data["train"]["label"])
    if len(present) < 2:
        raise ValueError(
            f"the {task.name} training split has only label(s) {sorted(task.label_names[i] for i in present)}; "
            "fine-tuning needs at least two classes (check the file or --max-train-samples)."
        )


@dataclass
class Scores:
    """What `score` finds: the task's metrics (percentages), every eval example's prediction (QA: {id: answer}; NER:
    a tag per word; classification: label names; regression: floats) and how many examples did not fit one window."""

    metrics: dict[str, float]
    predictions: dict[str, str] | list
    truncated_examples: int
    max_seq_length: int

    def truncation(self, num_examples: int) -> dict[str, Any]:
        """The results JSON's record of inputs longer than max_seq_length and how they were scored."""
        return {
            "max_seq_length": self.max_seq_length,
            "truncated_examples": self.truncated_examples,
            "of": num_examples,
        }


def score(
    trainer: Trainer,
    task: Task,
    examples: Dataset,
    tokenizer: PreTrainedTokenizerBase,
    data_args: DataArguments,
    max_seq_length: int,
) -> Scores:
    """The task's metrics of `trainer.model` on `examples`, always against every example's whole gold: a long NER
    sentence or QA context is read in overlapping windows; a sentence input is cut (its label still counts)."""
    doc_stride = data_args.doc_stride or default_doc_stride(max_seq_length)
    features = tokenize_dataset(task, examples, tokenizer, max_seq_length, doc_stride, training=False)
    truncated = count_truncated(task, features)
    extra = [
        name
        for name in (*QA_EVAL_EXTRA_COLUMNS, *NER_EVAL_EXTRA_COLUMNS, TRUNCATED_COLUMN)
        if name in features.column_names
    ]
    output = trainer.predict(features.remove_columns(extra), metric_key_prefix="eval")
    logits = output.predictions
    if task.kind == QUESTION_ANSWERING:
        predictions = postprocess_qa_predictions(
            examples, features, *logits[:2], data_args.n_best_size, data_args.max_answer_length
        )
        metrics = korquad_metrics(predictions, {example["id"]: example["answers"]["text"] for example in examples})
        return Scores(metrics, predictions, truncated, max_seq_length)
    logits = logits[0] if isinstance(logits, tuple) else logits
    if task.kind == TOKEN_CLASSIFICATION:
        predictions = postprocess_ner_predictions(examples, features, logits, task.label_names)
        true_tags = [[task.label_names[i] for i in tags] for tags in examples["ner_tags"]]
        metrics = ner_metrics(true_tags, predictions)
    elif task.kind == REGRESSION:
        values = logits.reshape(-1).astype(np.float64)
        metrics = regression_metrics(values, np.asarray(examples["label"], dtype=np.float64))
        predictions = [float(value) for value in values]
    else:
        predicted_ids = logits.argmax(-1)
        metrics = classification_metrics(predicted_ids, np.asarray(examples["label"]), task.num_labels)
        predictions = [task.label_names[i] for i in predicted_ids]
    return Scores({name: metrics[name] for name in task.metric_names}, predictions, truncated, max_seq_length)


def save_predictions(path: Path, task: Task, examples: Dataset, predictions: dict[str, str] | list) -> None:
    """`predictions` (from `score`) in the task's usual format, for official scorers and error analysis."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if task.kind == QUESTION_ANSWERING:
        path.write_text(json.dumps(predictions, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        return
    with path.open("w", encoding="utf-8", newline="") as handle:
        if task.kind == TOKEN_CLASSIFICATION:
            for words, tags in zip(examples["tokens"], predictions):
                handle.write(f"{' '.join(words)}\t{' '.join(tags)}\n")
            return
        columns = [name for name in ("text", "text_pair") if name in examples.column_names]
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerow([*columns, "label", "predicted"])
        for example, predicted in zip(examples, predictions):
            label = example["label"] if task.kind == REGRESSION else task.label_names[example["label"]]
            writer.writerow([*(example[name] for name in columns), label, predicted])


def write_results(
    path: Path,
    task: Task,
    scores: Scores,
    model_name_or_path: str,
    data: TaskDatasetDict,
    data_dir: str | None,
    num_train_samples: int,
    seconds: float,
    seed: int,
    baselines: dict | None = None,
) -> dict[str, Any]:
    """The results JSON read by the model-card generator (keep the keys stable). `baselines`: the task's trivial and
    classical scores on the same rows (training.task_baselines.data_baselines), shown beside the model's. Paths are
    recorded relative to the JSON's folder, so that nothing in it names this machine's folders (it is published with
    the model)."""
    results = {
        "task": task.name,
        "primary_metric": task.primary_metric,
        "metrics": {name: round(float(value), 4) for name, value in scores.metrics.items()},
        "model": Path(model_name_or_path).name or model_name_or_path,
        "model_name_or_path": portable_path(model_name_or_path, path.parent),
        "data_source": portable_data_source(data.data_source, path.parent),
        "data_dir": portable_path(data_dir, path.parent),
        "splits": data.splits,
        "num_train_samples": num_train_samples,
        "num_eval_samples": len(data["eval"]),
        "num_bad_rows_skipped": data.num_bad_rows_skipped,
        "truncation": scores.truncation(len(data["eval"])),
        "seconds": round(seconds, 2),
        "seed": seed,
        "transformers_version": transformers.__version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    if baselines:
        results["baselines"] = baselines
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return results


# --------------------------------------------------------------------------------------------------------------------
# The command
# --------------------------------------------------------------------------------------------------------------------
