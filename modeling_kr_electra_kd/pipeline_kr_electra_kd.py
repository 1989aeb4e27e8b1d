# Copyright 2026 The kr-electra-kd developers.
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.
"""Extractive question answering for `pipeline("question-answering", model=..., trust_remote_code=True)`.

transformers 5 removed its extractive QA pipeline; a saved KR-ELECTRA-KD QA model names this class under
`custom_pipelines` in its config, so `pipeline()` still serves KorQuAD-style models. `extract_answers` is also what
the KorQuAD evaluation uses to turn start/end logits back into answer text, so serving and scoring agree.
"""

import numpy as np
from transformers import Pipeline

# How a question and its context are cut into windows and answers chosen. `kr-electra-kd evaluate` takes its defaults
# from here, so the pipeline answers as the reported KorQuAD scores were computed.
DEFAULT_MAX_SEQ_LEN = 384
DEFAULT_MAX_ANSWER_LEN = 30  # tokens
DEFAULT_N_BEST = 20  # start and end candidates per window


def normalize_question(question: str) -> str:
    """A question as the model sees it, in training and in this pipeline alike: without leading whitespace (which
    some tokenizers turn into tokens of their own, taking the context's room in the window)."""
    return question.lstrip()


def default_doc_stride(max_seq_len: int) -> int:
    """Overlap in tokens between the windows of a long context: a quarter of the window (96 for 384)."""
    return max_seq_len // 4


def _softmax(logits: np.ndarray, mask: np.ndarray) -> np.ndarray:
    masked = np.where(mask, logits, -np.inf)
    shifted = np.exp(masked - masked.max())
    return shifted / shifted.sum()


def extract_answers(
    start_logits,
    end_logits,
    offset_mapping,
    context_mask,
    context: str,
    top_k: int = 1,
    max_answer_length: int = DEFAULT_MAX_ANSWER_LEN,
    n_best: int = DEFAULT_N_BEST,
) -> list[dict]:
    """Best answer spans of one question over all its windows (a long context is split into overlapping windows).

    Args:
        start_logits, end_logits: `[windows, tokens]` scores from the model.
        offset_mapping: `[windows, tokens, 2]` character offsets of each token in `context`.
        context_mask: `[windows, tokens]` true where the token belongs to the context (not question, special, padding).
        context: the context text the offsets point into.
        top_k: how many answers to return, best first.
        max_answer_length: longest answer, in tokens.
        n_best: start and end candidates considered per window.

    Returns:
        dicts with `score` (start probability times end probability within its window), `start`, `end` (character
        offsets) and `answer` (the text); distinct spans only.
    """
    start_logits, end_logits = np.asarray(start_logits, dtype=np.float64), np.asarray(end_logits, dtype=np.float64)
    offset_mapping, context_mask = np.asarray(offset_mapping), np.asarray(context_mask, dtype=bool)
    best: dict[tuple[int, int], float] = {}
    for window in range(start_logits.shape[0]):
        mask = context_mask[window]
        if not mask.any():
            continue
        start_probs = _softmax(start_logits[window], mask)
        end_probs = _softmax(end_logits[window], mask)
        starts = [i for i in np.argsort(-start_probs)[:n_best] if mask[i]]
        ends = [i for i in np.argsort(-end_probs)[:n_best] if mask[i]]
        for start in starts:
            for end in ends:
                if end < start or end - start + 1 > max_answer_length:
                    continue
                span = (int(offset_mapping[window, start, 0]), int(offset_mapping[window, end, 1]))
                score = float(start_probs[start] * end_probs[end])
                if score > best.get(span, -1.0):
                    best[span] = score
    ranked = sorted(best.items(), key=lambda item: -item[1])[:top_k]
    if not ranked:
        return [{"score": 0.0, "start": 0, "end": 0, "answer": ""}]
    return [
        {"score": score, "start": start, "end": end, "answer": context[start:end]} for (start, end), score in ranked
    ]


class KRElectraKDQuestionAnsweringPipeline(Pipeline):
    """`pipeline("question-answering")(question=..., context=...)` -> `{"score", "start", "end", "answer"}`.

    Options: `top_k` (answers per question), `max_answer_len` (tokens), `max_seq_len` and `doc_stride` (how a long
    context is split into overlapping windows; default `default_doc_stride(max_seq_len)`).
    """

    def _sanitize_parameters(self, top_k=None, max_answer_len=None, max_seq_len=None, doc_stride=None, **kwargs):
        preprocess_params, postprocess_params = {}, {}
        if max_seq_len is not None:
            preprocess_params["max_seq_len"] = max_seq_len
        if doc_stride is not None:
            preprocess_params["doc_stride"] = doc_stride
        if top_k is not None:
            postprocess_params["top_k"] = top_k
        if max_answer_len is not None:
            postprocess_params["max_answer_len"] = max_answer_len
        return preprocess_params, {}, postprocess_params

    def __call__(self, question=None, context=None, **kwargs):
        if isinstance(question, dict) or (isinstance(question, list) and question and isinstance(question[0], dict)):
            inputs = question
        elif isinstance(question, list):
            contexts = context if isinstance(context, list) else [context] * len(question)
            inputs = [{"question": q, "context": c} for q, c in zip(question, contexts)]
        else:
            inputs = {"question": question, "context": context}
        for item in inputs if isinstance(inputs, list) else [inputs]:
            if not item.get("question") or not item.get("context"):
                raise ValueError("question-answering needs a non-empty `question` and `context`.")
        return super().__call__(inputs, **kwargs)

    def preprocess(self, inputs, max_seq_len: int = DEFAULT_MAX_SEQ_LEN, doc_stride: int | None = None):
        max_seq_len = min(max_seq_len, self.model.config.max_position_embeddings)
        doc_stride = default_doc_stride(max_seq_len) if doc_stride is None else min(doc_stride, max_seq_len // 2)
        encoded = self.tokenizer(
            normalize_question(inputs["question"]),
            inputs["context"],
            truncation="only_second",
            max_length=max_seq_len,
            stride=doc_stride,
            return_overflowing_tokens=True,
            return_offsets_mapping=True,
            padding=True,
            return_tensors="pt",
        )
        context_mask = np.array(
            [[sequence_id == 1 for sequence_id in encoded.sequence_ids(i)] for i in range(len(encoded["input_ids"]))]
        )
        model_inputs = {
            key: encoded[key] for key in ("input_ids", "attention_mask", "token_type_ids") if key in encoded
        }
        return {
            "model_inputs": model_inputs,
            "offset_mapping": encoded["offset_mapping"].numpy(),
            "context_mask": context_mask,
            "context": inputs["context"],
        }

    def _forward(self, inputs):
        outputs = self.model(**inputs["model_inputs"])
        return {
            "start_logits": outputs.start_logits,
            "end_logits": outputs.end_logits,
            "offset_mapping": inputs["offset_mapping"],
            "context_mask": inputs["context_mask"],
            "context": inputs["context"],
        }

    def postprocess(self, outputs, top_k: int = 1, max_answer_len: int = DEFAULT_MAX_ANSWER_LEN):
        answers = extract_answers(
            outputs["start_logits"].float().numpy(),
            outputs["end_logits"].float().numpy(),
            outputs["offset_mapping"],
            outputs["context_mask"],
            outputs["context"],
            top_k=top_k,
            max_answer_length=max_answer_len,
        )
        return answers[0] if top_k == 1 else answers
