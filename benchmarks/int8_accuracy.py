"""Accuracy of an NSMC-fine-tuned model in fp32 and in dynamic int8, PyTorch and ONNX Runtime, on the NSMC test set.

Four runs of the same model over the same test sentences: PyTorch fp32 (the reference), PyTorch dynamic int8
(`torch.ao.quantization.quantize_dynamic` on the linear layers), ONNX Runtime fp32 and ONNX Runtime dynamic int8 (the
files `kr-electra-kd export --quantize int8` writes). Reports each one's accuracy, its loss against fp32 in points, how
often its prediction agrees with fp32's, and its wall time. Int8 speed against the teacher at batch 32 x 128 is in
`python -m benchmarks.size_speed` ("Against the teacher in fp32 eager").

    python -m benchmarks.int8_accuracy --model runs/lf3-nsmc --data-dir ../shared/data/nsmc            # all 50,000
    python -m benchmarks.int8_accuracy --model runs/lf3-nsmc --data-dir ../shared/data/nsmc --samples 5000

Writes benchmarks/results/int8_accuracy.json and .md.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks.common import RESULTS, command_line
from benchmarks.report import save_results
from training.defaults import RANK_FIELDS
from training.onnx_export import export_onnx, load_model, onnx_session, quantize_int8, run_onnx
from training.tasks import get_task, load_task_data


def _runners(model, threads: int, workdir: Path) -> dict:
    """Each way of running the model: a function from a batch of PyTorch inputs to logits (numpy)."""
    quantized = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
    fp32_path, int8_path = workdir / "model.onnx", workdir / "model_quantized.onnx"
    export_onnx(model, fp32_path)
    quantize_int8(fp32_path, int8_path)
    sessions = {
        "onnxruntime fp32": onnx_session(fp32_path, threads),
        "onnxruntime int8": onnx_session(int8_path, threads),
    }
    runners = {
        "pytorch fp32": torch.no_grad()(lambda x: model(**x).logits.numpy()),
        "pytorch int8": torch.no_grad()(lambda x: quantized(**x).logits.numpy()),
    }
    for name, session in sessions.items():
        runners[name] = lambda x, session=session: run_onnx(session, x)[0]
    return runners


def run(args: argparse.Namespace, argv: list[str] | None = None) -> dict:
    torch.set_num_threads(args.threads)
    model = load_model(args.model)
    if model.config.num_labels != 2:
        raise ValueError(f"--model {args.model} has {model.config.num_labels} labels; NSMC needs a 2-label classifier.")
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(args.model, trust_remote_code=True)
    test = load_task_data(get_task("nsmc"), data_dir=args.data_dir, max_eval_samples=args.samples)["eval"]
    texts, labels = list(test["text"]), np.array(test["label"])
    # Batches of similar length pad little; predictions go back to the original order.
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    batches = [order[start : start + args.batch_size] for start in range(0, len(order), args.batch_size)]
    encoded = [
        dict(tokenizer([texts[i] for i in batch], padding=True, truncation=True, max_length=args.max_length, return_tensors="pt"))
        for batch in batches
    ]  # fmt: skip
    with tempfile.TemporaryDirectory() as workdir:
        runners = _runners(model, args.threads, Path(workdir))
        predictions, seconds = {}, {}
        for name, runner in runners.items():
            print(f"{name} on {len(texts)} sentences", flush=True)
            started = time.perf_counter()
            predicted = np.empty(len(texts), dtype=np.int64)
            for batch, inputs in zip(batches, encoded):
                predicted[batch] = runner(inputs).argmax(-1)
            seconds[name] = time.perf_counter() - started
            predictions[name] = predicted
    reference = predictions["pytorch fp32"]
    rows = {}
    for name, predicted in predictions.items():
        accuracy = float((predicted == labels).mean() * 100)
        rows[name] = {
            "accuracy": accuracy,
            "agreement_with_fp32": float((predicted == reference).mean() * 100),
            "seconds": seconds[name],
        }
    for row in rows.values():
        row["points_lost_vs_fp32"] = rows["pytorch fp32"]["accuracy"] - row["accuracy"]
    return {
        "command": command_line("int8_accuracy", argv),
        "model": args.model,
        "architecture": type(model).__name__,
        "config": {
            k: getattr(model.config, k) for k in ("num_hidden_layers", "hidden_size", *RANK_FIELDS, "vocab_size")
        },  # fmt: skip
        "test_sentences": len(texts),
        "max_length": args.max_length,
        "threads": args.threads,
        "torch": torch.__version__,
        "note": args.note,
        "results": rows,
    }


def to_markdown(result: dict) -> str:
    lines = [
        f"NSMC test set, {result['test_sentences']:,} sentences (max {result['max_length']} tokens), model "
        f"`{result['model']}` ({result['architecture']}, {result['config']}); {result['threads']} threads, torch "
        f"{result['torch']}. Command: `{result['command']}`",
        "",
        *([result["note"], ""] if result.get("note") else []),
        "| runtime | accuracy | points lost vs fp32 | agrees with fp32 | seconds |",
        "|---|---|---|---|---|",
    ]
    for name, row in result["results"].items():
        lines.append(
            f"| {name} | {row['accuracy']:.2f} | {round(row['points_lost_vs_fp32'], 2) + 0.0:+.2f} | {row['agreement_with_fp32']:.2f}% "
            f"| {row['seconds']:.1f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="NSMC-fine-tuned folder or Hub id (sequence classification).")
    parser.add_argument("--data-dir", required=True, help="Folder with NSMC ratings_test.txt(.gz).")
    parser.add_argument("--samples", type=int, default=None, help="Test sentences to score (default: all).")
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2, help="torch and ONNX Runtime intra-op threads.")
    parser.add_argument("--note", default="", help="How the model was made, written beside the results.")
    parser.add_argument("--output-dir", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    try:
        result = run(args, argv)
    except (ValueError, OSError) as error:
        print(f"error: {str(error).splitlines()[0]}", file=sys.stderr)
        return 2
    save_results(result, args.output_dir, "int8_accuracy", to_markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
