"""Morpheme-aware WordPiece (this package) against plain WordPiece, trained on the same corpus with the same vocabulary
size, measured on the NSMC test reviews: [UNK] rate, tokens per review, and how often token boundaries fall on Kiwi
morpheme boundaries.

    python -m benchmarks.tokenizer_compare --corpus-lines 100000 --vocab-size 30000

Writes benchmarks/results/tokenizer_compare.json and .md.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import statistics
import sys
import time
from pathlib import Path

from benchmarks.common import DATA, RESULTS, command_line
from benchmarks.report import save_results
from training.corpus import read_corpus
from training.tokenizer import morpheme_pieces, train_tokenizer


def nsmc_reviews(path: Path, limit: int | None) -> list[str]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        rows = [row["document"] for row in csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)]
    rows = [text.strip() for text in rows if text and text.strip()]
    return rows[:limit] if limit else rows


def _boundaries(tokenizer, text: str) -> set[int]:
    """Character offsets where a token starts inside a word (not at the word's own start)."""
    encoding = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    offsets = encoding["offset_mapping"]
    starts = set()
    for (start, _), token_id in zip(offsets, encoding["input_ids"]):
        if tokenizer.convert_ids_to_tokens(token_id).startswith("##"):
            starts.add(start)
    return starts


def measure(tokenizer, reviews: list[str], morpheme_cuts: list[set[int]]) -> dict:
    unk = tokenizer.unk_token_id
    counts, unk_tokens, reviews_with_unk, agree, cuts_total = [], 0, 0, 0, 0
    for text, gold in zip(reviews, morpheme_cuts):
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        counts.append(len(ids))
        n_unk = sum(1 for token in ids if token == unk)
        unk_tokens += n_unk
        reviews_with_unk += n_unk > 0
        predicted = _boundaries(tokenizer, text)
        agree += len(predicted & gold)
        cuts_total += len(predicted)
    total = sum(counts)
    return {
        "unk_token_rate_percent": 100 * unk_tokens / max(total, 1),
        "reviews_with_unk_percent": 100 * reviews_with_unk / len(reviews),
        "tokens_per_review_mean": total / len(reviews),
        "tokens_per_review_median": statistics.median(counts),
        "word_internal_cuts_on_morpheme_boundaries_percent": 100 * agree / max(cuts_total, 1),
        "vocab_size": len(tokenizer),
    }


def to_markdown(result: dict) -> str:
    rows = [
        ("[UNK] share of tokens (%)", "unk_token_rate_percent", "{:.3f}"),
        ("reviews with any [UNK] (%)", "reviews_with_unk_percent", "{:.2f}"),
        ("tokens per review (mean)", "tokens_per_review_mean", "{:.2f}"),
        ("tokens per review (median)", "tokens_per_review_median", "{:.0f}"),
        (
            "word-internal cuts on morpheme boundaries (%)",
            "word_internal_cuts_on_morpheme_boundaries_percent",
            "{:.1f}",
        ),
        ("vocabulary", "vocab_size", "{}"),
        ("training time (s)", "train_seconds", "{}"),
    ]
    lines = [
        f"Trained on {result['corpus_lines']:,} lines of {', '.join(Path(c).name for c in result['corpus'])}; "
        f"measured on {result['test_reviews']:,} NSMC test reviews. Command: `{result['command']}`",
        "",
        "| | morpheme-aware WordPiece | plain WordPiece |",
        "|---|---|---|",
    ]
    for label, key, fmt in rows:
        lines.append(
            f"| {label} | {fmt.format(result['morpheme_aware'][key])} | {fmt.format(result['plain_wordpiece'][key])} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--corpus",
        nargs="+",
        default=[str(DATA / "corpus" / "nsmc_unselected_reviews.txt.gz")],
        help="Unlabeled training corpus (text or .gz, one text per line).",
    )
    parser.add_argument("--corpus-lines", type=int, default=100000, help="Train on the first N corpus lines.")
    parser.add_argument("--vocab-size", type=int, default=30000, help="Vocabulary size of both tokenizers.")
    parser.add_argument(
        "--reviews", type=Path, default=DATA / "nsmc" / "ratings_test.txt.gz", help="NSMC-format TSV to measure on."
    )
    parser.add_argument("--max-reviews", type=int, default=None, help="Measure on the first N test reviews.")
    parser.add_argument("--output-dir", type=Path, default=RESULTS, help="Where the JSON and .md go.")
    args = parser.parse_args(argv)

    texts = read_corpus(args.corpus, max_lines=args.corpus_lines)
    reviews = nsmc_reviews(args.reviews, args.max_reviews)
    started = time.time()
    morph = train_tokenizer(texts, vocab_size=args.vocab_size, morpheme_aware=True)
    morph_seconds = time.time() - started
    started = time.time()
    plain = train_tokenizer(texts, vocab_size=args.vocab_size, morpheme_aware=False)
    plain_seconds = time.time() - started
    # Kiwi's morpheme boundaries inside words of each review: positions of "##" pieces in the morpheme segmentation.
    gold = []
    for text, pieces in zip(reviews, morpheme_pieces(reviews)):
        normalized = text  # offsets below are computed on the normalised text the tokenizer also sees
        cuts, cursor = set(), 0
        for piece in pieces:
            surface = piece.removeprefix("##")
            position = normalized.find(surface, cursor)
            if position < 0:
                continue
            if piece.startswith("##"):
                cuts.add(position)
            cursor = position + len(surface)
        gold.append(cuts)
    result = {
        "command": command_line("tokenizer_compare", argv),
        "corpus": args.corpus,
        "corpus_lines": len(texts),
        "test_reviews": len(reviews),
        "morpheme_aware": {**measure(morph, reviews, gold), "train_seconds": round(morph_seconds, 1)},
        "plain_wordpiece": {**measure(plain, reviews, gold), "train_seconds": round(plain_seconds, 1)},
    }
    save_results(result, args.output_dir, "tokenizer_compare", to_markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
