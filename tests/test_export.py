"""`kr-electra-kd export`: every head as ONNX in the transformers.js / optimum layout, parity with PyTorch, errors."""

from __future__ import annotations

import json

import pytest
import torch

from modeling_kr_electra_kd import (
    CODE_FILES,
    KRElectraKDConfig,
    KRElectraKDForMaskedLM,
    KRElectraKDForPreTraining,
    KRElectraKDForQuestionAnswering,
    KRElectraKDForSequenceClassification,
    KRElectraKDForTokenClassification,
    KRElectraKDModel,
)
from training import onnx_export
from training.cli import main as cli_main
from training.commands import export

HEADS = [
    KRElectraKDModel,
    KRElectraKDForPreTraining,
    KRElectraKDForMaskedLM,
    KRElectraKDForSequenceClassification,
    KRElectraKDForTokenClassification,
    KRElectraKDForQuestionAnswering,
]


def _save(head, tokenizer, folder, **ranks):
    torch.manual_seed(0)
    config = KRElectraKDConfig.from_preset("tiny", vocab_size=len(tokenizer), num_labels=3, **ranks)
    head(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)


@pytest.mark.slow
@pytest.mark.parametrize("head", HEADS, ids=lambda cls: cls.__name__)
def test_every_head_exports_with_parity_and_the_hub_layout(head, tiny_tokenizer, korean_texts, tmp_path, capsys):
    _save(head, tiny_tokenizer, tmp_path / "model", embedding_rank=8, attention_rank=16, ffn_rank=16)
    out = tmp_path / "onnx-folder"
    argv = ["export", "--model", str(tmp_path / "model"), "--output_dir", str(out), "--quantize", "int8"]
    assert cli_main(argv) == 0
    printed = capsys.readouterr().out
    assert "onnx/model.onnx:" in printed and "MB; max |PyTorch - ONNX|" in printed
    for name in ("onnx/model.onnx", "onnx/model_quantized.onnx", "config.json", "tokenizer.json"):
        assert (out / name).is_file(), name
    assert not any((out / name).exists() for name in CODE_FILES)  # a web folder: no code, no weights
    config = json.loads((out / "config.json").read_text())
    electra, task = onnx_export.WEB_HEADS[head.__name__]
    assert config["model_type"] == "electra" and config["architectures"] == [electra]
    assert config["exported_from"]["architectures"] == [head.__name__] and "auto_map" not in config
    assert ("no pipeline" in printed) == (task is None)
    assert (out / "onnx/model_quantized.onnx").stat().st_size < (out / "onnx/model.onnx").stat().st_size

    # Parity on other sentences, another batch size and length than the export and its own check used.
    _assert_onnx_matches_pytorch(head, tmp_path / "model", out, tiny_tokenizer, korean_texts)
    quantized = _onnx_differences(
        head, tmp_path / "model", out / "onnx/model_quantized.onnx", tiny_tokenizer, korean_texts
    )
    assert max(quantized.values()) < 0.5, quantized  # int8 is close, not exact


def test_dense_model_exports(tiny_tokenizer, korean_texts, tmp_path):
    _save(KRElectraKDForSequenceClassification, tiny_tokenizer, tmp_path / "model")
    assert export.main(["--model", str(tmp_path / "model"), "--output_dir", str(tmp_path / "out")]) == 0
    assert not (tmp_path / "out/onnx/model_quantized.onnx").exists()
    _assert_onnx_matches_pytorch(
        KRElectraKDForSequenceClassification, tmp_path / "model", tmp_path / "out", tiny_tokenizer, korean_texts
    )


def _onnx_differences(head, model_dir, onnx_file, tokenizer, texts) -> dict[str, float]:
    """Max |PyTorch - ONNX| per output on other sentences, batch size and length than the export's own check used."""
    model = head.from_pretrained(model_dir).eval()
    inputs = dict(tokenizer(texts[:5], padding=True, truncation=True, max_length=40, return_tensors="pt"))
    return onnx_export.max_differences(
        model, onnx_export.onnx_session(onnx_file), inputs, onnx_export.OUTPUT_NAMES[head.__name__]
    )


def _assert_onnx_matches_pytorch(head, model_dir, onnx_dir, tokenizer, texts):
    """onnx/model.onnx exists and gives every output of the PyTorch model, to 1e-4."""
    assert (onnx_dir / "onnx/model.onnx").is_file()
    differences = _onnx_differences(head, model_dir, onnx_dir / "onnx/model.onnx", tokenizer, texts)
    assert set(differences) == set(onnx_export.OUTPUT_NAMES[head.__name__]) and max(differences.values()) < 1e-4, (
        differences
    )


