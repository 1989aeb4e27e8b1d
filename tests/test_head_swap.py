"""A fine-tune's expected head swap is one line; transformers' full LOAD REPORT stays for anything unexpected."""

from __future__ import annotations

import io
import logging

import pytest
from safetensors.torch import load_file, save_file
from transformers import ElectraConfig, ElectraForPreTraining

from modeling_kr_electra_kd import KRElectraKDConfig, KRElectraKDForPreTraining, KRElectraKDForSequenceClassification
from training.evaluation import load_task_model
from training.head_swap import head_swap_line
from training.loading import load_config, load_model
from training.tasks import get_task


@pytest.fixture
def transformers_log():
    """What transformers logs (its LOAD REPORT is a warning of transformers.modeling_utils), read with .getvalue()."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("transformers")
    logger.addHandler(handler)
    yield stream
    logger.removeHandler(handler)


@pytest.fixture
def pretrained_folder(tmp_path):
    """A pre-trained encoder as pretrain-teacher and distill save it: the ForPreTraining (RTD) head."""
    folder = tmp_path / "teacher"
    KRElectraKDForPreTraining(KRElectraKDConfig.from_preset("tiny", vocab_size=120)).save_pretrained(folder)
    return folder


def test_finetune_load_of_a_pretrained_encoder_says_the_head_swap_in_one_line(
    pretrained_folder, capfd, transformers_log
):
    load_task_model(
        str(pretrained_folder), get_task("nsmc"), load_config(str(pretrained_folder))
    )  # finetune's model load
    out, err = capfd.readouterr()
    assert "LOAD REPORT" not in out + err + transformers_log.getvalue() and "MISSING" not in out + err
    lines = [line for line in (out + err).splitlines() if "head" in line]
    assert lines == [
        f"KRElectraKDForSequenceClassification from {pretrained_folder}: classification head initialised; "
        "RTD head dropped."
    ]


def test_token_classification_and_stock_electra_name_their_heads(tmp_path, pretrained_folder, capfd, transformers_log):
    load_task_model(str(pretrained_folder), get_task("ner"), load_config(str(pretrained_folder)))
    assert "token-classification head initialised; RTD head dropped." in capfd.readouterr().out
    stock = tmp_path / "stock"
    config = ElectraConfig(vocab_size=120, hidden_size=32, num_hidden_layers=1, num_attention_heads=2)
    ElectraForPreTraining(config).save_pretrained(stock)
    load_model(stock, head="sequence-classification", num_labels=2)
    out, err = capfd.readouterr()
    assert "classification head initialised; RTD head dropped." in out
    assert "LOAD REPORT" not in err + transformers_log.getvalue()


def test_a_missing_encoder_weight_shows_the_full_report(pretrained_folder, capfd, transformers_log):
    weights = load_file(pretrained_folder / "model.safetensors")
    missing = next(key for key in weights if key.startswith("electra.encoder."))
    del weights[missing]
    save_file(weights, pretrained_folder / "model.safetensors", metadata={"format": "pt"})
    load_task_model(str(pretrained_folder), get_task("nsmc"), load_config(str(pretrained_folder)))
    out, report = capfd.readouterr()[0], transformers_log.getvalue()
    assert "LOAD REPORT" in report and missing in report and "MISSING" in report
    assert "initialised;" not in out  # no one-line summary hiding it


def test_the_same_head_prints_nothing_and_unexpected_encoder_keys_are_not_a_head_swap(
    tmp_path, capfd, transformers_log
):
    folder = tmp_path / "finetuned"
    model = KRElectraKDForSequenceClassification(KRElectraKDConfig.from_preset("tiny", vocab_size=120, num_labels=2))
    model.save_pretrained(folder)
    capfd.readouterr()
    load_model(folder, head="sequence-classification")
    out, err = capfd.readouterr()
    assert "initialised" not in out and "LOAD REPORT" not in transformers_log.getvalue()
    assert head_swap_line(model, {"missing_keys": set(), "unexpected_keys": set()}) == ""
    assert head_swap_line(model, {"unexpected_keys": {"electra.encoder.layer.9.output.dense.weight"}}) is None
    assert head_swap_line(model, {"mismatched_keys": [("classifier.out_proj.weight", (3, 8), (2, 8))]}) is None
