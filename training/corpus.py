"""Reading an unlabeled text corpus: one text per line, plain or gzip, with errors that name the file and line."""

from __future__ import annotations

import gzip
from collections.abc import Iterator, Sequence
from pathlib import Path

from datasets import Dataset


def _open_binary(path: Path):
    return gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb")


def iter_corpus_lines(paths: Sequence[str | Path], max_lines: int | None = None) -> Iterator[str]:
    """Yield the stripped, non-empty lines of the corpus files in order, at most `max_lines` of them.

    Raises `ValueError` for a missing file, a file that is not UTF-8 (naming the file and line) and a corpus with no
    text at all.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    if not paths:
        raise ValueError("No corpus file given: pass one or more text files (one text per line, .txt or .gz).")
    paths = expand_corpus_paths(paths)
    for path in map(Path, paths):
        if not path.is_file():
            raise ValueError(f"Corpus file not found: {path}. Pass a UTF-8 text file, one text per line (.txt or .gz).")
    yielded = 0
    for path in map(Path, paths):
        try:
            with _open_binary(path) as handle:
                # Decoded line by line, strictly: a wrong encoding stops with its line number instead of turning
                # into replacement characters.
                for line_number, raw in enumerate(handle, start=1):
                    try:
                        text = raw.decode("utf-8").strip()
                    except UnicodeDecodeError:
                        raise ValueError(
                            f"{path} is not UTF-8 text (undecodable bytes at line {line_number}); convert it with "
                            "`iconv -f <encoding> -t utf-8`."
                        ) from None
                    if not text:
                        continue
                    yield text
                    yielded += 1
                    if max_lines is not None and yielded >= max_lines:
                        return
        except (OSError, EOFError) as error:
            raise ValueError(f"Cannot read corpus file {path}: {error}") from None
    if yielded == 0:
        raise ValueError(f"The corpus {', '.join(map(str, paths))} contains no text (only empty lines).")


def expand_corpus_paths(paths: Sequence[str | Path]) -> list[Path]:
    """Each path, with a folder standing for every `*.txt` and `*.gz` file directly in it, in name order."""
    expanded: list[Path] = []
    for path in map(Path, paths):
        if not path.is_dir():
            expanded.append(path)
            continue
        files = sorted(p for p in path.iterdir() if p.is_file() and p.name.endswith((".txt", ".gz")))
        if not files:
            raise ValueError(
                f"Corpus folder {path} has no *.txt or *.gz file; a folder given as corpus means every such file in "
                "it (one text per line)."
            )
        expanded += files
    return expanded


def read_corpus(paths: Sequence[str | Path], max_lines: int | None = None) -> list[str]:
    """All texts of `iter_corpus_lines` as a list."""
    return list(iter_corpus_lines(paths, max_lines=max_lines))


def tokenized_corpus(texts: list[str], tokenizer, max_seq_length: int) -> Dataset:
    dataset = Dataset.from_dict({"text": texts})
    return dataset.map(
        lambda batch: tokenizer(batch["text"], truncation=True, max_length=max_seq_length),
        batched=True,
        remove_columns=["text"],
        desc="tokenizing corpus",
    )
