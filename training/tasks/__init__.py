"""The Korean task suite: registry, data readers (local folder or Hub), preprocessing and metrics.

    from training.tasks import get_task, load_task_data
    task = get_task("nsmc")
    data = load_task_data(task, data_dir="nsmc/", max_train_samples=3000)   # DatasetDict train/eval

`kr-electra-kd tasks` lists the tasks.
"""

from __future__ import annotations

import importlib
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
    single_text_tasks,
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
    "single_text_tasks",
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
