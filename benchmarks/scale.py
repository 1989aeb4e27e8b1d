"""How the training path scales with the corpus: peak memory, time to the first step, wall time, tokens per second of
pre-training and distillation steps, and the share of padding tokens, for 0.5M, 1M and 2M corpus lines.

Corpora are the shared Korean corpus files (../shared/data/corpus) concatenated, repeated, and cut to each size (the
0.5M corpus is the 512,383 NSMC reviews). Each size runs, as subprocesses timed with `/usr/bin/time -v`:
- `pretrain-teacher --preset tiny --max_steps 2` (the issue's bar: peak memory and wall time);
- `pretrain-teacher` and `distill` (tiny student of that tiny teacher) for `--speed_steps` steps, logged every step:
  time to the first step is when the first step's log line appears; tokens per second are the real (non-padding)
  tokens of steps 2..N over their time (padded tokens times 1 - the padding share measured on the same data).

`--code_dir` picks the code measured, so the same script measures an older checkout (the "before" of a change):

    python -m benchmarks.scale                                            # this checkout: label "after"
    python -m benchmarks.scale --code_dir ../main --label before --no_packing_share

Results are merged into benchmarks/results/scale.json by label; scale.md (table) and scale.png (plot) show every
label present.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import DATA, REPO, RESULTS, command_line
from benchmarks.report import save_results

SHARED_CORPUS = DATA / "corpus"
CORPUS_PARTS = [
    "nsmc_unselected_reviews.txt.gz",
    "kohate_unlabeled_comments_5.txt",
    "kohate_unlabeled_news_titles_5.txt",
]
SIZES = [512_383, 1_024_766, 2_049_532]  # 1x, 2x, 4x the NSMC review corpus
BATCH_SIZE, MAX_SEQ_LENGTH = 32, 128  # the commands' defaults


def build_corpus(lines: int, work_dir: Path) -> Path:
    """The first `lines` lines of the shared corpus files, repeated, as one plain text file (made once)."""
    from training.corpus import iter_corpus_lines

    path = work_dir / f"corpus_{lines}.txt"
    if not path.is_file():
        parts = [SHARED_CORPUS / name for name in CORPUS_PARTS]
        texts = itertools.chain.from_iterable(iter_corpus_lines([part]) for part in itertools.cycle(parts))
        partial = path.with_suffix(".partial")
        with partial.open("w", encoding="utf-8") as handle:
            for text in itertools.islice(texts, lines):
                handle.write(text + "\n")
        partial.rename(path)
    return path


def padding_share(corpus: Path, tokenizer, packing: bool, batches: int = 200) -> float:
    """Share of padding positions in the first `batches` training batches (padded to their longest example, as the
    commands' collators do), with the streamed corpus of this checkout."""
    from training.corpus import streamed_corpus

    rows = streamed_corpus([corpus], tokenizer, MAX_SEQ_LENGTH, packing=packing)
    lengths = [len(row["input_ids"]) for row in itertools.islice(rows, batches * BATCH_SIZE)]
    padded = real = 0
    for start in range(0, len(lengths), BATCH_SIZE):
        batch = lengths[start : start + BATCH_SIZE]
        padded += max(batch) * len(batch)
        real += sum(batch)
    return 1 - real / padded


def run_timed(argv: list[str], code_dir: Path) -> dict:
    """Run `python -m training.cli ARGV` with `code_dir` first on the path under `/usr/bin/time -v`: peak memory,
    wall time, and when each logged step's line appeared (seconds from the start)."""
    env = {**os.environ, "PYTHONPATH": str(code_dir), "PYTHONUNBUFFERED": "1", "TOKENIZERS_PARALLELISM": "false"}
    env["HF_DATASETS_DISABLE_PROGRESS_BARS"] = "1"
    command = ["/usr/bin/time", "-v", sys.executable, "-m", "training.cli", *argv]
    # stderr to a file: a pipe nobody reads until the end fills up and stalls the child
    with tempfile.TemporaryFile("w+") as errors:
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=code_dir, env=env, stdout=subprocess.PIPE, stderr=errors, text=True)
        steps = []
        for line in process.stdout:
            if line.startswith("{'loss'"):
                steps.append((time.perf_counter() - started, json.loads(line.replace("'", '"'))))
        code = process.wait()
        wall = time.perf_counter() - started
        errors.seek(0)
        stderr = errors.read()
    if code:
        raise RuntimeError(f"{' '.join(argv[:1])} failed:\n{stderr[-3000:]}")
    peak_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", stderr).group(1))
    return {"peak_memory_gb": round(peak_kb / 1e6, 3), "wall_seconds": round(wall, 1), "steps": steps}


