"""Reading a task's data, from a local folder in the original files' formats or from the Hugging Face Hub.

Every row, local or from the Hub, goes through the same per-task converter, so labels out of range, empty
texts and malformed rows are caught the same way, before any training starts. The result is a
`TaskDatasetDict` ("train" / "eval") in one canonical schema per task kind (see registry.py).
"""

from __future__ import annotations

import gzip
import json
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from datasets import ClassLabel, Dataset, DatasetDict, Features, List, Value

from .registry import QUESTION_ANSWERING, REGRESSION, TOKEN_CLASSIFICATION, Task, get_task

ON_BAD_ROWS = ("fail", "skip")
KORSTS_SCORE_RANGE = (0.0, 5.0)


class DataFileError(ValueError):
    """A data file (or Hub dataset) is missing or unreadable; the message names it and the format expected."""


class BadRowError(ValueError):
    """One malformed row, located by file (or Hub split) and line (or question id)."""

    def __init__(self, source: str, location: str, reason: str):
        self.source, self.location, self.reason = source, location, reason
        super().__init__(f"{self.where}. Fix the row, or pass --on_bad_rows skip to leave such rows out.")

    @property
    def where(self) -> str:
        """The row and what is wrong with it, without the advice (for the log of rows already skipped)."""
        return f"{self.source}, {self.location}: {self.reason}"


class _RowError(Exception):
    """Raised by a row converter; the reader adds the file and line."""


# ----------------------------------------------------------------------------------------------------------------
# Per-task conversion of one raw row (column name -> string, as in the original TSV files) to the canonical schema
# ----------------------------------------------------------------------------------------------------------------

# task -> (text column, pair column or None, label column, raw label value -> label name (None: a float score))
_SENTENCE_TASK_COLUMNS: dict[str, tuple[str, str | None, str, dict[str, str] | None]] = {
    "nsmc": ("document", None, "label", {"0": "negative", "1": "positive"}),
    "kohate": ("comments", None, "hate", {"none": "none", "offensive": "offensive", "hate": "hate"}),
    "kohate-binary": ("comments", None, "hate", {"none": "none", "offensive": "hateful", "hate": "hateful"}),
    "kohate-bias": ("comments", None, "bias", {"none": "none", "gender": "gender", "others": "others"}),
    "kornli": (
        "sentence1",
        "sentence2",
        "gold_label",
        {"entailment": "entailment", "neutral": "neutral", "contradiction": "contradiction"},
    ),
    "korsts": ("sentence1", "sentence2", "score", None),
    # is_duplicate 0 marks the pairs that mean the same in this data (identical questions carry 0).
    "qpair": ("question1", "question2", "is_duplicate", {"0": "same", "1": "different"}),
    "paws": ("sentence1", "sentence2", "label", {"0": "not_paraphrase", "1": "paraphrase"}),
}

# Hub column names that differ from the original files' (Hub name -> file name).
_HUB_COLUMN_RENAMES: dict[str, dict[str, str]] = {
    "kornli": {"premise": "sentence1", "hypothesis": "sentence2", "label": "gold_label"},
}


def _sentence_row(task: Task, raw: dict[str, str], label_names_allowed: bool = False) -> dict[str, Any]:
    """One example; `label_names_allowed` also takes the task's own label names (Hub ClassLabels such as NSMC's
    "negative"/"positive" instead of the file's 0/1)."""
    text_column, pair_column, label_column, label_map = _SENTENCE_TASK_COLUMNS[task.name]
    record: dict[str, Any] = {"text": raw[text_column].strip()}
    if not record["text"]:
        raise _RowError(f"empty text in column {text_column!r}")
    if pair_column is not None:
        record["text_pair"] = raw[pair_column].strip()
        if not record["text_pair"]:
            raise _RowError(f"empty text in column {pair_column!r}")
    value = raw[label_column].strip()
    if label_map is None:  # KorSTS similarity score
        try:
            score = float(value)
        except ValueError:
            raise _RowError(f"score {value!r} in column {label_column!r} is not a number") from None
        low, high = KORSTS_SCORE_RANGE
        if not low <= score <= high:
            raise _RowError(f"score {score} in column {label_column!r} is outside [{low:g}, {high:g}]")
        record["label"] = score
    else:
        if label_names_allowed and value in task.label2id and value not in label_map:
            record["label"] = task.label2id[value]
            return record
        if value not in label_map:
            raise _RowError(f"label {value!r} in column {label_column!r} is not one of {', '.join(label_map)}")
        record["label"] = task.label2id[label_map[value]]
    return record


