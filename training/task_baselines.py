"""What a task scores without a neural model, on the very rows a model is trained and scored on.

Two baselines per task, both scored with the task's own metric functions (training.tasks.metrics):

- trivial: the best score obtainable without reading the input. Classification: the better of the training set's
  majority class and uniform random guessing (its expected counts; for macro-F1 guessing beats the majority class).
  KorSTS: a constant prediction, whose correlation is undefined and counts as 0. NER: "no entity" (every word `O`).
  KorQuAD: the empty answer.
- classical: character 1-4-gram TF-IDF + logistic regression for classification (a pair as the features
  [a, b, abs(a - b), a * b] of its two TF-IDF vectors); TF-IDF cosine of the two sentences for KorSTS (no labels used);
  the most frequent training tag of each word for NER (unseen words `O`); for KorQuAD the context sentence sharing the
  most character bigrams with the question, answered by that sentence without the words the question already has.

A task is "learned" by a model when its score clears the trivial one by LEARNED_MARGIN points (see `learned_tasks`).

    from training.task_baselines import task_baselines
    task_baselines("nsmc", data_dir="nsmc/", max_train_samples=2000, max_eval_samples=1000, seed=42)
"""

from __future__ import annotations

import re
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from training.tasks import (
    CLASSIFICATION,
    QUESTION_ANSWERING,
    REGRESSION,
    TOKEN_CLASSIFICATION,
    Task,
    TaskDatasetDict,
    classification_metrics,
    get_task,
    korquad_metrics,
    load_task_data,
    ner_metrics,
    regression_metrics,
)

# Five points: about three standard errors of an accuracy measured on 1,000 test rows (1.6 points at 50%), and above
# the seed-to-seed spread of the CPU-scale runs (sd 1-1.3 points on NSMC). Below it a score is not told from the
# trivial one.
LEARNED_MARGIN = 5.0

CLASSICAL_METHODS = {
    CLASSIFICATION: "char 1-4-gram TF-IDF + logistic regression (a pair as [a, b, abs(a-b), a*b])",
    REGRESSION: "char 1-4-gram TF-IDF cosine of the two sentences",
    TOKEN_CLASSIFICATION: "each word's most frequent training tag (unseen words O)",
    QUESTION_ANSWERING: "the context sentence sharing most character bigrams with the question, minus the question's "
    "words",
}


# --------------------------------------------------------------------------------------------------------------------
# Trivial
# --------------------------------------------------------------------------------------------------------------------


def _uniform_guess_metrics(labels: np.ndarray, num_labels: int) -> dict[str, float]:
    """Accuracy and macro-F1 of guessing each class with probability 1/K, from the expected confusion counts:
    class c (n_c rows of N) gets n_c/K true positives out of N/K predictions, so precision n_c/N and recall 1/K."""
    counts = np.bincount(labels, minlength=num_labels).astype(float)
    precision, recall = counts / counts.sum(), 1.0 / num_labels
    f1 = np.where(precision > 0, 2 * precision * recall / np.maximum(precision + recall, 1e-12), 0.0)
    return {"accuracy": 100.0 / num_labels, "macro_f1": 100.0 * float(f1.mean())}


def trivial_baseline(task: Task, data: TaskDatasetDict) -> dict:
    """The trivial score of `task` on `data["eval"]` ("train" gives the majority class): metrics and method."""
    evaluation = data["eval"]
    if task.kind == CLASSIFICATION:
        labels = np.asarray(evaluation["label"])
        majority = Counter(data["train"]["label"]).most_common(1)[0][0]
        by_majority = classification_metrics(np.full_like(labels, majority), labels, task.num_labels)
        by_guessing = _uniform_guess_metrics(labels, task.num_labels)
        metrics, method = max(
            ((by_majority, "majority class"), (by_guessing, "uniform guessing")),
            key=lambda candidate: candidate[0][task.primary_metric],
        )
        return {"metrics": _kept(task, metrics), "method": method, "majority_class": task.label_names[majority]}
    elif task.kind == REGRESSION:
        labels = np.asarray(evaluation["label"], dtype=float)
        # Every constant scores alike; zeros keep the variance exactly 0 (a float mean can leave rounding noise).
        metrics = regression_metrics(np.zeros_like(labels), labels)
        method = "any constant: correlation undefined, counted as 0"
    elif task.kind == TOKEN_CLASSIFICATION:
        true_tags = [[task.label_names[i] for i in row] for row in evaluation["ner_tags"]]
        metrics = ner_metrics(true_tags, [["O"] * len(row) for row in true_tags])
        method = "no entity"
    else:
        metrics = korquad_metrics({row["id"]: "" for row in evaluation}, _references(evaluation))
        method = "empty answer"
    return {"metrics": _kept(task, metrics), "method": method}


# --------------------------------------------------------------------------------------------------------------------
# Classical
# --------------------------------------------------------------------------------------------------------------------


def _vectorizer():
    from sklearn.feature_extraction.text import TfidfVectorizer

    # Characters, not words: Korean attaches particles and endings to words, so word types are sparse.
    return TfidfVectorizer(analyzer="char", ngram_range=(1, 4), sublinear_tf=True)


def _classification_features(vectorizer, split, fit: bool):
    from scipy.sparse import hstack

    texts = list(split["text"])
    if "text_pair" not in split.column_names:
        return vectorizer.fit_transform(texts) if fit else vectorizer.transform(texts)
    pairs = list(split["text_pair"])
    if fit:
        vectorizer.fit(texts + pairs)
    first, second = vectorizer.transform(texts), vectorizer.transform(pairs)
    return hstack([first, second, abs(first - second), first.multiply(second)]).tocsr()


