"""The students on the devices the paper was written for: in a real browser (headless Debian Chromium, transformers.js
over onnxruntime-web's WebAssembly build, served from 127.0.0.1 with nothing else reachable), against onnxruntime in
Python (native) and PyTorch eager, in the same run.

For the 5 presets at the paper's shapes (random weights: size and speed do not depend on them), fp32 and q8:
  - model bytes, and the gzipped bytes a first visit downloads (runtime, model, tokenizer, page);
  - cold start: navigation to the first label shown, in a fresh browser profile (1 WASM thread);
  - warm p50/p90 per text at batch 1, 32 and 128 tokens, with 1 and 2 WASM threads;
  - the page's peak JS heap;
  - the same inputs through onnxruntime (1 and 2 threads) and PyTorch eager (fp32, 1 and 2 threads).
Accuracy: a fine-tuned NSMC student's q8 export in the browser against PyTorch fp32 on 1,000 NSMC test reviews (a
2-layer student of LF-V3's width and ranks, random init, fine-tuned briefly here unless --nsmc-model names one).

    python -m benchmarks.edge            # writes benchmarks/results/edge.json, .md and .png
    python -m benchmarks.edge --smoke    # one tiny preset, few repeats, 20 reviews (what the test runs)

Needs scripts/setup_browser.sh (Chromium, chromedriver, the web runtime in web/node_modules).
"""

from __future__ import annotations

import argparse
import functools
import gzip
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks.common import DATA, QUIET, RESULTS, command_line, cpu_model
from benchmarks.report import save_results
from modeling_kr_electra_kd import KRElectraKDConfig, KRElectraKDForSequenceClassification
from training import browser as chromium
from training import web_server
from training.exporting import run_export
from training.onnx_export import ONNX_FILE, QUANTIZED_FILE, onnx_session
from training.recipe import run_step
from training.tokenizer import save_tokenizer, train_tokenizer

PRESETS = ["teacher-base", "small-kd", "small-lf-v1", "small-lf-v2", "small-lf-v3"]
DTYPES = {"fp32": ONNX_FILE, "q8": QUANTIZED_FILE}
TOKENS = (32, 128)
THREADS = (1, 2)
PAGE_FILES = ("index.html", "demo.js")
TOKENIZER_FILES = ("config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", nargs="+", default=PRESETS)
    parser.add_argument("--repeats", type=int, default=20, help="Timed calls per cell (after 3 warm-up calls).")
    parser.add_argument("--nsmc-dir", default=str(DATA / "nsmc"))
    parser.add_argument("--reviews", type=int, default=1000, help="NSMC test reviews for the accuracy check.")
    parser.add_argument("--nsmc-model", help="A fine-tuned NSMC model folder of this family (default: train one).")
    parser.add_argument("--work", default=None, help="Folder for exports and the NSMC student (default: a temp dir).")
    parser.add_argument("--smoke", action="store_true", help="Tiny preset, 3 repeats, 20 reviews: a quick check.")
    parser.add_argument("--output-dir", default=str(RESULTS))
    parser.add_argument("--name", default="edge")
    return parser.parse_args(argv)


# The models ------------------------------------------------------------------------------------------------------


def bench_tokenizer(work: Path, nsmc_dir: str, lines: int):
    """A plain WordPiece tokenizer on NSMC training reviews (the vocabulary size only matters for the embedding)."""
    folder = work / "tokenizer"
    if not (folder / "tokenizer.json").is_file():
        texts = []
        with gzip.open(Path(nsmc_dir) / "ratings_train.txt.gz", "rt", encoding="utf-8") as file:
            for index, line in enumerate(file):
                if 0 < index <= lines:
                    texts.append(line.rstrip("\n").split("\t")[1])
        tokenizer = train_tokenizer(texts, vocab_size=8000, morpheme_aware=False, model_max_length=128)
        save_tokenizer(tokenizer, folder)
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(folder)


def export_preset(work: Path, preset: str, tokenizer, smoke: bool) -> Path:
    """The preset at the paper's shape (random weights, vocabulary as the paper's), exported fp32 and q8."""
    folder = work / "presets" / preset
    if (folder / "web" / "onnx" / QUANTIZED_FILE).is_file():
        return folder / "web"
    torch.manual_seed(0)
    overrides = {"num_labels": 2, **({"vocab_size": len(tokenizer)} if smoke else {})}
    config = KRElectraKDConfig.from_preset("tiny" if smoke else preset, **overrides)
    KRElectraKDForSequenceClassification(config).save_pretrained(folder / "model")
    save_tokenizer(tokenizer, folder / "model")
    return run_export(
        model=str(folder / "model"), output_dir=str(folder / "web"), quantize="int8", overwrite_output_dir=True
    )


