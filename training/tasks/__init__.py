"""The Korean task suite: registry, data readers (local folder or Hub), preprocessing and metrics.

    from training.tasks import get_task, load_task_data
    task = get_task("nsmc")
    data = load_task_data(task, data_dir="../shared/data/nsmc", max_train_samples=3000)   # DatasetDict train/eval

`kr-electra-kd tasks` lists the tasks.
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass, field
from typing import Any

from .registry import (
    CLASSIFICATION,
    NAVER_NER_LABELS,
    QUESTION_ANSWERING,
    REGRESSION,
    TASKS,
    TOKEN_CLASSIFICATION,
    HubSplit,
    Task,
    get_task,
)

# Names of the submodules that import datasets, transformers and scikit-learn, loaded on first use so that
# `kr-electra-kd tasks` (and anything needing only the registry) starts in well under two seconds.
_LAZY = {
    "metrics": (
        "build_compute_metrics",
        "classification_metrics",
        "korquad_exact_match",
        "korquad_f1",
        "korquad_metrics",
        "ner_metrics",
        "normalize_korquad_answer",
        "regression_metrics",
    ),
    "preprocess": (
        "NER_EVAL_EXTRA_COLUMNS",
        "QA_EVAL_EXTRA_COLUMNS",
        "TRUNCATED_COLUMN",
        "count_truncated",
        "postprocess_ner_predictions",
        "postprocess_qa_predictions",
        "tokenize_dataset",
    ),
    "readers": ("ON_BAD_ROWS", "BadRowError", "DataFileError", "TaskDatasetDict", "features_for", "load_task_data"),
}
_LAZY_MODULE_OF = {name: module for module, names in _LAZY.items() for name in names}


def __getattr__(name: str) -> Any:
    if name not in _LAZY_MODULE_OF:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_LAZY_MODULE_OF[name]}", __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "BadRowError",
    "CLASSIFICATION",
    "DataFileError",
    "HubSplit",
    "NAVER_NER_LABELS",
    "NER_EVAL_EXTRA_COLUMNS",
    "ON_BAD_ROWS",
    "QA_EVAL_EXTRA_COLUMNS",
    "QUESTION_ANSWERING",
    "REGRESSION",
    "TASKS",
    "TOKEN_CLASSIFICATION",
    "TRUNCATED_COLUMN",
    "Task",
    "TaskDatasetDict",
    "build_compute_metrics",
    "classification_metrics",
    "count_truncated",
    "features_for",
    "get_task",
    "korquad_exact_match",
    "korquad_f1",
    "korquad_metrics",
    "load_task_data",
    "main",
    "ner_metrics",
    "normalize_korquad_answer",
    "postprocess_ner_predictions",
    "postprocess_qa_predictions",
    "regression_metrics",
    "tokenize_dataset",
]


@dataclass
class TasksArguments:
    task: str | None = field(default=None, metadata={"help": "Show the details of one task instead of the list."})


def main(argv: list[str] | None = None) -> int:
    from training.arguments import parse_command

    (args,) = parse_command((TasksArguments,), argv, "kr-electra-kd tasks")
    if args.task is None:
        for task in TASKS.values():
            print(f"{task.name:<14} {task.primary_metric:<12} {task.description}")
        return 0
    try:
        task = get_task(args.task)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"{task.name}: {task.description}")
    print(f"  head: {task.head}, labels: {', '.join(task.label_names)} ({task.num_labels} outputs)")
    print(f"  metrics: {', '.join(task.metric_names)} (primary: {task.primary_metric}; percentages)")
    print(f"  Hub dataset: {task.hf_dataset or 'none (a local folder is required)'}")
    print(f"  local files: train {' or '.join(task.train_files)}, eval {' or '.join(task.eval_files)}")
    if task.holdout_train_fraction:
        print(f"  without a train file: {task.holdout_train_fraction:.0%} of the eval file trains (seeded split)")
    print(f"  format: {task.local_format}")
    return 0
