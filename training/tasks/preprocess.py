"""Tokenization of each task kind, and the post-processing of QA logits back to answer text.

Sentence pairs go in as (text, text_pair), cut to the window; NER sentences and QA contexts longer than the window are
split into overlapping windows with a stride, so every word and every answer is scored. NER labels sit on the first
word-piece of each word (-100 elsewhere), and each word's tag is predicted from the window where it has the most
context; QA answers are mapped from characters to token positions, and predictions back to character spans.
"""

from __future__ import annotations

import collections

import numpy as np
from datasets import Dataset
from transformers import PreTrainedTokenizerBase

from modeling_kr_electra_kd.pipeline_kr_electra_kd import (
    DEFAULT_MAX_ANSWER_LEN,
    DEFAULT_N_BEST,
    default_doc_stride,
    normalize_question,
)

from .registry import QUESTION_ANSWERING, TOKEN_CLASSIFICATION, Task

# Columns the QA evaluation features keep for post-processing; the model does not take them.
QA_EVAL_EXTRA_COLUMNS = ("example_id", "offset_mapping")
# Columns the NER evaluation features keep to put each sentence's words back together (window -> example; the word
# index on each word's first piece, -1 elsewhere); the model does not take them.
NER_EVAL_EXTRA_COLUMNS = ("example_index", "word_index")
# Column the sentence-task evaluation features keep: whether the input was cut to max_seq_length.
TRUNCATED_COLUMN = "truncated"


def _require_fast(tokenizer: PreTrainedTokenizerBase, task: Task) -> None:
    if not tokenizer.is_fast:
        raise ValueError(
            f"task {task.name} needs a fast tokenizer (offsets / word ids); {type(tokenizer).__name__} is not one. "
            "Save the tokenizer with the `tokenizers` backend (tokenizer.json)."
        )


def _tokenize_sentences(
    examples: dict, tokenizer: PreTrainedTokenizerBase, max_length: int, training: bool = True
) -> dict:
    pairs = examples.get("text_pair")
    encoded = tokenizer(examples["text"], pairs, truncation=True, max_length=max_length)
    encoded["labels"] = examples["label"]
    if not training:
        # one token more than the window is kept only by inputs that did not fit it
        longer = tokenizer(examples["text"], pairs, truncation=True, max_length=max_length + 1)["input_ids"]
        encoded[TRUNCATED_COLUMN] = [len(ids) > max_length for ids in longer]
    return encoded


def _tokenize_ner(
    examples: dict,
    indices: list[int],
    tokenizer: PreTrainedTokenizerBase,
    max_length: int,
    doc_stride: int,
    training: bool = True,
) -> dict:
    encoded = tokenizer(
        examples["tokens"],
        is_split_into_words=True,
        truncation=True,
        max_length=max_length,
        stride=doc_stride,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
    )
    sample_of_window = encoded.pop("overflow_to_sample_mapping")
    offsets_of_window = encoded.pop("offset_mapping")
    all_labels, all_word_indices = [], []
    for window, sample in enumerate(sample_of_window):
        word_labels = examples["ner_tags"][sample]
        continues_sample = window > 0 and sample_of_window[window - 1] == sample
        labels, word_indices, previous_word = [], [], None
        for word, (start, _) in zip(encoded.word_ids(window), offsets_of_window[window]):
            # A word's first piece: a new word id, except a window that opens inside a word (a later window of the
            # same sentence whose first piece does not start its word). Special tokens and continuation pieces are
            # ignored by the loss and by seqeval.
            first_piece = word is not None and word != previous_word
            if first_piece and previous_word is None and continues_sample:
                first_piece = start == 0
            labels.append(word_labels[word] if first_piece else -100)
            word_indices.append(word if first_piece else -1)
            previous_word = word
        all_labels.append(labels)
        all_word_indices.append(word_indices)
    encoded["labels"] = all_labels
    if not training:
        encoded["example_index"] = [indices[sample] for sample in sample_of_window]
        encoded["word_index"] = all_word_indices
    return encoded


def _qa_windows(examples: dict, tokenizer: PreTrainedTokenizerBase, max_length: int, doc_stride: int) -> dict:
    questions = [normalize_question(question) for question in examples["question"]]
    return tokenizer(
        questions,
        examples["context"],
        truncation="only_second",
        max_length=max_length,
        stride=doc_stride,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
        padding="max_length",
    )


def _tokenize_qa_train(examples: dict, tokenizer: PreTrainedTokenizerBase, max_length: int, doc_stride: int) -> dict:
    encoded = _qa_windows(examples, tokenizer, max_length, doc_stride)
    sample_of_window = encoded.pop("overflow_to_sample_mapping")
    offsets_of_window = encoded.pop("offset_mapping")
    start_positions, end_positions = [], []
    for window, offsets in enumerate(offsets_of_window):
        input_ids = encoded["input_ids"][window]
        cls_index = input_ids.index(tokenizer.cls_token_id) if tokenizer.cls_token_id in input_ids else 0
        sequence_ids = encoded.sequence_ids(window)
        answers = examples["answers"][sample_of_window[window]]
        start_char = answers["answer_start"][0]
        end_char = start_char + len(answers["text"][0])
        context_tokens = [i for i, sequence in enumerate(sequence_ids) if sequence == 1]
        first, last = context_tokens[0], context_tokens[-1]
        if offsets[first][0] > start_char or offsets[last][1] < end_char:
            # The answer is not (wholly) inside this window: the target is the [CLS] token.
            start_positions.append(cls_index)
            end_positions.append(cls_index)
            continue
        start = first
        while start <= last and offsets[start][0] <= start_char:
            start += 1
        end = last
        while end >= first and offsets[end][1] >= end_char:
            end -= 1
        start_positions.append(start - 1)
        end_positions.append(end + 1)
    encoded["start_positions"] = start_positions
    encoded["end_positions"] = end_positions
    return encoded


