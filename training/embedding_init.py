"""Token embeddings from corpus co-occurrence statistics, the teacher's starting point before ELECTRA pre-training
(and, with `distill --embedding_init`, a randomly initialised student's before distillation).

At the compute of a CPU (an hour on two cores), ELECTRA pre-training from random weights never leaves the
unigram plateau: its encoder collapses, and the teacher fine-tunes worse than the same shape randomly initialised
(benchmarks/results/learning_curve.md). What a small budget can still learn from a large unlabeled corpus is which
tokens occur together. Positive pointwise mutual information over a context window, factorised by truncated SVD
(Levy & Goldberg 2014; Levy, Goldberg & Dagan 2015: context-distribution smoothing 0.75, `U * sqrt(S)`), gives every
token a vector from a few million tokens in about a minute, on the corpus pre-training reads anyway; the ELECTRA
steps then start from embeddings that already carry lexical meaning (benchmarks/results/learning_curve.md
measures it against random initialisation: its "starting embeddings only" row).

Memory does not grow with the corpus: the lines are read in chunks and only the vocabulary x vocabulary counts are
kept (sparse), and at most `max_lines` lines are read.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from scipy import sparse

from training.corpus import iter_corpus_lines

# Lines tokenized and counted together (a bounded amount of text in memory at once).
CHUNK_LINES = 20_000


@dataclass(frozen=True)
class CooccurrenceSettings:
    """How co-occurrence is counted and turned into vectors (the defaults are Levy, Goldberg & Dagan 2015's)."""

    window: int = 5  # tokens either side of a token that count as its context
    context_smoothing: float = 0.75  # context counts raised to this power before PMI (damps rare contexts' PMI)
    # Element standard deviation of the embeddings handed to the model (centred first): the models' initializer_range,
    # so the co-occurrence vectors change the directions of the starting embeddings, not their scale against the
    # position embeddings (at 0.1 the discriminator never left a constant prediction).
    std: float = 0.02


def cooccurrence_counts(token_ids: Iterable[list[int]], vocab_size: int, window: int) -> sparse.csr_matrix:
    """Symmetric co-occurrence counts of token pairs at most `window` apart within one text, each pair weighted by
    1/distance (word2vec's and GloVe's dynamic window). Texts are counted in chunks of CHUNK_LINES."""
    if window < 1:
        raise ValueError(f"window must be at least 1, got {window}.")
    total = sparse.csr_matrix((vocab_size, vocab_size), dtype=np.float64)
    chunk: list[list[int]] = []
    for ids in token_ids:
        chunk.append(ids)
        if len(chunk) == CHUNK_LINES:
            total = total + _chunk_counts(chunk, vocab_size, window)
            chunk = []
    if chunk:
        total = total + _chunk_counts(chunk, vocab_size, window)
    return total


def _chunk_counts(chunk: list[list[int]], vocab_size: int, window: int) -> sparse.csr_matrix:
    kept = [ids for ids in chunk if ids]
    if not kept:
        return sparse.csr_matrix((vocab_size, vocab_size), dtype=np.float64)
    flat = np.concatenate([np.asarray(ids, dtype=np.int64) for ids in kept])
    text = np.repeat(np.arange(len(kept)), [len(ids) for ids in kept])
    rows, cols, weights = [], [], []
    for distance in range(1, window + 1):
        same_text = text[:-distance] == text[distance:]
        left, right = flat[:-distance][same_text], flat[distance:][same_text]
        weight = np.full(len(left), 1.0 / distance)
        rows += [left, right]
        cols += [right, left]
        weights += [weight, weight]
    counts = sparse.coo_matrix(
        (np.concatenate(weights), (np.concatenate(rows), np.concatenate(cols))), shape=(vocab_size, vocab_size)
    )
    return counts.tocsr()  # sums duplicate pairs


def positive_pmi(counts: sparse.csr_matrix, context_smoothing: float = 0.75) -> sparse.csr_matrix:
    """PPMI(w, c) = max(0, ln P(w, c) / (P(w) P_a(c))), with P_a(c) the context counts raised to `context_smoothing`
    and renormalised. Pairs never seen stay 0 (sparse)."""
    total = counts.sum()
    if total <= 0:
        raise ValueError("No token pair co-occurs in the corpus lines read: give more (or longer) texts.")
    word = np.asarray(counts.sum(axis=1)).ravel() / total
    context = np.asarray(counts.sum(axis=0)).ravel() ** context_smoothing
    context = context / context.sum()
    pairs = counts.tocoo()
    pmi = np.log(pairs.data / total) - np.log(word[pairs.row]) - np.log(context[pairs.col])
    keep = pmi > 0
    return sparse.csr_matrix((pmi[keep], (pairs.row[keep], pairs.col[keep])), shape=counts.shape)


def svd_embeddings(matrix: sparse.csr_matrix, dim: int, seed: int = 0) -> np.ndarray:
    """Rows of `U * sqrt(S)` from the rank-`dim` truncated SVD of `matrix` (randomized SVD, seeded)."""
    from sklearn.utils.extmath import randomized_svd

    if not 0 < dim < min(matrix.shape):
        raise ValueError(
            f"embedding size {dim} must be between 1 and the vocabulary size - 1 ({min(matrix.shape) - 1})."
        )
    left, singular, _ = randomized_svd(matrix, dim, n_iter=4, random_state=seed)
    return left * np.sqrt(singular)


def scaled_embeddings(vectors: np.ndarray, std: float) -> torch.Tensor:
    """`vectors` centred (the mean vector removed) and scaled to element standard deviation `std`, as float32."""
    centred = vectors - vectors.mean(axis=0, keepdims=True)
    spread = centred.std()
    if spread == 0:
        raise ValueError("The co-occurrence vectors are all equal: the corpus lines read are too few or too uniform.")
    return torch.from_numpy((centred * (std / spread)).astype(np.float32))


def ppmi_svd_embeddings(
    texts: Iterable[str], tokenizer, dim: int, settings: CooccurrenceSettings = CooccurrenceSettings(), seed: int = 0
) -> torch.Tensor:
    """[len(tokenizer), dim] token embeddings from the PPMI of `texts` (tokenized without special tokens)."""

    def token_ids() -> Iterable[list[int]]:
        batch: list[str] = []
        for text in texts:
            batch.append(text)
            if len(batch) == CHUNK_LINES:
                yield from tokenizer(batch, add_special_tokens=False)["input_ids"]
                batch = []
        if batch:
            yield from tokenizer(batch, add_special_tokens=False)["input_ids"]

    counts = cooccurrence_counts(token_ids(), len(tokenizer), settings.window)
    vectors = svd_embeddings(positive_pmi(counts, settings.context_smoothing), dim, seed)
    return scaled_embeddings(vectors, settings.std)


def initialise_word_embeddings(model, vectors: torch.Tensor) -> None:
    """Copy `vectors` into the word-embedding lookup of a model of this family (`model.electra.embeddings`; with
    `embedding_rank` set, its `vocab x rank` factor) and zero the padding token's row, which never occurs in text."""
    embedding = model.electra.embeddings.word_embeddings
    if tuple(embedding.weight.shape) != tuple(vectors.shape):
        raise ValueError(
            f"Co-occurrence vectors of shape {tuple(vectors.shape)} do not fit the word embeddings "
            f"{tuple(embedding.weight.shape)}."
        )
    with torch.no_grad():
        embedding.weight.copy_(vectors.to(embedding.weight.dtype))
        if embedding.padding_idx is not None:
            embedding.weight[embedding.padding_idx].zero_()


# --embedding_init choices: name -> what builds the vectors (None: the model's own random initialisation).
EMBEDDING_INITS: dict[str, Callable | None] = {"random": None, "ppmi-svd": ppmi_svd_embeddings}


def starting_embeddings(args: Any, tokenizer: Any, width: int, source: Any = None) -> torch.Tensor | None:
    """The `[vocabulary, width]` token embeddings a model starts from, as --embedding_init says, built from the
    first --embedding_init_lines lines of the corpus (`source`, a `corpus_source`; default: the --corpus files),
    never more than --max_corpus_lines; None for `random` (the model's own initialisation)."""
    build = EMBEDDING_INITS[args.embedding_init]
    if build is None:
        return None
    started = time.time()
    lines = min(args.embedding_init_lines, args.max_corpus_lines or args.embedding_init_lines)
    settings = CooccurrenceSettings(window=args.embedding_init_window, std=args.embedding_init_std)
    texts = iter_corpus_lines(source if source is not None else args.corpus, max_lines=lines)
    vectors = build(texts, tokenizer, width, settings)
    print(
        f"Token embeddings from {args.embedding_init} on up to {lines:,} corpus lines ({time.time() - started:.0f} s)."
    )
    return vectors


def initialise_embeddings(model: Any, tokenizer: Any, args: Any, source: Any) -> None:
    """Start the model's token embeddings (a teacher's discriminator: shared with its generator) from
    `starting_embeddings` of the run's corpus `source`; `args`: any command's arguments with the --embedding_init
    options, --corpus and --max_corpus_lines (pretrain-teacher's, distill's)."""
    width = model.electra.embeddings.word_embeddings.embedding_dim
    vectors = starting_embeddings(args, tokenizer, width, source)
    if vectors is not None:
        initialise_word_embeddings(model, vectors)


# The options of every command whose model can start from these vectors (pretrain-teacher, distill): one definition.
def embedding_init_field(default: str, why: str) -> Any:
    """`--embedding_init`: `default`, and `why` (what was measured for this command) after the common help."""
    return field(
        default=default,
        metadata={
            "help": "Where the token embeddings start: ppmi-svd (positive PMI of the corpus's token co-occurrence, "
            "factorised by SVD: about a minute on a CPU) or random. " + why,
            "choices": list(EMBEDDING_INITS),
        },
    )


def embedding_init_lines_field() -> Any:
    return field(
        default=500_000, metadata={"help": "Corpus lines read for --embedding_init ppmi-svd (its time and memory cap)."}
    )


def embedding_init_window_field() -> Any:
    return field(
        default=CooccurrenceSettings.window,
        metadata={
            "help": "Tokens either side of a token that count as its context for --embedding_init ppmi-svd (each "
            "weighted by 1/distance): small windows group tokens that stand in for each other, large ones tokens of "
            "the same topic."
        },
    )


def embedding_init_std_field() -> Any:
    return field(
        default=CooccurrenceSettings.std,
        metadata={
            "help": "Element standard deviation of the ppmi-svd token embeddings. Default: the model's own "
            "initializer_range, so only the vectors' directions change: at 0.1 the word vectors drowned the position "
            "embeddings after the embedding layer norm, the discriminator's RTD loss sat at a constant prediction's "
            "from step 100 on, and a student distilled from that teacher stayed at chance (the quickstart: 49.5). "
            "With a teacher's embeddings frozen (pretrain-teacher --token_embedding_lr_scale 0) larger vectors do "
            "train; on its learning curve (NSMC 4k labels, 3 seeds) the starting embeddings alone scored 81.64 at "
            "0.05 and 81.34 at 0.1 (81.17 at 0.02), the frozen 750-step teacher 81.15 and 81.33 (80.87 at 0.02), "
            "frozen at 0.1 for 3,000 steps 81.88 mid-way through one 6,000-step run but 81.14 over three "
            "pre-training seeds with the schedule ending at 3,000: within noise, so the default stays."
        },
    )
