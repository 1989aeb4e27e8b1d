"""The shared corpus reader: plain and gzip text, and errors that name the bad file and line."""

from __future__ import annotations

import gzip
import itertools
import os
import subprocess
import sys

import pytest

from training.corpus import (
    CorpusError,
    DatasetArguments,
    corpus_shards,
    corpus_source,
    file_texts,
    iter_corpus_lines,
    pack_token_ids,
    read_corpus,
    streamed_corpus,
)


def test_corpus_reader_plain_and_gzip(tmp_path):
    (tmp_path / "a.txt").write_text("첫째 줄\n\n  둘째 줄  \n", encoding="utf-8")
    with gzip.open(tmp_path / "b.txt.gz", "wt", encoding="utf-8") as handle:
        handle.write("셋째 줄\n")
    assert read_corpus([tmp_path / "a.txt", tmp_path / "b.txt.gz"]) == ["첫째 줄", "둘째 줄", "셋째 줄"]
    assert read_corpus([tmp_path / "a.txt", tmp_path / "b.txt.gz"], max_lines=2) == ["첫째 줄", "둘째 줄"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "contains no text"),
        (b"\n  \n", "contains no text"),
        ("좋은 줄\n".encode() + "나쁜 줄\n".encode("euc-kr"), "not UTF-8 text .*line 2"),
    ],
)
def test_corpus_reader_errors_name_the_problem(tmp_path, content, message):
    path = tmp_path / "corpus.txt"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=message):
        read_corpus([path])
    with pytest.raises(ValueError, match="not found"):
        read_corpus([tmp_path / "nope.txt"])


def test_reader_is_lazy_and_stops_at_max_lines(tmp_path):
    path = tmp_path / "big.txt"
    # line 3 is not UTF-8: reading only two lines must not reach it
    path.write_bytes("하나\n둘\n".encode() + "셋\n".encode("euc-kr"))
    assert list(iter_corpus_lines([path], max_lines=2)) == ["하나", "둘"]
    with pytest.raises(ValueError, match=r"big.txt is not UTF-8 text .*line 3.*iconv"):
        read_corpus([path])


def test_no_files_given():
    with pytest.raises(ValueError, match="No corpus file given"):
        read_corpus([])


def test_a_corpus_folder_means_every_txt_and_gz_file_in_it(tmp_path):
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "b.txt").write_text("둘째 줄\n", encoding="utf-8")
    with gzip.open(folder / "a.txt.gz", "wt", encoding="utf-8") as handle:
        handle.write("첫째 줄\n")
    (folder / "notes.md").write_text("not corpus\n", encoding="utf-8")
    assert read_corpus([folder]) == ["첫째 줄", "둘째 줄"]  # name order, other files left out
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"Corpus folder .*empty has no \*.txt or \*.gz file"):
        read_corpus([tmp_path / "empty"])


def test_packing_fills_blocks_and_splits_long_texts():
    blocks = pack_token_ids([[5, 6], [7, 8, 9], [10] * 9, [11]], cls_id=1, sep_id=2, max_seq_length=8)
    assert blocks[0] == [1, 5, 6, 2, 7, 8, 9, 2]  # [CLS] a [SEP] b [SEP]
    assert all(len(block) <= 8 and block[0] == 1 and block[-1] == 2 for block in blocks)
    tokens = [token for block in blocks for token in block if token > 2]
    assert tokens == [5, 6, 7, 8, 9, *[10] * 9, 11]  # nothing lost, order kept
    assert blocks[1:] == [[1, *[10] * 6, 2], [1, 10, 10, 10, 2, 11, 2]]  # the long text goes on in the next block


def test_streamed_corpus_packs_and_keeps_max_lines(tiny_tokenizer, fixtures_dir):
    corpus = [fixtures_dir / "corpus.txt"]
    packed = list(streamed_corpus(corpus, tiny_tokenizer, 64))
    unpacked = list(streamed_corpus(corpus, tiny_tokenizer, 64, packing=False))
    assert len(unpacked) == 40 and len(packed) < len(unpacked) / 2
    assert all(len(row["input_ids"]) == 64 and sum(row["attention_mask"]) == 64 for row in packed[:-1])
    assert list(streamed_corpus(corpus, tiny_tokenizer, 32, max_lines=3, packing=False, shuffle_seed=None)) == [
        tiny_tokenizer(text, truncation=True, max_length=32) for text in read_corpus(corpus, max_lines=3)
    ]


