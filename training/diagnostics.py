"""What a pre-trained encoder's states look like: whether its representations have collapsed (every text, or every
token of a text, mapped to nearly one direction), and the trivial value of the generator's masked-LM loss.

    representation_collapse(model, tokenizer, ["첫 리뷰", "두 번째 리뷰", ...])
    # {"cls_mean_cosine": 0.98, "mean_pool_mean_cosine": 0.97, "token_mean_cosine": 0.95,
    #  "cls_effective_rank": 1.6, "mean_pool_effective_rank": 1.8, "texts": 1000}
    unigram_entropy(tokenizer, corpus_lines)  # nats: the MLM loss of a generator that ignores context

A collapsed encoder (cosines near 1, effective rank near 1) gives fine-tuning little to start from; a random one has
cosines well below 1 and a high effective rank. Effective rank is Roy & Vetterli's (2007): exp of the entropy of the
normalised singular values of the (texts x hidden) matrix, not centred: n orthonormal rows have rank n, n identical
rows rank 1.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase


def mean_pairwise_cosine(vectors: torch.Tensor) -> float:
    """Mean cosine similarity over every pair of distinct rows of `vectors` (rows x dims); nan with under two rows."""
    count = vectors.shape[0]
    if count < 2:
        return math.nan
    unit = torch.nn.functional.normalize(vectors.double(), dim=-1)
    total = unit.sum(dim=0).pow(2).sum() - unit.pow(2).sum()  # sum of S[i, j] over i != j, with S = unit @ unit.T
    return float(total / (count * (count - 1)))


def effective_rank(matrix: torch.Tensor) -> float:
    """Roy & Vetterli's effective rank of `matrix`: exp(entropy of its singular values divided by their sum)."""
    singular = torch.linalg.svdvals(matrix.double())
    share = singular / singular.sum()
    share = share[share > 0]
    return float(torch.exp(-(share * share.log()).sum()))


@torch.no_grad()
def last_hidden_states(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, texts: Sequence[str], max_length: int, batch_size: int
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The encoder's last hidden states (batch x length x hidden, float32 on the CPU) of `texts`, batch by batch, with
    each batch's attention mask; the model's head, if any, is not run."""
    encoder = model.base_model
    was_training = encoder.training
    encoder.eval()
    device = next(encoder.parameters()).device
    batches = []
    for start in range(0, len(texts), batch_size):
        batch = tokenizer(
            list(texts[start : start + batch_size]),
            truncation=True,
            max_length=max_length,
            padding=True,
            return_tensors="pt",
        ).to(device)
        states = encoder(**batch).last_hidden_state
        batches.append((states.float().cpu(), batch["attention_mask"].cpu()))
    encoder.train(was_training)
    return batches


def representation_collapse(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    texts: Sequence[str],
    max_length: int = 64,
    batch_size: int = 64,
) -> dict[str, float]:
    """How alike the encoder's last hidden states of `texts` are: the mean pairwise cosine of the texts' [CLS]
    vectors (`cls_mean_cosine`) and of their attention-masked mean-pooled vectors (`mean_pool_mean_cosine`), the mean
    pairwise cosine between the token states within a text averaged over texts of two tokens or more
    (`token_mean_cosine`), and the effective ranks of the [CLS] and mean-pooled matrices."""
    if len(texts) < 2:
        raise ValueError(f"representation_collapse needs at least 2 texts, got {len(texts)}.")
    cls, pooled, token_cosines = [], [], []
    for states, mask in last_hidden_states(model, tokenizer, texts, max_length, batch_size):
        weights = mask.unsqueeze(-1).float()
        cls.append(states[:, 0])
        pooled.append((states * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1))
        for text_states, text_mask in zip(states, mask):
            tokens = text_states[text_mask.bool()]
            if tokens.shape[0] >= 2:
                token_cosines.append(mean_pairwise_cosine(tokens))
    cls_matrix, pooled_matrix = torch.cat(cls), torch.cat(pooled)
    return {
        "cls_mean_cosine": round(mean_pairwise_cosine(cls_matrix), 4),
        "mean_pool_mean_cosine": round(mean_pairwise_cosine(pooled_matrix), 4),
        "token_mean_cosine": round(sum(token_cosines) / len(token_cosines), 4) if token_cosines else math.nan,
        "cls_effective_rank": round(effective_rank(cls_matrix), 2),
        "mean_pool_effective_rank": round(effective_rank(pooled_matrix), 2),
        "texts": len(texts),
    }


def unigram_entropy(tokenizer: PreTrainedTokenizerBase, texts: Sequence[str]) -> float:
    """Cross-entropy (nats) of predicting every token of `texts` (special tokens left out, as the masking collator
    never masks them) by its frequency in `texts`: the masked-LM loss of a generator that ignores context, the value
    `loss_mlm` must fall below for the generator to have learned anything beyond token counts."""
    counts: Counter[int] = Counter()
    for ids in tokenizer(list(texts), add_special_tokens=False)["input_ids"]:
        counts.update(ids)
    total = sum(counts.values())
    if not total:
        raise ValueError("unigram_entropy: the texts hold no tokens; give non-empty texts.")
    return -sum(count / total * math.log(count / total) for count in counts.values())
