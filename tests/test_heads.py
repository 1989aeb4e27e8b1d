"""training/heads.py is the one table of heads: what the modeling package registers agrees with it, and the readers
of the table (task registry, loading, export) find every head they name in it."""

from __future__ import annotations

import pytest

import modeling_kr_electra_kd
from training.heads import HEADS, head_of_architecture, head_of_config
from training.tasks import TASKS


def test_each_head_is_a_class_of_the_family_registered_under_its_auto_class():
    for head in HEADS.values():
        assert hasattr(modeling_kr_electra_kd, head.class_name), head
        assert modeling_kr_electra_kd.AUTO_MAP[head.auto_class] == f"modeling_kr_electra_kd.{head.class_name}"
    assert set(modeling_kr_electra_kd.AUTO_MAP) - {"AutoConfig"} == {head.auto_class for head in HEADS.values()}


def test_every_task_head_is_in_the_table():
    assert {task.head for task in TASKS.values()} <= set(HEADS)


@pytest.mark.parametrize(
    "architecture, expected",
    [
        ("KRElectraKDForPreTraining", "pretraining"),
        ("ElectraForQuestionAnswering", "question-answering"),
        ("BertForSequenceClassification", "sequence-classification"),
        ("BertModel", "base"),
        ("ElectraForMaskedLM", "masked-lm"),
    ],
)
def test_the_head_of_an_architecture(architecture, expected):
    assert head_of_architecture(architecture).name == expected


def test_an_unknown_architecture_and_a_config_without_one():
    with pytest.raises(ValueError, match="Unsupported architecture 'T5ForConditionalGeneration'"):
        head_of_architecture("T5ForConditionalGeneration")
    assert head_of_config({}).name == "base"
    assert head_of_config({"architectures": ["KRElectraKDForTokenClassification"]}).outputs == ("logits",)
    assert HEADS["question-answering"].outputs == ("start_logits", "end_logits")