def test_streamed_corpus_checks_up_front_and_finds_a_late_bad_line_lazily(tmp_path, tiny_tokenizer):
    with pytest.raises(ValueError, match="not found"):
        streamed_corpus([tmp_path / "nope.txt"], tiny_tokenizer, 32)
    (tmp_path / "empty.txt").write_bytes(b"\n\n")
    with pytest.raises(ValueError, match="contains no text"):
        streamed_corpus([tmp_path / "empty.txt"], tiny_tokenizer, 32)
    bad = tmp_path / "late.txt"
    bad.write_bytes("좋은 줄\n".encode() * 5 + "나쁜 줄\n".encode("euc-kr"))
    dataset = streamed_corpus([bad], tiny_tokenizer, 32)  # the first line decodes: accepted without reading on
    with pytest.raises(CorpusError, match=r"late.txt is not UTF-8 text .*line 6"):
        list(dataset)


@pytest.mark.parametrize("kind", ["files", "dataset"])
def test_each_process_reads_only_its_own_files(tmp_path, tiny_tokenizer, korean_texts, kind):
    """What `accelerate` does with the streamed corpus under 2 processes (the commands' dispatch_batches=False): two
    text files, or a dataset of two parquet files."""
    from accelerate.data_loader import prepare_data_loader
    from torch.utils.data import DataLoader

    halves = {"a": korean_texts[:6], "b": korean_texts[6:12]}
    for name, texts in halves.items():
        if kind == "files":
            (tmp_path / f"{name}.txt").write_text("\n".join(texts), encoding="utf-8")
        else:
            write_parquet(tmp_path / f"train-{name}.parquet", {"text": texts})
    source = [tmp_path] if kind == "files" else corpus_source(None, DatasetArguments(str(tmp_path)))
    dataset = streamed_corpus(source, tiny_tokenizer, 128, packing=False, shuffle_seed=None)
    seen = []
    for rank in range(2):
        loader = DataLoader(dataset, batch_size=2, collate_fn=lambda rows: [tuple(row["input_ids"]) for row in rows])
        prepared = prepare_data_loader(
            loader, num_processes=2, process_index=rank, dispatch_batches=False, put_on_device=False
        )
        seen.append({ids for batch in prepared for ids in batch})
    expected = [{tuple(tiny_tokenizer(text)["input_ids"]) for text in halves[name]} for name in "ab"]
    assert seen == expected


@pytest.mark.slow
def test_a_bad_line_met_mid_training_is_a_one_line_error(tmp_path, tiny_tokenizer, korean_texts, capsys):
    from training.commands import pretrain_teacher as pretrain

    tiny_tokenizer.save_pretrained(tmp_path / "tok")
    corpus = tmp_path / "corpus.txt"
    corpus.write_bytes("\n".join(korean_texts * 3).encode() + "\n나쁜 줄\n".encode("euc-kr"))
    argv = ["--corpus", str(corpus), "--tokenizer", str(tmp_path / "tok"), "--preset", "tiny", "--max_steps", "2"]
    argv += ["--output_dir", str(tmp_path / "out"), "--disable_tqdm", "true", "--save_strategy", "no"]
    assert pretrain.main(argv) == 2
    last_line = capsys.readouterr().err.strip().splitlines()[-1]
    assert (
        last_line.startswith("error: ") and "corpus.txt is not UTF-8 text (undecodable bytes at line 121)" in last_line
    )


