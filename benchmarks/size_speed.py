"""Size and CPU speed of the teacher and every student preset, as ratios to the teacher measured in the same run.

For each preset (random weights: speed and size do not depend on training): parameters; size on disk in fp32 and
fp16 (safetensors written by save_pretrained) and int8 (the ONNX Runtime dynamically quantized model file); CPU
latency at batch 1 and throughput at batch 32, at each sequence length, for PyTorch eager, PyTorch dynamic int8
quantization and ONNX Runtime. Models are interleaved in every repeat round so machine noise hits all of them alike;
medians are reported. `small-kd` is also compared with a stock transformers `ElectraModel` of the same shape.

    python benchmarks/size_speed.py                       # full run (about 15 minutes on 2 cores)
    python benchmarks/size_speed.py --quick --presets tiny # smoke run

Writes benchmarks/results/size_speed.json and .md (and a PNG plot of size against latency).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from modeling_kr_electra_kd import KRElectraKDConfig, KRElectraKDModel  # noqa: E402

PRESETS = ["teacher-base", "small-kd", "small-lf-v1", "small-lf-v2", "small-lf-v3"]
RESULTS = REPO / "benchmarks" / "results"


def _inputs(batch: int, length: int, vocab: int) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return {
        "input_ids": torch.randint(5, vocab, (batch, length), generator=generator),
        "attention_mask": torch.ones(batch, length, dtype=torch.long),
        "token_type_ids": torch.zeros(batch, length, dtype=torch.long),
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _sizes(model: torch.nn.Module, folder: Path) -> dict[str, float]:
    model.save_pretrained(folder / "fp32")
    half = KRElectraKDModel(model.config).half()
    half.load_state_dict({k: v.half() for k, v in model.state_dict().items()})
    half.save_pretrained(folder / "fp16")
    return {
        "fp32_mb": (folder / "fp32" / "model.safetensors").stat().st_size / 1e6,
        "fp16_mb": (folder / "fp16" / "model.safetensors").stat().st_size / 1e6,
    }


def _export_onnx(model: torch.nn.Module, folder: Path, vocab: int) -> tuple[Path, Path | None]:
    """The encoder as ONNX (dynamic batch and sequence axes), and its ONNX Runtime int8 dynamic quantization."""
    path = folder / "model.onnx"
    sample = _inputs(2, 16, vocab)
    axes = {name: {0: "batch", 1: "sequence"} for name in sample}
    torch.onnx.export(
        model,
        (sample["input_ids"], sample["attention_mask"], sample["token_type_ids"]),
        str(path),
        input_names=list(sample),
        output_names=["last_hidden_state"],
        dynamic_axes={**axes, "last_hidden_state": {0: "batch", 1: "sequence"}},
        opset_version=17,
        dynamo=False,
    )
    quantized = folder / "model.int8.onnx"
    try:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        quantize_dynamic(str(path), str(quantized), weight_type=QuantType.QInt8)
    except Exception as error:  # noqa: BLE001 - the int8 column is optional
        print(f"  onnx int8 quantization failed: {error}", file=sys.stderr)
        quantized = None
    return path, quantized


class Runner:
    """One way of running one model: `__call__(inputs)` runs a forward pass."""

    def __init__(self, name: str, fn):
        self.name, self.fn = name, fn

    def __call__(self, inputs):
        return self.fn(inputs)


def _runners(model, folder: Path, vocab: int, onnx: bool) -> tuple[dict[str, Runner], dict[str, float]]:
    runners = {}
    extra = {}
    with torch.no_grad():
        runners["eager"] = Runner("eager", lambda x: model(**x))
        quantized = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
        runners["torch-int8"] = Runner("torch-int8", lambda x: quantized(**x))
    if onnx:
        import numpy as np
        import onnxruntime as ort

        path, int8_path = _export_onnx(model, folder, vocab)
        options = ort.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        runners["onnxruntime"] = Runner(
            "onnxruntime", lambda x: session.run(None, {k: v.numpy() for k, v in x.items()})
        )
        check = _inputs(2, 24, vocab)
        with torch.no_grad():
            reference = model(**check).last_hidden_state.numpy()
        extra["onnx_max_abs_diff"] = float(
            np.abs(session.run(None, {k: v.numpy() for k, v in check.items()})[0] - reference).max()
        )
        if int8_path is not None:
            extra["int8_mb"] = int8_path.stat().st_size / 1e6
            int8 = ort.InferenceSession(str(int8_path), options, providers=["CPUExecutionProvider"])
            runners["onnxruntime-int8"] = Runner(
                "onnxruntime-int8", lambda x: int8.run(None, {k: v.numpy() for k, v in x.items()})
            )
    return runners, extra


def _time(runner: Runner, inputs, repeats_inner: int) -> float:
    start = time.perf_counter()
    with torch.no_grad():
        for _ in range(repeats_inner):
            runner(inputs)
    return (time.perf_counter() - start) / repeats_inner


def run(args: argparse.Namespace) -> dict:
    torch.manual_seed(0)
    vocab = args.vocab_size
    models, sizes, runners, extras = {}, {}, {}, {}
    workdir = Path(tempfile.mkdtemp(prefix="kr-electra-kd-bench-"))
    names = list(args.presets)
    for name in names:
        print(f"preparing {name}", flush=True)
        model = KRElectraKDModel(KRElectraKDConfig.from_preset(name, vocab_size=vocab)).eval()
        models[name] = model
        folder = workdir / name
        sizes[name] = {"parameters": sum(p.numel() for p in model.parameters()), **_sizes(model, folder)}
        runners[name], extras[name] = _runners(model, folder, vocab, not args.skip_onnx)
        sizes[name].update({k: v for k, v in extras[name].items() if k.endswith("_mb")})
    if "small-kd" in names and not args.skip_stock:
        from transformers import ElectraConfig, ElectraModel

        shape = models["small-kd"].config
        stock = ElectraModel(
            ElectraConfig(
                vocab_size=vocab,
                embedding_size=shape.embedding_size,
                hidden_size=shape.hidden_size,
                num_hidden_layers=shape.num_hidden_layers,
                num_attention_heads=shape.num_attention_heads,
                intermediate_size=shape.intermediate_size,
            )  # fmt: skip
        ).eval()
        runners["stock-electra(small-kd shape)"] = {"eager": Runner("eager", lambda x: stock(**x))}
        names.append("stock-electra(small-kd shape)")

    settings = [(batch, length) for length in args.seq_lengths for batch in args.batch_sizes]
    timings: dict = {name: {} for name in names}
    for round_index in range(args.repeats):
        print(f"round {round_index + 1}/{args.repeats}", flush=True)
        for batch, length in settings:
            inputs = _inputs(batch, length, vocab)
            for name in names:  # interleaved: drift hits every model alike
                for mode, runner in runners[name].items():
                    if round_index == 0:
                        _time(runner, inputs, 1)  # warm-up
                    inner = max(1, args.inner_repeats // batch)
                    key = f"{mode}|b{batch}|s{length}"
                    timings[name].setdefault(key, []).append(_time(runner, inputs, inner))

    rows = {}
    teacher_name = names[0]
    for name in names:
        rows[name] = {"size": sizes.get(name, {}), "speed": {}}
        for key, values in timings[name].items():
            mode, batch, length = key.split("|")
            median = statistics.median(values)
            teacher_median = statistics.median(timings[teacher_name].get(key, values))
            batch_size = int(batch[1:])
            rows[name]["speed"][key] = {
                "mode": mode,
                "batch": batch_size,
                "seq_length": int(length[1:]),
                "median_s": median,
                "spread_s": [min(values), max(values)],
                "throughput_per_s": batch_size / median,
                "speedup_vs_teacher": teacher_median / median,
            }
        rows[name].update({k: v for k, v in extras.get(name, {}).items() if not k.endswith("_mb")})
    if "stock-electra(small-kd shape)" in rows:
        ratios = []
        for key, value in rows["stock-electra(small-kd shape)"]["speed"].items():
            ours = rows["small-kd"]["speed"][key]
            ratios.append({"setting": key, "ours_over_stock_time": ours["median_s"] / value["median_s"]})
        rows["comparison_small_kd_vs_stock"] = ratios
    return {
        "command": "python benchmarks/size_speed.py " + " ".join(sys.argv[1:]),
        "machine": {
            "cpu": _cpu_model(),
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "python": platform.python_version(),
        },  # fmt: skip
        "repeats": args.repeats,
        "vocab_size": vocab,
        "note": "random weights; median over repeat rounds, models interleaved in each round; int8 size is the ONNX "
        "Runtime dynamically quantized file",
        "models": rows,
    }


def to_markdown(result: dict) -> str:
    lines = [
        f"Machine: {result['machine']['cpu']}, {result['machine']['threads']} threads, torch {result['machine']['torch']}; "
        f"median of {result['repeats']} rounds. Command: `{result['command']}`",
        "",
        "| model | parameters | fp32 MB | fp16 MB | int8 MB |",
        "|---|---|---|---|---|",
    ]
    models = {k: v for k, v in result["models"].items() if isinstance(v, dict) and "size" in v}
    for name, row in models.items():
        size = row["size"]
        if not size:
            continue
        int8 = f"{size['int8_mb']:.1f}" if "int8_mb" in size else "n/a"
        lines.append(
            f"| {name} | {size['parameters'] / 1e6:.1f}M | {size['fp32_mb']:.1f} | {size['fp16_mb']:.1f} | {int8} |"
        )
    keys = sorted({key for row in models.values() for key in row["speed"]})
    # A "|" inside a header cell would split the Markdown column, so the key's separators become spaces.
    headers = [key.replace("|", " ") for key in keys]
    lines += ["", "| model | " + " | ".join(headers) + " |", "|---|" + "---|" * len(keys)]
    for name, row in models.items():
        cells = []
        for key in keys:
            cell = row["speed"].get(key)
            cells.append(f"{cell['median_s'] * 1000:.1f} ms (x{cell['speedup_vs_teacher']:.1f})" if cell else "")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("Cells: median time per batch (speed-up over the teacher in the same run).")
    if "comparison_small_kd_vs_stock" in result["models"]:
        worst = max(r["ours_over_stock_time"] for r in result["models"]["comparison_small_kd_vs_stock"])
        lines.append(f"small-kd vs stock transformers ElectraModel (same shape): our time / stock time, worst setting "
                     f"{worst:.2f}.")  # fmt: skip
    return "\n".join(lines)


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 4))
    for name, row in result["models"].items():
        if not isinstance(row, dict) or not row.get("size"):
            continue
        key = next((k for k in row["speed"] if k.startswith("eager|b1|")), None)
        if key is None:
            continue
        axis.scatter(row["size"]["fp32_mb"], row["speed"][key]["median_s"] * 1000)
        axis.annotate(name, (row["size"]["fp32_mb"], row["speed"][key]["median_s"] * 1000), fontsize=8)
    axis.set_xlabel("fp32 size (MB)")
    axis.set_ylabel("eager latency, batch 1 (ms)")
    axis.set_title("kr-electra-kd: size vs CPU latency")
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", nargs="+", default=PRESETS, help="Presets; the first is the reference (teacher).")
    parser.add_argument("--seq-lengths", nargs="+", type=int, default=[128, 64])
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[1, 32])
    parser.add_argument("--repeats", type=int, default=5, help="Interleaved rounds; the median is reported.")
    parser.add_argument("--inner-repeats", type=int, default=8, help="Forward passes per timing (divided by batch).")
    parser.add_argument("--vocab-size", type=int, default=30000)
    parser.add_argument("--skip-onnx", action="store_true", help="Leave out the ONNX Runtime columns.")
    parser.add_argument("--skip-stock", action="store_true", help="Leave out the stock ElectraModel comparison.")
    parser.add_argument("--quick", action="store_true", help="Smoke run: 1 round, sequence 16, batches 1 and 2.")
    parser.add_argument("--output-dir", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats, args.seq_lengths, args.batch_sizes, args.inner_repeats = 1, [16], [1, 2], 1
    result = run(args)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    (args.output_dir / "size_speed.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    (args.output_dir / "size_speed.md").write_text(to_markdown(result) + "\n", encoding="utf-8")
    plot(result, args.output_dir / "size_speed.png")
    print(to_markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
