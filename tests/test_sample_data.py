"""The Korean sample the package ships (training/data, written by scripts/make_sample_data.py): reproducible, and a
task on which the quickstart's systems can differ (not one every system scores 100.0 on)."""

from __future__ import annotations

import importlib.util
import sys

import pytest

from training.provenance import PACKAGE_DATA
from training.task_baselines import primary_score, task_baselines

ROOT = PACKAGE_DATA.parents[1]


@pytest.fixture(scope="module")
def generator():
    spec = importlib.util.spec_from_file_location("make_sample_data", ROOT / "scripts" / "make_sample_data.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("make_sample_data", module)
    spec.loader.exec_module(module)
    return module


def _rows(name: str) -> list[tuple[str, int]]:
    lines = (PACKAGE_DATA / "sample_nsmc" / name).read_text(encoding="utf-8").splitlines()[1:]
    return [(line.split("\t")[1], int(line.split("\t")[2])) for line in lines]


def test_the_shipped_files_are_what_the_generator_writes(generator, tmp_path, monkeypatch):
    monkeypatch.setattr(generator, "OUT", tmp_path)
    generator.main()
    for name in ("sample_corpus.txt", "sample_nsmc/ratings_train.txt", "sample_nsmc/ratings_test.txt"):
        assert (tmp_path / name).read_bytes() == (PACKAGE_DATA / name).read_bytes(), name


def test_held_out_phrases_are_in_the_corpus_and_half_the_test_reviews_but_no_training_review(generator):
    held_out = [phrase for positive in (True, False) for phrase in generator.phrases_of(positive, "held-out")]
    train, test = _rows("ratings_train.txt"), _rows("ratings_test.txt")
    corpus = (PACKAGE_DATA / "sample_corpus.txt").read_text(encoding="utf-8")
    assert len(train) == 800 and len(test) == 200
    assert not any(phrase in text for text, _ in train for phrase in held_out)
    assert all(phrase in corpus for phrase in held_out)
    unseen = [(text, label) for text, label in test if any(phrase in text for phrase in held_out)]
    assert len(unseen) == 100 and sum(label for _, label in unseen) == 50
    # no giveaway ending on those: none of the tails that training reviews end with
    tails = [tail.strip() for tail in generator.POSITIVE_TAILS + generator.NEGATIVE_TAILS if tail.strip()]
    assert not any(text.endswith(tail) for text, _ in unseen for tail in tails)


def test_tfidf_on_the_labels_is_far_from_both_chance_and_perfect():
    """The table can only tell systems apart if the classical baseline is neither at 100 (the sample before: every
    system scored 100.0) nor at chance."""
    baselines = task_baselines("nsmc", PACKAGE_DATA / "sample_nsmc")
    assert primary_score(baselines, "trivial") == 50.0
    assert 60.0 < primary_score(baselines, "classical") < 90.0
