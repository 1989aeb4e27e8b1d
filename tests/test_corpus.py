"""The shared corpus reader: plain and gzip text, and errors that name the bad file and line."""

from __future__ import annotations

import gzip

import pytest

from training.corpus import iter_corpus_lines, read_corpus


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