def _ner_row(task: Task, sentence: str, tags: str) -> dict[str, Any]:
    words, tag_list = sentence.split(), tags.split()
    if not words:
        raise _RowError("empty sentence")
    if len(words) != len(tag_list):
        raise _RowError(f"{len(words)} words but {len(tag_list)} tags")
    unknown = sorted({tag for tag in tag_list if tag not in task.label2id})
    if unknown:
        raise _RowError(f"unknown tag(s) {', '.join(unknown)}; known: {', '.join(task.label_names)}")
    return {"tokens": words, "ner_tags": [task.label2id[tag] for tag in tag_list]}


def _qa_record(article_title: str, context: str, qa: dict[str, Any]) -> dict[str, Any]:
    question = str(qa.get("question", "")).strip()
    if not question:
        raise _RowError("empty question")
    if not context.strip():
        raise _RowError("empty context")
    answers = qa.get("answers") or []
    if isinstance(answers, dict):  # the Hub's columnar form {"text": [...], "answer_start": [...]}
        answers = [{"text": t, "answer_start": s} for t, s in zip(answers["text"], answers["answer_start"])]
    if not answers:
        raise _RowError("no answers")
    texts, starts = [], []
    for answer in answers:
        text, start = answer.get("text"), answer.get("answer_start")
        if not isinstance(text, str) or not text or not isinstance(start, int):
            raise _RowError(f"answer {answer!r} needs a non-empty 'text' and an integer 'answer_start'")
        if context[start : start + len(text)] != text:
            raise _RowError(f"answer {text!r} is not at answer_start {start} of its context")
        texts.append(text)
        starts.append(start)
    return {
        "id": str(qa["id"]),
        "title": article_title,
        "context": context,
        "question": question,
        "answers": {"text": texts, "answer_start": starts},
    }


# ----------------------------------------------------------------------------------------------------------------
# Local files
# ----------------------------------------------------------------------------------------------------------------


def _open_text(path: Path):
    return gzip.open(path, "rt", encoding="utf-8") if path.suffix == ".gz" else path.open(encoding="utf-8")


def _lines(path: Path, task: Task) -> Iterator[tuple[int, str]]:
    """(line number, line without newline); unreadable files raise DataFileError naming the format."""
    try:
        with _open_text(path) as handle:
            for number, line in enumerate(handle, start=1):
                yield number, line.rstrip("\r\n")
    except (OSError, UnicodeDecodeError, EOFError) as error:
        raise DataFileError(f"cannot read {path} ({error}); task {task.name} expects {task.local_format}") from None


class _RowCollector:
    """Applies the --on_bad_rows policy: raise on the first bad row, or count and skip them."""

    def __init__(self, on_bad_rows: str):
        self.on_bad_rows = on_bad_rows
        self.skipped = 0
        self.examples: list[str] = []  # the first few skipped rows, for the log

    def add(self, records: list[dict], source: str, location: str, convert: Callable[[], dict]) -> None:
        try:
            records.append(convert())
        except _RowError as error:
            bad = BadRowError(source, location, str(error))
            if self.on_bad_rows == "fail":
                raise bad from None
            self.skipped += 1
            if len(self.examples) < 5:
                self.examples.append(bad.where)  # skipping is what was asked: no advice to skip


