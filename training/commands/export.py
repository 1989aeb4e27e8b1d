"""`kr-electra-kd export`: export a model as ONNX (optionally int8); the library is training/onnx_export.py."""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass, field
from pathlib import Path

from training.arguments import check_output_dir, parse_command
from training.errors import CommandError, bad_input, one_line_errors
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
from training.outputs import atomic_output, bytes_of, guards_outputs
from training.tokenizer import check_tokenizer_matches_config, save_tokenizer


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


@one_line_errors
@guards_outputs
def main(argv: list[str] | None = None) -> int:
    (args,) = parse_command((ExportArguments,), argv, "kr-electra-kd export")
    with bad_input():
        check_output_dir(args.output_dir, args.overwrite_output_dir)
        if args.quantize is not None and args.quantize not in QUANTIZATIONS:
            raise ValueError(f"--quantize {args.quantize}: choose one of {', '.join(QUANTIZATIONS)}.")
        missing = [name for name in ("onnx", "onnxruntime") if importlib.util.find_spec(name) is None]
        if missing:
            raise ValueError(f"export needs {' and '.join(missing)}: pip install 'kr-electra-kd[onnx]'.")
        model = load_model(args.model)
        tokenizer = load_tokenizer(args.model)
        check_tokenizer_matches_config(tokenizer, model.config)  # ids past the embeddings fail only in ONNX Runtime

    output_dir = Path(args.output_dir)
    with atomic_output(output_dir, needed=bytes_of(model)) as staging:  # moved into place once complete
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
    files = [output_dir / path.relative_to(staging) for path in written]

    inputs = dict(tokenizer(PARITY_SENTENCES, padding=True, truncation=True, max_length=128, return_tensors="pt"))
    parity_ok = True
    for path in files:
        differences = max_differences(model, onnx_session(path), inputs, output_names)
        shown = ", ".join(f"{name} {value:.2e}" for name, value in differences.items())
        print(f"{path.relative_to(output_dir)}: {path.stat().st_size / 1e6:.1f} MB; max |PyTorch - ONNX|: {shown}")
        if (
            path.name in (ONNX_FILE, Path(ONNX_FILE).with_suffix(".ort").name)
            and max(differences.values()) > args.tolerance
        ):
            parity_ok = False
    if not parity_ok:
        raise CommandError(f"the ONNX model differs from PyTorch by more than --tolerance {args.tolerance}", code=1)
    print(
        f"ONNX export of {type(model).__name__} in {output_dir} (parity checked on {len(PARITY_SENTENCES)} sentences)"
    )
    task = js_pipeline(type(model).__name__)
    if task is None:
        print(f"note: transformers.js has no pipeline for {type(model).__name__}; onnxruntime and optimum read it.")
    else:
        print(f"transformers.js: pipeline('{task}', '{output_dir.name}') (kr-electra-kd demo --model {output_dir})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
