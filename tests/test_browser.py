"""Every head with a transformers.js pipeline, exported fresh and laid out as `upload --onnx_dir` pushes it to the
companion `-ONNX` repo, run in headless Chromium (Debian's, driven by selenium)
from 127.0.0.1 with no other network, fp32 and q8, against PyTorch; the tokenizer's ids in JS against Python's.

Needs `apt-get install -y chromium chromium-driver` and `npm ci --ignore-scripts` in web/ (scripts/setup_browser.sh,
which .ci/run calls). In CI (CI=true) a missing piece fails the tests with the reason; elsewhere a missing Chromium
skips them with one line saying how to install it.
"""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest
import torch

from modeling_kr_electra_kd import (
    KRElectraKDConfig,
    KRElectraKDForMaskedLM,
    KRElectraKDForQuestionAnswering,
    KRElectraKDForSequenceClassification,
    KRElectraKDForTokenClassification,
    KRElectraKDModel,
)
from training import browser as chromium
from training import web_server
from training.commands import export
from training.onnx_export import OUTPUT_NAMES, onnx_session, run_onnx, stage_web_repo
from training.tokenizer import save_tokenizer, train_tokenizer

pytestmark = pytest.mark.slow

# Korean the way people write it: pairs, a long review, ㅋㅋ, emoji, Hanja, Latin, Japanese, numbers.
TEXTS = [
    "이 영화 정말 재미있었어요 ㅋㅋㅋㅋ",
    "배우들 연기는 좋았는데 스토리가 너무 뻔함 ㅠㅠ 😭👍",
    "韓國語 텍스트와 English words, 日本語も 섞인 문장 2024년!",
    "ㅎㅎ",
    "최고의 영화입니다. " * 20,
]
PAIRS = ["재미있는 영화였다", "최악", "서울에서 부산까지 KTX로 두 시간 반 걸린다.", "ㅋㅋ 😀", "좋아요"]
# name -> (head class, num_labels): every head transformers.js has a pipeline for (regression: one label).
HEADS = {
    "sequence": (KRElectraKDForSequenceClassification, 3),
    "regression": (KRElectraKDForSequenceClassification, 1),
    "token": (KRElectraKDForTokenClassification, 5),
    "qa": (KRElectraKDForQuestionAnswering, 2),
    "masked-lm": (KRElectraKDForMaskedLM, 2),
    "encoder": (KRElectraKDModel, 2),
}
PAIRED = {"sequence", "regression", "qa"}  # heads whose task reads a second segment


def _require_browser():
    problem = chromium.chromium_problem()
    missing = web_server.missing_runtime_files()
    if missing:
        problem = problem or f"web runtime files missing ({', '.join(missing)}): {web_server.SETUP_HINT}"
    if problem and os.environ.get("CI"):
        pytest.fail(f"browser tests cannot run in CI: {problem}")
    if problem:
        pytest.skip(problem)


@pytest.fixture(scope="module")
def exported(tmp_path_factory, korean_texts):
    """A morpheme-aware tokenizer and one tiny low-rank model per head, each exported fresh (fp32 and q8)."""
    _require_browser()
    root = tmp_path_factory.mktemp("browser")
    tokenizer = train_tokenizer(korean_texts * 3, vocab_size=800, model_max_length=128, show_progress=False)
    folders = {}
    for name, (head, num_labels) in HEADS.items():
        torch.manual_seed(0)
        config = KRElectraKDConfig.from_preset(
            "tiny", vocab_size=len(tokenizer), num_labels=num_labels, embedding_rank=8, attention_rank=16, ffn_rank=16
        )
        head(config).save_pretrained(root / name / "model")
        save_tokenizer(tokenizer, root / name / "model")
        argv = ["--model", str(root / name / "model"), "--output_dir", str(root / name / "web"), "--quantize", "int8"]
        assert export.main(argv) == 0
        stage_web_repo(root / name / "web", root / name / "hub")  # what upload pushes to the -ONNX repo, exactly
        folders[name] = root / name
    return folders


@pytest.fixture(scope="module")
def page(exported):
    server = web_server.serve({name: folder / "hub" for name, folder in exported.items()})
    try:
        browser = chromium.Browser()
    except Exception as error:  # a Chromium that does not start fails with its reason
        server.close()
        pytest.fail(f"Chromium did not start: {str(error).splitlines()[0]}")
    yield server, browser
    browser.close()
    server.close()


