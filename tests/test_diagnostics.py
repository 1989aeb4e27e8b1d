"""training/diagnostics.py: known answers for the collapse measures and the generator's trivial loss."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch

from training.diagnostics import effective_rank, mean_pairwise_cosine, representation_collapse, unigram_entropy


def test_identical_vectors_have_cosine_one_and_effective_rank_one():
    same = torch.tensor([[3.0, 4.0, 0.0]] * 5)
    assert mean_pairwise_cosine(same) == pytest.approx(1.0)
    assert effective_rank(same) == pytest.approx(1.0)


def test_orthonormal_vectors_have_cosine_zero_and_full_effective_rank():
    basis = torch.eye(4)
    assert mean_pairwise_cosine(basis) == pytest.approx(0.0)
    assert effective_rank(basis) == pytest.approx(4.0)
    # two orthogonal pairs of opposite vectors: cosines 0 (x8) and -1 (x4) over 12 ordered pairs
    opposite = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 2.0], [0.0, -2.0]])
    assert mean_pairwise_cosine(opposite) == pytest.approx(-4 / 12)
    # singular values 3 and 1: shares 3/4 and 1/4
    assert effective_rank(torch.tensor([[3.0, 0.0], [0.0, 1.0]])) == pytest.approx(
        math.exp(-(0.75 * math.log(0.75) + 0.25 * math.log(0.25)))
    )


class OneHotEncoder(torch.nn.Module):
    """An encoder whose state of every token is the one-hot vector of its id."""

    def __init__(self, vocab_size: int):
        super().__init__()
        self.vocab_size = vocab_size
        self.weight = torch.nn.Parameter(torch.zeros(1))  # gives the module a device

    @property
    def base_model(self):
        return self

    def forward(self, input_ids, attention_mask=None, token_type_ids=None):
        return SimpleNamespace(last_hidden_state=torch.nn.functional.one_hot(input_ids, self.vocab_size).float())


def test_representation_collapse_of_one_hot_token_states():
    from tests.conftest import build_tiny_tokenizer

    tokenizer = build_tiny_tokenizer(["가 나 다"])
    texts = ["가", "다 가 나", "나"]
    assert [len(ids) for ids in tokenizer(texts)["input_ids"]] == [3, 5, 3]  # [CLS] ... [SEP]
    # batches of 2: the first text is padded with two [PAD] states (alike), which the attention mask leaves out
    result = representation_collapse(OneHotEncoder(len(tokenizer)), tokenizer, texts, batch_size=2)
    # every [CLS] state is the same one-hot vector
    assert result["cls_mean_cosine"] == pytest.approx(1.0) and result["cls_effective_rank"] == pytest.approx(1.0)
    # distinct tokens within a text: orthogonal states
    assert result["token_mean_cosine"] == pytest.approx(0.0)
    # mean-pooled: (c + a + s)/3, (c + d + a + b + s)/5, (c + b + s)/3: cosines 3/sqrt(15), 2/3 and 3/sqrt(15)
    expected = (2 * 3 / math.sqrt(15) + 2 / 3) / 3
    assert result["mean_pool_mean_cosine"] == pytest.approx(expected, abs=1e-4)
    assert 1.0 < result["mean_pool_effective_rank"] < 3.0 and result["texts"] == 3
    with pytest.raises(ValueError, match="at least 2 texts"):
        representation_collapse(OneHotEncoder(len(tokenizer)), tokenizer, ["가"])


def test_unigram_entropy_is_the_cross_entropy_of_token_frequencies():
    from tests.conftest import build_tiny_tokenizer

    tokenizer = build_tiny_tokenizer(["가 나 다"])
    # tokens 가, 가, 나 (no [CLS]/[SEP]): -(2/3 ln 2/3 + 1/3 ln 1/3)
    assert unigram_entropy(tokenizer, ["가 가", "나"]) == pytest.approx(0.6365141682948128)
    assert unigram_entropy(tokenizer, ["가 가 가"]) == pytest.approx(0.0)
    with pytest.raises(ValueError, match="no tokens"):
        unigram_entropy(tokenizer, [""])
