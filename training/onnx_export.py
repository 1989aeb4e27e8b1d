"""ONNX export (the library behind `kr-electra-kd export`): a model of this family as a web-ready ONNX folder, the
layout transformers.js, optimum and onnxruntime read.

    kr-electra-kd export --model lf3-nsmc --output_dir lf3-nsmc-onnx --quantize int8

writes `O/onnx/model.onnx` (and, with `--quantize int8`, `O/onnx/model_quantized.onnx`: ONNX Runtime dynamic int8),
with `config.json` and the tokenizer files beside them. The folder follows the ecosystem's convention for web models
(the `onnx-community/<name>-ONNX` companion repos): its config.json names `model_type: "electra"`, since the ONNX graph
already holds this family's low-rank structure and transformers.js only needs the stock ELECTRA pipeline wiring, and
its tokenizer_config names `ElectraTokenizer` (transformers.js returns token_type_ids only for the BERT-like classes),
with lower-casing and accent stripping off (so transformers 5, which rebuilds that class's normalizer, keeps Hangul).
It holds no PyTorch weights and no code: PyTorch loads the model folder (`trust_remote_code=True`), and a PyTorch load
of this folder fails for want of weights instead of reading them wrongly. It then runs a few Korean sentences through PyTorch and ONNX
Runtime and prints the largest difference of every output and the file sizes; a float export that does not match
PyTorch is an error. Every head of the family exports, from a folder or a Hub id. The exporter is torch's TorchScript
one (`dynamo=False`), which needs no extra package.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import torch
from transformers import PreTrainedModel

import modeling_kr_electra_kd
from modeling_kr_electra_kd import KRElectraKDConfig
from training.heads import HEADS
from training.loading import load_config
from training.loading import load_model as load_any_model

# Sentences the parity check runs through both runtimes: different lengths, so the batch is padded.
PARITY_SENTENCES = [
    "이 영화 정말 재미있었어요",
    "배우들의 연기는 좋았지만 줄거리가 너무 뻔해서 중간부터 지루했다.",
    "최악이다",
    "서울에서 부산까지 KTX로 두 시간 반 정도 걸립니다.",
]
INPUT_NAMES = ["input_ids", "attention_mask", "token_type_ids"]
# The outputs each head exports (by class name), named as transformers.js and optimum name them: training.heads.
OUTPUT_NAMES = {head.class_name: list(head.outputs) for head in HEADS.values()}
QUANTIZATIONS = ("int8",)
ONNX_FILE = "model.onnx"
QUANTIZED_FILE = "model_quantized.onnx"
# The stock ELECTRA class each head is wired as in the web folder, and the transformers.js pipeline that runs it
# (None: transformers.js has no pipeline for that head).
WEB_HEADS = {
    "KRElectraKDModel": ("ElectraModel", "feature-extraction"),
    "KRElectraKDForPreTraining": ("ElectraForPreTraining", None),
    "KRElectraKDForMaskedLM": ("ElectraForMaskedLM", "fill-mask"),
    "KRElectraKDForSequenceClassification": ("ElectraForSequenceClassification", "text-classification"),
    "KRElectraKDForTokenClassification": ("ElectraForTokenClassification", "token-classification"),
    "KRElectraKDForQuestionAnswering": ("ElectraForQuestionAnswering", "question-answering"),
}
WEB_MODEL_TYPE = "electra"
WEB_TOKENIZER = {"tokenizer_class": "ElectraTokenizer", "do_lower_case": False, "strip_accents": False}
# Config fields whose non-stock values the web folder's stock electra config.json cannot express: field -> (the stock
# value, what another value makes the model).
STOCK_ELECTRA_ONLY = {
    "layer_norm_position": ("post", "pre-LN models"),
    "classifier_pooling": ("cls", "mean-pooling classifiers"),
}
# config.json keys that only make sense with this family's Python code, dropped from the web folder.
PYTHON_ONLY_KEYS = ("auto_map", "transformers_version", "dtype", "torch_dtype")
# What the companion web repo holds (paths relative to the export folder); upload pushes exactly these.
WEB_REPO_PATTERNS = (
    "config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "onnx/*.onnx",
    "onnx/*.ort",
    "onnx/required_operators.config",
)


class ExportWrapper(torch.nn.Module):
    """The model with positional inputs and a tuple of named outputs, as the exporter traces it."""

    def __init__(self, model: PreTrainedModel, output_names: list[str]):
        super().__init__()
        self.model = model
        self.output_names = output_names

    def forward(self, input_ids, attention_mask, token_type_ids):
        outputs = self.model(
            input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids, return_dict=True
        )
        return tuple(outputs[name] for name in self.output_names)


def output_names_for(model: PreTrainedModel) -> list[str]:
    name = type(model).__name__
    if name not in OUTPUT_NAMES:
        raise ValueError(f"{name} is not a head of this family; export one of: {', '.join(OUTPUT_NAMES)}.")
    return OUTPUT_NAMES[name]


def export_onnx(model: PreTrainedModel, path: Path, opset: int = 17) -> list[str]:
    """Write `model` (eval mode, fp32) as ONNX with dynamic batch and sequence axes; returns its output names."""
    output_names = output_names_for(model)
    model = model.eval()
    # A padded example, so the traced graph is the general one (it is in any case: the mask is always applied).
    sample_ids = torch.full((2, 8), 5, dtype=torch.long)
    sample_mask = torch.ones_like(sample_ids)
    sample_mask[1, 5:] = 0
    sample = (sample_ids, sample_mask, torch.zeros_like(sample_ids))
    per_token = {0: "batch_size", 1: "sequence_length"}
    # Sentence classification has one row of logits per sentence; every other output has one per token.
    per_sentence = isinstance(model, modeling_kr_electra_kd.KRElectraKDForSequenceClassification)
    axes = {name: per_token for name in INPUT_NAMES}
    axes.update({name: {0: "batch_size"} if per_sentence else per_token for name in output_names})
    path.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        torch.onnx.export(
            ExportWrapper(model, output_names).eval(),  # the exporter restores the wrapper's mode on the model
            sample,
            str(path),
            input_names=INPUT_NAMES,
            output_names=output_names,
            dynamic_axes=axes,
            opset_version=opset,
            do_constant_folding=True,
            dynamo=False,
        )
    return output_names


def quantize_int8(source: Path, target: Path) -> None:
    """ONNX Runtime dynamic quantization: int8 weights, activations quantized per call."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # 7-bit weights: on x86 CPUs without VNNI (AVX2-only) ONNX Runtime's u8 x s8 kernel saturates its int16 sums with
    # full-range weights (measured: int8 outputs 26% of their scale off PyTorch on such a CPU); the exported file
    # runs on whatever CPU a user has, so it is made safe for all of them.
    quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8, reduce_range=True)


