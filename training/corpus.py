"""Unlabeled text corpora: one text per line, plain or gzip, in files or folders of files.

`iter_corpus_lines` reads texts in order (tokenizer training, small transfer sets). `streamed_corpus` is what
pre-training and task-agnostic distillation train on: a `datasets.IterableDataset` that reads, shuffles (in a
bounded buffer), tokenizes and packs lazily, so memory and time to the first step do not grow with the corpus. Every
gzip file and every 256 MB of a plain text file is one shard: under several processes (`torchrun`, `accelerate
launch`) each process reads only its own shards when there are at least as many shards as processes (otherwise each
reads the stream and keeps its share of every batch). Errors name the file and line; a bad line deep in a large
corpus is found when training reaches it, and the commands turn the `CorpusError` into a one-line error then.
"""

from __future__ import annotations

import gzip
import itertools
from collections.abc import Iterator, Sequence
from pathlib import Path

from datasets import Dataset, IterableDataset

CORPUS_SUFFIXES = (".txt", ".gz")
SHUFFLE_BUFFER_TEXTS = 10_000  # texts held for the streaming shuffle (a few MB whatever the corpus size)
TOKENIZE_BATCH_TEXTS = 1_000  # texts tokenized (and packed) together
SHARD_BYTES = 256 * 2**20  # plain text files are split into shards of this size


class CorpusError(ValueError):
    """A problem with the corpus (missing, not UTF-8, empty), also when found mid-training."""


def _open_binary(path: Path):
    return gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb")


