"""The Korean task suite: registry, readers (fixtures, real data, the Hub adapters), bad input, metrics, preprocessing."""

from __future__ import annotations

import gzip
import json
import random
import re
import string
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from conftest import build_tiny_tokenizer
from datasets import ClassLabel, Dataset, Features, Value

import training.tasks.readers as readers
from training.tasks import (
    QUESTION_ANSWERING,
    TASKS,
    TOKEN_CLASSIFICATION,
    BadRowError,
    DataFileError,
    classification_metrics,
    count_truncated,
    get_task,
    korquad_exact_match,
    korquad_f1,
    korquad_metrics,
    load_task_data,
    ner_metrics,
    normalize_korquad_answer,
    postprocess_ner_predictions,
    postprocess_qa_predictions,
    regression_metrics,
    tokenize_dataset,
)

ALL_TASKS = list(TASKS)
EXPECTED_TASKS = {
    "nsmc",
    "kohate",
    "kohate-binary",
    "kohate-bias",
    "kornli",
    "korsts",
    "korquad",
    "qpair",
    "ner",
    "paws",
}


def folder_of(task_name: str) -> str:
    """Data folder of a task: the kohate variants share kohate/."""
    return task_name.split("-")[0]


def read_lines(path: Path) -> list[str]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        return [line.rstrip("\r\n") for line in handle if line.strip()]


def count_questions(path: Path) -> tuple[int, dict[str, int]]:
    """Questions in a SQuAD JSON file, and questions per article title."""
    articles = json.loads(path.read_text(encoding="utf-8"))["data"]
    per_title = {article["title"]: sum(len(p["qas"]) for p in article["paragraphs"]) for article in articles}
    return sum(per_title.values()), per_title


def count_rows(folder: Path, task_name: str) -> dict[str, int]:
    """Rows per split counted straight from the files, independently of the readers."""
    task = get_task(task_name)
    if task.kind == QUESTION_ANSWERING:
        return {"all": count_questions(folder / task.eval_files[0])[0]}
    if task.kind == TOKEN_CLASSIFICATION:
        return {"all": len(read_lines(folder / task.eval_files[0]))}
    train = next(folder / name for name in task.train_files if (folder / name).is_file())
    evaluation = next(folder / name for name in task.eval_files if (folder / name).is_file())
    return {"train": len(read_lines(train)) - 1, "eval": len(read_lines(evaluation)) - 1}  # minus the header


# --------------------------------------------------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------------------------------------------------


def test_registry_has_every_task_with_consistent_metadata():
    assert set(TASKS) == EXPECTED_TASKS
    for task in TASKS.values():
        assert task.primary_metric in task.metric_names
        assert task.head in {"sequence-classification", "token-classification", "question-answering"}
        assert task.eval_files and task.train_files and task.local_format
        assert task.hf_dataset is not None or task.name == "ner"
        assert set(task.hub_splits) == ({"train", "eval"} if task.hf_dataset else set())
    assert get_task("korsts").num_labels == 1
    assert get_task("kohate").num_labels == 3 and get_task("kohate-binary").num_labels == 2
    assert get_task("ner").num_labels == 29 and get_task("ner").label_names[0] == "O"


def test_unknown_task_lists_the_known_ones():
    with pytest.raises(ValueError) as error:
        get_task("nsmcc")
    assert "nsmcc" in str(error.value)
    for name in TASKS:
        assert name in str(error.value)


# --------------------------------------------------------------------------------------------------------------------
# Readers on the project's fixtures and on the real data
# --------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("task_name", ALL_TASKS)
def test_every_task_parses_its_fixture_files(task_name, fixtures_dir):
    folder = fixtures_dir / "tasks" / folder_of(task_name)
    data = load_task_data(task_name, folder)
    assert set(data) == {"train", "eval"}
    counted = count_rows(folder, task_name)
    if "all" in counted:
        assert len(data["train"]) + len(data["eval"]) == counted["all"]
    else:
        assert (len(data["train"]), len(data["eval"])) == (counted["train"], counted["eval"])
    assert data.data_source == f"local:{folder}" and data.num_bad_rows_skipped == 0
    assert set(data.splits) == {"train", "eval"}


