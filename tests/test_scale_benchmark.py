"""The scale benchmark's helpers (benchmarks/scale.py)."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("packing", [True, False])
def test_padding_share_of_the_scale_benchmark(tmp_path, tiny_tokenizer, korean_texts, packing):
    from benchmarks.scale import padding_share

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(korean_texts * 5), encoding="utf-8")
    share = padding_share(corpus, tiny_tokenizer, packing=packing, batches=2)
    assert (share < 0.02) if packing else (0.2 < share < 0.9)
