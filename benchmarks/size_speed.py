"""Size and CPU speed of the teacher and every student preset, as ratios to the teacher measured in the same run.

For each preset (random weights: speed and size do not depend on training): parameters; size on disk in fp32 and
fp16 (safetensors written by save_pretrained) and int8 (the ONNX Runtime dynamically quantized model file); CPU time
per batch at batch 1 and 32, at each sequence length, for PyTorch eager, PyTorch dynamic int8 quantization and ONNX
Runtime (fp32 and int8). Inputs are padded like real batches: the first half of the batch has its second half masked.
The thread count is set explicitly (`--threads`, default 2). Each measurement is `torch.utils.benchmark.Timer`'s
`blocked_autorange` (which warms up first); models are interleaved in every round so machine noise hits all of them
alike, and the blocks of all rounds give the median and interquartile range. Beside each measured speed-up stands the
FLOP ratio to the teacher (multiply-adds per token: the "physical limit" of the speed-up). `small-kd` is also compared
with a stock transformers `ElectraModel` of the same shape.

    python -m benchmarks.size_speed                       # full run (about 20 minutes on 2 quiet cores)
    python -m benchmarks.size_speed --quick --presets tiny # smoke run

Writes benchmarks/results/size_speed.json and .md (and a PNG plot of size against latency).
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
from functools import partial
from pathlib import Path

import torch

from benchmarks.common import RESULTS, command_line, cpu_model, quartiles, random_inputs, time_blocks
from benchmarks.report import save_results
from modeling_kr_electra_kd import KRElectraKDConfig, KRElectraKDModel
from training.onnx_export import export_onnx, onnx_session, quantize_int8, run_onnx

PRESETS = ["teacher-base", "small-kd", "small-lf-v1", "small-lf-v2", "small-lf-v3"]
STOCK = "stock-electra(small-kd shape)"


def macs_per_token(config: KRElectraKDConfig, seq_length: int) -> int:
    """Multiply-adds per token of the encoder: embedding factors and projection, Q/K/V/output projections,
    attention scores and context, feed-forward. Their ratio to the teacher's is the speed-up the arithmetic allows."""

    def linear(rows: int, cols: int, rank: int | None) -> int:
        return rows * cols if rank is None else rank * (rows + cols)

    hidden, ffn = config.hidden_size, config.intermediate_size
    layer = 4 * linear(hidden, hidden, config.attention_rank) + 2 * linear(hidden, ffn, config.ffn_rank)
    layer += 2 * seq_length * hidden  # scores (q . k) and context (p . v)
    embeddings = config.embedding_rank * config.embedding_size if config.embedding_rank else 0
    if config.embedding_size != hidden:
        embeddings += config.embedding_size * hidden
    return config.num_hidden_layers * layer + embeddings


def _sizes(model: torch.nn.Module, folder: Path) -> dict[str, float]:
    model.save_pretrained(folder / "fp32")
    half = KRElectraKDModel(model.config).half()
    half.load_state_dict({k: v.half() for k, v in model.state_dict().items()})
    half.save_pretrained(folder / "fp16")
    return {
        "fp32_mb": (folder / "fp32" / "model.safetensors").stat().st_size / 1e6,
        "fp16_mb": (folder / "fp16" / "model.safetensors").stat().st_size / 1e6,
    }


def _export_onnx(model: torch.nn.Module, folder: Path) -> tuple[Path, Path | None]:
    """The encoder as ONNX (`kr-electra-kd export`'s exporter), and its ONNX Runtime int8 dynamic quantization."""
    path = folder / "model.onnx"
    export_onnx(model, path)
    quantized = folder / "model.int8.onnx"
    try:
        quantize_int8(path, quantized)
    except Exception as error:  # noqa: BLE001 - the int8 column is optional
        print(f"  onnx int8 quantization failed: {error}", file=sys.stderr)
        quantized = None
    return path, quantized


def _runners(model, folder: Path, vocab: int, onnx: bool, threads: int) -> tuple[dict, dict[str, float]]:
    """The ways of running one model, each a function of the inputs, and the extras (int8 size, ONNX parity)."""
    quantized = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
    runners = {"eager": torch.no_grad()(lambda x: model(**x)), "torch-int8": torch.no_grad()(lambda x: quantized(**x))}
    extra = {}
    if onnx:
        import numpy as np

        path, int8_path = _export_onnx(model, folder)
        session = onnx_session(path, threads)
        runners["onnxruntime"] = lambda x: run_onnx(session, x)
        check = random_inputs(2, 24, vocab)
        with torch.no_grad():
            reference = model(**check).last_hidden_state.numpy()
        extra["onnx_max_abs_diff"] = float(np.abs(run_onnx(session, check)[0] - reference).max())
        if int8_path is not None:
            extra["int8_mb"] = int8_path.stat().st_size / 1e6
            int8 = onnx_session(int8_path, threads)
            runners["onnxruntime-int8"] = lambda x: run_onnx(int8, x)
    return runners, extra