def _read_tsv(path: Path, task: Task, collector: _RowCollector) -> list[dict]:
    records: list[dict] = []
    lines = _lines(path, task)
    first = next(lines, None)
    if first is None:
        raise DataFileError(f"{path} is empty; task {task.name} expects {task.local_format}")
    header = first[1].split("\t")
    text_column, pair_column, label_column, _ = _SENTENCE_TASK_COLUMNS[task.name]
    missing = [c for c in (text_column, pair_column, label_column) if c is not None and c not in header]
    if missing:
        raise DataFileError(
            f"{path} has header {header}, missing column(s) {', '.join(missing)}; task {task.name} expects "
            f"{task.local_format}"
        )
    for number, line in lines:
        if not line.strip():
            continue
        # Split on tabs only, never on quotes: KorSTS and others have unbalanced quotes (csv.QUOTE_NONE semantics).
        fields = line.split("\t")

        def convert(fields: list[str] = fields) -> dict:
            if len(fields) != len(header):
                raise _RowError(f"{len(fields)} tab-separated fields, expected {len(header)} ({' '.join(header)})")
            return _sentence_row(task, dict(zip(header, fields)))

        collector.add(records, str(path), f"line {number}", convert)
    return records


def _read_ner_tsv(path: Path, task: Task, collector: _RowCollector) -> list[dict]:
    records: list[dict] = []
    for number, line in _lines(path, task):
        if not line.strip():
            continue

        def convert(line: str = line) -> dict:
            fields = line.split("\t")
            if len(fields) != 2:
                raise _RowError(f"{len(fields)} tab-separated fields, expected 2 (sentence, tags)")
            return _ner_row(task, *fields)

        collector.add(records, str(path), f"line {number}", convert)
    return records


def _squad_records(articles: Any, source: str, collector: _RowCollector) -> list[dict]:
    records: list[dict] = []
    if not isinstance(articles, list):
        raise DataFileError(f"{source}: 'data' must be a list of articles (SQuAD v1.1 JSON)")
    for article_index, article in enumerate(articles):
        title = str(article.get("title", f"article-{article_index}"))
        for paragraph in article.get("paragraphs", []):
            context = str(paragraph.get("context", ""))
            for qa_index, qa in enumerate(paragraph.get("qas", [])):
                location = f"article {article_index} ({title!r}), question {qa.get('id', qa_index)!r}"
                collector.add(
                    records,
                    source,
                    location,
                    lambda qa=qa, context=context, title=title: _qa_record(title, context, qa),
                )
    return records


def _read_squad_json(path: Path, task: Task, collector: _RowCollector) -> list[dict]:
    try:
        with _open_text(path) as handle:
            content = json.load(handle)
    except (OSError, UnicodeDecodeError) as error:
        raise DataFileError(f"cannot read {path} ({error}); task {task.name} expects {task.local_format}") from None
    except json.JSONDecodeError as error:
        raise DataFileError(
            f"{path} is not valid JSON (line {error.lineno}, column {error.colno}: {error.msg}); "
            f"task {task.name} expects {task.local_format}"
        ) from None
    if not isinstance(content, dict) or "data" not in content:
        raise DataFileError(f"{path} has no top-level 'data'; task {task.name} expects {task.local_format}")
    return _squad_records(content["data"], str(path), collector)


def _read_local_file(path: Path, task: Task, collector: _RowCollector) -> list[dict]:
    if task.kind == QUESTION_ANSWERING:
        return _read_squad_json(path, task, collector)
    if task.kind == TOKEN_CLASSIFICATION:
        return _read_ner_tsv(path, task, collector)
    return _read_tsv(path, task, collector)


def _first_existing(folder: Path, candidates: tuple[str, ...]) -> Path | None:
    return next((folder / name for name in candidates if (folder / name).is_file()), None)


# ----------------------------------------------------------------------------------------------------------------
# The Hub
# ----------------------------------------------------------------------------------------------------------------


def _raw_value(features: Features, column: str, value: Any) -> str:
    """A Hub value as the original file would spell it (ClassLabel ids become their names)."""
    feature = features.get(column)
    if isinstance(feature, ClassLabel) and isinstance(value, int):
        return feature.int2str(value)
    return "" if value is None else str(value)


