"""Unlabeled text corpora: one text per line, plain or gzip, in files or folders of files, or a `datasets` dataset.

A run's corpus is one *source* (`corpus_source`): `FileSource` (--corpus) or `DatasetSource` (--dataset_name and the
other `DatasetArguments`, a Hub id or a local dataset folder or file, streamed: nothing is downloaded or read whole).
Either yields text lines shard by shard (a dataset row holding several lines gives each non-empty one, as a file
would), so tokenizer training, pre-training and distillation read both the same way.

`iter_corpus_lines` reads texts in order (tokenizer training, small transfer sets). `streamed_corpus` is what
pre-training and task-agnostic distillation train on: a `datasets.IterableDataset` that reads, shuffles (in a
bounded buffer), tokenizes and packs lazily, so memory and time to the first step do not grow with the corpus. Every
gzip file and every 256 MB of a plain text file is one shard: under several processes (`torchrun`, `accelerate
launch`) each process reads only its own shards (a dataset's shards are its files) when there are at least as many shards as processes (otherwise each
reads the stream and keeps its share of every batch). Errors name the file and line; a bad line deep in a large
corpus is found when training reaches it, and the commands turn the `CorpusError` into a one-line error then.
"""

from __future__ import annotations

import gzip
import itertools
import os
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from datasets import Dataset, IterableDataset

from training.provenance import is_local

CORPUS_SUFFIXES = (".txt", ".gz")
SHUFFLE_BUFFER_TEXTS = 10_000  # texts held for the streaming shuffle (a few MB whatever the corpus size)
TOKENIZE_BATCH_TEXTS = 1_000  # texts tokenized (and packed) together
SHARD_BYTES = 256 * 2**20  # plain text files are split into shards of this size
# A local dataset file given as --dataset_name: the `datasets` builder that reads it, by suffix.
DATASET_FILE_BUILDERS = {".parquet": "parquet", ".json": "json", ".jsonl": "json", ".csv": "csv", ".arrow": "arrow"}
STRING_DTYPES = ("string", "large_string")
DATASET_ROWS_PER_READ = 256  # rows of a dataset read (decoded) together


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


def iter_corpus_lines(paths: Sequence[str | Path] | CorpusSource, max_lines: int | None = None) -> Iterator[str]:
    """Yield the stripped, non-empty lines of the corpus (files, or a `corpus_source`) in order, at most `max_lines`.

    Raises `CorpusError` (a `ValueError`) for a missing file, a file that is not UTF-8 (naming the file and line), an
    unreadable dataset and a corpus with no text at all.
    """
    source = as_source(paths)
    (everything,) = source.shards(SHARD_BYTES, whole=True)
    yielded = 0
    for text in itertools.islice(source.shard_texts(everything), max_lines):
        yield text
        yielded += 1
    if yielded == 0:
        raise CorpusError(f"The corpus {source.describe()} contains no text (only empty lines).")


def read_corpus(paths: Sequence[str | Path], max_lines: int | None = None) -> list[str]:
    """All texts of `iter_corpus_lines` as a list (small corpora only: a transfer set, a benchmark sample)."""
    return list(iter_corpus_lines(paths, max_lines=max_lines))


@dataclass
class DatasetArguments:
    """A `datasets` dataset as the corpus (the option names of transformers' run_mlm.py); train-tokenizer,
    pretrain-teacher, distill and quickstart take these instead of --corpus."""

    dataset_name: str | None = field(
        default=None,
        metadata={
            "help": "A `datasets` dataset as corpus instead of --corpus: a Hub id (e.g. wikimedia/wikipedia) or a "
            "local dataset folder or file (parquet, json, csv); streamed, never downloaded or loaded whole."
        },
    )
    dataset_config_name: str | None = field(
        default=None, metadata={"help": "The dataset's configuration (e.g. 20231101.ko for wikimedia/wikipedia)."}
    )
    dataset_split: str = field(default="train", metadata={"help": "The dataset's split to read."})
    text_column_name: str | None = field(
        default=None,
        metadata={"help": "The dataset's text column (default: its only string column); each line is one text."},
    )

    def describe(self) -> str:
        config = f" ({self.dataset_config_name})" if self.dataset_config_name else ""
        return f"dataset {self.dataset_name}{config}, split {self.dataset_split}"


class FileSource:
    """Corpus files (`corpus_files`): a shard is a list of (file, first byte, end byte) ranges (`corpus_shards`)."""

    def __init__(self, paths: Sequence[str | Path] | str | Path):
        self.files = [str(path) for path in corpus_files(paths)]

    def describe(self) -> str:
        return ", ".join(self.files)

    def shards(self, shard_bytes: int, whole: bool = False) -> list[list]:
        """The shards processes split between them; `whole`: one shard reading every file in order."""
        if whole:
            return [[(path, 0, None) for path in self.files]]
        return [[shard] for shard in corpus_shards(list(map(Path, self.files)), shard_bytes)]

    def shard_texts(self, ranges: list) -> Iterator[str]:
        for path, start, end in ranges:
            yield from file_texts(Path(path), start, end)


