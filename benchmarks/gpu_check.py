"""One run on one GPU that checks issue 20's promises in at most 8 minutes, start-up included: inference speed of the
package against stock `ElectraModel`, training and evaluation rates, and NSMC quality after minutes of pre-training.

    python -m benchmarks.gpu_check                     # one H100/H200: benchmarks/results/gpu_check.json and .md
    python -m benchmarks.gpu_check --smoke --output_dir /tmp/check   # the same code at tiny sizes on CPU (< 1 min)

Phases, each with a time cap (a phase stops when its time is up; what it did not reach is listed under `skipped`),
and each phase's wall time recorded in `phase_seconds`:
1. tokenizer: WordPiece (`train-tokenizer --no_morphemes` as a call, 30,000 pieces) on the first corpus lines of ../shared/data.
2. inference: ms per forward of the 5 presets (this package) and of stock `ElectraModel` in the teacher-base and
   small-kd shapes, random weights, bf16 and fp32, batch 1 and 256 x 128 tokens, half the batch padded to 64
   (benchmarks/common.py's padded inputs and blocked_autorange timer, CUDA synchronised around each call); then
   batch 1 under `torch.compile(mode="reduce-overhead")` for small-kd and small-lf-v3 (extra rows).
3. pretrain: `pretrain-teacher --preset teacher-base`, batch 128 x 128, until its time is up (`--max_train_seconds`):
   steps/s after warm-up (train_timing.json). The teacher it leaves is the one the quality phase fine-tunes.
4. distill: `distill` of small-kd from that teacher, batch 128 x 128, likewise.
5. quality: `finetune` on 20,000 NSMC training reviews (1 epoch), scored on the whole 50,000-review test set, for
   the pre-trained teacher, the same shape with random weights and the distilled small-kd; TF-IDF + logistic
   regression (training.task_baselines) on the same rows; and the fine-tuned teacher's evaluation rate (Trainer.evaluate
   with `evaluate`'s Trainer options on the 50,000 reviews).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import torch

from benchmarks.common import DATA, RESULTS, quartiles, random_inputs, time_blocks
from benchmarks.report import save_results
from modeling_kr_electra_kd import KRElectraKDConfig, KRElectraKDModel
from training.defaults import RESULTS_FILE
from training.recipe import scaled_preset, shape_string
from training.tokenizer import train_tokenizer_from_corpus
from training.trainer_common import TIMING_FILE

INFERENCE_PRESETS = ["teacher-base", "small-kd", "small-lf-v1", "small-lf-v2", "small-lf-v3"]
STOCK_PRESETS = ["teacher-base", "small-kd"]
COMPILED_PRESETS = ["small-kd", "small-lf-v3"]

# Sizes and time caps (seconds) of a GPU run and of --smoke. The caps add up to 7 minutes, leaving one for start-up.
PROFILES = {
    "gpu": dict(
        corpus_lines=100_000, vocab_size=30_000, width=1.0, layers=None, batches=(1, 256), seq=128, timer_s=0.2,
        train_batch=128, train_seq=128, pretrain_s=100, distill_s=35, max_steps=100_000,
        train_reviews=20_000, eval_reviews=None, finetune_batch=64, caps=dict(inference=50, compile=45),
        budget_s=420,
    ),
    "smoke": dict(
        corpus_lines=2_000, vocab_size=600, width=1 / 12, layers=2, batches=(1, 4), seq=32, timer_s=0.005,
        train_batch=4, train_seq=32, pretrain_s=None, distill_s=None, max_steps=8,
        train_reviews=40, eval_reviews=40, finetune_batch=8, caps=dict(inference=20, compile=20),
        budget_s=300,
    ),
}  # fmt: skip


class Budget:
    """The script's deadline and each phase's wall time."""

    def __init__(self, seconds: float):
        self.started = time.perf_counter()
        self.deadline = self.started + seconds
        self.phase_seconds: dict[str, float] = {}
        self.skipped: list[str] = []

    def left(self) -> float:
        return self.deadline - time.perf_counter()

    def record(self, phase: str, since: float) -> None:
        self.phase_seconds[phase] = round(time.perf_counter() - since, 2)


def _sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def _shape(profile: dict, preset: str) -> dict:
    return scaled_preset(preset, profile["width"], profile["layers"])


def _models(preset: str, shape: dict, vocab: int):
    """This package's encoder and, for STOCK_PRESETS, stock transformers ElectraModel of the same shape."""
    from transformers import ElectraConfig, ElectraModel

    ours = KRElectraKDModel(KRElectraKDConfig(**{**shape, "vocab_size": vocab}))
    models = {"kr-electra-kd": ours}
    if preset in STOCK_PRESETS:
        dense = {key: shape[key] for key in ("embedding_size", "hidden_size", "num_hidden_layers")}
        dense.update(num_attention_heads=shape["num_attention_heads"], intermediate_size=shape["intermediate_size"])
        models["stock-electra"] = ElectraModel(ElectraConfig(vocab_size=vocab, **dense))
    return models


