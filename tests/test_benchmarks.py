"""Benchmark scripts: smoke runs and report generation (no timing assertions: speed lives in the scripts' output)."""

from __future__ import annotations

import json

import pytest

from benchmarks import distillation, report, size_speed
from benchmarks.reproduce import table
from training.pipeline import PACKAGE_DATA, scaled_preset, step_seconds


def test_size_speed_quick_run_writes_json_markdown_and_plot(tmp_path):
    assert size_speed.main(["--quick", "--presets", "tiny", "--output-dir", str(tmp_path), "--skip-stock"]) == 0
    result = json.loads((tmp_path / "size_speed.json").read_text())
    tiny = result["models"]["tiny"]
    assert tiny["size"]["fp16_mb"] < tiny["size"]["fp32_mb"]
    assert tiny["size"]["int8_mb"] < tiny["size"]["fp16_mb"]
    assert tiny["onnx_max_abs_diff"] < 1e-3  # the ONNX export computes what PyTorch computes
    modes = {cell["mode"] for cell in tiny["speed"].values()}
    assert modes == {"eager", "torch-int8", "onnxruntime", "onnxruntime-int8"}
    assert result["machine"]["threads"] == 2  # set explicitly, the default
    cell = tiny["speed"]["eager|b2|s16"]
    assert cell["iqr_s"][0] <= cell["median_s"] <= cell["iqr_s"][1] and cell["flop_ratio_vs_teacher"] == 1.0
    assert "| tiny |" in (tmp_path / "size_speed.md").read_text()
    assert (tmp_path / "size_speed.png").stat().st_size > 0


def test_int8_accuracy_scores_every_runtime_on_the_same_sentences(tiny_tokenizer, tmp_path):
    from benchmarks import int8_accuracy
    from modeling_kr_electra_kd import KRElectraKDConfig, KRElectraKDForSequenceClassification

    config = KRElectraKDConfig.from_preset("tiny", vocab_size=len(tiny_tokenizer), num_labels=2, attention_rank=16)
    KRElectraKDForSequenceClassification(config).save_pretrained(tmp_path / "model")
    tiny_tokenizer.save_pretrained(tmp_path / "model")
    argv = ["--model", str(tmp_path / "model"), "--data-dir", str(PACKAGE_DATA / "sample_nsmc"), "--samples", "40",
            "--max-length", "32", "--output-dir", str(tmp_path / "out")]  # fmt: skip
    assert int8_accuracy.main(argv) == 0
    result = json.loads((tmp_path / "out" / "int8_accuracy.json").read_text())
    assert result["test_sentences"] == 40
    assert set(result["results"]) == {"pytorch fp32", "pytorch int8", "onnxruntime fp32", "onnxruntime int8"}
    assert result["results"]["onnxruntime fp32"]["agreement_with_fp32"] == 100.0  # same model, same predictions
    assert int8_accuracy.main([*argv[:2], "--data-dir", str(tmp_path / "missing")]) == 2


def test_flop_ratios_of_the_presets():
    """Multiply-adds per token at 128 tokens: the teacher does 8.5x small-kd's work and 20.3x LF-V2's (20.2x LF-V3's:
    its embedding factor adds a little)."""
    from modeling_kr_electra_kd import KRElectraKDConfig

    macs = {name: size_speed.macs_per_token(KRElectraKDConfig.from_preset(name), 128) for name in size_speed.PRESETS}
    ratios = {name: round(macs["teacher-base"] / value, 1) for name, value in macs.items()}
    assert ratios == {
        "teacher-base": 1.0,
        "small-kd": 8.5,
        "small-lf-v1": 15.4,
        "small-lf-v2": 20.3,
        "small-lf-v3": 20.2,
    }


def test_readme_results_show_what_exists_and_say_what_does_not(tmp_path, monkeypatch):
    monkeypatch.setattr(report, "RESULTS", tmp_path)
    (tmp_path / "distillation_nsmc.md").write_text("| model | NSMC accuracy |\n|---|---|\n| distilled | 80.0 |\n")
    text = report.readme_results()
    assert "Published in the paper" in text and "97.4%" in text
    assert "| distilled | 80.0 |" in text
    assert "Not measured yet: size and CPU speed" in text