def _prepare(names: list[str], args: argparse.Namespace, workdir: Path) -> tuple[dict, dict, dict, dict, dict]:
    """Each preset's model (random weights), its sizes, its ways of running and their extras, and its MACs per token
    at each sequence length."""
    models, sizes, runners, extras, macs = {}, {}, {}, {}, {}
    for name in names:
        print(f"preparing {name}", flush=True)
        model = KRElectraKDModel(KRElectraKDConfig.from_preset(name, vocab_size=args.vocab_size)).eval()
        models[name] = model
        folder = workdir / name
        sizes[name] = {"parameters": sum(p.numel() for p in model.parameters()), **_sizes(model, folder)}
        runners[name], extras[name] = _runners(model, folder, args.vocab_size, not args.skip_onnx, args.threads)
        sizes[name].update({k: v for k, v in extras[name].items() if k.endswith("_mb")})
        macs[name] = {length: macs_per_token(model.config, length) for length in args.seq_lengths}
    return models, sizes, runners, extras, macs


def _stock_runner(shape: KRElectraKDConfig, vocab: int):
    """Stock transformers `ElectraModel` of the same (dense) shape, run in eager mode."""
    from transformers import ElectraConfig, ElectraModel

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
    return torch.no_grad()(lambda x: stock(**x))


def _time_rounds(names: list[str], runners: dict, args: argparse.Namespace) -> dict:
    """Timed blocks of every model and mode at every setting, "mode|bB|sL" -> seconds per call, from interleaved
    rounds (drift hits every model alike)."""
    settings = [(batch, length) for length in args.seq_lengths for batch in args.batch_sizes]
    timings: dict = {name: {} for name in names}
    for round_index in range(args.repeats):
        print(f"round {round_index + 1}/{args.repeats}", flush=True)
        for batch, length in settings:
            inputs = random_inputs(batch, length, args.vocab_size)
            for name in names:
                for mode, runner in runners[name].items():
                    blocks = time_blocks(partial(runner, inputs), args.min_run_time, args.threads)
                    timings[name].setdefault(f"{mode}|b{batch}|s{length}", []).extend(blocks)
    return timings


def _speed_rows(names: list[str], timings: dict, macs: dict) -> dict:
    """Median, interquartile range, throughput, and the speed-ups and FLOP ratio against the first model's."""
    teacher, rows = timings[names[0]], {}
    for name in names:
        rows[name] = {}
        for key, values in timings[name].items():
            mode, batch, length = key.split("|")
            first, median, third = quartiles(values)
            teacher_median = quartiles(teacher.get(key, values))[1]
            teacher_eager = quartiles(teacher.get(f"eager|{batch}|{length}", values))[1]
            batch_size, seq_length = int(batch[1:]), int(length[1:])
            rows[name][key] = {
                "mode": mode,
                "batch": batch_size,
                "seq_length": seq_length,
                "median_s": median,
                "iqr_s": [first, third],
                "blocks": len(values),
                "throughput_per_s": batch_size / median,
                "speedup_vs_teacher": teacher_median / median,
                "speedup_vs_teacher_fp32_eager": teacher_eager / median,
                "flop_ratio_vs_teacher": macs[names[0]][seq_length] / macs[name][seq_length],
            }
    return rows


def run(args: argparse.Namespace, argv: list[str] | None = None) -> dict:
    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    names = list(args.presets)
    models, sizes, runners, extras, macs = _prepare(names, args, Path(tempfile.mkdtemp(prefix="kr-electra-kd-bench-")))
    if "small-kd" in names and not args.skip_stock:
        runners[STOCK] = {"eager": _stock_runner(models["small-kd"].config, args.vocab_size)}
        macs[STOCK] = macs["small-kd"]
        names.append(STOCK)
    speed = _speed_rows(names, _time_rounds(names, runners, args), macs)
    rows = {name: {"size": sizes.get(name, {}), "speed": speed[name]} for name in names}
    for name in names:
        rows[name].update({k: v for k, v in extras.get(name, {}).items() if not k.endswith("_mb")})
    if STOCK in rows:
        rows["comparison_small_kd_vs_stock"] = [
            {"setting": key, "ours_over_stock_time": speed["small-kd"][key]["median_s"] / value["median_s"]}
            for key, value in speed[STOCK].items()
        ]
    return {
        "command": command_line("size_speed", argv),
        "machine": {
            "cpu": cpu_model(),
            "threads": args.threads,
            "torch": torch.__version__,
            "python": platform.python_version(),
        },  # fmt: skip
        "repeats": args.repeats,
        "vocab_size": args.vocab_size,
        "note": "random weights; inputs padded in the first half of the batch; blocks of torch.utils.benchmark.Timer."
        "blocked_autorange from interleaved rounds give median and interquartile range; int8 size is the ONNX Runtime "
        "dynamically quantized file; flop_ratio_vs_teacher counts multiply-adds per token",
        "models": rows,
    }