@pytest.mark.parametrize("task_name", ALL_TASKS)
def test_every_task_parses_the_real_files(task_name, shared_data):
    folder = shared_data / folder_of(task_name)
    data = load_task_data(task_name, folder)
    counted = count_rows(folder, task_name)
    if "all" in counted:
        assert len(data["train"]) + len(data["eval"]) == counted["all"]
        assert abs(len(data["train"]) / counted["all"] - 0.8) < 0.1
    else:
        assert (len(data["train"]), len(data["eval"])) == (counted["train"], counted["eval"])
    assert data.num_bad_rows_skipped == 0


def test_real_labels_are_mapped_by_name(shared_data):
    # qpair: is_duplicate 0 marks pairs that mean the same; identical questions must come out as "same".
    qpair = load_task_data("qpair", shared_data / "qpair")["train"]
    same = qpair.features["label"].str2int("same")
    identical = [row["label"] for row in qpair if row["text"] == row["text_pair"]]
    # (one identical pair in train.tsv is labelled 1: annotation noise in the source, kept as is)
    assert len(identical) > 100 and sum(label == same for label in identical) >= 0.99 * len(identical)

    raw = [line.split("\t") for line in read_lines(shared_data / "kohate" / "dev.tsv")[1:]]
    binary = load_task_data("kohate-binary", shared_data / "kohate")["eval"]
    names = [binary.features["label"].int2str(label) for label in binary["label"]]
    assert names.count("none") == sum(row[3] == "none" for row in raw)
    assert names.count("hateful") == sum(row[3] in ("hate", "offensive") for row in raw)
    bias = load_task_data("kohate-bias", shared_data / "kohate")["eval"]
    assert [bias.features["label"].int2str(label) for label in bias["label"]] == [row[2] for row in raw]


def test_korquad_holdout_splits_by_article_and_is_seeded(shared_data):
    path = shared_data / "korquad"
    first = load_task_data("korquad", path, seed=1)
    again = load_task_data("korquad", path, seed=1)
    other = load_task_data("korquad", path, seed=2)
    assert first["eval"]["id"] == again["eval"]["id"]
    assert first["eval"]["id"] != other["eval"]["id"]
    assert not set(first["train"]["title"]) & set(first["eval"]["title"])
    _, per_title = count_questions(path / "KorQuAD_v1.0_dev.json")
    assert len(first["eval"]) == sum(per_title[title] for title in set(first["eval"]["title"]))


def test_eval_only_reads_the_same_eval_rows(fixtures_dir):
    for task_name in ("nsmc", "ner"):  # a file of its own, and a seeded holdout
        folder = fixtures_dir / "tasks" / folder_of(task_name)
        both, eval_only = load_task_data(task_name, folder), load_task_data(task_name, folder, eval_only=True)
        assert set(eval_only) == {"eval"} and set(eval_only.splits) == {"eval"}
        assert eval_only["eval"][:] == both["eval"][:]


def test_max_samples_take_a_seeded_subset(fixtures_dir):
    folder = fixtures_dir / "tasks" / "nsmc"
    data = load_task_data("nsmc", folder, max_train_samples=5, max_eval_samples=3, seed=3)
    assert (len(data["train"]), len(data["eval"])) == (5, 3)
    assert data["train"]["text"] == load_task_data("nsmc", folder, max_train_samples=5, seed=3)["train"]["text"]
    assert "random 5 rows (seed 3)" in data.splits["train"]


# --------------------------------------------------------------------------------------------------------------------
# The Hub adapters (load_dataset replaced by in-memory data with the Hub's columns: tests never touch the network)
# --------------------------------------------------------------------------------------------------------------------


def test_hub_rows_go_through_the_same_converter(monkeypatch):
    nli_labels = ClassLabel(names=["entailment", "neutral", "contradiction"])
    hub = Dataset.from_dict(
        {"premise": ["비가 온다.", "해가 뜬다."], "hypothesis": ["날씨가 흐리다.", "밤이다."], "label": [0, 2]},
        features=Features({"premise": Value("string"), "hypothesis": Value("string"), "label": nli_labels}),
    )
    calls = []

    def fake_load_dataset(dataset_id, config, split):
        calls.append((dataset_id, config, split))
        return hub

    monkeypatch.setattr("datasets.load_dataset", fake_load_dataset)
    data = load_task_data("kornli")
    assert calls == [("kakaobrain/kor_nli", "multi_nli", "train"), ("kakaobrain/kor_nli", "xnli", "test")]
    assert data["train"]["text_pair"] == ["날씨가 흐리다.", "밤이다."]
    assert [data["train"].features["label"].int2str(i) for i in data["train"]["label"]] == [
        "entailment",
        "contradiction",
    ]
    assert data.data_source == "hub:kakaobrain/kor_nli"


