"""`kr-electra-kd demo`: one command serves an export folder and the page on 127.0.0.1 with the cross-origin isolation
headers; bad input is one line. (The page itself runs in Chromium in tests/test_browser.py.)"""

from __future__ import annotations

import subprocess
import sys
import urllib.request

import pytest
import torch

from modeling_kr_electra_kd import KRElectraKDConfig, KRElectraKDForPreTraining, KRElectraKDForSequenceClassification
from training import web_server
from training.commands import demo, export
from training.tokenizer import save_tokenizer


def _export(head, tokenizer, folder):
    torch.manual_seed(0)
    head(KRElectraKDConfig.from_preset("tiny", vocab_size=len(tokenizer), num_labels=2)).save_pretrained(folder / "m")
    save_tokenizer(tokenizer, folder / "m")
    assert export.main(["--model", str(folder / "m"), "--output_dir", str(folder / "web")]) == 0
    return folder / "web"


def test_bad_folders_are_one_line_errors(tiny_tokenizer, tmp_path, capsys):
    assert demo.main(["--model", str(tmp_path)]) == 2
    error = capsys.readouterr().err
    assert "is not an export folder" in error and "kr-electra-kd export" in error and error.count("\n") == 1
    (tmp_path / "model").mkdir()
    assert demo.main(["--model", str(_export(KRElectraKDForPreTraining, tiny_tokenizer, tmp_path))]) == 2
    assert capsys.readouterr().err.strip().endswith("has no transformers.js pipeline; nothing to demo.")
    folder = _export(KRElectraKDForSequenceClassification, tiny_tokenizer, tmp_path / "cls")
    assert demo.main(["--model", str(folder), "--runtime", str(tmp_path / "nothing")]) == 2
    error = capsys.readouterr().err
    assert "missing transformers.web.min.js" in error and "npm ci --ignore-scripts" in error


@pytest.mark.slow
def test_one_command_serves_the_page_runtime_and_model_with_isolation_headers(tiny_tokenizer, tmp_path):
    if web_server.missing_runtime_files():
        pytest.skip(web_server.SETUP_HINT)
    folder = _export(KRElectraKDForSequenceClassification, tiny_tokenizer, tmp_path)
    argv = [sys.executable, "-m", "training.cli", "demo", "--model", str(folder), "--port", "0"]
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        assert "text-classification demo of" in line, line
        url = line.split(" at ")[1].split()[0]
        base = url.split("/?")[0]
        assert base.startswith("http://127.0.0.1:")
        for path in ("/", "/page/demo.js", "/runtime/ort-wasm-simd-threaded.wasm", "/models/web/onnx/model.onnx"):
            with urllib.request.urlopen(base + path, timeout=30) as response:
                assert response.status == 200
                assert response.headers["Cross-Origin-Opener-Policy"] == "same-origin"
                assert response.headers["Cross-Origin-Embedder-Policy"] == "require-corp"
        with pytest.raises(urllib.error.HTTPError):  # nothing else of the disk is served
            urllib.request.urlopen(base + "/models/web/../../etc/passwd", timeout=30)
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_upload_pushes_exactly_the_web_files_to_the_onnx_repo(tiny_tokenizer, tmp_path, monkeypatch):
    import huggingface_hub

    from training import onnx_export

    calls = {}

    class FakeApi:
        def __init__(self, token):
            calls["token"] = token

        def create_repo(self, repo_id, **kwargs):
            calls["created"] = repo_id

        def upload_folder(self, **kwargs):
            calls["upload"] = kwargs
            return "https://hub/commit"

    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    folder = _export(KRElectraKDForSequenceClassification, tiny_tokenizer, tmp_path)
    (folder / "notes.txt").write_text("not for the Hub")
    assert onnx_export.push_web_repo(folder, "org/lf3-nsmc", "t", False, "msg") == "https://hub/commit"
    assert calls["created"] == "org/lf3-nsmc-ONNX" and calls["upload"]["repo_id"] == "org/lf3-nsmc-ONNX"
    assert calls["upload"]["allow_patterns"] == onnx_export.web_repo_files(folder)
    assert (
        "notes.txt" not in calls["upload"]["allow_patterns"] and "onnx/model.onnx" in calls["upload"]["allow_patterns"]
    )
    staged = onnx_export.stage_web_repo(folder, tmp_path / "hub")
    assert sorted(p.relative_to(staged).as_posix() for p in staged.rglob("*") if p.is_file()) == (
        onnx_export.web_repo_files(folder)
    )


def test_a_model_card_states_its_own_browser_figures(tiny_tokenizer, tmp_path):
    """benchmarks.edge writes the NSMC model's browser.json; its card then states those figures (and none without)."""
    import json

    from training.model_card import write_model_card

    torch.manual_seed(0)
    config = KRElectraKDConfig.from_preset("tiny", vocab_size=len(tiny_tokenizer), num_labels=2)
    KRElectraKDForSequenceClassification(config).save_pretrained(tmp_path)
    save_tokenizer(tiny_tokenizer, tmp_path)
    assert "In the browser" not in write_model_card(tmp_path).text
    record = {
        "browser": {"version": "156.0"}, "runtime": {"@huggingface/transformers": "4.3.2"}, "dtype": "q8",
        "model_bytes": 1_230_000, "first_visit_gzip_bytes": 4_560_000, "browser_ms_per_review": 7.8,
        "machine": {"note": "quiet"}, "label_agreement": 99.9, "reviews": 1000, "browser_q8_accuracy": 80.1,
        "pytorch_fp32_accuracy": 80.2,
    }  # fmt: skip
    (tmp_path / web_server.BROWSER_RECORD).write_text(json.dumps(record))
    text = write_model_card(tmp_path).text
    assert "In the browser (Chromium 156.0, transformers.js 4.3.2" in text and "1.2 MB model file" in text
    assert "label agreement with PyTorch fp32 99.90% on 1000 NSMC test reviews" in text