def to_markdown(result: dict) -> str:
    machine = result["machine"]
    lines = [
        f"Machine: {machine['cpu']}, {machine['threads']} threads, torch {machine['torch']}; median and interquartile "
        f"range of timed blocks from {result['repeats']} interleaved rounds; the first half of each batch is padded. "
        f"Command: `{result['command']}`",
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
    cells = [cell for row in models.values() for cell in row["speed"].values()]
    modes = list(dict.fromkeys(cell["mode"] for cell in cells))
    settings = sorted({(cell["seq_length"], cell["batch"]) for cell in cells}, reverse=True)
    lengths = sorted({length for length, _ in settings}, reverse=True)
    for mode in modes:
        headers = [f"b{batch} x {length}" for length, batch in settings] + [f"FLOP limit x {n}" for n in lengths]
        lines += ["", f"**{mode}**", "", "| model | " + " | ".join(headers) + " |", "|---|" + "---|" * len(headers)]
        for name, row in models.items():
            by_setting = {(c["seq_length"], c["batch"]): c for c in row["speed"].values() if c["mode"] == mode}
            if not by_setting:
                continue
            line = []
            for setting in settings:
                cell = by_setting.get(setting)
                if cell is None:
                    line.append("")
                    continue
                spread = (cell["iqr_s"][1] - cell["iqr_s"][0]) * 1000
                line.append(f"{cell['median_s'] * 1000:.1f} ms ±{spread:.1f} (x{cell['speedup_vs_teacher']:.1f})")
            limits = {c["seq_length"]: c["flop_ratio_vs_teacher"] for c in by_setting.values()}
            line += [f"x{limits[n]:.1f}" if n in limits else "" for n in lengths]
            lines.append(f"| {name} | " + " | ".join(line) + " |")
    lines.append("")
    lines.append(
        "Cells: median time per batch ± interquartile range (speed-up over the teacher in the same mode and run); "
        "FLOP limit: the teacher's multiply-adds per token over the model's, the speed-up the arithmetic allows."
    )
    int8 = [
        (name, cell)
        for name, row in models.items()
        for cell in row["speed"].values()
        if "int8" in cell["mode"] and cell["batch"] == max(b for _, b in settings) and cell["seq_length"] == lengths[0]
    ]
    if int8:
        shown = "; ".join(f"{name} {cell['mode']} x{cell['speedup_vs_teacher_fp32_eager']:.1f}" for name, cell in int8)
        lines.append(f"Against the teacher in fp32 eager at b{max(b for _, b in settings)} x {lengths[0]}: {shown}.")
    if "comparison_small_kd_vs_stock" in result["models"]:
        worst = max(r["ours_over_stock_time"] for r in result["models"]["comparison_small_kd_vs_stock"])
        lines.append(f"small-kd vs stock transformers ElectraModel (same shape, same padded inputs): our time / stock "
                     f"time, worst setting {worst:.2f}.")  # fmt: skip
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
    parser.add_argument("--repeats", type=int, default=5, help="Interleaved rounds; their blocks give median and IQR.")
    parser.add_argument("--threads", type=int, default=2, help="torch and ONNX Runtime intra-op threads.")
    parser.add_argument("--min-run-time", type=float, default=0.5, help="Seconds each blocked_autorange measures.")
    parser.add_argument("--vocab-size", type=int, default=30000)
    parser.add_argument("--skip-onnx", action="store_true", help="Leave out the ONNX Runtime columns.")
    parser.add_argument("--skip-stock", action="store_true", help="Leave out the stock ElectraModel comparison.")
    parser.add_argument(
        "--quick", action="store_true", help="Short run: 1 round, sequence 16, batches 1 and 2, 0.01 s per timing."
    )
    parser.add_argument("--output-dir", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats, args.seq_lengths, args.batch_sizes, args.min_run_time = 1, [16], [1, 2], 0.01
    result = save_results(run(args, argv), args.output_dir, "size_speed", to_markdown)
    plot(result, args.output_dir / "size_speed.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