def test_reproduce_table_computes_averages_and_retention():
    def model(scores):
        return {
            "path": "/nonexistent",
            "results": {t: {"metrics": {"accuracy": v}, "primary_metric": "accuracy"} for t, v in scores.items()},
        }

    summary = {
        "tasks": ["nsmc", "qpair"],
        "models": {"teacher": model({"nsmc": 80, "qpair": 60}), "small-kd": model({"nsmc": 76, "qpair": 57})},
    }
    rows, markdown = table(summary, "smoke", "python benchmarks/reproduce.py --scale smoke")
    assert rows["small-kd"]["average"] == 66.5 and rows["small-kd"]["retention_percent"] == pytest.approx(95.0)
    assert "| small-kd | n/a | 14M / 53 MB | 76.0 | 57.0 | 66.5 | 95.0% |" in markdown


def test_scaled_presets_keep_proportions_and_validate():
    shape = scaled_preset("small-lf-v2", width=0.5, layers=4)
    assert shape["hidden_size"] == 128 and shape["intermediate_size"] == 512 and shape["attention_rank"] == 36
    assert shape["num_hidden_layers"] == 4 and shape["hidden_size"] % shape["num_attention_heads"] == 0
    with pytest.raises(ValueError, match="Unknown preset"):
        scaled_preset("huge")
    with pytest.raises(ValueError, match="width"):
        scaled_preset("small-kd", width=2.0)


def test_step_seconds_adds_up_every_finished_step(tmp_path):
    for step, seconds in (("teacher", "12.5\n"), ("finetuned/teacher-nsmc", "7.5\n")):
        (tmp_path / step).mkdir(parents=True)
        (tmp_path / step / ".done").write_text(seconds)
    (tmp_path / "unfinished").mkdir()  # a step without its marker has not finished and costs nothing yet
    assert step_seconds(tmp_path) == 20.0


def test_distillation_benchmark_runs_every_student_on_paired_seeds(tmp_path):
    """The whole comparison at toy scale on the package's sample data: every student is scored on every seed, the
    task-distilled student trains on the seed's own training slice plus the teacher-labelled transfer set."""
    work, out = tmp_path / "work", tmp_path / "out"
    argv = ["--corpus", str(PACKAGE_DATA / "sample_corpus.txt"), "--nsmc-dir", str(PACKAGE_DATA / "sample_nsmc"),
            "--corpus-lines", "1500", "--vocab-size", "2000", "--teacher-steps", "4", "--student-steps", "4",
            "--train-samples", "64", "--task-epochs", "1", "--transfer-samples", "200", "--eval-samples", "100",
            "--seeds", "1", "2", "--work-dir", str(work), "--output-dir", str(out)]  # fmt: skip
    assert distillation.main(argv) == 0
    result = json.loads((out / "distillation_nsmc.json").read_text())
    assert result["task_steps"] == 2  # 64 examples / batch 32, one epoch
    for name in distillation.STUDENTS:
        assert len(result["nsmc_accuracy"][name]["per_seed"]) == 2
    assert set(result["seeds_beating_no_teacher"]) == {"student_distilled", "student_distilled_twice"}
    record = json.loads((work / "student_distilled_twice_seed2" / "distillation.json").read_text())
    assert (
        record["mode"] == "task-specific"
        and record["steps"] == 2
        and record["student_init"]["init"].endswith("student_distilled")
    )
    transfer = (work / "transfer_set.txt").read_text(encoding="utf-8").splitlines()
    corpus = [line.strip() for line in (PACKAGE_DATA / "sample_corpus.txt").read_text(encoding="utf-8").splitlines()]
    assert transfer == [line for line in corpus if line][1500:1700]  # the lines after those used for pre-training
    for seed in (1, 2):  # every student of a seed is scored on the same test slice
        scored = [json.loads((work / f"finetuned_{name}_seed{seed}" / "results.json").read_text())
                  for name in ("student_no_teacher", "student_distilled")]  # fmt: skip
        scored.append(json.loads((work / f"student_distilled_twice_seed{seed}" / "eval" / "results.json").read_text()))
        assert {r["num_eval_samples"] for r in scored} == {100} and {r["seed"] for r in scored} == {seed}
    assert "| student, distilled twice |" in (out / "distillation_nsmc.md").read_text()