def tokens_per_second(steps: list, share: float) -> float:
    """Real tokens per second of the logged steps after the first (each log line: one step, padded tokens seen)."""
    (first_time, first), (last_time, last) = steps[0], steps[-1]
    padded = last["num_input_tokens_seen"] - first["num_input_tokens_seen"]
    return round(padded * (1 - share) / (last_time - first_time))


def measure(lines: int, corpus: Path, tokenizer_dir: Path, work_dir: Path, args, share: float) -> dict:
    common = ["--report_to", "none", "--disable_tqdm", "true", "--save_strategy", "no", "--seed", "0"]
    teacher = work_dir / f"{args.label}_teacher_{lines}"
    bar = run_timed(
        ["pretrain-teacher", "--corpus", str(corpus), "--tokenizer", str(tokenizer_dir), "--preset", "tiny"]
        + ["--max_steps", "2", "--output_dir", str(teacher), *common],
        args.code_dir,
    )
    row = {
        "lines": lines,
        "corpus_mb": round(corpus.stat().st_size / 1e6, 1),
        "peak_memory_gb": bar["peak_memory_gb"],
        "wall_seconds": bar["wall_seconds"],
        "padding_share": round(share, 4),
    }
    if args.bar_only:
        return row
    speed = ["--max_steps", str(args.speed_steps), "--logging_steps", "1", "--include_num_input_tokens_seen", "true"]
    pretrain = run_timed(
        ["pretrain-teacher", "--corpus", str(corpus), "--tokenizer", str(tokenizer_dir), "--preset", "tiny"]
        + ["--output_dir", str(work_dir / f"{args.label}_speed_{lines}"), *speed, *common],
        args.code_dir,
    )
    distill = run_timed(
        ["distill", "--teacher", str(teacher), "--student_preset", "tiny", "--corpus", str(corpus)]
        + ["--student_shape", "hidden_size=32,num_attention_heads=2"]
        + ["--output_dir", str(work_dir / f"{args.label}_student_{lines}"), *speed, *common],
        args.code_dir,
    )
    return row | {
        "pretrain_first_step_seconds": round(pretrain["steps"][0][0], 1),
        "distill_first_step_seconds": round(distill["steps"][0][0], 1),
        "pretrain_peak_memory_gb": pretrain["peak_memory_gb"],
        "distill_peak_memory_gb": distill["peak_memory_gb"],
        "pretrain_tokens_per_second": tokens_per_second(pretrain["steps"], share),
        "distill_tokens_per_second": tokens_per_second(distill["steps"], share),
    }


def _cell(row: dict, *keys: str, digits: str = ".0f") -> str:
    return " / ".join("n/a" if row.get(key) is None else format(row[key], digits) for key in keys)


