"""The sample the package ships (training/data): reproducible from its generator, and a sentiment task on which the
quickstart's systems can differ, i.e. not one that a single word or a bag of character n-grams solves."""

from __future__ import annotations

import importlib.util
import re
from collections import Counter, defaultdict
from pathlib import Path

from training.provenance import PACKAGE_DATA
from training.task_baselines import task_baselines

REPO = Path(__file__).resolve().parents[1]
SAMPLE = PACKAGE_DATA / "sample_nsmc"


def _rows(name: str) -> list[tuple[str, int]]:
    lines = (SAMPLE / name).read_text(encoding="utf-8").splitlines()
    assert lines[0] == "id\tdocument\tlabel"
    return [(text, int(label)) for _, text, label in (line.split("\t") for line in lines[1:])]


def test_the_sample_has_the_counts_its_readme_states():
    train, test = _rows("ratings_train.txt"), _rows("ratings_test.txt")
    assert (len(train), len(test)) == (800, 200)
    assert Counter(label for _, label in train + test) == {0: 500, 1: 500}
    corpus = (PACKAGE_DATA / "sample_corpus.txt").read_text(encoding="utf-8").splitlines()
    assert len(corpus) == 2000
    readme = (PACKAGE_DATA / "README.md").read_text(encoding="utf-8")
    assert "2,000 lines" in readme and "800 / 200" in readme


def test_the_generator_writes_exactly_the_shipped_files(tmp_path):
    spec = importlib.util.spec_from_file_location("make_sample_data", REPO / "scripts" / "make_sample_data.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.OUT = tmp_path
    module.main()
    for name in ("sample_corpus.txt", "sample_nsmc/ratings_train.txt", "sample_nsmc/ratings_test.txt"):
        assert (tmp_path / name).read_bytes() == (PACKAGE_DATA / name).read_bytes(), name


def test_no_single_word_gives_the_label_away():
    # A word (Korean: an eojeol, punctuation dropped) seen in 10+ rows that carries one label on 95% of them decides
    # those rows by itself. On the first sample (one giveaway phrase per review) every row had one; now negation and
    # contrast put every predicate in both classes.
    rows = [
        (set(re.findall(r"\w+", text)), label) for text, label in _rows("ratings_train.txt") + _rows("ratings_test.txt")
    ]
    labels_by_word: dict[str, Counter] = defaultdict(Counter)
    for words, label in rows:
        for word in words:
            labels_by_word[word][label] += 1
    deciding = {
        word
        for word, counts in labels_by_word.items()
        if counts.total() >= 10 and max(counts.values()) >= 0.95 * counts.total()
    }
    decided = sum(1 for words, _ in rows if words & deciding)
    assert decided <= 0.10 * len(rows), (decided, sorted(deciding)[:10])


def test_tfidf_logistic_regression_is_well_above_chance_but_far_from_perfect():
    baselines = task_baselines("nsmc", data_dir=SAMPLE)
    assert baselines["trivial"]["metrics"]["accuracy"] == 50.0
    assert 60.0 < baselines["classical"]["metrics"]["accuracy"] < 97.0