def test_hub_qpair_class_names_are_the_raw_values(monkeypatch):
    hub = Dataset.from_dict(
        {"question1": ["밥 먹었어?", "비 와?"], "question2": ["식사했어?", "배고파"], "is_duplicate": [0, 1]},
        features=Features(
            {"question1": Value("string"), "question2": Value("string"), "is_duplicate": ClassLabel(names=["0", "1"])}
        ),
    )
    monkeypatch.setattr("datasets.load_dataset", lambda *args, **kwargs: hub)
    train = load_task_data("qpair")["train"]
    assert [train.features["label"].int2str(i) for i in train["label"]] == ["same", "different"]


def test_hub_class_names_that_are_label_names(monkeypatch):
    # The Hub's NSMC names its classes "negative"/"positive" where the files write 0/1.
    hub = Dataset.from_dict(
        {"id": ["1", "2", "3"], "document": ["재밌다", "별로다", "최고"], "label": [1, 0, 1]},
        features=Features(
            {"id": Value("string"), "document": Value("string"), "label": ClassLabel(names=["negative", "positive"])}
        ),
    )
    monkeypatch.setattr("datasets.load_dataset", lambda *args, **kwargs: hub)
    train = load_task_data("nsmc")["train"]
    assert [train.features["label"].int2str(i) for i in train["label"]] == ["positive", "negative", "positive"]


def test_hub_korquad_rows_use_the_columnar_answers(monkeypatch):
    context = "한글은 1443년 세종대왕이 창제하였다."
    hub = Dataset.from_dict(
        {
            "id": ["q1", "q2"],
            "title": ["한글", "한글"],
            "context": [context, context],
            "question": ["누가 만들었나?", "언제 만들었나?"],
            "answers": [{"text": ["세종대왕"], "answer_start": [10]}, {"text": ["1443년"], "answer_start": [99]}],
        }
    )
    monkeypatch.setattr("datasets.load_dataset", lambda *args, **kwargs: hub)
    data = load_task_data("korquad", on_bad_rows="skip")
    assert data["train"]["answers"][0] == {"text": ["세종대왕"], "answer_start": [10]}
    assert len(data["train"]) == 1 and data.num_bad_rows_skipped == 2  # q2's offset is wrong, in both splits
    with pytest.raises(BadRowError, match=r"hub:KorQuAD/squad_kor_v1\[train\], row 2 \(id 'q2'\)"):
        load_task_data("korquad")


def test_unreachable_hub_says_to_pass_a_data_dir(monkeypatch):
    def offline(*args, **kwargs):
        raise ConnectionError("offline")

    monkeypatch.setattr("datasets.load_dataset", offline)
    with pytest.raises(DataFileError, match="--data-dir"):
        load_task_data("nsmc")
    with pytest.raises(DataFileError, match="no public copy"):
        load_task_data("ner")


# --------------------------------------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------------------------------------