def markdown(results: dict) -> str:
    lines = [
        "| code | corpus lines | MB | peak memory (GB) | wall, 2 steps (s) | first step: pre-train / distil (s) | "
        "real tokens/s: pre-train / distil | padding share |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for label, run in results.items():
        for row in run["rows"]:
            lines.append(
                f"| {label} | {row['lines']:,} | {row['corpus_mb']} | {row['peak_memory_gb']:.2f} | "
                f"{row['wall_seconds']:.0f} | {_cell(row, 'pretrain_first_step_seconds', 'distill_first_step_seconds')} "
                f"| {_cell(row, 'pretrain_tokens_per_second', 'distill_tokens_per_second', digits=',')} | "
                f"{100 * row['padding_share']:.1f}% |"
            )
    for label, run in results.items():
        rows = run["rows"]
        if len(rows) > 1:
            memory = rows[-1]["peak_memory_gb"] / rows[0]["peak_memory_gb"]
            wall = rows[-1]["wall_seconds"] / rows[0]["wall_seconds"]
            commands = "; ".join(f"`{command}`" for command in dict.fromkeys(row["command"] for row in rows))
            lines.append(
                f"\n`{label}`: {rows[-1]['lines'] / rows[0]['lines']:.0f}x the corpus costs {memory:.2f}x the peak "
                f"memory and {wall:.2f}x the wall time (bar: at most 1.3x and 1.5x). Command: {commands}"
            )
    return "\n".join(lines)


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (memory, wall) = plt.subplots(1, 2, figsize=(10, 4))
    for label, run in results.items():
        millions = [row["lines"] / 1e6 for row in run["rows"]]
        memory.plot(millions, [row["peak_memory_gb"] for row in run["rows"]], marker="o", label=label)
        wall.plot(millions, [row["wall_seconds"] for row in run["rows"]], marker="o", label=label)
    for axis, title in ((memory, "peak memory (GB)"), (wall, "wall time of 2 steps (s)")):
        axis.set_xlabel("corpus lines (millions)")
        axis.set_title(f"pretrain-teacher --preset tiny: {title}")
        axis.set_ylim(bottom=0)
        axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--code_dir", type=Path, default=REPO, help="Checkout whose training code is measured.")
    parser.add_argument("--label", default="after", help="Name of this measurement in the results.")
    parser.add_argument("--sizes", type=int, nargs="+", default=SIZES, help="Corpus sizes in lines.")
    parser.add_argument("--speed_steps", type=int, default=20, help="Steps of the tokens-per-second runs.")
    parser.add_argument(
        "--bar_only", action="store_true", help="Only the 2-step runs (peak memory, wall time): no speed runs."
    )
    parser.add_argument(
        "--no_packing_share",
        action="store_true",
        help="Report the padding share without packing (the code measured has none).",
    )
    parser.add_argument("--work_dir", type=Path, default=Path("/tmp/kr_electra_kd_scale"))
    parser.add_argument("--output_dir", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    command = command_line("scale", argv)
    if not SHARED_CORPUS.is_dir():
        print(f"error: the shared corpus folder {SHARED_CORPUS} is missing (see ../shared/data/README.md)")
        return 2
    args.work_dir.mkdir(parents=True, exist_ok=True)
    args.code_dir = args.code_dir.resolve()

    from transformers import AutoTokenizer

    tokenizer_dir = args.work_dir / "tokenizer"
    if not (tokenizer_dir / "tokenizer.json").is_file():
        run_timed(
            ["train-tokenizer", "--corpus", str(SHARED_CORPUS / CORPUS_PARTS[0]), "--max_lines", "100000"]
            + ["--vocab_size", "8000", "--output_dir", str(tokenizer_dir)],
            REPO,
        )
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    json_path = args.output_dir / "scale.json"
    for lines in args.sizes:
        corpus = build_corpus(lines, args.work_dir)
        share = padding_share(corpus, tokenizer, packing=not args.no_packing_share)
        row = measure(lines, corpus, tokenizer_dir, args.work_dir, args, share) | {"command": command}
        print(json.dumps(row), flush=True)
        # saved after every size, replacing this label's row of the same size (a long run can be resumed by size)
        results = json.loads(json_path.read_text(encoding="utf-8")) if json_path.is_file() else {}
        run = results.setdefault(args.label, {"rows": []})
        run["rows"] = sorted([*(old for old in run["rows"] if old["lines"] != lines), row], key=lambda r: r["lines"])
        run["padding_share_packing"] = not args.no_packing_share
        save_results(results, args.output_dir, "scale", markdown)
        plot(results, args.output_dir / "scale.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