def _tfidf_logistic_regression(task: Task, data: TaskDatasetDict) -> dict[str, float]:
    from sklearn.linear_model import LogisticRegression

    vectorizer = _vectorizer()
    train_features = _classification_features(vectorizer, data["train"], fit=True)
    classifier = LogisticRegression(max_iter=2000).fit(train_features, data["train"]["label"])
    predictions = classifier.predict(_classification_features(vectorizer, data["eval"], fit=False))
    return classification_metrics(predictions, np.asarray(data["eval"]["label"]), task.num_labels)


def _tfidf_cosine(data: TaskDatasetDict) -> dict[str, float]:
    vectorizer = _vectorizer().fit(list(data["train"]["text"]) + list(data["train"]["text_pair"]))
    first, second = vectorizer.transform(data["eval"]["text"]), vectorizer.transform(data["eval"]["text_pair"])
    cosine = np.asarray(first.multiply(second).sum(axis=1)).reshape(-1)  # rows are L2-normalised
    return regression_metrics(cosine, np.asarray(data["eval"]["label"], dtype=float))


def _word_tag_memory(task: Task, data: TaskDatasetDict) -> dict[str, float]:
    tag_counts: dict[str, Counter] = defaultdict(Counter)
    for words, tags in zip(data["train"]["tokens"], data["train"]["ner_tags"]):
        for word, tag in zip(words, tags):
            tag_counts[word][tag] += 1
    frequent = {word: task.label_names[counts.most_common(1)[0][0]] for word, counts in tag_counts.items()}
    evaluation = data["eval"]
    true_tags = [[task.label_names[i] for i in row] for row in evaluation["ner_tags"]]
    predicted = [[frequent.get(word, "O") for word in words] for words in evaluation["tokens"]]
    return ner_metrics(true_tags, predicted)


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def _bigrams(text: str) -> set[str]:
    squeezed = text.replace(" ", "")
    return {squeezed[i : i + 2] for i in range(len(squeezed) - 1)}


def sentence_overlap_answer(context: str, question: str) -> str:
    """The context sentence sharing most character bigrams with the question (first on ties), without the words the
    question already contains: the answer is rarely a word the question states."""
    question_bigrams, question_words = _bigrams(question), set(question.split())
    sentences = [sentence for sentence in _SENTENCE_END.split(context) if sentence.strip()] or [context]
    best = max(sentences, key=lambda sentence: len(_bigrams(sentence) & question_bigrams))
    return " ".join(word for word in best.split() if word not in question_words)


def _references(evaluation) -> dict[str, list[str]]:
    return {row["id"]: list(row["answers"]["text"]) for row in evaluation}


def _sentence_overlap(data: TaskDatasetDict) -> dict[str, float]:
    evaluation = data["eval"]
    predictions = {row["id"]: sentence_overlap_answer(row["context"], row["question"]) for row in evaluation}
    return korquad_metrics(predictions, _references(evaluation))


def classical_baseline(task: Task, data: TaskDatasetDict) -> dict:
    """The classical baseline of `task`, fitted on `data["train"]` and scored on `data["eval"]`."""
    if task.kind == CLASSIFICATION:
        metrics = _tfidf_logistic_regression(task, data)
    elif task.kind == REGRESSION:
        metrics = _tfidf_cosine(data)
    elif task.kind == TOKEN_CLASSIFICATION:
        metrics = _word_tag_memory(task, data)
    else:
        metrics = _sentence_overlap(data)
    return {"metrics": _kept(task, metrics), "method": CLASSICAL_METHODS[task.kind]}


def _kept(task: Task, metrics: dict[str, float]) -> dict[str, float]:
    return {name: round(metrics[name], 4) for name in task.metric_names}


# --------------------------------------------------------------------------------------------------------------------
# One task, end to end; the learned-task rule
# --------------------------------------------------------------------------------------------------------------------


def data_baselines(task: Task, data: TaskDatasetDict) -> dict:
    """Both baselines of `task` on already loaded data (what `kr-electra-kd finetune --baselines` adds to results)."""
    return {"trivial": trivial_baseline(task, data), "classical": classical_baseline(task, data)}


def task_baselines(
    task: Task | str,
    data_dir: str | Path | None,
    max_train_samples: int | None = None,
    max_eval_samples: int | None = None,
    seed: int = 42,
) -> dict:
    """Both baselines of `task` on the rows `kr-electra-kd finetune` reads with the same arguments (same loader,
    same seeded subsets), with the splits and the time taken."""
    task = get_task(task) if isinstance(task, str) else task
    started = time.perf_counter()
    data = load_task_data(
        task, data_dir=data_dir, max_train_samples=max_train_samples, max_eval_samples=max_eval_samples, seed=seed
    )
    return {
        "task": task.name,
        "primary_metric": task.primary_metric,
        "splits": dict(data.splits),
        "num_train_samples": len(data["train"]),
        "num_eval_samples": len(data["eval"]),
        "seed": seed,
        **data_baselines(task, data),
        "seconds": round(time.perf_counter() - started, 1),
    }


def primary_score(baseline: dict, kind: str) -> float:
    """The primary-metric score of one baseline record ("trivial" or "classical")."""
    return baseline[kind]["metrics"][baseline["primary_metric"]]


def learned_tasks(
    teacher_scores: dict[str, float], baselines: dict[str, dict], margin: float = LEARNED_MARGIN
) -> tuple[list[str], list[str]]:
    """(learned, not learned): a task is learned when the teacher clears its trivial score by `margin` points.
    A task without a baseline counts as learned (nothing to compare with), so old tables keep every task."""
    learned, not_learned = [], []
    for task, score in teacher_scores.items():
        baseline = baselines.get(task)
        cleared = baseline is None or score >= primary_score(baseline, "trivial") + margin
        (learned if cleared else not_learned).append(task)
    return learned, not_learned
