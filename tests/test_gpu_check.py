"""benchmarks/gpu_check.py --smoke: the GPU check's own code at tiny sizes on CPU, so that it never breaks unseen."""

from __future__ import annotations

import gzip
import json
import math

import pytest

from benchmarks import gpu_check

pytestmark = pytest.mark.slow  # runs every phase of the check end to end


def test_gpu_check_smoke_writes_the_issue_schema(tmp_path, fixtures_dir):
    data = tmp_path / "data"
    (data / "corpus").mkdir(parents=True)
    text = (fixtures_dir / "corpus.txt").read_bytes()
    (data / "corpus" / "nsmc_unselected_reviews.txt.gz").write_bytes(gzip.compress(text))
    (data / "nsmc").symlink_to(fixtures_dir / "tasks" / "nsmc")
    out = tmp_path / "results"

    assert gpu_check.main(["--smoke", "--output_dir", str(out), "--data_dir", str(data)]) == 0

    result = json.loads((out / "gpu_check.json").read_text(encoding="utf-8"))
    assert (out / "gpu_check.md").read_text(encoding="utf-8").startswith("GPU check on cpu")
    assert isinstance(result["device"], str)
    rows = result["inference"]
    assert {key for row in rows for key in row} >= {"model", "impl", "dtype", "batch", "seq", "ms"}
    covered = {(row["model"], row["impl"]) for row in rows if "compile" not in row}
    assert covered == {(preset, "kr-electra-kd") for preset in gpu_check.INFERENCE_PRESETS} | {
        (preset, "stock-electra") for preset in gpu_check.STOCK_PRESETS
    }
    assert {(row["dtype"], row["batch"]) for row in rows} == {("bf16", 1), ("bf16", 4), ("fp32", 1), ("fp32", 4)}
    assert {row["model"] for row in rows if "compile" in row} == set(gpu_check.COMPILED_PRESETS)
    assert set(result["training"]) == {
        "pretrain_teacher_base_steps_per_s",
        "distill_small_kd_steps_per_s",
        "eval_teacher_base_samples_per_s",
    }
    assert {"teacher_pretrained", "teacher_random", "small_kd", "tfidf"} <= set(result["quality"])
    numbers = [row["ms"] for row in rows] + list(result["training"].values())
    numbers += [result["quality"][name] for name in ("teacher_pretrained", "teacher_random", "small_kd", "tfidf")]
    assert all(isinstance(value, (int, float)) and math.isfinite(value) and value >= 0 for value in numbers)
    assert all(value > 0 for value in [row["ms"] for row in rows] + list(result["training"].values()))
    assert set(result["phase_seconds"]) == {"tokenizer", "inference", "pretrain", "distill", "quality"}
    assert result["skipped"] == []
