"""The README's optimum snippet, run as it is written: a fresh export of every head optimum has an ORTModel class for
(sequence classification, single texts and sentence pairs; token classification; question answering), loaded in an
environment of its own (built as the README's "Deploy" section says, cached outside the checkout, reused when built)
with `ORTModelFor....from_pretrained(folder, subfolder="onnx")` (and `file_name="model_quantized.onnx"` for int8) and
`AutoTokenizer.from_pretrained(folder)`; its outputs on Korean text against PyTorch's.

The snippet and the environment's pip command are read from README.md, so the README cannot drift from what is tested.
Building the environment needs the package index: in CI (CI=true) a failed build fails the test; elsewhere it skips
with one line. KR_ELECTRA_KD_OPTIMUM_ENV names another environment folder (a fresh one is built there).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from modeling_kr_electra_kd import (
    KRElectraKDConfig,
    KRElectraKDForQuestionAnswering,
    KRElectraKDForSequenceClassification,
    KRElectraKDForTokenClassification,
)
from training.commands import export
from training.onnx_export import OUTPUT_NAMES, QUANTIZED_FILE, onnx_session, run_onnx
from training.tokenizer import save_tokenizer, train_tokenizer

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
ENV = Path(os.environ.get("KR_ELECTRA_KD_OPTIMUM_ENV", Path.home() / ".cache" / "kr-electra-kd" / "optimum-env"))
MARKER = "optimum_built.json"
FOLDER = "lf3-nsmc-onnx"  # the export folder's name in the README's snippet
README_CLASS = "ORTModelForSequenceClassification"
TEXTS = [
    "이 영화 정말 재미있었어요 ㅋㅋㅋㅋ",
    "배우들 연기는 좋았는데 스토리가 너무 뻔함 ㅠㅠ 😭",
    "최고의 영화입니다. " * 12,
]
PAIRS = ["재미있는 영화였다", "최악", "서울에서 부산까지 KTX로 두 시간 반 걸린다."]
# name -> (PyTorch head, num_labels, optimum class, second segments or None)
HEADS = {
    "sequence": (KRElectraKDForSequenceClassification, 3, "ORTModelForSequenceClassification", None),
    "sequence-pair": (KRElectraKDForSequenceClassification, 3, "ORTModelForSequenceClassification", PAIRS),
    "token": (KRElectraKDForTokenClassification, 5, "ORTModelForTokenClassification", None),
    "qa": (KRElectraKDForQuestionAnswering, 2, "ORTModelForQuestionAnswering", PAIRS),
}
# fp32: as PyTorch; int8: within 1e-3 of onnxruntime here on the same file, and within 25% of PyTorch's largest
# |output| (int8 is close, not exact: up to 12% measured on these random tiny models)
FP32_TOLERANCE, INT8_NATIVE_TOLERANCE, INT8_RELATIVE = 1e-4, 1e-3, 0.25

# Run in the optimum environment (transformers 4.x, no kr-electra-kd): every job's code from the README, then its model
# on the job's texts; prints one JSON line.
CHILD = r"""
import json, os, sys
jobs, results = json.loads(open(sys.argv[1], encoding="utf-8").read()), []
for job in jobs:
    os.chdir(job["cwd"])
    namespace = {}
    exec(job["code"], namespace)
    model, tokenizer = namespace["model"], namespace["tokenizer"]
    inputs = tokenizer(job["texts"], job["pairs"], padding=True, truncation=True, return_tensors="pt")
    outputs = model(**inputs)
    results.append({
        "input_names": list(model.input_names),
        "inputs": {key: value.tolist() for key, value in inputs.items()},
        "outputs": {key: outputs[key].tolist() for key in job["outputs"]},
        "readme_logits": namespace["logits"].tolist() if "logits" in namespace else None,
    })
print(json.dumps(results))
"""


def readme_block(language: str, needle: str) -> str:
    """The README's one ```language block holding `needle`."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    blocks = [b for b in re.findall(rf"```{language}\n(.*?)```", readme, flags=re.S) if needle in b]
    assert len(blocks) == 1, f"README.md has {len(blocks)} ```{language} blocks with {needle!r}"
    return blocks[0]


def readme_install() -> tuple[list[str], list[str]]:
    """The README's environment command, `python -m venv ort-env && ort-env/bin/pip install ...`, as its two steps."""
    command = readme_block("bash", "optimum-onnx").strip()
    venv, pip = (shlex.split(part) for part in command.split(" && "))
    assert venv[:3] == ["python", "-m", "venv"] and pip[0] == f"{venv[3]}/bin/pip" and pip[1] == "install", command
    return venv[4:], pip[2:]


def readme_snippet(optimum_class: str, quantized: bool) -> str:
    """The README's optimum snippet with another head's class, and the int8 file as its comment says."""
    code = readme_block("python", "optimum.onnxruntime")
    assert code.count(README_CLASS) == 2 and 'file_name="model_quantized.onnx"' in code
    code = code.replace(README_CLASS, optimum_class)
    if quantized:
        assert code.count('subfolder="onnx")') == 1
        code = code.replace('subfolder="onnx")', 'subfolder="onnx", file_name="model_quantized.onnx")')
    if optimum_class != README_CLASS:  # the snippet's last line reads `.logits`, which only it has: load, do not run
        code = code[: code.index("\nlogits = ")] + "\n"
    return code


