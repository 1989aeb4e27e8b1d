"""Tokenization of each task kind, and the post-processing of QA logits back to answer text.

Sentence pairs go in as (text, text_pair); NER labels sit on the first word-piece of each word (-100 elsewhere);
QA contexts longer than the window are split with a stride, answers mapped from characters to token positions,
and predictions mapped back to character spans of the original context.
"""

from __future__ import annotations

import collections

import numpy as np
from datasets import Dataset
from transformers import PreTrainedTokenizerBase

from .registry import QUESTION_ANSWERING, TOKEN_CLASSIFICATION, Task

# Columns the QA evaluation features keep for post-processing; the model does not take them.
QA_EVAL_EXTRA_COLUMNS = ("example_id", "offset_mapping")


def _require_fast(tokenizer: PreTrainedTokenizerBase, task: Task) -> None:
    if not tokenizer.is_fast:
        raise ValueError(
            f"task {task.name} needs a fast tokenizer (offsets / word ids); {type(tokenizer).__name__} is not one. "
            "Save the tokenizer with the `tokenizers` backend (tokenizer.json)."
        )


def _tokenize_sentences(examples: dict, tokenizer: PreTrainedTokenizerBase, max_length: int) -> dict:
    pairs = examples.get("text_pair")
    encoded = tokenizer(examples["text"], pairs, truncation=True, max_length=max_length)
    encoded["labels"] = examples["label"]
    return encoded


def _tokenize_ner(examples: dict, tokenizer: PreTrainedTokenizerBase, max_length: int) -> dict:
    encoded = tokenizer(examples["tokens"], is_split_into_words=True, truncation=True, max_length=max_length)
    all_labels = []
    for row, word_labels in enumerate(examples["ner_tags"]):
        labels, previous_word = [], None
        for word in encoded.word_ids(batch_index=row):
            # Special tokens and continuation pieces are ignored by the loss and by seqeval.
            labels.append(-100 if word is None or word == previous_word else word_labels[word])
            previous_word = word
        all_labels.append(labels)
    encoded["labels"] = all_labels
    return encoded


def _qa_windows(examples: dict, tokenizer: PreTrainedTokenizerBase, max_length: int, doc_stride: int) -> dict:
    questions = [question.lstrip() for question in examples["question"]]
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
    doc_stride: int = 128,
    training: bool = True,
) -> Dataset:
    """Model inputs for one split of `task` (QA eval features keep `example_id` and `offset_mapping`)."""
    if max_length < 8:
        raise ValueError(f"max_seq_length {max_length} is too short; use at least 8 (128 is typical).")
    kwargs = {"tokenizer": tokenizer, "max_length": max_length}
    if task.kind == QUESTION_ANSWERING:
        _require_fast(tokenizer, task)
        if not 0 < doc_stride < max_length // 2:
            raise ValueError(
                f"doc_stride {doc_stride} must be positive and below half of max_seq_length {max_length}; "
                f"try {max_length // 4}."
            )
        function = _tokenize_qa_train if training else _tokenize_qa_eval
        kwargs["doc_stride"] = doc_stride
    elif task.kind == TOKEN_CLASSIFICATION:
        _require_fast(tokenizer, task)
        function = _tokenize_ner
    else:
        function = _tokenize_sentences
    return dataset.map(
        function,
        batched=True,
        fn_kwargs=kwargs,
        remove_columns=dataset.column_names,
        desc=f"Tokenizing {task.name} ({'train' if training else 'eval'})",
    )


def postprocess_qa_predictions(
    examples: Dataset,
    features: Dataset,
    start_logits: np.ndarray,
    end_logits: np.ndarray,
    n_best_size: int = 20,
    max_answer_length: int = 30,
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
