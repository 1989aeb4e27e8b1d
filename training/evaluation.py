"""Evaluation on a Korean task, the library behind `kr-electra-kd evaluate` and `finetune`.

The one home of what fine-tuning shares with evaluation: loading a model with a task head, checking the
tokenizer against it, scoring with `Trainer` (QA through n-best post-processing) and writing the results JSON.

    kr-electra-kd evaluate --model runs/nsmc --data-dir nsmc/

`run_evaluation(**options)` scores a model from keyword arguments named as the evaluate command's options:

    run_evaluation(model="runs/nsmc", data_dir="nsmc/", output_file="scores.json")
"""

from __future__ import annotations

import csv
import json
import tempfile
import time
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
    TrainingArguments,
)

from modeling_kr_electra_kd.pipeline_kr_electra_kd import DEFAULT_MAX_ANSWER_LEN, DEFAULT_N_BEST, default_doc_stride
from training.arguments import check_length, split_options
from training.defaults import RESULTS_FILE
from training.loading import head_of, load_config, load_model, load_tokenizer
from training.outputs import atomic_file, claim_output_file
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
    get_task,
    korquad_metrics,
    load_task_data,
    ner_metrics,
    postprocess_ner_predictions,
    postprocess_qa_predictions,
    regression_metrics,
    tokenize_dataset,
)
from training.tokenizer import check_tokenizer_matches_config
from training.trainer_common import device_trainer_defaults

# Config attribute naming the task a model was fine-tuned on, so `evaluate` needs no --task.
TASK_CONFIG_KEY = "finetuning_task"