def test_bad_input_is_a_one_line_error(tiny_tokenizer, tmp_path, capsys):
    assert export.main(["--model", str(tmp_path / "missing"), "--output_dir", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("error: --model") and "no such folder" in error and "\n" not in error
    _save(KRElectraKDModel, tiny_tokenizer, tmp_path / "model")
    argv = ["--model", str(tmp_path / "model"), "--output_dir", str(tmp_path / "out")]
    assert export.main([*argv, "--quantize", "int4"]) == 2
    assert "--quantize int4" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stop:  # a number out of range is refused by the parser
        export.main([*argv, "--opset", "11"])
    assert stop.value.code == 2 and "--opset must be >= 14 (got 11)" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()  # nothing written before the checks pass


@pytest.mark.parametrize(
    "field, value, what",
    [("layer_norm_position", "pre", "pre-LN models"), ("classifier_pooling", "mean", "mean-pooling classifiers")],
)
def test_a_model_the_stock_web_config_cannot_express_is_refused_in_one_line_before_any_work(
    field, value, what, tiny_tokenizer, tmp_path, capsys, monkeypatch
):
    _save(KRElectraKDForSequenceClassification, tiny_tokenizer, tmp_path / "model", **{field: value})
    monkeypatch.setattr(onnx_export, "load_any_model", lambda *_: pytest.fail("the weights were loaded"))
    capsys.readouterr()  # saving's progress bar
    assert export.main(["--model", str(tmp_path / "model"), "--output_dir", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err.strip()
    assert "\n" not in error
    assert f"{field}={value!r}" in error and f"ONNX export of {what} is not supported" in error
    assert not (tmp_path / "out").exists()


def test_the_web_folder_is_no_pytorch_model_and_keeps_the_tokenizer(tiny_tokenizer, korean_texts, tmp_path):
    """A PyTorch load of the web folder fails loudly (no weights to read wrongly), with or without trust_remote_code;
    its tokenizer (ElectraTokenizer, which transformers 5 rebuilds) gives the model folder's ids, pairs included."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    _save(KRElectraKDForSequenceClassification, tiny_tokenizer, tmp_path / "model")
    assert export.main(["--model", str(tmp_path / "model"), "--output_dir", str(tmp_path / "web")]) == 0
    for trust in (False, True):
        with pytest.raises(OSError, match="model.safetensors|pytorch_model.bin"):
            AutoModelForSequenceClassification.from_pretrained(tmp_path / "web", trust_remote_code=trust)
    web, reference = AutoTokenizer.from_pretrained(tmp_path / "web"), AutoTokenizer.from_pretrained(tmp_path / "model")
    assert type(web).__name__ in ("BertTokenizer", "ElectraTokenizer", "ElectraTokenizerFast")
    for first, second in zip(korean_texts[:8], korean_texts[8:16]):
        assert web(first)["input_ids"] == reference(first)["input_ids"]
        assert web(first, second)["token_type_ids"] == reference(first, second)["token_type_ids"]
    everything = sorted(path.relative_to(tmp_path / "web").as_posix() for path in (tmp_path / "web").rglob("*"))
    assert onnx_export.web_repo_files(tmp_path / "web") == [name for name in everything if name != "onnx"]


@pytest.mark.slow
def test_mobile_format_matches_onnxruntime_and_lists_its_operators(tiny_tokenizer, korean_texts, tmp_path):
    _save(KRElectraKDForSequenceClassification, tiny_tokenizer, tmp_path / "model", attention_rank=16, ffn_rank=16)
    argv = ["--model", str(tmp_path / "model"), "--output_dir", str(tmp_path / "out"), "--quantize", "int8"]
    assert export.main([*argv, "--mobile"]) == 0
    onnx_dir = tmp_path / "out/onnx"
    operators = (onnx_dir / "required_operators.config").read_text()
    assert "# - model.ort" in operators and "ai.onnx;" in operators and str(tmp_path) not in operators
    assert "/tmp" not in operators
    model_dir, head = tmp_path / "model", KRElectraKDForSequenceClassification
    ort = _onnx_differences(head, model_dir, onnx_dir / "model.ort", tiny_tokenizer, korean_texts)
    assert max(ort.values()) < 1e-4, ort
    native_int8 = _onnx_differences(head, model_dir, onnx_dir / "model_quantized.onnx", tiny_tokenizer, korean_texts)
    mobile_int8 = _onnx_differences(head, model_dir, onnx_dir / "model_quantized.ort", tiny_tokenizer, korean_texts)
    assert abs(mobile_int8["logits"] - native_int8["logits"]) < 1e-3
    assert "onnx/model.ort" in onnx_export.web_repo_files(tmp_path / "out")