def _read_hub_split(task: Task, split: str, collector: _RowCollector) -> tuple[list[dict], str]:
    import datasets

    hub = task.hub_splits[split]
    source = f"hub:{hub.dataset}" + (f"/{hub.config}" if hub.config else "") + f"[{hub.split}]"
    try:
        dataset = datasets.load_dataset(hub.dataset, hub.config, split=hub.split)
    except Exception as error:  # the datasets library raises many types (connection, missing, script)
        raise DataFileError(
            f"could not load {source} from the Hugging Face Hub ({type(error).__name__}: {error}). "
            f"Pass --data-dir with the original files instead: {task.local_format}"
        ) from None
    records: list[dict] = []
    if task.kind == QUESTION_ANSWERING:
        for index, row in enumerate(dataset):
            location = f"row {index + 1} (id {row.get('id')!r})"
            collector.add(records, source, location, lambda row=row: _qa_record(row["title"], row["context"], row))
        return records, source
    renames = _HUB_COLUMN_RENAMES.get(task.name, {})
    for index, row in enumerate(dataset):

        def convert(row: dict = row) -> dict:
            raw = {
                renames.get(column, column): _raw_value(dataset.features, column, value)
                for column, value in row.items()
            }
            return _sentence_row(task, raw, label_names_allowed=True)

        collector.add(records, source, f"row {index + 1}", convert)
    return records, source


# ----------------------------------------------------------------------------------------------------------------
# Splits and the public entry point
# ----------------------------------------------------------------------------------------------------------------


class TaskDatasetDict(DatasetDict):
    """DatasetDict ("train", "eval") that also says where its rows came from (for the results JSON)."""

    data_source: str = ""
    splits: dict[str, str] = {}
    num_bad_rows_skipped: int = 0
    bad_row_examples: list[str] = []


def features_for(task: Task) -> Features:
    """The canonical columns and types of a task's examples."""
    if task.kind == QUESTION_ANSWERING:
        return Features(
            {
                "id": Value("string"),
                "title": Value("string"),
                "context": Value("string"),
                "question": Value("string"),
                "answers": {"text": List(Value("string")), "answer_start": List(Value("int32"))},
            }
        )
    if task.kind == TOKEN_CLASSIFICATION:
        return Features({"tokens": List(Value("string")), "ner_tags": List(ClassLabel(names=list(task.label_names)))})
    columns: dict[str, Any] = {"text": Value("string")}
    if _SENTENCE_TASK_COLUMNS[task.name][1] is not None:
        columns["text_pair"] = Value("string")
    columns["label"] = Value("float32") if task.kind == REGRESSION else ClassLabel(names=list(task.label_names))
    return Features(columns)


def _holdout_split(task: Task, records: list[dict], seed: int) -> tuple[list[dict], list[dict], str]:
    """Seeded train/eval split of one file; KorQuAD by article so no context is in both."""
    fraction = task.holdout_train_fraction
    if task.kind == QUESTION_ANSWERING:
        titles = sorted({record["title"] for record in records})
        random.Random(seed).shuffle(titles)
        train_titles = set(titles[: round(len(titles) * fraction)])
        train = [record for record in records if record["title"] in train_titles]
        evaluation = [record for record in records if record["title"] not in train_titles]
        how = f"{len(train_titles)} of {len(titles)} articles"
    else:
        order = list(range(len(records)))
        random.Random(seed).shuffle(order)
        cut = round(len(order) * fraction)
        train = [records[index] for index in sorted(order[:cut])]
        evaluation = [records[index] for index in sorted(order[cut:])]
        how = f"{cut} of {len(records)} rows"
    return train, evaluation, f"{fraction:.0%} ({how}) chosen with seed {seed}"