def _ms_per_call(model, inputs: dict, min_run_time: float) -> float:
    def call():
        model(**inputs)
        _sync()

    with torch.inference_mode():
        call()  # warm-up (kernel selection, CUDA graphs of a compiled model)
        return 1000 * quartiles(time_blocks(call, min_run_time))[1]


def inference(profile: dict, device: torch.device, budget: Budget) -> list[dict]:
    rows: list[dict] = []
    vocab, seq = profile["vocab_size"], profile["seq"]
    cap = time.perf_counter() + profile["caps"]["inference"]
    for preset in INFERENCE_PRESETS:
        for impl, model in _models(preset, _shape(profile, preset), vocab).items():
            model.eval()
            for dtype_name, dtype in (("bf16", torch.bfloat16), ("fp32", torch.float32)):
                model.to(device=device, dtype=dtype)
                for batch in profile["batches"]:
                    if time.perf_counter() > cap or budget.left() < 0:
                        budget.skipped.append(f"inference {preset} {impl} {dtype_name} batch {batch}")
                        continue
                    inputs = {key: value.to(device) for key, value in random_inputs(batch, seq, vocab).items()}
                    ms = _ms_per_call(model, inputs, profile["timer_s"])
                    rows.append(dict(model=preset, impl=impl, dtype=dtype_name, batch=batch, seq=seq, ms=round(ms, 3)))
            del model
    cap = time.perf_counter() + profile["caps"]["compile"]
    for preset in COMPILED_PRESETS:
        if time.perf_counter() > cap or budget.left() < 0:
            budget.skipped.append(f"inference {preset} compiled")
            continue
        model = _models(preset, _shape(profile, preset), vocab)["kr-electra-kd"].eval().to(device, torch.bfloat16)
        # CUDA graphs need a GPU; on CPU (smoke) only the graph capture runs (backend "eager": no C++ build)
        if device.type == "cuda":
            mode, compiled = "reduce-overhead", torch.compile(model, mode="reduce-overhead")
        else:
            mode, compiled = "eager backend", torch.compile(model, backend="eager")
        inputs = {key: value.to(device) for key, value in random_inputs(1, seq, vocab).items()}
        with torch.inference_mode():
            compiled(**inputs)  # compiles
        rows.append(
            dict(model=preset, impl="kr-electra-kd", dtype="bf16", batch=1, seq=seq,
                 ms=round(_ms_per_call(compiled, inputs, profile["timer_s"]), 3), compile=mode)
        )  # fmt: skip
    return rows


def _train_rate(output: Path) -> float | None:
    timing = next(output.rglob(TIMING_FILE), None)
    return json.loads(timing.read_text())["steps_per_second"] if timing else None


def _training_options(profile: dict, seconds: float | None, output: Path) -> dict:
    options = {"output_dir": str(output), "max_steps": profile["max_steps"], "save_steps": 100000}
    options |= {"per_device_train_batch_size": profile["train_batch"], "max_seq_length": profile["train_seq"]}
    options |= {"logging_steps": 50, "report_to": "none", "save_total_limit": 1}
    if seconds is not None:
        options["max_train_seconds"] = seconds
    return options


def _finetune(model: str, output: Path, profile: dict, data_dir: Path) -> dict:
    from training.finetuning import run_finetuning

    options = {"model": model, "task": "nsmc", "data_dir": str(data_dir), "output_dir": str(output)}
    options |= {"max_train_samples": profile["train_reviews"], "num_train_epochs": 1.0, "learning_rate": 1e-4}
    options |= {"per_device_train_batch_size": profile["finetune_batch"], "logging_steps": 100}
    options |= {"save_strategy": "no", "report_to": "none", "max_seq_length": 128}
    if profile["eval_reviews"]:
        options["max_eval_samples"] = profile["eval_reviews"]
    run_finetuning(**options)
    return json.loads((output / RESULTS_FILE).read_text(encoding="utf-8"))


