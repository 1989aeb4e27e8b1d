"""Baselines: known answers on tiny hand-made splits and on the task fixtures."""

from __future__ import annotations

import pytest
from datasets import Dataset

from training.task_baselines import (
    LEARNED_MARGIN,
    classical_baseline,
    learned_tasks,
    sentence_overlap_answer,
    task_baselines,
    trivial_baseline,
)
from training.tasks import TaskDatasetDict, features_for, get_task


def _data(task_name: str, train: list[dict], evaluation: list[dict]) -> TaskDatasetDict:
    features = features_for(get_task(task_name))
    data = TaskDatasetDict()
    data["train"] = Dataset.from_list(train, features=features)
    data["eval"] = Dataset.from_list(evaluation, features=features)
    return data


def _rows(labels: list[int]) -> list[dict]:
    return [{"text": f"리뷰 {index}", "label": label} for index, label in enumerate(labels)]


def test_trivial_classification_is_the_majority_class_when_it_beats_guessing():
    result = trivial_baseline(get_task("nsmc"), _data("nsmc", _rows([1, 1, 0]), _rows([1, 1, 1, 0])))
    assert result["method"] == "majority class" and result["majority_class"] == "positive"
    assert result["metrics"]["accuracy"] == 75.0


def test_trivial_macro_f1_takes_uniform_guessing_when_it_beats_the_majority_class():
    # Majority class "none" on three balanced classes: macro-F1 (2*(1/3)/(4/3))/3 = 16.7; guessing 1/3 each: 33.3.
    task = get_task("kohate")
    result = trivial_baseline(task, _data("kohate", _rows([0, 0, 1, 2]), _rows([0, 0, 1, 1, 2, 2])))
    assert result["method"] == "uniform guessing"
    assert result["metrics"]["macro_f1"] == pytest.approx(100 / 3, abs=1e-3)
    assert result["metrics"]["accuracy"] == pytest.approx(100 / 3, abs=1e-3)


def test_trivial_korsts_ner_and_korquad_score_zero():
    pairs = [{"text": "가", "text_pair": "나", "label": score} for score in (0.5, 2.0, 4.5)]
    assert trivial_baseline(get_task("korsts"), _data("korsts", pairs, pairs))["metrics"]["spearman"] == 0.0
    ner_rows = [{"tokens": ["김철수", "는", "왔다"], "ner_tags": [get_task("ner").label2id["PER-B"], 0, 0]}]
    ner = trivial_baseline(get_task("ner"), _data("ner", ner_rows, ner_rows))
    assert ner["metrics"]["entity_f1"] == 0.0 and ner["metrics"]["accuracy"] == pytest.approx(200 / 3, abs=1e-3)
    context = "철수는 학교에 갔다. 영희는 서울에 산다."
    qa = [{"id": "q1", "title": "t", "context": context, "question": "영희는 어디에 사나?",
           "answers": {"text": ["서울"], "answer_start": [context.index("서울")]}}]  # fmt: skip
    assert trivial_baseline(get_task("korquad"), _data("korquad", qa, qa))["metrics"] == {"exact_match": 0, "f1": 0}


def test_tfidf_logistic_regression_separates_separable_reviews():
    train = [{"text": text, "label": label} for text, label in
             [("정말 좋다", 1), ("좋다 최고", 1), ("아주 좋다", 1), ("정말 싫다", 0), ("싫다 최악", 0), ("아주 싫다", 0)]]  # fmt: skip
    evaluation = [{"text": "좋다 좋다", "label": 1}, {"text": "싫다 싫다", "label": 0}]
    assert classical_baseline(get_task("nsmc"), _data("nsmc", train, evaluation))["metrics"]["accuracy"] == 100.0


def test_tfidf_cosine_ranks_identical_pairs_above_unrelated_ones():
    pairs = [("오늘 날씨가 좋다", "오늘 날씨가 좋다", 5.0), ("오늘 날씨가 좋다", "오늘 날씨가 나쁘다", 3.0),
             ("오늘 날씨가 좋다", "고양이가 잔다", 0.0)]  # fmt: skip
    rows = [{"text": a, "text_pair": b, "label": score} for a, b, score in pairs]
    assert classical_baseline(get_task("korsts"), _data("korsts", rows, rows))["metrics"]["spearman"] == 100.0


def test_ner_baseline_tags_each_word_with_its_most_frequent_training_tag():
    task = get_task("ner")
    person, location = task.label2id["PER-B"], task.label2id["LOC-B"]
    train = [{"tokens": ["김철수", "서울", "에"], "ner_tags": [person, location, 0]},
             {"tokens": ["김철수", "가"], "ner_tags": [person, 0]}, {"tokens": ["김철수"], "ner_tags": [0]}]  # fmt: skip
    evaluation = [{"tokens": ["김철수", "서울", "부산"], "ner_tags": [person, location, location]}]
    metrics = classical_baseline(task, _data("ner", train, evaluation))["metrics"]
    # Two of three entities found ("부산" was never seen), both right: precision 100, recall 66.7.
    assert metrics["precision"] == 100.0 and metrics["recall"] == pytest.approx(200 / 3, abs=1e-3)


def test_sentence_overlap_answer_picks_the_sentence_and_drops_the_question_words():
    context = "철수는 학교에 갔다. 영희는 서울에 산다. 민수는 부산에 없다."
    assert sentence_overlap_answer(context, "영희는 어디에 산다?") == "서울에 산다."


def test_task_baselines_read_the_rows_finetune_reads(fixtures_dir):
    # The NSMC fixture: 16 training rows (9 negative), 8 test rows of which 3 are negative, so the majority class
    # (negative) scores 37.5 and guessing 50: the trivial score is guessing's.
    result = task_baselines("nsmc", fixtures_dir / "tasks" / "nsmc", seed=42)
    assert (result["num_train_samples"], result["num_eval_samples"]) == (16, 8)
    assert result["trivial"]["majority_class"] == "negative" and result["trivial"]["metrics"]["accuracy"] == 50.0
    subset = task_baselines("nsmc", fixtures_dir / "tasks" / "nsmc", max_train_samples=4, max_eval_samples=3, seed=1)
    assert (subset["num_train_samples"], subset["num_eval_samples"]) == (4, 3) and "seed 1" in subset["splits"]["eval"]


def test_learned_tasks_need_the_margin_over_the_trivial_score():
    def baseline(trivial: float) -> dict:
        return {"primary_metric": "accuracy", "trivial": {"metrics": {"accuracy": trivial}}}

    baselines = {"nsmc": baseline(50.0), "paws": baseline(56.1), "qpair": baseline(67.0)}
    teacher = {"nsmc": 67.2, "paws": 56.1, "qpair": 67.0 + LEARNED_MARGIN - 0.1, "korsts": 12.0}
    assert learned_tasks(teacher, baselines) == (["nsmc", "korsts"], ["paws", "qpair"])