class DatasetSource:
    """A split of a `datasets` dataset, streamed: the non-empty lines of its text column, row after row. A shard is
    a list of the stream's own shards (its files), read in order."""

    def __init__(self, options: DatasetArguments):
        self.options = options
        stream = load_streamed_dataset(options)
        self.column = text_column(stream, options)
        self.stream = stream.select_columns([self.column])  # the other columns are never decoded

    def describe(self) -> str:
        return self.options.describe()

    def shards(self, shard_bytes: int, whole: bool = False) -> list[list[int]]:
        indices = list(range(self.stream.n_shards))
        return [indices] if whole else [[index] for index in indices]

    def shard_texts(self, indices: list[int]) -> Iterator[str]:
        count = self.stream.n_shards
        for index in indices:
            part = self.stream if count == 1 else self.stream.shard(num_shards=count, index=index)
            try:
                # `.iter`, not `for row in part`: iterated inside a DataLoader worker, a `datasets` stream would split
                # its shards between the workers again, and this shard is already this worker's.
                for batch in part.iter(batch_size=DATASET_ROWS_PER_READ):
                    for value in batch[self.column]:
                        yield from row_lines(value, self.column, self.describe())
            except CorpusError:
                raise
            except (OSError, ValueError) as error:  # a damaged file met mid-stream (pyarrow's errors are ValueErrors)
                first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
                raise CorpusError(f"Cannot read {self.describe()}: {first}") from None


CorpusSource = FileSource | DatasetSource


def row_lines(value, column: str, where: str) -> Iterator[str]:
    """The stripped, non-empty lines of one dataset row's text (a missing text, None, is an empty row)."""
    if value is None:
        return
    if not isinstance(value, str):
        raise CorpusError(
            f"Column {column!r} of {where} holds {type(value).__name__} values, not text; pass "
            "--text_column_name with its text column."
        )
    for line in value.splitlines():
        if line := line.strip():
            yield line


def load_streamed_dataset(options: DatasetArguments) -> IterableDataset:
    """`datasets.load_dataset(..., streaming=True)` of --dataset_name (a local file through the builder of its
    suffix); a wrong name, an unreachable Hub, a wrong configuration or split is one `CorpusError` naming the dataset
    and the fix."""
    import datasets

    name, where = options.dataset_name, options.describe()
    path, data_files, local = name, None, Path(name).expanduser()
    if local.is_file():
        if local.suffix not in DATASET_FILE_BUILDERS:
            raise CorpusError(
                f"--dataset_name {name}: `datasets` reads {', '.join(DATASET_FILE_BUILDERS)} files, not "
                f"{local.suffix or 'this'} one; for plain text (one text per line) use --corpus."
            )
        path, data_files = DATASET_FILE_BUILDERS[local.suffix], str(local)
    elif not local.exists() and (is_local(name) or local.suffix in DATASET_FILE_BUILDERS):
        raise CorpusError(
            f"--dataset_name {name}: no such local folder or file; pass a dataset folder or file "
            "(parquet, json, csv) that exists, or a Hub id (owner/name)."
        )
    try:
        return datasets.load_dataset(
            path, options.dataset_config_name, split=options.dataset_split, data_files=data_files, streaming=True
        )
    except ConnectionError:
        offline = " (HF_HUB_OFFLINE is set)" if os.environ.get("HF_HUB_OFFLINE", "0") not in ("", "0") else ""
        raise CorpusError(
            f"Cannot load {where}: the Hub is unreachable{offline} and no local folder has that name; "
            "connect to the Hub, or pass a local dataset folder or file as --dataset_name."
        ) from None
    except FileNotFoundError:
        raise CorpusError(
            f"Cannot load {where}: no such dataset on the Hub (or it is private) and no local folder "
            "has that name; check the id (e.g. wikimedia/wikipedia) or pass a local folder."
        ) from None
    except (OSError, ValueError) as error:  # a wrong configuration or split names the ones that exist
        first = str(error).strip().splitlines()[0]
        raise CorpusError(f"Cannot load {where}: {first}; check --dataset_config_name and --dataset_split.") from None


def _column_types(stream: IterableDataset) -> tuple[list[str], list[str]]:
    """(every column, the string columns) of a stream, from its features or else from its first row."""
    if stream.features is not None:
        columns = list(stream.features)
        strings = [name for name in columns if getattr(stream.features[name], "dtype", None) in STRING_DTYPES]
        return columns, strings
    first = next(iter(stream), {})
    return list(first), [name for name, value in first.items() if isinstance(value, str)]