def _open(page, name, dtype, threads=1):
    server, browser = page
    state = browser.open_page(f"{server.url}/?model={name}&dtype={dtype}&threads={threads}")
    assert state["state"] == "ready", state
    assert state["isolated"], "the page is not cross-origin isolated (COOP/COEP headers missing)"
    return browser


def _pytorch(folder, name):
    from transformers import AutoTokenizer

    head = HEADS[name][0]
    model = head.from_pretrained(folder / "model").eval()
    return model, AutoTokenizer.from_pretrained(folder / "model")


def _inputs(tokenizer, name, texts):
    pairs = PAIRS[: len(texts)] if name in PAIRED else None
    return pairs, dict(tokenizer(texts, pairs, padding=True, truncation=True, return_tensors="pt"))


def _js_outputs(browser, texts, pairs):
    reply = browser.call("return window.demo.raw(args[0], args[1]);", texts, pairs)
    inputs = {k: np.array(v["data"]).reshape(v["dims"]) for k, v in reply["inputs"].items()}
    outputs = {k: np.array(v["data"]).reshape(v["dims"]) for k, v in reply["outputs"].items()}
    return inputs, outputs


def _softmax(values: np.ndarray) -> np.ndarray:
    shifted = np.exp(values - values.max(-1, keepdims=True))
    return shifted / shifted.sum(-1, keepdims=True)


@pytest.mark.parametrize("name", list(HEADS))
def test_every_head_runs_in_chromium_like_pytorch(page, exported, name):
    """fp32: the same inputs (ids, token types, mask) as Python, every output within 1e-4 of PyTorch and the
    probabilities within 1e-5; q8 (model_quantized.onnx): within 1e-2 of onnxruntime's int8 in Python (the WASM and
    native int8 kernels round activations differently: up to 1.2e-3 measured)."""
    model, tokenizer = _pytorch(exported[name], name)
    pairs, inputs = _inputs(tokenizer, name, TEXTS)
    with torch.no_grad():
        reference = model(**inputs, return_dict=True)
    output_names = OUTPUT_NAMES[type(model).__name__]
    native_q8 = run_onnx(onnx_session(exported[name] / "web/onnx/model_quantized.onnx"), inputs)
    for dtype in ("fp32", "q8"):
        browser = _open(page, name, dtype)
        js_inputs, js_outputs = _js_outputs(browser, TEXTS, pairs)
        for key in ("input_ids", "attention_mask", "token_type_ids"):
            assert js_inputs[key].tolist() == inputs[key].tolist(), (dtype, key)
        for index, output in enumerate(output_names):
            expected = reference[output].numpy() if dtype == "fp32" else native_q8[index]
            got = js_outputs[output]
            assert got.shape == expected.shape, (dtype, output)
            difference = float(np.abs(got - expected).max())
            assert difference < (1e-4 if dtype == "fp32" else 1e-2), (dtype, output, difference)
            if dtype == "fp32" and output == "logits" and got.shape[-1] > 1:
                assert float(np.abs(_softmax(got) - _softmax(expected)).max()) < 1e-5


def test_the_pipelines_give_pytorchs_answers(page, exported):
    """The transformers.js pipeline objects themselves (not only their model): labels and scores as PyTorch's."""
    browser = _open(page, "sequence", "fp32")
    model, tokenizer = _pytorch(exported["sequence"], "sequence")
    with torch.no_grad():
        probs = torch.softmax(model(**tokenizer(TEXTS, padding=True, truncation=True, return_tensors="pt")).logits, -1)
    results = browser.call("return await window.demo.pipe(args[0], {top_k: 1});", TEXTS)
    for result, row in zip(results, probs):
        assert result["label"] == model.config.id2label[int(row.argmax())]
        assert abs(result["score"] - float(row.max())) < 1e-5

    browser = _open(page, "token", "fp32")
    entities = browser.call("return await window.demo.pipe(args[0], {ignore_labels: []});", TEXTS[1])
    model, tokenizer = _pytorch(exported["token"], "token")
    with torch.no_grad():
        token_probs = torch.softmax(model(**tokenizer(TEXTS[1], return_tensors="pt")).logits, -1)[0]
    assert len(entities) >= 10  # every word piece but [CLS], [SEP] and [UNK] (which decode to nothing)
    for entity in entities:
        assert entity["entity"] == model.config.id2label[int(token_probs[entity["index"]].argmax())]
        assert abs(entity["score"] - float(token_probs[entity["index"]].max())) < 1e-5

    browser = _open(page, "qa", "q8")
    answer = browser.call("return await window.demo.pipe(args[0], args[1]);", "어디까지 가나요?", PAIRS[2])
    # words of the context (transformers.js decodes the span's pieces: [UNK] drops out, a mid-word start keeps "##")
    assert answer["answer"] and set(answer["answer"].replace("##", "")) <= set(PAIRS[2]) and 0 < answer["score"] <= 1