def nsmc_description(args: argparse.Namespace) -> str:
    """What the accuracy rows measured, in words (the model's folder is a path of the machine that ran it)."""
    if args.nsmc_model:
        return f"the model given with --nsmc-model ({Path(args.nsmc_model).name})"
    samples = 200 if args.smoke else 16000
    return f"small-lf-v3 with 2 layers, random init, fine-tuned on {samples} NSMC reviews for 1 epoch (lr 2e-4)"


def nsmc_student(work: Path, args: argparse.Namespace, tokenizer) -> Path:
    """A 2-layer student of LF-V3's width and ranks, random init, fine-tuned on NSMC (a finished one is reused)."""
    if args.nsmc_model:
        return Path(args.nsmc_model)
    start = work / "nsmc-start"
    if not (start / "config.json").is_file():
        torch.manual_seed(0)
        config = KRElectraKDConfig.from_preset(
            "small-lf-v3", num_hidden_layers=2, vocab_size=len(tokenizer), num_labels=2, hidden_dropout_prob=0.0
        )
        KRElectraKDForSequenceClassification(config).save_pretrained(start)
        save_tokenizer(tokenizer, start)
    samples, epochs = (200, 1.0) if args.smoke else (16000, 1.0)
    options = {"model": str(start), "task": "nsmc", "data_dir": args.nsmc_dir, "max_train_samples": samples}
    options |= {"num_train_epochs": epochs, "learning_rate": 2e-4, "max_seq_length": 48, **QUIET}
    options |= {"per_device_train_batch_size": 32, "max_eval_samples": 200, "output_dir": str(work / "nsmc")}
    return run_step("nsmc student", work / "nsmc", "finetune", options)


# Sizes -----------------------------------------------------------------------------------------------------------


def gzipped(paths: list[Path]) -> int:
    return sum(len(gzip.compress(path.read_bytes(), 6)) for path in paths if path.is_file())


def download_bytes(web: Path, dtype: str) -> dict:
    """What a first visit downloads, gzipped (as a server would send it), by part."""
    runtime = [web_server.NODE_MODULES / path for path in web_server.RUNTIME_FILES.values()]
    parts = {
        "runtime": gzipped(runtime),
        "model": gzipped([web / "onnx" / DTYPES[dtype]]),
        "tokenizer": gzipped([web / name for name in TOKENIZER_FILES]),
        "page": gzipped([web_server.PAGE_DIR / name for name in PAGE_FILES]),
    }
    return {**parts, "total": sum(parts.values())}


# Timing ----------------------------------------------------------------------------------------------------------

# In the page: the loaded model on the given token ids (batch 1), after 3 warm-up calls; milliseconds per call.
TIME_IN_PAGE = """
const { Tensor } = await import("/runtime/transformers.web.min.js");
const [ids, repeats] = args;
const make = (values) => new Tensor("int64", BigInt64Array.from(values.map(BigInt)), [1, values.length]);
const feed = { input_ids: make(ids), attention_mask: make(ids.map(() => 1)), token_type_ids: make(ids.map(() => 0)) };
for (let i = 0; i < 3; i++) await window.demo.pipe.model(feed);
const times = [];
for (let i = 0; i < repeats; i++) {
  const started = performance.now();
  await window.demo.pipe.model(feed);
  times.push(performance.now() - started);
}
return times;
"""


def percentiles(times_ms: list[float]) -> tuple[float, float, float]:
    """p50, p90 and the fastest call (on a loaded machine the fastest is the least disturbed)."""
    ordered = sorted(times_ms)
    p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
    return round(statistics.median(ordered), 3), round(p90, 3), round(ordered[0], 3)


def time_calls(call, repeats: int) -> list[float]:
    for _ in range(3):
        call()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return times


@functools.lru_cache(maxsize=2)
def _session(path: Path, threads: int):
    return onnx_session(path, threads)


@functools.lru_cache(maxsize=1)
def _pytorch_model(model_dir: Path):
    return KRElectraKDForSequenceClassification.from_pretrained(model_dir).eval()