def text_column(stream: IterableDataset, options: DatasetArguments) -> str:
    """--text_column_name checked against the dataset's columns, or the dataset's only string column."""
    columns, strings = _column_types(stream)
    where, name = options.describe(), options.text_column_name
    if name is not None and name not in columns:
        raise CorpusError(
            f"{where.capitalize()} has no column {name!r} (its columns: {', '.join(columns)}); pass "
            "--text_column_name with its text column."
        )
    if name is not None and name not in strings:
        raise CorpusError(
            f"Column {name!r} of {where} is not text (string columns: {', '.join(strings) or 'none'}); "
            "pass --text_column_name with its text column."
        )
    if name is not None:
        return name
    if len(strings) != 1:
        found = f"{len(strings)} string columns ({', '.join(strings)})" if strings else "no string column"
        raise CorpusError(
            f"{where.capitalize()} has {found} among {', '.join(columns)}; pass --text_column_name "
            "with the column that holds the text."
        )
    return strings[0]


def corpus_source(corpus: Sequence[str | Path] | None, dataset: DatasetArguments | None = None) -> CorpusSource:
    """The one corpus of a run: the --corpus files or the --dataset_name dataset, exactly one of them (CorpusError
    otherwise). Opening a dataset reads its file list and schema, not its rows."""
    named = dataset is not None and dataset.dataset_name is not None
    if corpus and named:
        raise CorpusError("Give either --corpus (text files) or --dataset_name (a `datasets` dataset), not both.")
    if named:
        return DatasetSource(dataset)
    stray = [f"--{key}" for key in ("dataset_config_name", "text_column_name") if dataset and getattr(dataset, key)]
    if stray:
        raise CorpusError(
            f"{', '.join(stray)} describe a --dataset_name dataset; pass --dataset_name too, or drop "
            f"{' and '.join(stray)} for --corpus files."
        )
    if not corpus:
        raise CorpusError(
            "No corpus given: pass --corpus (text files, one text per line, .txt or .gz) or "
            "--dataset_name (a Hub id or local dataset folder)."
        )
    return FileSource(corpus)


def as_source(corpus: Sequence[str | Path] | str | Path | CorpusSource) -> CorpusSource:
    """A `corpus_source` as it is, or corpus files as a `FileSource`."""
    return corpus if isinstance(corpus, (FileSource, DatasetSource)) else FileSource(corpus)


def dataset_options(dataset: DatasetArguments | None) -> dict:
    """The dataset options as a run's keywords (none without --dataset_name): what the recipe passes on."""
    return asdict(dataset) if dataset is not None and dataset.dataset_name is not None else {}


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
    shards: list[list], source: CorpusSource, max_lines: int | None, endless: bool = False
) -> Iterator[dict]:
    # `shards` holds this shard's parts (datasets splits the list of shards between processes and workers).
    while True:
        one_pass = (text for parts in shards for text in source.shard_texts(parts))
        yielded = 0
        for text in itertools.islice(one_pass, max_lines):
            yield {"text": text}
            yielded += 1
        if not endless or yielded == 0:  # a shard without text would otherwise loop forever
            return


def streamed_corpus(
    paths: Sequence[str | Path] | CorpusSource,
    tokenizer,
    max_seq_length: int,
    max_lines: int | None = None,
    packing: bool = True,
    shuffle_seed: int | None = 0,
    shard_bytes: int = SHARD_BYTES,
    endless: bool = False,
) -> IterableDataset:
    """The corpus (files, or a `corpus_source`) as a lazily read, shuffled, tokenized and (by default) packed
    `IterableDataset` for `Trainer` (which then needs `max_steps`). Checked up front: the files exist (the dataset
    opens, its text column is known) and the first text reads; a bad line later on raises `CorpusError` when it is
    reached. `max_lines` keeps the first texts of the corpus in order (one shard); `shuffle_seed=None` keeps the
    corpus order (the same examples at the same positions every epoch).

    `endless`: each process reads its shards again and again, so that Trainer sees one epoch that ends only at
    `max_steps`. A resumed run then skips exactly the batches it trained on, also past the first pass over a small
    corpus (Trainer's epoch count restarts for an iterable dataset), and no process runs out of data before another."""
    if packing and (tokenizer.cls_token_id is None or tokenizer.sep_token_id is None):
        raise ValueError("Packing needs a tokenizer with [CLS] and [SEP] tokens; pass --no_packing.")
    source = as_source(paths)
    next(iter_corpus_lines(source, max_lines=1))  # raises for an empty corpus or a bad first line, before training
    shards = source.shards(shard_bytes, whole=max_lines is not None)  # the first texts in order: one shard
    dataset = IterableDataset.from_generator(
        _shard_texts, gen_kwargs={"shards": shards, "source": source, "max_lines": max_lines, "endless": endless}
    )
    if shuffle_seed is not None:
        dataset = dataset.shuffle(seed=shuffle_seed, buffer_size=SHUFFLE_BUFFER_TEXTS)
    return dataset.map(
        _tokenize_function(tokenizer, max_seq_length, packing),
        batched=True,
        batch_size=TOKENIZE_BATCH_TEXTS,
        remove_columns=["text"],
    )