def _tokenize_qa_eval(examples: dict, tokenizer: PreTrainedTokenizerBase, max_length: int, doc_stride: int) -> dict:
    encoded = _qa_windows(examples, tokenizer, max_length, doc_stride)
    sample_of_window = encoded.pop("overflow_to_sample_mapping")
    encoded["example_id"] = []
    for window in range(len(encoded["input_ids"])):
        sequence_ids = encoded.sequence_ids(window)
        encoded["example_id"].append(examples["id"][sample_of_window[window]])
        # Only context tokens keep offsets, so post-processing can never pick a span in the question.
        encoded["offset_mapping"][window] = [
            offset if sequence_ids[i] == 1 else None for i, offset in enumerate(encoded["offset_mapping"][window])
        ]
    return encoded


def tokenize_dataset(
    task: Task,
    dataset: Dataset,
    tokenizer: PreTrainedTokenizerBase,
    max_length: int,
    doc_stride: int | None = None,
    training: bool = True,
) -> Dataset:
    """Model inputs for one split of `task`. Evaluation features keep what scoring needs besides the model's inputs:
    QA_EVAL_EXTRA_COLUMNS, NER_EVAL_EXTRA_COLUMNS or TRUNCATED_COLUMN (see `count_truncated`)."""
    if max_length < 8:
        raise ValueError(f"max_seq_length {max_length} is too short; use at least 8 (128 is typical).")
    kwargs = {"tokenizer": tokenizer, "max_length": max_length}
    if task.kind in (QUESTION_ANSWERING, TOKEN_CLASSIFICATION):
        _require_fast(tokenizer, task)
        doc_stride = default_doc_stride(max_length) if doc_stride is None else doc_stride
        if not 0 < doc_stride < max_length // 2:
            raise ValueError(
                f"doc_stride {doc_stride} must be positive and below half of max_seq_length {max_length}; "
                f"try {max_length // 4}."
            )
        kwargs["doc_stride"] = doc_stride
    if task.kind == QUESTION_ANSWERING:
        function = _tokenize_qa_train if training else _tokenize_qa_eval
    elif task.kind == TOKEN_CLASSIFICATION:
        function = _tokenize_ner
        kwargs["training"] = training
    else:
        function = _tokenize_sentences
        kwargs["training"] = training
    return dataset.map(
        function,
        batched=True,
        with_indices=task.kind == TOKEN_CLASSIFICATION,
        fn_kwargs=kwargs,
        remove_columns=dataset.column_names,
        desc=f"Tokenizing {task.name} ({'train' if training else 'eval'})",
    )


def postprocess_qa_predictions(
    examples: Dataset,
    features: Dataset,
    start_logits: np.ndarray,
    end_logits: np.ndarray,
    n_best_size: int = DEFAULT_N_BEST,
    max_answer_length: int = DEFAULT_MAX_ANSWER_LEN,
) -> dict[str, str]:
    """Best answer text per question id over all its windows, chosen exactly as the model's QA pipeline does."""
    from modeling_kr_electra_kd import extract_answers

    windows_of_example = collections.defaultdict(list)
    for window, example_id in enumerate(features["example_id"]):
        windows_of_example[example_id].append(window)
    offsets_of_window = features["offset_mapping"]
    predictions: dict[str, str] = {}
    for example in examples:
        windows = windows_of_example[example["id"]]
        # Non-context tokens carry no offsets (see _tokenize_qa_eval): mask them out.
        offsets = [[offset or (0, 0) for offset in offsets_of_window[window]] for window in windows]
        context_mask = [[offset is not None for offset in offsets_of_window[window]] for window in windows]
        best = extract_answers(
            start_logits[windows],
            end_logits[windows],
            offsets,
            context_mask,
            example["context"],
            max_answer_length=max_answer_length,
            n_best=n_best_size,
        )[0]
        predictions[example["id"]] = best["answer"]
    return predictions


def count_truncated(task: Task, features: Dataset) -> int:
    """How many examples did not fit one max_seq_length window: NER sentences and QA contexts split into several
    windows (all scored), sentence inputs cut (scored on what fits)."""
    if task.kind == QUESTION_ANSWERING:
        windows = collections.Counter(features["example_id"])
    elif task.kind == TOKEN_CLASSIFICATION:
        windows = collections.Counter(features["example_index"])
    else:
        return sum(features[TRUNCATED_COLUMN])
    return sum(count > 1 for count in windows.values())


def postprocess_ner_predictions(
    examples: Dataset, features: Dataset, logits: np.ndarray, label_names: tuple[str, ...]
) -> list[list[str]]:
    """One tag per word of every example (the whole sentence), each from the window where its first piece has the
    most context on both sides. A word no window holds (one the tokenizer drops) is tagged "O"."""
    best: dict[tuple[int, int], tuple[int, int, int]] = {}  # (example, word) -> (context, window, position)
    for window, (example, word_index) in enumerate(zip(features["example_index"], features["word_index"])):
        positions = [position for position, word in enumerate(word_index) if word >= 0]
        if not positions:
            continue
        first, last = positions[0], positions[-1]
        for position in positions:
            context = min(position - first, last - position)
            key = (example, word_index[position])
            if key not in best or context > best[key][0]:
                best[key] = (context, window, position)
    predicted_ids = logits.argmax(-1)
    predictions = []
    for example, words in enumerate(examples["tokens"]):
        tags = ["O"] * len(words)
        for word in range(len(words)):
            if (example, word) in best:
                _, window, position = best[(example, word)]
                tags[word] = label_names[predicted_ids[window, position]]
        predictions.append(tags)
    return predictions
