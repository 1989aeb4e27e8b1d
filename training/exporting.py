"""One export as a library call (`run_export`, what `kr-electra-kd export` runs): checks, the ONNX files written into
a staging folder and moved into place once complete, then the parity check of every written file against PyTorch.
The ONNX pieces themselves live in training/onnx_export.py."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path

from transformers import PreTrainedModel, PreTrainedTokenizerBase

from training.arguments import check_output_dir, split_options
from training.loading import load_tokenizer
from training.onnx_export import (
    ONNX_FILE,
    PARITY_SENTENCES,
    QUANTIZATIONS,
    QUANTIZED_FILE,
    convert_to_ort,
    export_onnx,
    js_pipeline,
    load_model,
    max_differences,
    onnx_session,
    quantize_int8,
    write_web_files,
)
from training.outputs import atomic_output, bytes_of, output_run
from training.tokenizer import check_tokenizer_matches_config, save_tokenizer


# The export command's arguments live here, beside the run that builds them (a library may not import a command).
@dataclass
class ExportArguments:
    model: str = field(metadata={"help": "Model folder or Hub id of this family (any head)."})
    output_dir: str = field(
        metadata={"help": "Folder to write (web-ready): onnx/model.onnx, config.json, tokenizer files."}
    )
    quantize: str | None = field(
        default=None, metadata={"help": "Also write onnx/model_quantized.onnx: 'int8' (ONNX Runtime dynamic int8)."}
    )
    opset: int = field(default=17, metadata={"help": "ONNX opset version (14 or later: scaled dot-product attention)."})
    tolerance: float = field(
        default=1e-4, metadata={"help": "Largest allowed difference between PyTorch and the float ONNX model."}
    )
    mobile: bool = field(
        default=False,
        metadata={"help": "Also write ONNX Runtime's mobile format: onnx/*.ort and onnx/required_operators.config."},
    )
    overwrite_output_dir: bool = field(
        default=False, metadata={"help": "Replace a model or export already in --output_dir (refused otherwise)."}
    )


class ParityError(RuntimeError):
    """The float ONNX model differs from PyTorch by more than the tolerance (not bad input: exit code 1)."""


def prepare_export(args: ExportArguments) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Every check before anything is written, and the model with its tokenizer. Bad input raises ValueError."""
    check_output_dir(args.output_dir, args.overwrite_output_dir)
    if args.quantize is not None and args.quantize not in QUANTIZATIONS:
        raise ValueError(f"--quantize {args.quantize}: choose one of {', '.join(QUANTIZATIONS)}.")
    missing = [name for name in ("onnx", "onnxruntime") if importlib.util.find_spec(name) is None]
    if missing:
        raise ValueError(f"export needs {' and '.join(missing)}: pip install 'kr-electra-kd[onnx]'.")
    model = load_model(args.model)
    tokenizer = load_tokenizer(args.model)
    check_tokenizer_matches_config(tokenizer, model.config)  # ids past the embeddings fail only in ONNX Runtime
    return model, tokenizer


def write_export(
    args: ExportArguments, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase
) -> tuple[list[Path], list[str]]:
    """The web-ready folder, moved into place once complete; the ONNX files' paths and the model's output names."""
    output_dir = Path(args.output_dir)
    with atomic_output(output_dir, needed=bytes_of(model)) as staging:
        written = [staging / "onnx" / ONNX_FILE]
        output_names = export_onnx(model, written[0], args.opset)
        save_tokenizer(tokenizer, staging)
        # A web-ready folder (training/onnx_export.py): stock electra config and ElectraTokenizer, no weights, no code.
        write_web_files(staging, model.config.to_dict(), quantized=args.quantize is not None)
        if args.quantize == "int8":
            written.append(staging / "onnx" / QUANTIZED_FILE)
            quantize_int8(written[0], written[-1])
        if args.mobile:
            written += convert_to_ort(list(written))
    return [output_dir / path.relative_to(staging) for path in written], output_names


def check_parity(args: ExportArguments, model, tokenizer, files: list[Path], output_names: list[str]) -> None:
    """Print each file's size and largest difference from PyTorch on Korean sentences; ParityError when a float
    model (ONNX or .ort) is past the tolerance."""
    output_dir = Path(args.output_dir)
    inputs = dict(tokenizer(PARITY_SENTENCES, padding=True, truncation=True, max_length=128, return_tensors="pt"))
    parity_ok = True
    for path in files:
        differences = max_differences(model, onnx_session(path), inputs, output_names)
        shown = ", ".join(f"{name} {value:.2e}" for name, value in differences.items())
        print(f"{path.relative_to(output_dir)}: {path.stat().st_size / 1e6:.1f} MB; max |PyTorch - ONNX|: {shown}")
        if path.name in (ONNX_FILE, Path(ONNX_FILE).with_suffix(".ort").name):
            parity_ok = parity_ok and max(differences.values()) <= args.tolerance
    if not parity_ok:
        raise ParityError(f"the ONNX model differs from PyTorch by more than --tolerance {args.tolerance}")
    print(
        f"ONNX export of {type(model).__name__} in {output_dir} (parity checked on {len(PARITY_SENTENCES)} sentences)"
    )
    task = js_pipeline(type(model).__name__)
    if task is None:
        print(f"note: transformers.js has no pipeline for {type(model).__name__}; onnxruntime and optimum read it.")
    else:
        print(f"transformers.js: pipeline('{task}', '{output_dir.name}') (kr-electra-kd demo --model {output_dir})")


def run_export(**options) -> Path:
    """One export, from keyword arguments named as the export command's options (`model`, `output_dir`, `quantize`,
    ...), with its defaults; returns the export folder. Runs in its own `output_run` (the folder is locked until it
    returns). Bad input raises ValueError; a failed parity check, ParityError."""
    (own,) = split_options(options, (ExportArguments,), "export")
    args = ExportArguments(**own)
    with output_run():
        model, tokenizer = prepare_export(args)
        files, output_names = write_export(args, model, tokenizer)
        check_parity(args, model, tokenizer, files, output_names)
    return Path(args.output_dir)
