"""Shared test fixtures: paths, a tiny Korean WordPiece tokenizer, and a tiny model config.

Everything here is built from files the project writes itself (tests/fixtures); tests that read the
real Korean data in ../shared/data use the `shared_data` fixture, which fails in CI (CI=true) rather
than skipping when the folder is missing, so a missing data folder cannot hide a test.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


def pytest_configure(config):
    """Declare the markers of transformers' common tests (fetched by test_transformers_common.py)."""
    from transformers_common_tests import MARKERS

    for name in MARKERS:
        config.addinivalue_line("markers", f"{name}: a marker of transformers' common tests")


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return FIXTURES


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        message = f"real Korean data not found at {SHARED_DATA} (see its README)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return SHARED_DATA


def build_tiny_tokenizer(texts: list[str], vocab_size: int = 1000):
    """A BERT-style fast WordPiece tokenizer over `texts`; loads with AutoTokenizer, no custom code.

    The vocabulary is built deterministically (the most frequent characters, each as a word start and as a "##"
    continuation), unlike the `tokenizers` WordPiece trainer, whose tie-breaking differs between processes.
    """
    from collections import Counter

    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    counts = Counter(char for text in texts for char in text if not char.isspace())
    chars = [char for char, _ in sorted(counts.items(), key=lambda item: (-item[1], item[0]))]
    pieces: list[str] = []
    for char in chars:
        pieces += [char, f"##{char}"]
    vocab = {token: index for index, token in enumerate(special + pieces[: vocab_size - len(special)])}

    tok = Tokenizer(models.WordPiece(vocab=vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
    )
    tok.decoder = decoders.WordPiece()
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=128,
        model_input_names=["input_ids", "token_type_ids", "attention_mask"],
    )


@pytest.fixture(scope="session")
def korean_texts() -> list[str]:
    return [line.strip() for line in (FIXTURES / "corpus.txt").read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="session")
def tiny_tokenizer(korean_texts):
    return build_tiny_tokenizer(korean_texts)