@dataclass
class DataArguments:
    """Where the task's data comes from and how it is cut into model inputs (shared by finetune and evaluate)."""

    data_dir: str | None = field(
        default=None,
        metadata={
            "help": "Folder with the task's original files (e.g. nsmc/, a folder with ratings_train.txt and "
            "ratings_test.txt; `kr-electra-kd tasks --task NAME` lists each task's files). Default: load the task's "
            "dataset from the Hugging Face Hub."
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


def load_task_model(
    model_name_or_path: str, task: Task, config: PretrainedConfig, classifier_pooling: str | None = None
) -> PreTrainedModel:
    """The model with `task`'s head, through `training.loading.load_model`: this family, or a stock ELECTRA/BERT
    checkpoint converted into it. `config`: the model's, as `load_config` read it; `classifier_pooling`, when given,
    replaces the config's (a sentence task's head: `check_classifier_pooling`).

    A checkpoint without the head (a pre-trained encoder) gets a freshly initialised one with the task's labels.
    """
    check_classifier_pooling(classifier_pooling, task)
    overrides: dict[str, Any] = {"num_labels": task.num_labels}
    if classifier_pooling is not None:
        overrides["classifier_pooling"] = classifier_pooling
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


def check_classifier_pooling(classifier_pooling: str | None, task: Task) -> None:
    """Refuse (one-line ValueError) --classifier_pooling for a task whose head reads every token, not one sentence
    vector (token classification, question answering)."""
    if classifier_pooling is not None and task.kind not in (CLASSIFICATION, REGRESSION):
        raise ValueError(
            f"--classifier_pooling {classifier_pooling}: task {task.name} is {task.kind}, whose head reads every "
            "token; the option is for sentence classification and regression tasks. Drop it."
        )


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
    with atomic_file(path) as staged:  # never a half-written JSON under the final name
        staged.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return results


# --------------------------------------------------------------------------------------------------------------------
# The command
# --------------------------------------------------------------------------------------------------------------------


# The evaluate command's arguments live here, not in training/commands/evaluate.py: `run_evaluation` builds them from
# keyword options with their defaults, and a library may not import a command.
@dataclass
class EvaluateArguments:
    model: str = field(metadata={"help": "Fine-tuned model: a folder written by `kr-electra-kd finetune`, or Hub id."})
    task: str | None = field(
        default=None,
        metadata={"help": f"Task to score ({', '.join(TASKS)}). Default: the task the model was fine-tuned on."},
    )
    output_file: str | None = field(
        default=None,
        metadata={
            "help": "Where to write the results JSON (default: MODEL/eval_results_TASK.json, or ./ for Hub ids)."
        },
    )
    batch_size: int = field(default=64, metadata={"help": "Examples per forward pass."})
    save_predictions: str | None = field(
        default=None,
        metadata={
            "help": "Also write the model's prediction for every eval example to this file, in the task's usual "
            "format: korquad {id: answer} JSON (as the official scorer reads); ner `words<TAB>tags` per sentence; "
            "other tasks a TSV with the columns text, [text_pair], label and predicted (label names; scores for "
            "korsts)."
        },
    )
    seed: int | None = field(
        default=None,
        metadata={
            "help": "Seed of the eval subset (--max-eval-samples) and of holdout splits. Default: the seed the model "
            "was fine-tuned with (its results.json), so a held-out eval split holds no training rows; 42 for other "
            "models, and required for a holdout task of a model without results.json."
        },
    )


def _task_of(args: EvaluateArguments, config: PretrainedConfig) -> Task:
    """The task to score: --task, or the one the model was fine-tuned on; a model without that head is refused."""
    trained_on = getattr(config, TASK_CONFIG_KEY, None)
    name = args.task or trained_on
    if name is None:
        raise ValueError(
            f"{args.model} does not say which task it was fine-tuned on; pass --task ({', '.join(TASKS)})."
        )
    task = get_task(name)
    if trained_on is not None and trained_on != task.name:
        raise ValueError(
            f"{args.model} was fine-tuned on {trained_on}, not {task.name}; evaluate it with --task {trained_on}."
        )
    if head_of(config) != task.head:
        raise ValueError(
            f"{args.model} has no {task.head} head (it is a {head_of(config)} model): fine-tune it first with "
            f"`kr-electra-kd finetune --model {args.model} --task {task.name}`."
        )
    return task


def _eval_seed(args: EvaluateArguments, task: Task, data_dir: str | None) -> int:
    """The seed that gives the model's own eval split. For a task trained on a held-out part of its evaluation file,
    another seed than the fine-tuning one would score rows the model trained on: refused."""
    results_file = Path(args.model) / RESULTS_FILE  # written by `kr-electra-kd finetune`
    record = json.loads(results_file.read_text(encoding="utf-8")) if results_file.is_file() else {}
    recorded = record.get("seed") if record.get("task") == task.name else None
    holdout = (
        data_dir is not None
        and task.holdout_train_fraction is not None
        and not any((Path(data_dir) / name).is_file() for name in task.train_files)
    )
    if not holdout:
        return args.seed if args.seed is not None else recorded if recorded is not None else 42
    if recorded is not None and args.seed is not None and args.seed != recorded:
        raise ValueError(
            f"{args.model} was fine-tuned with seed {recorded}, and {task.name} without a train file evaluates on the "
            f"rows that seed held out; --seed {args.seed} would score rows it trained on. Drop --seed."
        )
    if recorded is None and args.seed is None:
        raise ValueError(
            f"{task.name} without a train file evaluates on a held-out part of {data_dir}, chosen by the fine-tuning "
            f"seed, and {args.model} has no results.json saying which: pass the seed it was fine-tuned with (--seed)."
        )
    return recorded if recorded is not None else args.seed


@dataclass
class Evaluation:
    """An evaluation ready to score: what `prepare_evaluation` checked and loaded."""

    args: EvaluateArguments
    data_args: DataArguments
    task: Task
    data: TaskDatasetDict
    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    max_seq_length: int
    started: float  # time.perf_counter() when the run began: the results record the seconds it took

    def run(self) -> dict:
        """Score the eval split, write the results JSON (and the predictions when asked); the results."""
        args, data_args, task = self.args, self.data_args, self.task
        output_file = output_file_of(args, task)
        with tempfile.TemporaryDirectory() as scratch:
            trainer = Trainer(
                model=self.model,
                # bf16 autocast and pinned memory where a GPU has them (device_trainer_defaults); CPU runs unchanged
                args=TrainingArguments(
                    output_dir=scratch,
                    per_device_eval_batch_size=args.batch_size,
                    report_to="none",
                    **device_trainer_defaults(),
                ),
                data_collator=data_collator_for(task, self.tokenizer),
                processing_class=self.tokenizer,
            )
            scores = score(trainer, task, self.data["eval"], self.tokenizer, data_args, self.max_seq_length)
        seconds = time.perf_counter() - self.started
        results = write_results(
            output_file, task, scores, args.model, self.data, data_args.data_dir, 0, seconds, args.seed
        )
        print(json.dumps(results["metrics"], indent=2))
        print(f"Wrote {output_file}")
        if args.save_predictions:
            with atomic_file(args.save_predictions) as staged:
                save_predictions(staged, task, self.data["eval"], scores.predictions)
            print(f"Wrote the predictions to {args.save_predictions}")
        return results


def prepare_evaluation(args: EvaluateArguments, data_args: DataArguments) -> Evaluation:
    """Every check, the eval rows (with the model's own seed), the model and its tokenizer. Bad input raises
    ValueError (or OSError)."""
    started = time.perf_counter()
    config = load_config(args.model)  # the model resolved (folder or Hub) before any data is read
    task = _task_of(args, config)
    claim_output_file(output_file_of(args, task), "--output_file")  # one run per results file (in a command run)
    max_seq_length = resolve_max_seq_length(data_args.max_seq_length, task, config)
    args.seed = _eval_seed(args, task, data_args.data_dir)
    data = load_task_data(
        task,
        data_dir=data_args.data_dir,
        on_bad_rows=data_args.on_bad_rows,
        max_eval_samples=data_args.max_eval_samples,
        seed=args.seed,
        eval_only=True,
    )
    model = load_task_model(args.model, task, config)
    tokenizer = load_tokenizer(args.model)
    check_tokenizer(tokenizer, model)
    return Evaluation(args, data_args, task, data, model, tokenizer, max_seq_length, started)


def run_evaluation(**options) -> dict:
    """One evaluation, from keyword arguments named as the evaluate command's options (`model`, `task`, `data_dir`,
    `output_file`, ...), with its defaults; returns the results. Bad input raises ValueError."""
    own, data = split_options(options, (EvaluateArguments, DataArguments), "evaluation")
    return prepare_evaluation(EvaluateArguments(**own), DataArguments(**data)).run()


def output_file_of(args: EvaluateArguments, task: Task) -> Path:
    """Where an evaluation writes its results JSON: --output_file, else MODEL/eval_results_TASK.json (./ for a Hub
    id)."""
    if args.output_file:
        return Path(args.output_file)
    folder = Path(args.model)
    return (folder if folder.is_dir() else Path(".")) / f"eval_results_{task.name}.json"
