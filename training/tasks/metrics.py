"""The metrics the Korean benchmarks report, computed offline (scikit-learn, SciPy, seqeval).

All values are percentages (x100), as the Korean benchmark tables print them. `evaluate.load(...)` is not used: it
fetches metric scripts from the Hub, and its "squad" metric normalises answers the English way.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Callable

import numpy as np
from transformers import EvalPrediction

from .registry import CLASSIFICATION, REGRESSION, TOKEN_CLASSIFICATION, Task

# --------------------------------------------------------------------------------------------------------------------
# KorQuAD 1.0: the official scorer's normalisation (korquad/evaluate-v1.0.py), re-implemented
# --------------------------------------------------------------------------------------------------------------------

# Quotes, angle brackets and parentheses become spaces before SQuAD's punctuation removal.
_KORQUAD_SPACED_SYMBOLS = re.compile("['\"《》<>〈〉()‘’]")
_PUNCTUATION = set(string.punctuation)


def normalize_korquad_answer(text: str) -> str:
    """Lower-case, symbols to spaces, ASCII punctuation removed, whitespace collapsed (official KorQuAD order)."""
    text = _KORQUAD_SPACED_SYMBOLS.sub(" ", text).lower()
    text = "".join(char for char in text if char not in _PUNCTUATION)
    return " ".join(text.split())


def korquad_exact_match(prediction: str, ground_truth: str) -> float:
    return float(normalize_korquad_answer(prediction) == normalize_korquad_answer(ground_truth))


def korquad_f1(prediction: str, ground_truth: str) -> float:
    """F1 over characters (not words) of the normalised answers, spaces excluded, as the official scorer does."""
    prediction_chars = list(normalize_korquad_answer(prediction).replace(" ", ""))
    truth_chars = list(normalize_korquad_answer(ground_truth).replace(" ", ""))
    common = sum((Counter(prediction_chars) & Counter(truth_chars)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(prediction_chars), common / len(truth_chars)
    return 2 * precision * recall / (precision + recall)


def korquad_metrics(predictions: dict[str, str], references: dict[str, list[str]]) -> dict[str, float]:
    """Exact match and F1 (x100) over all reference questions; an unanswered question scores 0."""
    if not references:
        raise ValueError("no reference questions to score")
    exact = f1 = 0.0
    for question_id, truths in references.items():
        prediction = predictions.get(question_id)
        if prediction is None:
            continue
        exact += max(korquad_exact_match(prediction, truth) for truth in truths)
        f1 += max(korquad_f1(prediction, truth) for truth in truths)
    return {"exact_match": 100.0 * exact / len(references), "f1": 100.0 * f1 / len(references)}


# --------------------------------------------------------------------------------------------------------------------
# Sentence classification, regression and NER
# --------------------------------------------------------------------------------------------------------------------


def classification_metrics(predictions: np.ndarray, labels: np.ndarray, num_labels: int) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, f1_score

    return {
        "accuracy": 100.0 * float(accuracy_score(labels, predictions)),
        # Macro-F1 over every class of the task, also those absent from a small eval slice.
        "macro_f1": 100.0
        * float(f1_score(labels, predictions, average="macro", labels=list(range(num_labels)), zero_division=0)),
    }


def regression_metrics(predictions: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    from scipy.stats import pearsonr, spearmanr

    if np.std(predictions) == 0 or np.std(labels) == 0:
        return {"pearson": 0.0, "spearman": 0.0}  # correlation undefined for a constant: report no correlation
    return {
        "pearson": 100.0 * float(pearsonr(predictions, labels)[0]),
        "spearman": 100.0 * float(spearmanr(predictions, labels)[0]),
    }


def ner_metrics(true_tags: list[list[str]], predicted_tags: list[list[str]]) -> dict[str, float]:
    """Entity-level precision/recall/F1 (seqeval, `X-B`/`X-I` suffix tags) and token accuracy, x100."""
    from seqeval.metrics import accuracy_score, f1_score, precision_score, recall_score

    options = {"suffix": True, "zero_division": 0}
    return {
        "entity_f1": 100.0 * float(f1_score(true_tags, predicted_tags, **options)),
        "precision": 100.0 * float(precision_score(true_tags, predicted_tags, **options)),
        "recall": 100.0 * float(recall_score(true_tags, predicted_tags, **options)),
        "accuracy": 100.0 * float(accuracy_score(true_tags, predicted_tags)),
    }


def build_compute_metrics(task: Task) -> Callable[[EvalPrediction], dict[str, float]]:
    """`compute_metrics` for `Trainer` (classification, regression, NER). QA is scored after post-processing."""

    def _logits(prediction: EvalPrediction) -> np.ndarray:
        logits = prediction.predictions
        return logits[0] if isinstance(logits, tuple) else logits

    def _keep(metrics: dict[str, float]) -> dict[str, float]:
        return {name: metrics[name] for name in task.metric_names}

    if task.kind == CLASSIFICATION:
        return lambda p: _keep(classification_metrics(_logits(p).argmax(-1), p.label_ids, task.num_labels))
    if task.kind == REGRESSION:
        return lambda p: _keep(regression_metrics(_logits(p).reshape(-1), np.asarray(p.label_ids).reshape(-1)))
    if task.kind == TOKEN_CLASSIFICATION:

        def compute(prediction: EvalPrediction) -> dict[str, float]:
            predicted_ids = _logits(prediction).argmax(-1)
            true_tags, predicted_tags = [], []
            for predicted_row, label_row in zip(predicted_ids, prediction.label_ids):
                keep = label_row != -100  # only the first piece of each word carries its label
                true_tags.append([task.label_names[i] for i in label_row[keep]])
                predicted_tags.append([task.label_names[i] for i in predicted_row[keep]])
            return _keep(ner_metrics(true_tags, predicted_tags))

        return compute
    raise ValueError(f"task {task.name} ({task.kind}) is scored by korquad_metrics after post-processing")