def test_a_plain_file_cut_into_byte_ranges_reads_every_line_once(tmp_path, tiny_tokenizer, korean_texts):
    path = tmp_path / "big.txt"
    path.write_bytes(("\n".join(korean_texts) + "\n\n").encode() + "나쁜 줄\n".encode("euc-kr"))
    shards = corpus_shards([path], shard_bytes=100)
    assert len(shards) > 5 and shards[0] == (str(path), 0, 100)
    texts = []
    # the error in the last range still names the file's line number (counted from the start of the file)
    with pytest.raises(CorpusError, match=rf"line {len(korean_texts) + 2}\)"):
        for _, start, end in shards:
            texts.extend(file_texts(path, start, end))
    assert texts == korean_texts  # every line once, in order, none cut at a range boundary
    # a range boundary exactly at a line start: that line belongs to the range it starts
    lines = [f"line {number:04d}" for number in range(10)]  # 10 bytes each with the newline
    (tmp_path / "even.txt").write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    shards = corpus_shards([tmp_path / "even.txt"], shard_bytes=20)
    assert [text for _, start, end in shards for text in file_texts(tmp_path / "even.txt", start, end)] == lines
    dataset = streamed_corpus([path], tiny_tokenizer, 128, packing=False, shuffle_seed=None, shard_bytes=100)
    assert dataset.n_shards == len(corpus_shards([path], shard_bytes=100))


def test_an_endless_stream_reads_the_corpus_again_and_again(tiny_tokenizer, fixtures_dir):
    """What the commands train on: one epoch to max_steps, so a resumed run skips exactly what it trained on."""
    corpus = [fixtures_dir / "corpus.txt"]
    one_pass = list(streamed_corpus(corpus, tiny_tokenizer, 32, packing=False, shuffle_seed=None))
    endless = streamed_corpus(corpus, tiny_tokenizer, 32, packing=False, shuffle_seed=None, endless=True)
    rows = list(itertools.islice(iter(endless), 2 * len(one_pass) + 3))
    assert rows == one_pass + one_pass + one_pass[:3]


# --------------------------------------------------------------------------------------------------------------------
# A `datasets` dataset as the corpus (--dataset_name)
# --------------------------------------------------------------------------------------------------------------------


def write_parquet(path, columns: dict) -> None:
    from datasets import Dataset

    path.parent.mkdir(parents=True, exist_ok=True)
    Dataset.from_dict(columns).to_parquet(path)


def parquet_source(folder, **options):
    return corpus_source(None, DatasetArguments(str(folder), **options))


def test_a_parquet_dataset_gives_the_blocks_of_the_same_texts_in_a_text_file(tmp_path, tiny_tokenizer, fixtures_dir):
    """Two parquet files with a number column beside the text; a row of two lines is two texts, as in a file, and a
    row without text (None) is skipped like an empty line."""
    texts = read_corpus([fixtures_dir / "corpus.txt"])
    rows = [texts[0] + "\n\n  " + texts[1], None, *texts[2:]]
    write_parquet(tmp_path / "data" / "train-00000.parquet", {"text": rows[:20], "n": list(range(20))})
    write_parquet(tmp_path / "data" / "train-00001.parquet", {"text": rows[20:], "n": list(range(len(rows) - 20))})
    files = [fixtures_dir / "corpus.txt"]
    source = parquet_source(tmp_path / "data")
    assert list(iter_corpus_lines(source)) == texts
    for packing in (True, False):
        expected = list(streamed_corpus(files, tiny_tokenizer, 64, packing=packing, shuffle_seed=None))
        assert list(streamed_corpus(source, tiny_tokenizer, 64, packing=packing, shuffle_seed=None)) == expected
    # DataLoader workers (a GPU run has one): each reads its own files of the dataset, every text once
    from torch.utils.data import DataLoader

    unpacked = streamed_corpus(source, tiny_tokenizer, 64, packing=False, shuffle_seed=None)
    loader = DataLoader(
        unpacked, batch_size=4, num_workers=2, collate_fn=lambda rows: [row["input_ids"] for row in rows]
    )
    assert sorted(ids for batch in loader for ids in batch) == sorted(row["input_ids"] for row in unpacked)
    assert len(list(unpacked)) == len(texts)
    # --max_corpus_lines: the first texts in order
    expected = list(streamed_corpus(files, tiny_tokenizer, 32, max_lines=5, packing=False))
    assert list(streamed_corpus(source, tiny_tokenizer, 32, max_lines=5, packing=False)) == expected
    assert len(expected) == 5
    # one parquet file given as --dataset_name, and the column named
    one_file = parquet_source(tmp_path / "data" / "train-00001.parquet", text_column_name="text")
    assert list(iter_corpus_lines(one_file, max_lines=3)) == texts[20:23]