def _read_local_task(
    task: Task, data_dir: str | Path, collector: _RowCollector, seed: int, eval_only: bool
) -> tuple[list[dict], list[dict], dict[str, str], str]:
    """Train and eval records of `task` from its files in `data_dir`, what each split was read from, and the source
    ("local:<folder>"). A task without a train file gets a seeded holdout of its eval file as train."""
    folder = Path(data_dir)
    if not folder.is_dir():
        raise DataFileError(f"data folder {folder} does not exist; task {task.name} expects {task.local_format}")
    eval_path = _first_existing(folder, task.eval_files)
    if eval_path is None:
        raise DataFileError(
            f"{folder} has no {' or '.join(task.eval_files)}; task {task.name} expects {task.local_format}"
        )
    train_path = _first_existing(folder, task.train_files)
    if train_path is None and task.holdout_train_fraction is None:
        raise DataFileError(
            f"{folder} has no {' or '.join(task.train_files)}; task {task.name} expects {task.local_format}"
        )
    eval_records = _read_local_file(eval_path, task, collector)
    if train_path is None:
        train_records, eval_records, how = _holdout_split(task, eval_records, seed)
        splits = {"train": f"{eval_path.name}: {how}", "eval": f"{eval_path.name}: the rest"}
    else:
        train_records = [] if eval_only else _read_local_file(train_path, task, collector)
        splits = {"train": train_path.name, "eval": eval_path.name}
    return train_records, eval_records, splits, f"local:{folder}"


def _read_hub_task(
    task: Task, collector: _RowCollector, eval_only: bool
) -> tuple[list[dict], list[dict], dict[str, str], str]:
    """Train and eval records of `task` from its Hub dataset, what each split was read from, and the source
    ("hub:<dataset>")."""
    if task.hf_dataset is None:
        raise DataFileError(
            f"task {task.name} has no public copy on the Hugging Face Hub; pass --data-dir with its files "
            f"({' or '.join(task.train_files)}, {' or '.join(task.eval_files)}): {task.local_format}"
        )
    splits: dict[str, str] = {}
    train_records, splits["train"] = ([], "") if eval_only else _read_hub_split(task, "train", collector)
    eval_records, splits["eval"] = _read_hub_split(task, "eval", collector)
    return train_records, eval_records, splits, f"hub:{task.hf_dataset}"


def load_task_data(
    task: Task | str,
    data_dir: str | Path | None = None,
    on_bad_rows: str = "fail",
    max_train_samples: int | None = None,
    max_eval_samples: int | None = None,
    seed: int = 42,
    eval_only: bool = False,
) -> TaskDatasetDict:
    """Train and eval examples of `task` from `data_dir` (original formats) or, when None, from the Hub.

    `on_bad_rows`: "fail" raises BadRowError at the first malformed row, "skip" leaves such rows out and counts
    them (`result.num_bad_rows_skipped`). `max_*_samples` keep a seeded random subset. `eval_only` skips reading
    the training split (the result has "eval" only); a seeded holdout still gives the same eval rows.
    """
    task = get_task(task) if isinstance(task, str) else task
    if on_bad_rows not in ON_BAD_ROWS:
        raise ValueError(f"on_bad_rows must be one of {', '.join(ON_BAD_ROWS)}, not {on_bad_rows!r}.")
    for name, value in (("max_train_samples", max_train_samples), ("max_eval_samples", max_eval_samples)):
        if value is not None and value < 1:
            raise ValueError(f"{name} must be a positive number of rows, not {value}.")
    collector = _RowCollector(on_bad_rows)
    if data_dir is not None:
        train_records, eval_records, splits, data_source = _read_local_task(task, data_dir, collector, seed, eval_only)
    else:
        train_records, eval_records, splits, data_source = _read_hub_task(task, collector, eval_only)

    result = TaskDatasetDict()
    features = features_for(task)
    for split, records, limit in (
        ("train", train_records, max_train_samples),
        ("eval", eval_records, max_eval_samples),
    ):
        if split == "train" and eval_only:
            del splits["train"]
            continue
        if not records:
            raise DataFileError(f"no usable {split} rows for task {task.name} ({splits[split]}); check the data.")
        dataset = Dataset.from_list(records, features=features)
        if limit is not None and limit < len(dataset):
            dataset = dataset.shuffle(seed=seed).select(range(limit))
            splits[split] += f"; random {limit} rows (seed {seed})"
        result[split] = dataset
    result.data_source = data_source
    result.splits = splits
    result.num_bad_rows_skipped = collector.skipped
    result.bad_row_examples = collector.examples
    return result
