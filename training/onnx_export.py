"""ONNX export (the library behind `kr-electra-kd export`): a model of this family as ONNX, in the folder layout transformers.js and optimum read.

    kr-electra-kd export --model lf3-nsmc --output_dir lf3-nsmc-onnx --quantize int8

writes `O/onnx/model.onnx` (and, with `--quantize int8`, `O/onnx/model_quantized.onnx`: ONNX Runtime dynamic int8),
with `config.json` and the tokenizer files beside them. It then runs a few Korean sentences through PyTorch and ONNX
Runtime and prints the largest difference of every output and the file sizes; a float export that does not match
PyTorch is an error. Every head of the family exports, from a folder or a Hub id. The exporter is torch's TorchScript
one (`dynamo=False`), which needs no extra package.
"""

from __future__ import annotations

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

    quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8)


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
    architecture = (config.architectures or ["KRElectraKDModel"])[0]
    if architecture not in OUTPUT_NAMES:
        raise ValueError(
            f"--model {name}: unknown architecture {architecture!r}; expected one of {list(OUTPUT_NAMES)}."
        )
    return load_any_model(name).eval()