def corpus_files(paths: Sequence[str | Path] | str | Path) -> list[Path]:
    """The corpus files: each path as given, a folder meaning every *.txt and *.gz file in it (sorted)."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    if not paths:
        raise CorpusError("No corpus file given: pass one or more text files (one text per line, .txt or .gz).")
    files: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found = sorted(child for child in path.iterdir() if child.is_file() and child.suffix in CORPUS_SUFFIXES)
            if not found:
                raise CorpusError(
                    f"Corpus folder {path} has no *.txt or *.gz file; a folder given as corpus means every such file "
                    "in it (one text per line)."
                )
            files += found
        elif path.is_file():
            files.append(path)
        else:
            raise CorpusError(
                f"Corpus file not found: {path}. Pass a UTF-8 text file, one text per line (.txt or .gz), or a folder "
                "of them."
            )
    return files


def file_texts(path: Path, start: int = 0, end: int | None = None) -> Iterator[str]:
    """The stripped, non-empty lines of one file, or of the lines starting in bytes [start, end) of a plain file,
    decoded strictly (a wrong encoding stops with its line number instead of turning into replacement characters)."""
    try:
        with _open_binary(path) as handle:
            if start:
                handle.seek(start - 1)
                handle.readline()  # the line holding byte start - 1 belongs to the previous range
            position, line_number = handle.tell(), 1 if start == 0 else None
            while end is None or position < end:
                raw = handle.readline()
                if not raw:
                    break
                try:
                    text = raw.decode("utf-8").strip()
                except UnicodeDecodeError:
                    line_number = line_number or _line_number_at(path, position)
                    raise CorpusError(
                        f"{path} is not UTF-8 text (undecodable bytes at line {line_number}); convert it with "
                        "`iconv -f <encoding> -t utf-8`."
                    ) from None
                position += len(raw)
                if line_number is not None:
                    line_number += 1
                if text:
                    yield text
    except (OSError, EOFError) as error:
        raise CorpusError(f"Cannot read corpus file {path}: {error}") from None


def _line_number_at(path: Path, offset: int) -> int:
    """The line number of the line starting at byte `offset` of a plain file (counted only for an error message)."""
    with path.open("rb") as handle:
        newlines = 0
        while offset > 0:
            chunk = handle.read(min(offset, 1 << 24))
            newlines += chunk.count(b"\n")
            offset -= len(chunk)
    return newlines + 1


def corpus_shards(files: Sequence[Path], shard_bytes: int) -> list[tuple[str, int, int | None]]:
    """(file, first byte, end byte) ranges: each gzip file whole, plain files cut into ranges of about `shard_bytes`
    (a line belongs to the range its first byte is in), so that processes can split even a single large file."""
    shards = []
    for path in files:
        size = path.stat().st_size
        if path.suffix == ".gz" or size <= shard_bytes:
            shards.append((str(path), 0, None))
            continue
        starts = range(0, size, shard_bytes)
        shards += [(str(path), start, min(start + shard_bytes, size)) for start in starts]
    return shards


def iter_corpus_lines(paths: Sequence[str | Path], max_lines: int | None = None) -> Iterator[str]:
    """Yield the stripped, non-empty lines of the corpus files in order, at most `max_lines` of them.

    Raises `CorpusError` (a `ValueError`) for a missing file, a file that is not UTF-8 (naming the file and line) and
    a corpus with no text at all.
    """
    files = corpus_files(paths)
    yielded = 0
    for path in files:
        for text in file_texts(path):
            yield text
            yielded += 1
            if max_lines is not None and yielded >= max_lines:
                return
    if yielded == 0:
        raise CorpusError(f"The corpus {', '.join(map(str, files))} contains no text (only empty lines).")


def read_corpus(paths: Sequence[str | Path], max_lines: int | None = None) -> list[str]:
    """All texts of `iter_corpus_lines` as a list (small corpora only: a transfer set, a benchmark sample)."""
    return list(iter_corpus_lines(paths, max_lines=max_lines))


def tokenized_corpus(texts: list[str], tokenizer, max_seq_length: int) -> Dataset:
    """A small in-memory list of texts as a tokenized, truncated (unpacked) `Dataset`."""
    dataset = Dataset.from_dict({"text": texts})
    return dataset.map(
        lambda batch: tokenizer(batch["text"], truncation=True, max_length=max_seq_length),
        batched=True,
        remove_columns=["text"],
        desc="tokenizing corpus",
    )


def pack_token_ids(texts_ids: list[list[int]], cls_id: int, sep_id: int, max_seq_length: int) -> list[list[int]]:
    """Consecutive texts joined into blocks `[CLS] a [SEP] b [SEP] ... [SEP]` of at most `max_seq_length` tokens.

    A text that does not fit the rest of a block is continued in the next one, so only the last block (and a block
    with a single free position) is shorter than `max_seq_length`.
    """
    if max_seq_length < 3:
        raise ValueError(f"Packing needs max_seq_length >= 3 ([CLS] token [SEP]), got {max_seq_length}.")
    blocks: list[list[int]] = []
    block = [cls_id]
    for ids in texts_ids:
        while ids:
            room = max_seq_length - len(block) - 1  # one position kept for the closing [SEP]
            block += ids[:room] + [sep_id]
            ids = ids[room:]
            if len(block) >= max_seq_length - 1:  # no room for another token and its [SEP]
                blocks.append(block)
                block = [cls_id]
    if len(block) > 1:
        blocks.append(block)
    return blocks


def _tokenize_function(tokenizer, max_seq_length: int, packing: bool):
    with_types = "token_type_ids" in tokenizer.model_input_names

    def tokenize(batch: dict) -> dict:
        if not packing:
            return tokenizer(batch["text"], truncation=True, max_length=max_seq_length)
        # Long texts are split across blocks, not truncated: no token is thrown away.
        texts_ids = tokenizer(batch["text"], add_special_tokens=False, verbose=False)["input_ids"]
        blocks = pack_token_ids(texts_ids, tokenizer.cls_token_id, tokenizer.sep_token_id, max_seq_length)
        features = {"input_ids": blocks, "attention_mask": [[1] * len(block) for block in blocks]}
        if with_types:
            features["token_type_ids"] = [[0] * len(block) for block in blocks]
        return features

    return tokenize


def _shard_texts(
    shards: list[list[tuple[str, int, int | None]]], max_lines: int | None, endless: bool = False
) -> Iterator[dict]:
    # `shards` holds this shard's byte ranges (datasets splits the list of shards between processes and workers).
    while True:
        one_pass = (
            text for ranges in shards for path, start, end in ranges for text in file_texts(Path(path), start, end)
        )
        yielded = 0
        for text in itertools.islice(one_pass, max_lines):
            yield {"text": text}
            yielded += 1
        if not endless or yielded == 0:  # a shard without text would otherwise loop forever
            return


def streamed_corpus(
    paths: Sequence[str | Path],
    tokenizer,
    max_seq_length: int,
    max_lines: int | None = None,
    packing: bool = True,
    shuffle_seed: int | None = 0,
    shard_bytes: int = SHARD_BYTES,
    endless: bool = False,
) -> IterableDataset:
    """The corpus as a lazily read, shuffled, tokenized and (by default) packed `IterableDataset` for `Trainer`
    (which then needs `max_steps`). Checked up front: the files exist and the first text decodes; a bad line later on
    raises `CorpusError` when it is reached. `max_lines` keeps the first texts of the corpus in order (one shard);
    `shuffle_seed=None` keeps the corpus order (the same examples at the same positions every epoch).

    `endless`: each process reads its shards again and again, so that Trainer sees one epoch that ends only at
    `max_steps`. A resumed run then skips exactly the batches it trained on, also past the first pass over a small
    corpus (Trainer's epoch count restarts for an iterable dataset), and no process runs out of data before another."""
    if packing and (tokenizer.cls_token_id is None or tokenizer.sep_token_id is None):
        raise ValueError("Packing needs a tokenizer with [CLS] and [SEP] tokens; pass --no_packing.")
    files = [str(path) for path in corpus_files(paths)]
    next(iter_corpus_lines(files, max_lines=1))  # raises for an empty corpus or a bad first line, before training
    if max_lines is not None:  # the first texts in order: one shard reading the files whole
        shards = [[(path, 0, None) for path in files]]
    else:
        shards = [[shard] for shard in corpus_shards(list(map(Path, files)), shard_bytes)]
    dataset = IterableDataset.from_generator(
        _shard_texts, gen_kwargs={"shards": shards, "max_lines": max_lines, "endless": endless}
    )
    if shuffle_seed is not None:
        dataset = dataset.shuffle(seed=shuffle_seed, buffer_size=SHUFFLE_BUFFER_TEXTS)
    return dataset.map(
        _tokenize_function(tokenizer, max_seq_length, packing),
        batched=True,
        batch_size=TOKENIZE_BATCH_TEXTS,
        remove_columns=["text"],
    )