def onnx_session(path: Path, threads: int | None = None):
    import onnxruntime

    options = onnxruntime.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def run_onnx(session, inputs: dict[str, torch.Tensor]) -> list[np.ndarray]:
    """Run a session on PyTorch inputs (only the inputs the graph declares)."""
    wanted = {i.name for i in session.get_inputs()}
    return session.run(None, {name: value.numpy() for name, value in inputs.items() if name in wanted})


def max_differences(model: PreTrainedModel, session, inputs: dict, output_names: list[str]) -> dict[str, float]:
    """Largest absolute difference between PyTorch and ONNX Runtime, per output."""
    with torch.no_grad():
        reference = model(**inputs, return_dict=True)
    return {
        name: float(np.abs(value - reference[name].numpy()).max())
        for name, value in zip(output_names, run_onnx(session, inputs))
    }


def load_model(name: str) -> PreTrainedModel:
    """The head named in the config's `architectures` (the bare encoder when none is named), in eval mode, through
    `training.loading.load_model`; a model of another family is refused."""
    config = load_config(name)
    if config.model_type != KRElectraKDConfig.model_type:
        raise ValueError(
            f"--model {name} is a {config.model_type!r} model; export handles this family only "
            "(convert it first: kr-electra-kd convert)."
        )
    for field, (stock, what) in STOCK_ELECTRA_ONLY.items():
        if getattr(config, field, stock) != stock:
            raise ValueError(
                f"--model {name} has {field}={getattr(config, field)!r}: ONNX export of {what} is not supported for "
                f"the web layout (its stock electra config.json cannot express {what})."
            )
    architecture = (config.architectures or ["KRElectraKDModel"])[0]
    if architecture not in OUTPUT_NAMES:
        raise ValueError(
            f"--model {name}: unknown architecture {architecture!r}; expected one of {list(OUTPUT_NAMES)}."
        )
    return load_any_model(name).eval()


def js_pipeline(architecture: str) -> str | None:
    """The transformers.js pipeline task of a head of this family (None: transformers.js has none)."""
    return WEB_HEADS[architecture][1]


def web_config(config: dict, quantized: bool) -> dict:
    """The model's config.json as the web folder holds it: stock `electra` model type and head class (what
    transformers.js dispatches on), no code references, and the default dtype transformers.js should load."""
    architecture = (config.get("architectures") or ["KRElectraKDModel"])[0]
    web = {key: value for key, value in config.items() if key not in PYTHON_ONLY_KEYS}
    web["model_type"] = WEB_MODEL_TYPE
    web["architectures"] = [WEB_HEADS[architecture][0]]
    web["exported_from"] = {"model_type": config["model_type"], "architectures": [architecture]}
    web["transformers.js_config"] = {"dtype": "q8" if quantized else "fp32"}
    return web