def test_the_stream_yields_its_first_block_without_reading_the_rest_of_the_dataset(tmp_path, tiny_tokenizer):
    """The second file of the dataset is not parquet at all: the first blocks come from the first file, and the
    damaged one is met (and named as the dataset's) only when the stream reaches it."""
    good = [f"{number}번째 문장입니다" for number in range(1200)]  # more than one tokenizing batch of texts
    write_parquet(tmp_path / "data" / "train-00000.parquet", {"text": good})
    (tmp_path / "data" / "train-00001.parquet").write_bytes(b"not parquet " * 100)
    dataset = streamed_corpus(parquet_source(tmp_path / "data"), tiny_tokenizer, 32, packing=False, shuffle_seed=None)
    first = next(iter(dataset))
    assert first["input_ids"] == tiny_tokenizer(good[0], truncation=True, max_length=32)["input_ids"]
    with pytest.raises(CorpusError, match=r"^Cannot read dataset .*data, split train: .*[Pp]arquet"):
        list(dataset)


def _dataset_error(tmp_path, **options) -> str:
    with pytest.raises(CorpusError) as caught:
        corpus_source(options.pop("corpus", None), DatasetArguments(**options))
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_dataset_options_refused_in_one_line(tmp_path, fixtures_dir):
    folder = tmp_path / "two"
    write_parquet(folder / "train.parquet", {"title": ["제목"], "body": ["본문"], "n": [1]})
    both = _dataset_error(tmp_path, dataset_name=str(folder), corpus=[str(fixtures_dir / "corpus.txt")])
    assert both == "Give either --corpus (text files) or --dataset_name (a `datasets` dataset), not both."
    two = _dataset_error(tmp_path, dataset_name=str(folder))
    assert two == (
        f"Dataset {folder}, split train has 2 string columns (title, body) among title, body, n; pass "
        "--text_column_name with the column that holds the text."
    )
    missing = _dataset_error(tmp_path, dataset_name=str(folder), text_column_name="text")
    assert missing == (
        f"Dataset {folder}, split train has no column 'text' (its columns: title, body, n); pass --text_column_name "
        "with its text column."
    )
    assert "is not text" in _dataset_error(tmp_path, dataset_name=str(folder), text_column_name="n")
    gone = _dataset_error(tmp_path, dataset_name=str(tmp_path / "nope"))
    assert gone.startswith(f"--dataset_name {tmp_path / 'nope'}: no such local folder or file; pass")
    split = _dataset_error(tmp_path, dataset_name=str(folder), dataset_split="validation")
    assert split.startswith(f"Cannot load dataset {folder}, split validation: Bad split: validation.")
    assert split.endswith("check --dataset_config_name and --dataset_split.")
    stray = _dataset_error(tmp_path, corpus=[str(fixtures_dir / "corpus.txt")], text_column_name="text")
    assert stray.startswith("--text_column_name describe a --dataset_name dataset")
    assert _dataset_error(tmp_path).startswith("No corpus given: pass --corpus")


def test_an_unreachable_hub_dataset_is_one_line_from_the_command(tmp_path):
    """Offline (HF_HUB_OFFLINE=1, read when `datasets` is imported: a fresh process), a Hub id that is no local folder."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    command = [sys.executable, "-m", "training.cli", "train-tokenizer", "--dataset_name", "nobody/no-such-corpus"]
    command += ["--output_dir", str(tmp_path / "tok")]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: Cannot load dataset nobody/no-such-corpus, split train: the Hub is unreachable (HF_HUB_OFFLINE is "
        "set) and no local folder has that name; connect to the Hub, or pass a local dataset folder or file as "
        "--dataset_name."
    ]
    assert not (tmp_path / "tok").exists()