def eval_samples_per_second(model_dir: Path, profile: dict, data_dir: Path) -> float:
    """Trainer.evaluate's own rate with `evaluate`'s Trainer options (device_trainer_defaults) on the test rows."""
    from transformers import Trainer, TrainingArguments

    from training.evaluation import data_collator_for, load_task_model
    from training.loading import load_config, load_tokenizer
    from training.tasks import build_compute_metrics, get_task, load_task_data, tokenize_dataset
    from training.trainer_common import device_trainer_defaults

    task = get_task("nsmc")
    data = load_task_data(task, data_dir=str(data_dir), max_eval_samples=profile["eval_reviews"], eval_only=True)
    model = load_task_model(str(model_dir), task, load_config(str(model_dir)))
    tokenizer = load_tokenizer(str(model_dir))
    features = tokenize_dataset(task, data["eval"], tokenizer, 128, training=False)
    with tempfile.TemporaryDirectory() as scratch:
        options = TrainingArguments(output_dir=scratch, per_device_eval_batch_size=64, report_to="none",
                                    **device_trainer_defaults())  # fmt: skip
        trainer = Trainer(model=model, args=options, data_collator=data_collator_for(task, tokenizer),
                          compute_metrics=build_compute_metrics(task))  # fmt: skip
        return float(trainer.evaluate(features)["eval_samples_per_second"])


def _train_phases(profile: dict, corpus: Path, tokenizer: Path, work: Path, budget: Budget) -> dict:
    """Phases 3-4: pre-train the teacher and distil small-kd, each until its time is up; their step rates."""
    from training.distillation.run import run_distillation
    from training.pretraining import run_pretraining

    training: dict = {}
    since = time.perf_counter()
    teacher = work / "teacher"
    teacher_shape = shape_string(_shape(profile, "teacher-base"))
    run_pretraining(corpus=[str(corpus)], tokenizer=str(tokenizer), preset="teacher-base", shape=teacher_shape,
                    **_training_options(profile, profile["pretrain_s"], teacher))  # fmt: skip
    training["pretrain_teacher_base_steps_per_s"] = _train_rate(teacher)
    budget.record("pretrain", since)

    since = time.perf_counter()
    student = work / "small-kd"
    run_distillation(teacher=str(teacher), student_preset="small-kd", corpus=[str(corpus)],
                     student_shape=shape_string(_shape(profile, "small-kd")),
                     **_training_options(profile, profile["distill_s"], student))  # fmt: skip
    training["distill_small_kd_steps_per_s"] = _train_rate(student)
    budget.record("distill", since)
    return training


def _quality_phase(profile: dict, nsmc: Path, tokenizer: Path, work: Path, budget: Budget, training: dict) -> dict:
    """Phase 5: NSMC accuracy of the pre-trained teacher, the same shape with random weights and small-kd, the
    TF-IDF baseline on the same rows, and the fine-tuned teacher's evaluation rate (into `training`)."""
    from transformers import AutoTokenizer

    from training.task_baselines import primary_score, task_baselines
    from training.tokenizer import save_tokenizer

    since = time.perf_counter()
    quality: dict = {}
    teacher, random_teacher = work / "teacher", work / "teacher-random"
    torch.manual_seed(0)
    KRElectraKDModel(KRElectraKDConfig.from_pretrained(teacher)).save_pretrained(random_teacher)
    save_tokenizer(AutoTokenizer.from_pretrained(tokenizer), random_teacher)
    for name, model in (
        ("teacher_pretrained", teacher),
        ("teacher_random", random_teacher),
        ("small_kd", work / "small-kd"),
    ):
        if budget.left() < 20:
            budget.skipped.append(f"quality {name}")
            quality[name] = None
            continue
        result = _finetune(str(model), work / f"nsmc-{name}", profile, nsmc)
        quality[name] = result["metrics"]["accuracy"]
        quality.setdefault("num_train_samples", result["num_train_samples"])
        quality.setdefault("num_eval_samples", result["num_eval_samples"])
    training["eval_teacher_base_samples_per_s"] = None
    if quality["teacher_pretrained"] is not None and budget.left() > 10:
        training["eval_teacher_base_samples_per_s"] = eval_samples_per_second(work / "nsmc-teacher_pretrained",
                                                                               profile, nsmc)  # fmt: skip
    else:
        budget.skipped.append("evaluation rate")
    baselines = task_baselines("nsmc", str(nsmc), profile["train_reviews"], profile["eval_reviews"])
    quality["tfidf"] = primary_score(baselines, "classical")
    budget.record("quality", since)
    return quality