def test_js_tokenizer_ids_equal_pythons_on_korean_text(page, exported, korean_texts):
    browser = _open(page, "sequence", "q8")
    _, tokenizer = _pytorch(exported["sequence"], "sequence")
    texts = [
        *TEXTS,
        *korean_texts[:40],
        "ㅋㅋㅋㅋㅋㅋㅋㅋ",
        "😀😀 🇰🇷 ❤️",
        "Ｆｕｌｌ-width ＡＢＣ",
        "한국어\tTAB\n줄바꿈",
    ]
    pairs = [*PAIRS, *korean_texts[40:80]]
    script = (
        "const t = window.demo.pipe.tokenizer; const single = args[0].map((x) => t.encode(x));"
        "const paired = args[1].map((x, i) => { const e = t(args[0][i], {text_pair: x});"
        " return [Array.from(e.input_ids.data, Number), Array.from(e.token_type_ids.data, Number)]; });"
        "return {single, paired};"
    )
    reply = browser.call(script, texts, pairs)
    assert reply["single"] == [tokenizer(text)["input_ids"] for text in texts]
    expected = [tokenizer(text, pair) for text, pair in zip(texts, pairs)]
    assert reply["paired"] == [[e["input_ids"], e["token_type_ids"]] for e in expected]


def test_two_wasm_threads_give_the_same_scores(page, exported):
    browser = _open(page, "sequence", "fp32", threads=2)
    assert browser.driver.execute_script("return window.demo.env.backends.onnx.wasm.numThreads") == 2
    _, one = _js_outputs(_open(page, "sequence", "fp32", threads=1), TEXTS, PAIRS)
    _, two = _js_outputs(_open(page, "sequence", "fp32", threads=2), TEXTS, PAIRS)
    assert float(np.abs(one["logits"] - two["logits"]).max()) < 1e-5


def test_the_page_reaches_nothing_but_its_own_server(page, exported):
    """Every resource the page loaded came from the local server; the browser cannot resolve any other host."""
    server, _ = page
    browser = _open(page, "sequence", "q8")
    urls = browser.driver.execute_script("return performance.getEntriesByType('resource').map((e) => e.name)")
    assert urls and all(url.startswith(server.url) for url in urls), urls
    assert any(url.endswith("/runtime/ort-wasm-simd-threaded.wasm") for url in urls)
    outside = browser.call(
        "try { await fetch('https://cdn.jsdelivr.net/'); return 'reached'; } catch (e) { return 'blocked'; }"
    )
    assert outside == "blocked"


def test_a_missing_runtime_file_is_named_on_the_page(page, exported, tmp_path):
    """A runtime without its .wasm: the page says which file is missing, not a CDN or backend error."""
    partial = tmp_path / "node_modules"
    for name, relative in web_server.RUNTIME_FILES.items():
        if name != "ort-wasm-simd-threaded.wasm":
            (partial / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(web_server.NODE_MODULES / relative, partial / relative)
    server = web_server.serve({"sequence": exported["sequence"] / "hub"}, node_modules=partial)
    try:
        state = page[1].open_page(f"{server.url}/?model=sequence")
    finally:
        server.close()
    assert state["state"] == "error"
    assert "missing runtime file /runtime/ort-wasm-simd-threaded.wasm" in state["error"], state
    assert "npm ci --ignore-scripts" in state["error"]


def test_inputs_over_the_maximum_length_are_cut_at_the_end_in_js(page, exported):
    """transformers.js truncates the finished sequence at model_max_length (the last [SEP] and, for a pair, the tail
    of the second segment go), where Python truncates longest-first and keeps both; the README says so."""
    browser = _open(page, "sequence", "fp32")
    _, tokenizer = _pytorch(exported["sequence"], "sequence")
    long, limit = "최고의 영화입니다. " * 60, tokenizer.model_max_length
    script = (
        "const t = window.demo.pipe.tokenizer;"
        "const e = t(args[0], {text_pair: args[1], truncation: true}); return Array.from(e.input_ids.data, Number);"
    )
    for pair in (None, "좋아요"):
        js = browser.call(script, long, pair)
        assert js == tokenizer(long, pair)["input_ids"][:limit]
        assert js != tokenizer(long, pair, truncation=True)["input_ids"]