def native_times(web: Path, model_dir: Path, dtype: str, ids: list[int], threads: int, repeats: int) -> dict:
    """onnxruntime (this dtype's file) and, for fp32, PyTorch eager on the same ids, `threads` threads."""
    array = np.array([ids], dtype=np.int64)
    feed = {"input_ids": array, "attention_mask": np.ones_like(array), "token_type_ids": np.zeros_like(array)}
    session = _session(web / "onnx" / DTYPES[dtype], threads)
    result = {"onnxruntime": percentiles(time_calls(lambda: session.run(None, feed), repeats))}
    if dtype == "fp32":
        torch.set_num_threads(threads)
        model = _pytorch_model(model_dir)
        inputs = {key: torch.from_numpy(value) for key, value in feed.items()}
        with torch.no_grad():
            result["pytorch"] = percentiles(time_calls(lambda: model(**inputs), repeats))
    return result


def renderer_peak_bytes(profile: Path) -> int | None:
    """The largest peak resident memory (VmHWM) of the renderer processes of the browser using `profile`."""
    peaks, browsers = [], set()
    for status in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            command = status.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(profile) in command and "--type=" not in command:
            browsers.add(status.parent.name)
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
            command = (status.parent / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
        ancestors = _ancestors(status.parent.name)
        if "--type=renderer" in command and browsers & ancestors and "VmHWM" in fields:
            peaks.append(int(fields["VmHWM"].split()[0]) * 1024)
    return max(peaks) if peaks else None


def _ancestors(pid: str) -> set[str]:
    found = set()
    while pid not in ("0", "1") and pid not in found:
        found.add(pid)
        try:
            pid = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1]
        except (OSError, IndexError):
            break
    return found


# The browser -----------------------------------------------------------------------------------------------------


def browser_cell(server, name: str, dtype: str, inputs: dict, repeats: int) -> dict:
    """One model and dtype in a fresh browser profile: cold start (1 thread), then warm times per threads and
    length (the page reloaded per thread count: onnxruntime-web fixes it at start), and the page's peak memory."""
    browser = chromium.Browser()
    try:
        cold = browser.open_page(f"{server.url}/?model={name}&dtype={dtype}&threads=1")
        if cold["state"] != "ready":
            raise RuntimeError(f"{name} {dtype}: the page failed: {cold['error']}")
        times, heap = {}, []
        for threads in THREADS:
            if threads != 1:
                state = browser.open_page(f"{server.url}/?model={name}&dtype={dtype}&threads={threads}")
                assert state["state"] == "ready", state
            for tokens, ids in inputs.items():
                times[(threads, tokens)] = percentiles(browser.call(TIME_IN_PAGE, ids, repeats))
                heap.append(browser.peak_memory_bytes() or 0)
        peak = renderer_peak_bytes(browser.profile)
        return {
            "version": browser.version,
            "cold_start_ms": round(cold["first_label_ms"], 1),
            "times": times,
            "js_heap_bytes": max(heap),
            "peak_memory_bytes": peak,
        }
    finally:
        browser.close()


def preset_rows(server, preset: str, web: Path, inputs: dict, repeats: int) -> tuple[list[dict], str]:
    """The rows of one preset: per dtype, threads and length, browser against native."""
    rows, version = [], "unknown"
    for dtype in DTYPES:
        print(f"{preset} {dtype}: browser", flush=True)
        cell = browser_cell(server, preset, dtype, inputs, repeats)
        version = cell["version"]
        sizes = download_bytes(web, dtype)
        for threads in THREADS:
            for tokens, ids in inputs.items():
                native = native_times(web, web.parent / "model", dtype, ids, threads, repeats)
                browser_p50, browser_p90, browser_min = cell["times"][(threads, tokens)]
                row = {"preset": preset, "dtype": dtype, "threads": threads, "tokens": tokens}
                row["model_bytes"] = (web / "onnx" / DTYPES[dtype]).stat().st_size
                row["first_visit_gzip_bytes"] = sizes
                row["cold_start_ms"] = cell["cold_start_ms"]
                row["browser_p50_ms"], row["browser_p90_ms"], row["browser_min_ms"] = (
                    browser_p50,
                    browser_p90,
                    browser_min,
                )
                row["onnxruntime_p50_ms"], row["onnxruntime_p90_ms"], row["onnxruntime_min_ms"] = native["onnxruntime"]
                row["pytorch_p50_ms"], row["pytorch_p90_ms"], row["pytorch_min_ms"] = native.get("pytorch", (None,) * 3)
                row["browser_vs_onnxruntime"] = round(browser_p50 / native["onnxruntime"][0], 2)
                row["browser_vs_onnxruntime_fastest"] = round(browser_min / native["onnxruntime"][2], 2)
                row["peak_memory_bytes"], row["js_heap_bytes"] = cell["peak_memory_bytes"], cell["js_heap_bytes"]
                rows.append(row)
    return rows, version