def compat_check():
    spec = importlib.util.spec_from_file_location("compat_check", REPO / "scripts" / "compat_check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def optimum_python() -> Path:
    """The environment's Python, built (scripts/compat_check.py's build steps) unless already built."""
    python = ENV / "bin" / "python"
    if (ENV / MARKER).is_file() and python.is_file():
        return python
    venv_options, packages = readme_install()
    run_or_raise = compat_check().run_or_raise
    started = time.perf_counter()
    shutil.rmtree(ENV, ignore_errors=True)  # a build that stopped half-way
    try:
        ENV.parent.mkdir(parents=True, exist_ok=True)
        run_or_raise([sys.executable, "-m", "venv", *venv_options, str(ENV)])
        run_or_raise([str(python), "-m", "pip", "install", "-q", *packages])
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as error:
        message = f"cannot build the optimum environment: {str(error).splitlines()[0]}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    seconds = round(time.perf_counter() - started, 1)
    (ENV / MARKER).write_text(json.dumps({"packages": packages, "build_seconds": seconds}) + "\n", encoding="utf-8")
    return python


@pytest.fixture(scope="module")
def python():
    return optimum_python()


@pytest.fixture(scope="module")
def exported(tmp_path_factory, korean_texts):
    """One tiny low-rank model per head with the package's Korean tokenizer, exported fresh (fp32 and int8)."""
    root = tmp_path_factory.mktemp("optimum")
    tokenizer = train_tokenizer(korean_texts * 3, vocab_size=800, model_max_length=128, show_progress=False)
    folders = {}
    for name, (head, num_labels, _, _) in HEADS.items():
        if name == "sequence-pair":
            folders[name] = folders["sequence"]
            continue
        torch.manual_seed(0)
        config = KRElectraKDConfig.from_preset(
            "tiny",
            vocab_size=len(tokenizer),
            num_labels=num_labels,
            embedding_rank=8,
            attention_rank=16,
            ffn_rank=16,
            initializer_range=0.2,  # outputs that differ clearly between inputs, token types included
        )
        head(config).save_pretrained(root / name / "model")
        save_tokenizer(tokenizer, root / name / "model")
        argv = ["--model", str(root / name / "model"), "--output_dir", str(root / name / FOLDER), "--quantize", "int8"]
        assert export.main(argv) == 0
        folders[name] = root / name
    return folders


def _pytorch(folder: Path, name: str, inputs: dict) -> dict[str, np.ndarray]:
    model = HEADS[name][0].from_pretrained(folder / "model").eval()
    with torch.no_grad():
        outputs = model(**inputs, return_dict=True)
    return {key: outputs[key].numpy() for key in OUTPUT_NAMES[type(model).__name__]}


def test_the_readme_optimum_snippet_matches_pytorch(python, exported, tmp_path):
    from transformers import AutoTokenizer

    jobs, expected = [], []
    for name, (_, _, optimum_class, pairs) in HEADS.items():
        folder = exported[name]
        tokenizer = AutoTokenizer.from_pretrained(folder / "model")
        inputs = dict(tokenizer(TEXTS, pairs, padding=True, truncation=True, return_tensors="pt"))
        reference = _pytorch(folder, name, inputs)
        if pairs:  # a model that never saw token_type_ids would not match: PyTorch's outputs depend on them
            assert int(inputs["token_type_ids"].max()) == 1
            zeros = _pytorch(folder, name, {**inputs, "token_type_ids": torch.zeros_like(inputs["token_type_ids"])})
            assert max(float(np.abs(zeros[key] - reference[key]).max()) for key in reference) > 1e-2
        for quantized in (False, True):
            code = readme_snippet(optimum_class, quantized)
            jobs.append({"cwd": str(folder), "code": code, "texts": TEXTS, "pairs": pairs, "outputs": list(reference)})
            expected.append((name, quantized, inputs, reference))
    jobs_file = tmp_path / "jobs.json"
    jobs_file.write_text(json.dumps(jobs, ensure_ascii=False), encoding="utf-8")
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")}
    result = subprocess.run(
        [str(python), "-c", CHILD, str(jobs_file)], capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.loads(result.stdout.strip().splitlines()[-1])

    differences = {}
    for (name, quantized, inputs, reference), got in zip(expected, results):
        assert "token_type_ids" in got["input_names"], name
        for key, value in inputs.items():  # the same tokens (and token types) as transformers 5 gives
            assert got["inputs"][key] == value.tolist(), (name, key)
        difference = max(float(np.abs(np.array(got["outputs"][key]) - reference[key]).max()) for key in reference)
        differences[f"{name} {'int8' if quantized else 'fp32'}"] = round(difference, 7)
        if quantized:
            native = run_onnx(onnx_session(exported[name] / FOLDER / "onnx" / QUANTIZED_FILE), inputs)
            native_difference = max(
                float(np.abs(np.array(got["outputs"][key]) - value).max()) for key, value in zip(reference, native)
            )
            differences[f"{name} int8 vs onnxruntime here"] = round(native_difference, 7)
            assert native_difference < INT8_NATIVE_TOLERANCE, (name, native_difference)
            scale = max(float(np.abs(value).max()) for value in reference.values())
            assert difference < INT8_RELATIVE * scale, (name, difference, scale)
        else:
            assert difference < FP32_TOLERANCE, (name, difference)
        if name == "sequence":  # the snippet's own last line, on its own sentence
            tokenizer = AutoTokenizer.from_pretrained(exported[name] / "model")
            sentence = re.search(r'tokenizer\(\["(.+?)"\]', readme_snippet(README_CLASS, False)).group(1)
            own = _pytorch(exported[name], name, dict(tokenizer([sentence], return_tensors="pt")))["logits"]
            limit = INT8_RELATIVE * float(np.abs(own).max()) if quantized else FP32_TOLERANCE
            assert float(np.abs(np.array(got["readme_logits"]) - own).max()) < limit
    print("max |PyTorch - optimum|:", json.dumps(differences))