def write_tsv(folder: Path, name: str, lines: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


NSMC_HEADER = "id\tdocument\tlabel"


@pytest.mark.parametrize(
    ("bad_line", "reason"),
    [
        ("3\t너무 좋다", "2 tab-separated fields, expected 3"),
        ("3\t   \t1", "empty text"),
        ("3\t좋아요\t2", "label '2'"),
    ],
)
def test_bad_row_names_file_and_line_and_skip_counts_it(tmp_path, bad_line, reason):
    folder = tmp_path / "nsmc"
    write_tsv(folder, "ratings_train.txt", [NSMC_HEADER, "1\t재밌다\t1", bad_line, "2\t별로다\t0"])
    write_tsv(folder, "ratings_test.txt", [NSMC_HEADER, "4\t최고\t1", "5\t최악\t0"])
    with pytest.raises(BadRowError) as error:
        load_task_data("nsmc", folder)
    assert str(folder / "ratings_train.txt") in str(error.value)
    assert "line 3" in str(error.value) and reason in str(error.value)
    assert "--on_bad_rows skip" in str(error.value)

    data = load_task_data("nsmc", folder, on_bad_rows="skip")
    assert len(data["train"]) == 2 and data.num_bad_rows_skipped == 1


def test_korsts_score_out_of_range_and_quotes(tmp_path):
    header = "genre\tfilename\tyear\tid\tscore\tsentence1\tsentence2"
    folder = tmp_path / "korsts"
    write_tsv(
        folder, "sts-train.tsv", [header, 'a\tb\t2012\t1\t3.5\t"따옴표가 하나\t문장', "a\tb\t2012\t2\t7.0\t하나\t둘"]
    )
    write_tsv(folder, "sts-test.tsv", [header, "a\tb\t2012\t3\t1.0\t셋\t넷"])
    with pytest.raises(BadRowError, match=r"line 3: score 7.0 .* outside \[0, 5\]"):
        load_task_data("korsts", folder)
    data = load_task_data("korsts", folder, on_bad_rows="skip")
    assert data["train"]["text"] == ['"따옴표가 하나']  # the unbalanced quote is text, not quoting


@pytest.mark.parametrize(
    ("line", "reason"),
    [("김철수 가 왔다\tPER-B O", "3 words but 2 tags"), ("김철수 가\tPER-B XYZ-B", "unknown tag(s) XYZ-B")],
)
def test_ner_bad_rows(tmp_path, line, reason):
    folder = tmp_path / "ner"
    write_tsv(folder, "test.tsv", ["서울 에 간다\tLOC-B O O"] * 4 + [line])
    with pytest.raises(BadRowError, match=re.escape(f"line 5: {reason}")):
        load_task_data("ner", folder)


def test_korquad_answer_not_in_context_is_a_bad_row(tmp_path, fixtures_dir):
    content = json.loads((fixtures_dir / "tasks/korquad/KorQuAD_v1.0_dev.json").read_text(encoding="utf-8"))
    content["data"][1]["paragraphs"][0]["qas"][0]["answers"][0]["answer_start"] += 1
    folder = tmp_path / "korquad"
    folder.mkdir()
    (folder / "KorQuAD_v1.0_dev.json").write_text(json.dumps(content, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(BadRowError, match=r"article 1 \('한글'\), question '한글-0': answer '세종대왕' is not at"):
        load_task_data("korquad", folder)
    assert load_task_data("korquad", folder, on_bad_rows="skip").num_bad_rows_skipped == 1


def test_missing_and_unreadable_files_name_path_and_format(tmp_path):
    with pytest.raises(DataFileError, match="does not exist.*TSV with header `id document label`"):
        load_task_data("nsmc", tmp_path / "nowhere")
    folder = tmp_path / "paws"
    write_tsv(folder, "test_2k.tsv", ["id\tsentence1\tsentence2\tlabel", "1\t가\t나\t1"])
    with pytest.raises(DataFileError, match=r"has no translated_train.tsv or dev_2k.tsv.*`id sentence1 sentence2"):
        load_task_data("paws", folder)
    (folder / "dev_2k.tsv").write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(DataFileError, match=f"cannot read {folder / 'dev_2k.tsv'}"):
        load_task_data("paws", folder)
    write_tsv(folder, "dev_2k.tsv", ["sentence1\tlabel", "가\t1"])
    with pytest.raises(DataFileError, match="missing column.*sentence2"):
        load_task_data("paws", folder)
    quad = tmp_path / "korquad"
    quad.mkdir()
    (quad / "KorQuAD_v1.0_dev.json").write_text('{"data": [', encoding="utf-8")
    with pytest.raises(DataFileError, match="not valid JSON.*SQuAD v1.1 JSON"):
        load_task_data("korquad", quad)


def test_bad_options_are_rejected(fixtures_dir):
    with pytest.raises(ValueError, match="on_bad_rows must be one of fail, skip"):
        load_task_data("nsmc", fixtures_dir / "tasks/nsmc", on_bad_rows="ignore")
    with pytest.raises(ValueError, match="max_train_samples must be a positive"):
        load_task_data("nsmc", fixtures_dir / "tasks/nsmc", max_train_samples=0)


# --------------------------------------------------------------------------------------------------------------------
# Metrics
# --------------------------------------------------------------------------------------------------------------------


def test_korquad_normalisation_and_character_f1():
    assert normalize_korquad_answer("《임수경》 (사람)") == "임수경 사람"
    assert normalize_korquad_answer("‘Hello’,  World!") == "hello world"
    assert korquad_exact_match('"세종대왕"', "세종대왕") == 1.0
    assert korquad_f1("세종대왕이", "세종대왕") == pytest.approx(2 * (4 / 5) * 1 / (4 / 5 + 1))
    assert korquad_f1("1989년 2월", "1989년 2월 15일") == pytest.approx(2 * 1 * (7 / 10) / (1 + 7 / 10))
    assert korquad_f1("한라산", "1947미터") == 0.0
    scores = korquad_metrics({"a": "세종대왕", "b": "틀림"}, {"a": ["세종", "세종대왕"], "b": ["정답"], "c": ["없음"]})
    assert scores["exact_match"] == pytest.approx(100 / 3)
    assert scores["f1"] == pytest.approx(100 / 3)


# The official KorQuAD 1.0 scorer (korquad.github.io, evaluate-v1.0.py), as published, for the equivalence test.
def official_korquad_normalize(s):
    def remove_(text):
        for symbol in ("'", '"', "《", "》", "<", ">", "〈", "〉", "\\(", "\\)", "‘", "’"):
            text = re.sub(symbol, " ", text)
        return text

    def white_space_fix(text):
        return " ".join(text.split())

    def remove_punc(text):
        exclude = set(string.punctuation)
        return "".join(ch for ch in text if ch not in exclude)

    def lower(text):
        return text.lower()

    return white_space_fix(remove_punc(lower(remove_(s))))


def official_korquad_f1(prediction, ground_truth):
    prediction_chars = [char for token in official_korquad_normalize(prediction).split() for char in token]
    truth_chars = [char for token in official_korquad_normalize(ground_truth).split() for char in token]
    num_same = sum((Counter(prediction_chars) & Counter(truth_chars)).values())
    if num_same == 0:
        return 0
    precision = 1.0 * num_same / len(prediction_chars)
    recall = 1.0 * num_same / len(truth_chars)
    return (2 * precision * recall) / (precision + recall)


def official_korquad_evaluate(dataset: list[dict], predictions: dict[str, str]) -> dict[str, float]:
    f1 = exact_match = total = 0
    for article in dataset:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                total += 1
                if qa["id"] not in predictions:
                    continue  # unanswered: scores 0
                truths = [answer["text"] for answer in qa["answers"]]
                prediction = predictions[qa["id"]]
                exact_match += max(
                    official_korquad_normalize(prediction) == official_korquad_normalize(truth) for truth in truths
                )
                f1 += max(official_korquad_f1(prediction, truth) for truth in truths)
    return {"exact_match": 100.0 * exact_match / total, "f1": 100.0 * f1 / total}


def _perturbed_answers(dataset: list[dict], seed: int = 0) -> dict[str, str]:
    """Gold answers, cut, extended, quoted, re-cased and punctuated at random, some questions left unanswered."""
    rng = random.Random(seed)
    predictions = {}
    for article in dataset:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                answer, context = qa["answers"][0]["text"], paragraph["context"]
                choice = rng.randrange(7)
                if choice == 0:
                    continue
                if choice == 1:
                    answer = answer[: rng.randrange(len(answer) + 1)]
                elif choice == 2:
                    start = qa["answers"][0]["answer_start"]
                    answer = context[max(0, start - rng.randrange(6)) : start + len(answer) + rng.randrange(6)]
                elif choice == 3:
                    answer = f"《{answer}》 (참고)"
                elif choice == 4:
                    answer = answer.upper() + rng.choice([".", "!", "'", " ,", "’"])
                elif choice == 5:
                    answer = context[rng.randrange(len(context)) :][:10]
                predictions[qa["id"]] = answer
    return predictions


def _korquad_references(dataset: list[dict]) -> dict[str, list[str]]:
    return {
        qa["id"]: [answer["text"] for answer in qa["answers"]]
        for article in dataset
        for paragraph in article["paragraphs"]
        for qa in paragraph["qas"]
    }


def assert_korquad_metrics_equal_the_official_scorer(dev_file: Path) -> None:
    dataset = json.loads(dev_file.read_text(encoding="utf-8"))["data"]
    for seed in range(3):
        predictions = _perturbed_answers(dataset, seed)
        ours = korquad_metrics(predictions, _korquad_references(dataset))
        official = official_korquad_evaluate(dataset, predictions)
        assert 0 < official["exact_match"] < official["f1"] < 100
        assert abs(ours["exact_match"] - official["exact_match"]) < 1e-12
        assert abs(ours["f1"] - official["f1"]) < 1e-12


def test_korquad_metrics_equal_the_official_scorer(fixtures_dir):
    """On perturbed answers (cut, extended, quoted, punctuated, unanswered) to every fixture question."""
    assert_korquad_metrics_equal_the_official_scorer(fixtures_dir / "tasks/korquad/KorQuAD_v1.0_dev.json")


@pytest.mark.slow  # a subprocess / the whole real dev set
def test_korquad_metrics_equal_the_official_scorer_on_the_real_dev_set(shared_data):
    """The same on all 5,774 questions of the real KorQuAD 1.0 dev set."""
    assert_korquad_metrics_equal_the_official_scorer(shared_data / "korquad/KorQuAD_v1.0_dev.json")


def test_classification_regression_and_ner_metrics():
    scores = classification_metrics(np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1]), num_labels=3)
    assert scores["accuracy"] == 75.0
    # class 2 is absent from both: it still counts in the macro average (F1 0), as the task defines 3 classes
    assert scores["macro_f1"] == pytest.approx(100 * (2 / 3 + 0.8 + 0) / 3)
    correlations = regression_metrics(np.array([1.0, 2.0, 3.0, 5.0]), np.array([2.0, 4.0, 6.0, 7.0]))
    assert correlations["spearman"] == pytest.approx(100.0)
    assert 90 < correlations["pearson"] < 100
    truth = [["PER-B", "PER-I", "O", "LOC-B"]]
    assert ner_metrics(truth, truth)["entity_f1"] == 100.0
    half = ner_metrics(truth, [["PER-B", "O", "O", "LOC-B"]])  # the PER span is cut short: 1 of 2 entities
    assert half["entity_f1"] == pytest.approx(50.0) and half["accuracy"] == 75.0


# --------------------------------------------------------------------------------------------------------------------
# Preprocessing
# --------------------------------------------------------------------------------------------------------------------


def fixture_texts(fixtures_dir: Path, korean_texts: list[str]) -> list[str]:
    """Every line of the task fixtures, for a tokenizer that covers all their characters (no [UNK] in contexts)."""
    texts = list(korean_texts)
    for path in sorted((fixtures_dir / "tasks").rglob("*")):
        if path.is_file() and path.suffix in (".tsv", ".txt", ".json", ".gz"):
            texts += read_lines(path) if path.suffix != ".json" else [path.read_text(encoding="utf-8")]
    return texts


@pytest.fixture(scope="module")
def fixture_tokenizer(fixtures_dir, korean_texts):
    return build_tiny_tokenizer(fixture_texts(fixtures_dir, korean_texts), vocab_size=4000)


def test_sentence_pairs_get_two_segments(fixtures_dir, fixture_tokenizer):
    data = load_task_data("kornli", fixtures_dir / "tasks/kornli")
    features = tokenize_dataset(get_task("kornli"), data["train"], fixture_tokenizer, max_length=64)
    assert 1 in features[0]["token_type_ids"] and features["labels"] == data["train"]["label"]


def test_ner_labels_sit_on_the_first_piece_of_each_word(fixtures_dir, fixture_tokenizer):
    task = get_task("ner")
    data = load_task_data(task, fixtures_dir / "tasks/ner")["train"]
    features = tokenize_dataset(task, data, fixture_tokenizer, max_length=64)
    for example, feature in zip(data, features):
        encoded = fixture_tokenizer(example["tokens"], is_split_into_words=True)
        word_ids = encoded.word_ids()
        first_pieces = [i for i, word in enumerate(word_ids) if word is not None and word != word_ids[i - 1]]
        assert [feature["labels"][i] for i in first_pieces] == example["ner_tags"]
        assert sum(label != -100 for label in feature["labels"]) == len(example["tokens"])


def _long_ner_examples(task) -> Dataset:
    """Sentences of 3 to 40 words with entities all along them, many past a short window's end."""
    rng = random.Random(0)
    words = ["김철수", "는", "2019년", "서울", "에서", "태어났다", "삼성전자", "가", "새", "스마트폰", "을", "발표했다"]
    rows = {"tokens": [], "ner_tags": []}
    for _ in range(12):
        length = rng.randrange(3, 41)
        rows["tokens"].append([rng.choice(words) for _ in range(length)])
        rows["ner_tags"].append([rng.randrange(task.num_labels) for _ in range(length)])
    return Dataset.from_dict(rows)


def test_ner_windows_predict_every_word_of_long_sentences(fixture_tokenizer):
    """Sentences longer than max_seq_length are read in overlapping windows: every word's first piece carries its
    label in some window, and logits that are right on each labelled piece give back every sentence's whole gold."""
    task = get_task("ner")
    examples = _long_ner_examples(task)
    features = tokenize_dataset(task, examples, fixture_tokenizer, max_length=16, doc_stride=4, training=False)
    assert count_truncated(task, features) >= 6  # most sentences did not fit one window
    labelled = {}
    logits = np.zeros((len(features), 16, task.num_labels))
    for window, feature in enumerate(features):
        for position, (word, label) in enumerate(zip(feature["word_index"], feature["labels"])):
            assert (word >= 0) == (label != -100)
            if word >= 0:
                # a word's first piece, also where a window opens inside a word
                assert not fixture_tokenizer.convert_ids_to_tokens(feature["input_ids"][position]).startswith("##")
                gold = examples[feature["example_index"]]["ner_tags"][word]
                assert label == gold
                labelled[(feature["example_index"], word)] = label
                logits[window, position, label] = 1.0
    assert set(labelled) == {(i, w) for i, tokens in enumerate(examples["tokens"]) for w in range(len(tokens))}
    predicted = postprocess_ner_predictions(examples, features, logits, task.label_names)
    assert predicted == [[task.label_names[tag] for tag in tags] for tags in examples["ner_tags"]]


def test_ner_score_counts_the_entities_past_the_cut_against_the_whole_gold(fixture_tokenizer):
    """A model that tags right only what fits the first window: its F1 is seqeval's on the whole gold, where every
    entity past the first window is missed, not the higher F1 of the words that fit."""
    from seqeval.metrics import f1_score

    task = get_task("ner")
    examples = _long_ner_examples(task)
    features = tokenize_dataset(task, examples, fixture_tokenizer, max_length=16, doc_stride=4, training=False)
    logits = np.zeros((len(features), 16, task.num_labels))
    logits[..., 0] = 0.5  # "O" unless told otherwise
    first_window = {}
    for window, feature in enumerate(features):
        first_window.setdefault(feature["example_index"], window)
        if first_window[feature["example_index"]] != window:
            continue
        for position, label in enumerate(feature["labels"]):
            if label != -100:
                logits[window, position, label] = 1.0
    predicted = postprocess_ner_predictions(examples, features, logits, task.label_names)
    gold = [[task.label_names[tag] for tag in tags] for tags in examples["ner_tags"]]
    assert [len(tags) for tags in predicted] == [len(tags) for tags in gold]
    whole_gold = 100 * f1_score(gold, predicted, suffix=True)
    assert ner_metrics(gold, predicted)["entity_f1"] == pytest.approx(whole_gold, abs=1e-9)
    assert 0 < whole_gold < 100  # the entities past the first window count as missed


def test_qa_windows_map_answers_and_back(fixtures_dir, fixture_tokenizer):
    """Long contexts split by stride; the answer's tokens decode to it, and oracle logits score EM 100."""
    task = get_task("korquad")
    examples = load_task_data(task, fixtures_dir / "tasks/korquad")["train"]
    train = tokenize_dataset(task, examples, fixture_tokenizer, max_length=48, doc_stride=12, training=True)
    evaluation = tokenize_dataset(task, examples, fixture_tokenizer, max_length=48, doc_stride=12, training=False)
    assert len(train) > len(examples)  # the contexts did not fit one window
    assert len(train) == len(evaluation)

    start_logits = np.full((len(train), 48), -10.0)
    end_logits = np.full((len(train), 48), -10.0)
    answered = 0
    text_of = {example["id"]: example for example in examples}
    for window, feature in enumerate(train):
        start, end = feature["start_positions"], feature["end_positions"]
        start_logits[window, start] = end_logits[window, end] = 10.0
        if start == 0:
            continue  # the answer is not in this window: the target is [CLS]
        answered += 1
        example = text_of[evaluation[window]["example_id"]]
        offsets = evaluation[window]["offset_mapping"]
        span = example["context"][offsets[start][0] : offsets[end][1]]
        assert span == example["answers"]["text"][0]
    assert answered >= len(examples)

    predictions = postprocess_qa_predictions(examples, evaluation, start_logits, end_logits)
    references = {example["id"]: example["answers"]["text"] for example in examples}
    assert korquad_metrics(predictions, references) == {"exact_match": 100.0, "f1": 100.0}


def test_short_max_length_and_bad_stride_are_rejected(fixtures_dir, fixture_tokenizer):
    task = get_task("korquad")
    examples = load_task_data(task, fixtures_dir / "tasks/korquad")["eval"]
    with pytest.raises(ValueError, match="doc_stride 40 must be positive and below half"):
        tokenize_dataset(task, examples, fixture_tokenizer, max_length=64, doc_stride=40)
    with pytest.raises(ValueError, match="max_seq_length 4 is too short"):
        tokenize_dataset(task, examples, fixture_tokenizer, max_length=4)


def test_readers_module_keeps_one_converter_per_sentence_task():
    # Every sentence-level task has exactly one column mapping, used by both the file and the Hub readers.
    sentence_tasks = {
        name for name, task in TASKS.items() if task.kind not in (QUESTION_ANSWERING, TOKEN_CLASSIFICATION)
    }
    assert set(readers._SENTENCE_TASK_COLUMNS) == sentence_tasks


def test_the_single_text_tasks_are_those_the_readers_read_one_text_for():
    """The registry's `single_text` (one home of the rule) agrees with what the readers produce: no pair, no question."""
    from training.tasks import CLASSIFICATION, features_for, single_text_tasks

    read_as_one_text = {name for name, task in TASKS.items() if not {"text_pair", "question"} & set(features_for(task))}
    assert set(single_text_tasks()) == read_as_one_text == {"nsmc", "kohate", "kohate-binary", "kohate-bias", "ner"}
    assert single_text_tasks(CLASSIFICATION) == ("nsmc", "kohate", "kohate-binary", "kohate-bias")


def test_training_and_the_shipped_pipeline_see_the_same_question(fixture_tokenizer):
    """One normalisation (modeling_kr_electra_kd/pipeline_kr_electra_kd.py), applied by training's windows and by the
    pipeline a saved QA model ships: both hand the tokenizer the question without its leading whitespace."""
    from types import SimpleNamespace

    from modeling_kr_electra_kd.pipeline_kr_electra_kd import KRElectraKDQuestionAnsweringPipeline

    seen = []

    class Recording:
        def __call__(self, question, context, **kwargs):
            seen.append(question if isinstance(question, str) else question[0])
            return fixture_tokenizer(question, context, **kwargs)

        def __getattr__(self, name):
            return getattr(fixture_tokenizer, name)

    question, context = " \t한글을 만든 왕은?", "한글은 세종대왕이 창제하였다."
    serving = SimpleNamespace(tokenizer=Recording(), model=SimpleNamespace(config=SimpleNamespace(
        max_position_embeddings=64)))  # fmt: skip
    KRElectraKDQuestionAnsweringPipeline.preprocess(serving, {"question": question, "context": context}, 48)
    examples = Dataset.from_dict(
        {"id": ["q1"], "title": ["t"], "context": [context], "question": [question],
         "answers": [{"text": ["세종대왕"], "answer_start": [4]}]}
    )  # fmt: skip
    tokenize_dataset(get_task("korquad"), examples, Recording(), max_length=48, doc_stride=12, training=True)
    assert seen == ["한글을 만든 왕은?", "한글을 만든 왕은?"]