def write_web_files(output_dir: Path, model_config: dict, quantized: bool) -> None:
    """Rewrite an export folder's config.json and tokenizer_config.json for the web runtime (see the module doc)."""
    config_file = output_dir / "config.json"
    config_file.write_text(json.dumps(web_config(model_config, quantized), indent=2, ensure_ascii=False) + "\n")
    tokenizer_file = output_dir / "tokenizer_config.json"
    tokenizer = json.loads(tokenizer_file.read_text(encoding="utf-8"))
    tokenizer.update(WEB_TOKENIZER)
    tokenizer_file.write_text(json.dumps(tokenizer, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def web_repo_files(export_dir: str | Path) -> list[str]:
    """The files of an export folder that its companion web repo (`<repo>-ONNX` on the Hub) holds, relative paths,
    sorted; an error when the folder is not an export."""
    export_dir = Path(export_dir)
    check_export_folder(export_dir)
    files = {
        path.relative_to(export_dir).as_posix()
        for pattern in WEB_REPO_PATTERNS
        for path in export_dir.glob(pattern)
        if path.is_file()
    }
    return sorted(files)


def check_export_folder(folder: str | Path) -> dict:
    """The web config of an export folder; a one-line error when `folder` is not one (the demo's check)."""
    folder = Path(folder)
    config_file = folder / "config.json"
    if not folder.is_dir() or not config_file.is_file() or not (folder / "onnx" / ONNX_FILE).is_file():
        raise ValueError(
            f"{folder} is not an export folder (no config.json and onnx/{ONNX_FILE}; run kr-electra-kd export)."
        )
    config = json.loads(config_file.read_text(encoding="utf-8"))
    if config.get("model_type") != WEB_MODEL_TYPE or "exported_from" not in config:
        raise ValueError(f"{folder} is not a web export of this family (re-export it with kr-electra-kd export).")
    return config


def web_repo_id(repo_id: str) -> str:
    """The companion web repo of a model repo: `org/name` -> `org/name-ONNX` (the onnx-community convention)."""
    return f"{repo_id}-ONNX"


def stage_web_repo(export_dir: str | Path, target: str | Path) -> Path:
    """Copy exactly what the companion web repo holds (web_repo_files) into `target`: the Hub repo's layout, locally."""
    target = Path(target)
    for name in web_repo_files(export_dir):
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(Path(export_dir) / name, target / name)
    return target


def push_web_repo(export_dir: str | Path, repo_id: str, token: str, private: bool, message: str) -> str:
    """Upload an export folder's web files (web_repo_files, nothing else) to the companion repo of `repo_id`."""
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    api.create_repo(web_repo_id(repo_id), private=private, exist_ok=True, repo_type="model")
    commit = api.upload_folder(
        repo_id=web_repo_id(repo_id),
        folder_path=str(export_dir),
        allow_patterns=web_repo_files(export_dir),
        commit_message=message,
    )
    return getattr(commit, "commit_url", str(commit))


MOBILE_CONFIG = "required_operators.config"


def convert_to_ort(onnx_files: list[Path]) -> list[Path]:
    """ONNX Runtime's mobile format: `<name>.ort` beside each file, and onnx/required_operators.config, the operator
    list a reduced runtime build takes (`build.sh --include_ops_by_config`). Returns the .ort files."""
    import subprocess
    import sys
    import tempfile

    with tempfile.TemporaryDirectory() as work:
        for path in onnx_files:
            shutil.copyfile(path, Path(work) / path.name)
        command = [sys.executable, "-m", "onnxruntime.tools.convert_onnx_models_to_ort", work]
        result = subprocess.run([*command, "--optimization_style", "Fixed"], capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"ORT format conversion failed: {(result.stderr.strip().splitlines() or ['?'])[-1]}")
        converted = []
        for path in onnx_files:
            converted.append(path.with_suffix(".ort"))
            shutil.move(Path(work) / f"{path.stem}.ort", converted[-1])
        operators = (Path(work) / MOBILE_CONFIG).read_text(encoding="utf-8").splitlines()
    # The generated header names the temporary folder; name the files instead.
    header = ["# Generated from model/s:", *(f"# - {path.name}" for path in converted)]
    body = [line for line in operators if not line.startswith("#")]
    (onnx_files[0].parent / MOBILE_CONFIG).write_text("\n".join(header + body) + "\n", encoding="utf-8")
    return converted