def run(args: argparse.Namespace) -> dict:
    profile = PROFILES["smoke" if args.smoke else "gpu"]
    budget = Budget(profile["budget_s"])
    device = torch.device("cuda" if torch.cuda.is_available() and not args.smoke else "cpu")
    corpus = args.data_dir / "corpus" / "nsmc_unselected_reviews.txt.gz"
    work = Path(tempfile.mkdtemp(prefix="gpu_check_"))

    since = time.perf_counter()
    tokenizer = work / "tokenizer"
    train_tokenizer_from_corpus([str(corpus)], tokenizer, profile["vocab_size"], morpheme_aware=False,
                                max_lines=profile["corpus_lines"])  # fmt: skip
    budget.record("tokenizer", since)

    since = time.perf_counter()
    rows = inference(profile, device, budget)
    budget.record("inference", since)
    torch.cuda.empty_cache() if device.type == "cuda" else None

    training = _train_phases(profile, corpus, tokenizer, work, budget)
    quality = _quality_phase(profile, args.data_dir / "nsmc", tokenizer, work, budget, training)
    return {
        "device": torch.cuda.get_device_name() if device.type == "cuda" else f"cpu (smoke: {args.smoke})",
        "smoke": args.smoke,
        "inference": rows,
        "training": training,
        "quality": quality,
        "settings": {key: value for key, value in profile.items() if key != "caps"} | {"caps": profile["caps"]},
        "phase_seconds": budget.phase_seconds,
        "seconds": round(time.perf_counter() - budget.started, 1),
        "skipped": budget.skipped,
        "torch_version": torch.__version__,
    }


def to_markdown(result: dict) -> str:
    def cell(value) -> str:
        return "n/a" if value is None else f"{value:.4g}" if isinstance(value, float) else str(value)

    lines = [f"GPU check on {result['device']} ({result['seconds']} s; `python -m benchmarks.gpu_check`).", ""]
    lines += ["| model | impl | dtype | batch x seq | ms |", "|---|---|---|---|---|"]
    for row in result["inference"]:
        impl = row["impl"] + (f" (torch.compile {row['compile']})" if "compile" in row else "")
        lines.append(f"| {row['model']} | {impl} | {row['dtype']} | {row['batch']} x {row['seq']} | {row['ms']:.2f} |")
    lines += ["", "| training | value |", "|---|---|"]
    lines += [f"| {name} | {cell(value)} |" for name, value in result["training"].items()]
    lines += ["", "| NSMC accuracy | value |", "|---|---|"]
    lines += [f"| {name} | {cell(value)} |" for name, value in result["quality"].items()]
    lines += ["", "Phase wall times (s): " + ", ".join(f"{k} {v}" for k, v in result["phase_seconds"].items()) + "."]
    if result["skipped"]:
        lines.append("Skipped (out of time): " + "; ".join(result["skipped"]) + ".")
    return "\n".join(lines)


def check_finite(result: dict) -> None:
    """Refuse a result with a NaN or infinite figure (a broken measurement, not a slow one)."""
    numbers = [row["ms"] for row in result["inference"]]
    numbers += [value for value in {**result["training"], **result["quality"]}.values() if value is not None]
    bad = [value for value in numbers if not math.isfinite(value)]
    if bad:
        raise ValueError(f"gpu_check measured non-finite values: {bad}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="Tiny sizes on CPU: checks the script, not the GPU.")
    parser.add_argument("--output_dir", type=Path, default=RESULTS)
    parser.add_argument("--data_dir", type=Path, default=DATA, help="../shared/data: corpus/ and nsmc/.")
    args = parser.parse_args(argv)
    if not args.smoke and not torch.cuda.is_available():
        print("error: no CUDA GPU here; run on an H100/H200, or pass --smoke for the CPU check.", file=sys.stderr)
        return 2
    result = run(args)
    check_finite(result)
    save_results(result, args.output_dir, "gpu_check", to_markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