def token_inputs(tokenizer, nsmc_dir: str) -> dict[int, list[int]]:
    """Real review text, cut to exactly 32 and 128 tokens ([CLS] ... [SEP])."""
    with gzip.open(Path(nsmc_dir) / "ratings_test.txt.gz", "rt", encoding="utf-8") as file:
        text = " ".join(line.split("\t")[1] for _, line in zip(range(200), file) if "\t" in line)
    ids = tokenizer(text)["input_ids"]
    return {n: [*ids[: n - 1], tokenizer.sep_token_id] for n in TOKENS}


# Accuracy --------------------------------------------------------------------------------------------------------

CLASSIFY_IN_PAGE = """
const out = [];
for (let i = 0; i < args[0].length; i += 32) {
  const results = await window.demo.pipe(args[0].slice(i, i + 32), { top_k: 1 });
  out.push(...results.map((r) => r.label));
}
return out;
"""


def accuracy(server, model_dir: Path, web_name: str, nsmc_dir: str, reviews: int) -> dict:
    """The NSMC student's q8 export in the browser against PyTorch fp32 on the first `reviews` test reviews."""
    from transformers import AutoTokenizer

    rows = []
    with gzip.open(Path(nsmc_dir) / "ratings_test.txt.gz", "rt", encoding="utf-8") as file:
        for line in list(file)[1:]:
            parts = line.rstrip("\n").split("\t")
            if len(parts) == 3 and parts[1].strip():
                rows.append((parts[1], int(parts[2])))
            if len(rows) == reviews:
                break
    texts, gold = [text for text, _ in rows], np.array([label for _, label in rows])
    model = KRElectraKDForSequenceClassification.from_pretrained(model_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    predicted = []
    with torch.no_grad():
        for start in range(0, len(texts), 64):
            batch = tokenizer(texts[start : start + 64], padding=True, truncation=True, return_tensors="pt")
            predicted += model(**batch).logits.argmax(-1).tolist()
    browser = chromium.Browser()
    try:
        assert browser.open_page(f"{server.url}/?model={web_name}&dtype=q8&threads=1")["state"] == "ready"
        started = time.perf_counter()
        labels = browser.call(CLASSIFY_IN_PAGE, texts)
        seconds = time.perf_counter() - started
    finally:
        browser.close()
    label2id = {label: int(index) for index, label in model.config.id2label.items()}
    in_browser, predicted = np.array([label2id[label] for label in labels]), np.array(predicted)
    return {
        "reviews": len(texts),
        "pytorch_fp32_accuracy": round(float((predicted == gold).mean()) * 100, 2),
        "browser_q8_accuracy": round(float((in_browser == gold).mean()) * 100, 2),
        "label_agreement": round(float((in_browser == predicted).mean()) * 100, 2),
        "browser_ms_per_review": round(seconds * 1000 / len(texts), 2),
    }


# Report ----------------------------------------------------------------------------------------------------------


def _row(rows: list[dict], preset: str, dtype: str, threads: int, tokens: int) -> dict | None:
    match = [
        r for r in rows if (r["preset"], r["dtype"], r["threads"], r["tokens"]) == (preset, dtype, threads, tokens)
    ]
    return match[0] if match else None


def targets(rows: list[dict], accuracy_result: dict) -> dict:
    """The issue's targets, as measured (None where this run did not measure them)."""
    student, teacher = _row(rows, "small-lf-v3", "q8", 1, 128), _row(rows, "teacher-base", "q8", 1, 128)
    found = {}
    if student:
        found["model_file_mb"] = (round(student["model_bytes"] / 1e6, 2), "<= 6")
        found["first_visit_gzip_mb"] = (round(student["first_visit_gzip_bytes"]["total"] / 1e6, 2), "<= 10")
        found["cold_start_s"] = (round(student["cold_start_ms"] / 1000, 2), "<= 2")
        found["browser_1_thread_vs_native_1_thread"] = (student["browser_vs_onnxruntime"], "<= 3")
        found["browser_vs_native_fastest_calls"] = (student["browser_vs_onnxruntime_fastest"], "<= 3")
    if student and teacher:
        found["speedup_vs_teacher_q8_128"] = (round(teacher["browser_p50_ms"] / student["browser_p50_ms"], 2), ">= 8")
        found["speedup_vs_teacher_q8_128_fastest_calls"] = (
            round(teacher["browser_min_ms"] / student["browser_min_ms"], 2),
            ">= 8",
        )
    if accuracy_result:
        found["label_agreement_percent"] = (accuracy_result["label_agreement"], ">= 99.5")
    return {
        name: {"measured": value, "target": target, "met": _met(value, target)}
        for name, (value, target) in found.items()
    }


def _met(value: float, target: str) -> bool:
    operator, bound = target.split()
    return value <= float(bound) if operator == "<=" else value >= float(bound)


def load_note(load: list[str], cores: int) -> str:
    """The machine's load at the end of the run, in words: above the core count, other work shared the cores."""
    if not load:
        return "load average unknown"
    busy = float(load[0]) > cores
    verdict = "other jobs shared the cores, so every time is inflated" if busy else "no more runnable work than cores"
    return f"load average {', '.join(load)} at the end on {cores} cores: {verdict}"


def markdown(result: dict) -> str:
    lines = [
        f"Browser: Chromium {result['browser']['version']} (headless, Debian), transformers.js "
        f"{result['runtime']['@huggingface/transformers']}, onnxruntime-web {result['runtime']['onnxruntime-web']} "
        f"(plain SIMD-threaded WASM); machine: {result['machine']['cpu']}, {result['machine']['note']}.",
        "",
        "| preset | dtype | threads | tokens | model MB | first visit MB gz | cold start ms | browser p50 / p90 ms "
        "| onnxruntime p50 ms | PyTorch p50 ms | browser / native (p50; fastest) | page peak MB |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        pytorch = f"{r['pytorch_p50_ms']:.2f}" if r["pytorch_p50_ms"] is not None else "-"
        peak = f"{r['peak_memory_bytes'] / 1e6:.0f}" if r["peak_memory_bytes"] else "-"
        lines.append(
            f"| {r['preset']} | {r['dtype']} | {r['threads']} | {r['tokens']} | {r['model_bytes'] / 1e6:.2f} "
            f"| {r['first_visit_gzip_bytes']['total'] / 1e6:.2f} | {r['cold_start_ms']:.0f} "
            f"| {r['browser_p50_ms']:.2f} / {r['browser_p90_ms']:.2f} | {r['onnxruntime_p50_ms']:.2f} | {pytorch} "
            f"| {r['browser_vs_onnxruntime']:.1f}x; {r['browser_vs_onnxruntime_fastest']:.1f}x | {peak} |"
        )
    if result["accuracy"]:
        a = result["accuracy"]
        lines += ["", f"NSMC, {a['reviews']} test reviews, {a['model']}: PyTorch fp32 {a['pytorch_fp32_accuracy']:.2f}%, browser q8 "
                  f"{a['browser_q8_accuracy']:.2f}%, label agreement {a['label_agreement']:.2f}% ({a['note']})."]  # fmt: skip
    lines += ["", "| target | measured | wanted | met |", "|---|---|---|---|"]
    for name, t in result["targets"].items():
        lines.append(f"| {name} | {t['measured']} | {t['target']} | {'yes' if t['met'] else 'no'} |")
    return "\n".join(lines) + "\n"


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    presets = list(dict.fromkeys(r["preset"] for r in result["rows"]))
    figure, axis = plt.subplots(figsize=(8, 4))
    width = 0.2
    for index, (label, dtype, key) in enumerate(
        [("browser q8", "q8", "browser_p50_ms"), ("browser fp32", "fp32", "browser_p50_ms"),
         ("onnxruntime q8", "q8", "onnxruntime_p50_ms"), ("PyTorch fp32", "fp32", "pytorch_p50_ms")]
    ):  # fmt: skip
        values = [(_row(result["rows"], p, dtype, 1, TOKENS[-1]) or {}).get(key) or 0 for p in presets]
        axis.bar([i + (index - 1.5) * width for i in range(len(presets))], values, width, label=label)
    axis.set_xticks(range(len(presets)), presets)
    axis.set_yscale("log")
    axis.set_ylabel(f"ms per text, batch 1 x {TOKENS[-1]} tokens, 1 thread (p50)")
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


# The run ---------------------------------------------------------------------------------------------------------


def run(args: argparse.Namespace, argv: list[str] | None) -> tuple[dict, Path, Path]:
    """The result, the NSMC student's folder and its export (main writes the student's browser record there)."""
    problem = chromium.chromium_problem() or (web_server.SETUP_HINT if web_server.missing_runtime_files() else None)
    if problem:
        raise SystemExit(f"error: {problem}")
    if args.smoke:
        args.presets, args.repeats, args.reviews = ["small-lf-v3"], 3, 20
    work = Path(args.work or tempfile.mkdtemp(prefix="edge-"))
    tokenizer = bench_tokenizer(work, args.nsmc_dir, 2000 if args.smoke else 20000)
    webs = {preset: export_preset(work, preset, tokenizer, args.smoke) for preset in args.presets}
    student = nsmc_student(work, args, tokenizer)
    student_web = work / "nsmc-web"
    if not (student_web / "onnx" / QUANTIZED_FILE).is_file():
        run_export(model=str(student), output_dir=str(student_web), quantize="int8", overwrite_output_dir=True)
    server = web_server.serve({**webs, "nsmc-student": student_web})
    try:
        inputs = token_inputs(tokenizer, args.nsmc_dir)
        rows, version = [], "unknown"
        for preset, web in webs.items():
            preset_result, version = preset_rows(server, preset, web, inputs, args.repeats)
            rows += preset_result
        accuracy_result = accuracy(server, student, "nsmc-student", args.nsmc_dir, args.reviews)
    finally:
        server.close()
    accuracy_result = {"model": nsmc_description(args), **accuracy_result}
    accuracy_result["note"] = "what is measured is the browser's q8 against PyTorch fp32" + (
        "" if args.nsmc_model else " (a briefly trained model: its accuracy is low)"
    )
    load = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").is_file() else []
    return (
        {
            "command": command_line("edge", argv),
            "smoke": args.smoke,
            "browser": {"name": "Chromium (headless, Debian package)", "version": version},
            "runtime": web_server.runtime_versions(),
            "machine": {
                "cpu": cpu_model(),
                "cores": os.cpu_count(),
                "load_average_at_end": load,
                "note": load_note(load, os.cpu_count() or 1),
            },
            "repeats": args.repeats,
            "rows": rows,
            "accuracy": accuracy_result,
            "targets": targets(rows, accuracy_result),
        },
        student,
        student_web,
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_arguments(argv)
    result, student, student_web = run(args, argv)
    output_dir = Path(args.output_dir)
    write_browser_record(result, student, student_web)
    save_results(result, output_dir, args.name, markdown)
    plot(result, output_dir / f"{args.name}.png")
    return 0


def write_browser_record(result: dict, model_dir: Path, web: Path) -> None:
    """The NSMC model's own browser figures, as model_dir/browser.json, which its model card states."""
    record = {
        "browser": result["browser"],
        "runtime": result["runtime"],
        "dtype": "q8",
        "model_bytes": (web / "onnx" / QUANTIZED_FILE).stat().st_size,
        "first_visit_gzip_bytes": download_bytes(web, "q8")["total"],
        **{key: value for key, value in result["accuracy"].items() if key not in ("model", "web", "note")},
        "machine": result["machine"],
        "command": result["command"],
    }
    (model_dir / web_server.BROWSER_RECORD).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())


def summary_table(result: dict) -> str:
    """The README's short table: each preset and dtype at 128 tokens, 1 thread."""
    lines = [
        "| preset | dtype | model MB | first visit MB (gzip) | cold start s | browser p50 ms | onnxruntime p50 ms "
        "| PyTorch p50 ms | page peak MB |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        if r["threads"] != 1 or r["tokens"] != TOKENS[-1]:
            continue
        pytorch = f"{r['pytorch_p50_ms']:.1f}" if r["pytorch_p50_ms"] is not None else "-"
        peak = f"{r['peak_memory_bytes'] / 1e6:.0f}" if r["peak_memory_bytes"] else "-"
        lines.append(
            f"| {r['preset']} | {r['dtype']} | {r['model_bytes'] / 1e6:.1f} | {r['first_visit_gzip_bytes']['total'] / 1e6:.1f} "
            f"| {r['cold_start_ms'] / 1000:.1f} | {r['browser_p50_ms']:.1f} | {r['onnxruntime_p50_ms']:.1f} | {pytorch} | {peak} |"
        )
    return "\n".join(lines) + "\n"
