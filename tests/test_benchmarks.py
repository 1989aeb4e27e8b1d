"""Benchmark scripts: smoke runs and report generation (no timing assertions: speed lives in the scripts' output)."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

from benchmarks import baseline_table, distillation_nsmc, report, size_speed
from benchmarks.reproduce import models_below_margin, table
from training.recipe import PACKAGE_DATA, scaled_preset, step_seconds


@pytest.mark.slow
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


@pytest.mark.slow
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


def _summary(teacher: dict[str, float], small_kd: dict[str, float]) -> dict:
    """run_pipeline's summary of a teacher and a small-kd student, with accuracy scores."""

    def model(scores: dict[str, float]) -> dict:
        results = {t: {"metrics": {"accuracy": v}, "primary_metric": "accuracy"} for t, v in scores.items()}
        return {"path": "/nonexistent", "results": results}

    return {"tasks": list(teacher), "models": {"teacher": model(teacher), "small-kd": model(small_kd)}}


def test_reproduce_table_computes_averages_and_retention():
    summary = _summary({"nsmc": 80, "qpair": 60}, {"nsmc": 76, "qpair": 57})
    rows, markdown = table(summary, "smoke", "python -m benchmarks.reproduce --scale smoke")
    assert rows["small-kd"]["average"] == 66.5 and rows["small-kd"]["retention_percent"] == pytest.approx(95.0)
    assert "| small-kd | n/a | 14M / 53 MB | 76.0 | 57.0 | 66.5 | 95.0% |" in markdown


def _accuracy_baseline(trivial: float, classical: float) -> dict:
    return {"primary_metric": "accuracy", "trivial": {"metrics": {"accuracy": trivial}, "method": "majority class"},
            "classical": {"metrics": {"accuracy": classical}, "method": "TF-IDF"}}  # fmt: skip


def test_reproduce_table_prints_baselines_and_averages_only_learned_tasks():
    summary = _summary({"nsmc": 80, "paws": 58}, {"nsmc": 76, "paws": 56.1})
    # paws: the teacher is 1.9 points above the majority class, under the margin: listed, not averaged.
    table_baselines = {"nsmc": _accuracy_baseline(50.0, 81.0), "paws": _accuracy_baseline(56.1, 55.5)}
    rows, markdown = table(summary, "smoke", "python -m benchmarks.reproduce --scale smoke", table_baselines)
    assert rows["small-kd"]["average"] == 76 and rows["small-kd"]["retention_percent"] == pytest.approx(95.0)
    assert "| small-kd | n/a | 14M / 53 MB | 76.0 | 56.1 | 76.0 | 95.0% |" in markdown
    assert "| *trivial baseline* | | | 50.0 | 56.1 | 50.0 | |" in markdown
    assert "| *classical baseline* | | | 81.0 | 55.5 | 81.0 | |" in markdown
    assert ": nsmc. Not learned at this scale: paws." in markdown
    # Per model: small-kd's 56.1 on paws is the majority class itself; the teacher's 58 is under the 5-point margin.
    assert models_below_margin(rows, table_baselines) == [("teacher", "paws"), ("small-kd", "paws")]
    assert "Every model clears the trivial score by 5 points on: nsmc. Below that margin: teacher on paws; " in markdown
    assert "Time:" not in markdown  # no step time given, none printed


def test_reproduce_table_prints_the_step_time():
    summary = _summary({"nsmc": 80}, {"nsmc": 76})
    _, markdown = table(summary, "smoke", "cmd", {"nsmc": _accuracy_baseline(50.0, 81.0)}, step_time_seconds=9000)
    assert "Every model clears the trivial score by 5 points on: nsmc. Below that margin: none." in markdown
    assert "Time: 2.5 hours of step time" in markdown


@pytest.mark.slow
def test_baselines_script_adds_baselines_to_saved_results_and_rerenders_them(tmp_path, fixtures_dir):
    tasks_dir = fixtures_dir / "tasks"
    teacher = {"nsmc": {"metrics": {"accuracy": 90.0}, "primary_metric": "accuracy"},
               "qpair": {"metrics": {"accuracy": 10.0}, "primary_metric": "accuracy"}}  # fmt: skip
    saved = {
        "command": "python -m benchmarks.reproduce --scale smoke", "scale": "smoke", "tasks": ["nsmc", "qpair"],
        "settings": {"output_dir": "runs/x", "data_dir": str(tasks_dir), "tasks": ["nsmc", "qpair"], "seed": 42},
        "models": {"teacher": {"scores": {"nsmc": 90.0, "qpair": 10.0}, "size_mb": 1.0, "shape": None}},
        "results": {"teacher": teacher},
    }  # fmt: skip
    (tmp_path / "reproduce.json").write_text(json.dumps(saved))
    assert baseline_table.main(["--results-dir", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "baselines.json").read_text())["reproduce"]["tasks"]
    # The NSMC fixture's test file: 5 positive of 8, the training majority is negative: guessing (50) is trivial.
    assert result["nsmc"]["trivial"]["metrics"]["accuracy"] == 50.0 and result["nsmc"]["num_eval_samples"] == 8
    rendered = (tmp_path / "reproduce.md").read_text()
    assert "Not learned at this scale: qpair." in rendered and "| *trivial baseline* | | | 50.0 |" in rendered
    assert json.loads((tmp_path / "reproduce.json").read_text())["models"]["teacher"]["average"] == 90.0
    assert not (tmp_path / "distillation_nsmc.md").exists()  # nothing saved, nothing rendered


@pytest.mark.slow
def test_baselines_script_scores_each_distillation_seed_and_all_labels(tmp_path, fixtures_dir):
    student = {"mean": 60.0, "stdev": 0.0, "per_seed": [60.0, 60.0]}
    saved = {
        "command": "python -m benchmarks.distillation_nsmc", "teacher_shape": {"hidden_size": 8},
        "student_shape": {"hidden_size": 4}, "student_parameters": 10, "task_steps": 1,
        "settings": {"nsmc_dir": str(fixtures_dir / "tasks" / "nsmc"), "train_samples": 12, "eval_samples": 6,
                     "seeds": [1, 2], "student_steps": 1, "teacher_steps": 1, "batch_size": 4, "transfer_samples": 1},
        "nsmc_accuracy": {"teacher": 70.0, **{name: student for name in distillation_nsmc.STUDENTS}},
        "seeds_beating_no_teacher": {"student_distilled": 0, "student_distilled_twice": 0},
    }  # fmt: skip
    (tmp_path / "distillation_nsmc.json").write_text(json.dumps(saved))
    assert baseline_table.main(["--results-dir", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "baselines.json").read_text())
    assert [r["num_train_samples"] for r in result["distillation_nsmc"]["per_seed"].values()] == [12, 12]
    assert result["nsmc_all_labels"]["num_train_samples"] == 16  # the whole fixture training file
    assert "| *TF-IDF + logistic regression* | none |" in (tmp_path / "distillation_nsmc.md").read_text()
    assert "trained on all 16 NSMC training reviews" in (tmp_path / "baselines.md").read_text()


def test_readme_counts_tasks_where_the_classical_baseline_beats_every_model(tmp_path, monkeypatch):
    monkeypatch.setattr(report, "RESULTS", tmp_path)
    assert report.baselines_sentence() == ""  # no reproduce.json: nothing to say
    saved = {"scale": "smoke", "tasks": ["nsmc", "paws"],
             "models": {"teacher": {"scores": {"nsmc": 80.0, "paws": 57.0}},
                        "small-kd": {"scores": {"nsmc": 82.0, "paws": 56.0}}},
             "baselines": {"nsmc": _accuracy_baseline(50.0, 81.0), "paws": _accuracy_baseline(56.1, 60.0)}}  # fmt: skip
    (tmp_path / "reproduce.json").write_text(json.dumps(saved))
    sentence = report.baselines_sentence()
    assert "above every model on 1 of 2 tasks; the teacher learns 1 of the 2" in sentence


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


@pytest.mark.slow
def test_distillation_benchmark_runs_every_student_on_paired_seeds(tmp_path):
    """The whole comparison at toy scale on the package's sample data: every student is scored on every seed, the
    task-distilled student trains on the seed's own training slice plus the teacher-labelled transfer set."""
    work, out = tmp_path / "work", tmp_path / "out"
    argv = ["--corpus", str(PACKAGE_DATA / "sample_corpus.txt"), "--nsmc-dir", str(PACKAGE_DATA / "sample_nsmc"),
            "--corpus-lines", "1500", "--vocab-size", "2000", "--teacher-steps", "4", "--student-steps", "4",
            "--train-samples", "64", "--task-epochs", "1", "--transfer-samples", "200", "--eval-samples", "100",
            "--seeds", "1", "2", "--work-dir", str(work), "--output-dir", str(out)]  # fmt: skip
    assert distillation_nsmc.main(argv) == 0
    result = json.loads((out / "distillation_nsmc.json").read_text())
    assert result["task_steps"] == 2  # 64 examples / batch 32, one epoch
    for name in distillation_nsmc.STUDENTS:
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
    # Baselines on each seed's own slices (the sample NSMC folder), beside the students.
    assert list(result["baselines"]["per_seed"]) == ["1", "2"]
    assert {r["num_eval_samples"] for r in result["baselines"]["per_seed"].values()} == {100}
    assert "| *TF-IDF + logistic regression* | none |" in (out / "distillation_nsmc.md").read_text()


def test_no_committed_result_names_a_path_of_the_machine_that_ran_it():
    from training.provenance import ABSOLUTE_PATH, published_paths

    results = Path(__file__).resolve().parents[1] / "benchmarks" / "results"
    found = []
    for path in sorted(results.rglob("*.json")):
        text = path.read_text(encoding="utf-8")
        found += [f"{path.name}: {value}" for value in re.findall(r'"((?:local:)?/[^"]*/[^"]*)"', text)]
        found += [f"{path.name}: {value}" for value in re.findall(r'"(~/[^"]*)"', text)]
        found += [f"{path.name}: {value}" for value in re.findall(r'"((?:local:)?\.\./\.\./[^"]*)"', text)]
        commands = re.findall(r'"command": "([^"]*)"', text)
        found += [f"{path.name}: {c}" for c in commands if re.search(r"(^|[ =])(/|~|\.\./)", c)]
    for path in sorted(results.rglob("*.md")):
        found += [
            f"{path.name}: {line[:120]}" for line in path.read_text().splitlines() if "../" in line or "/tmp/" in line
        ]
    assert not found, found
    # and the writers' conversion: a value that is a path is named relative to the repository inside it or beside
    # it (the benchmarks' ../shared/data, which baseline_table reads back), by its name further out; a path in a
    # command (what the README shows) always by its name
    record = {"corpus": [Path("/srv/kr/shared/data/c.txt")], "out": "/srv/kr/main/benchmarks/results", "n": 1}
    record["source"] = "local:/srv/kr/shared/data/nsmc"
    record["model"] = "/tmp/h12/nsmc/lf3l2-nsmc"
    record["command"] = (
        "python -m benchmarks.x --model ../../tmp/h12/lf3 --data-dir=../shared/data/nsmc --out runs/x /s"
    )
    assert published_paths(record, "/srv/kr/main") == {
        "corpus": ["../shared/data/c.txt"],
        "out": "benchmarks/results",
        "n": 1,
        "source": "local:../shared/data/nsmc",
        "model": "lf3l2-nsmc",
        "command": "python -m benchmarks.x --model lf3 --data-dir=nsmc --out runs/x /s",
    }
    assert ABSOLUTE_PATH.match("/srv") and not ABSOLUTE_PATH.match("runs/x")


def test_save_results_writes_names_not_local_paths(tmp_path):
    """What a benchmark hands save_results with this machine's paths comes out, in the JSON and the table, named."""
    from benchmarks.report import save_results

    result = {"command": "python -m benchmarks.int8_accuracy --model /tmp/h12/nsmc/lf3l2-nsmc", "model": "/tmp/h12/lf3"}
    saved = save_results(result, tmp_path, "x", lambda r: f"model `{r['model']}`; command: `{r['command']}`")
    assert saved == {"command": "python -m benchmarks.int8_accuracy --model lf3l2-nsmc", "model": "lf3"}
    assert json.loads((tmp_path / "x.json").read_text()) == saved
    assert (tmp_path / "x.md").read_text() == (
        "model `lf3`; command: `python -m benchmarks.int8_accuracy --model lf3l2-nsmc`\n"
    )


@pytest.mark.parametrize("position", ["post", "pre"])
def test_teacher_from_checkpoint_keeps_the_discriminator_of_a_pretraining_checkpoint(
    position, tiny_tokenizer, tmp_path
):
    """A checkpoint of the generator + discriminator pair becomes a teacher folder that loads like a finished run's;
    the generator has the discriminator's `layer_norm_position`."""
    import torch
    from safetensors.torch import save_model

    from modeling_kr_electra_kd import KRElectraKDConfig, KRElectraKDForMaskedLM, KRElectraKDForPreTraining
    from training.electra_objective import ElectraGeneratorDiscriminator, generator_config
    from training.pretraining import teacher_from_checkpoint

    config = KRElectraKDConfig.from_preset("tiny", vocab_size=len(tiny_tokenizer), layer_norm_position=position)
    assert generator_config(config).layer_norm_position == position
    torch.manual_seed(0)
    pair = ElectraGeneratorDiscriminator(
        KRElectraKDForPreTraining(config), KRElectraKDForMaskedLM(generator_config(config))
    )
    checkpoint = tmp_path / "checkpoints" / "checkpoint-4"
    checkpoint.mkdir(parents=True)
    save_model(pair, str(checkpoint / "model.safetensors"))  # as ElectraPreTrainer._save writes it
    config.save_pretrained(checkpoint)
    tiny_tokenizer.save_pretrained(tmp_path / "tokenizer")

    teacher = teacher_from_checkpoint(checkpoint, tmp_path / "teacher", tmp_path / "tokenizer")
    assert (teacher / "model.safetensors").is_file() and (teacher / "tokenizer.json").is_file()
    loaded = KRElectraKDForPreTraining.from_pretrained(teacher)
    for name, tensor in pair.discriminator.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor), name
    generator = KRElectraKDForMaskedLM.from_pretrained(teacher / "generator")  # what --corrupt_inputs samples from
    assert generator.config.layer_norm_position == loaded.config.layer_norm_position == position
    for name, tensor in pair.generator.state_dict().items():
        assert torch.equal(generator.state_dict()[name], tensor), name


def test_learning_curve_fit_reports_a_measured_or_an_extrapolated_crossing():
    from benchmarks.learning_curve import crossing

    measured = crossing([100, 1000], [70.0, 82.0], 81.1)
    assert measured["status"] == "measured" and measured["first_step_above"] == 1000
    # 70 + 5 ln(steps / 100) / ln(10) per decade... a = 70 - b ln(100), b = 10 / ln(10): 81.1 at 10^3.11 steps
    extrapolated = crossing([100, 1000], [70.0, 80.0], 81.1)
    assert extrapolated["status"] == "extrapolated" and extrapolated["crossing_steps"] == round(10**3.11)
    assert "not a measurement" in extrapolated["text"]
    assert crossing([100, 1000], [75.0, 74.0], 81.1)["status"] == "not approaching"


@pytest.mark.slow
def test_learning_curve_scores_each_checkpoint_of_one_pretraining_run(tmp_path, capsys):
    """Toy scale on the package's sample data, 2 seeds: one pre-training run, a teacher per listed step, a random
    control per seed, the measures of each checkpoint, baselines, the recipe."""
    from benchmarks import learning_curve

    work, out = tmp_path / "work", tmp_path / "out"
    argv = ["--corpus", str(PACKAGE_DATA / "sample_corpus.txt"), "--nsmc-dir", str(PACKAGE_DATA / "sample_nsmc"),
            "--corpus-lines", "1500", "--vocab-size", "2000", "--steps", "4", "0", "--train-samples", "32",
            "--task-epochs", "1", "--eval-samples", "50", "--seeds", "1", "2", "--pretrain-option", "logging_steps=2",
            "--finetune-option", "warmup_steps=0", "--collapse-texts", "40", "--result-name", "curve_toy",
            "--pretrain-option", "embedding_init=ppmi-svd",
            "--work-dir", str(work), "--output-dir", str(out)]  # fmt: skip
    assert learning_curve.main(argv) == 0
    result = json.loads((out / "curve_toy.json").read_text())
    assert list(result["nsmc_accuracy"]) == ["0", "4", "embeddings_only"] and result["checkpoint_every"] == 4
    [run] = work.glob("electra_4steps_*")
    # the embeddings-only point: each seed's random teacher holding the run's starting embeddings, no ELECTRA step
    from safetensors.torch import load_file

    vectors = load_file(str(run / "starting_embeddings.safetensors"))["vectors"]
    teacher = load_file(str(run / "teacher_embeddings_only_seed2" / "model.safetensors"))
    embedding = teacher["electra.embeddings.word_embeddings.weight"]
    assert embedding[1:].equal(vectors[1:]) and embedding[0].abs().sum() == 0
    assert len(result["against_control"]["embeddings_only"]["per_seed"]) == 2
    assert sorted(p.name for p in (run / "pretrained" / "checkpoints").glob("checkpoint-*")) == ["checkpoint-4"]
    assert {p.name for p in run.glob("teacher_step0_seed*")} == {"teacher_step0_seed1", "teacher_step0_seed2"}
    [finetunings] = work.glob("finetuned_*")  # one folder per fine-tuning options, beside the runs
    assert len(list(finetunings.glob("teacher_*_seed2"))) == 3  # the control, step 4, the embeddings-only teacher
    assert all(json.loads((f / "results.json").read_text())["num_eval_samples"] == 50 for f in finetunings.iterdir())
    assert len(result["nsmc_accuracy"]["4"]["per_seed"]) == 2
    assert isinstance(result["against_control"]["4"]["above_control"], bool)
    # the recipe: every option of both runs, the options given among them
    assert result["recipe"]["pretraining"]["logging_steps"] == 2 and result["recipe"]["pretraining"]["max_steps"] == 4
    assert result["recipe"]["finetuning"]["warmup_steps"] == 0 and result["recipe"]["tokenizer"]["vocab_size"] == 2000
    measures = result["checkpoints"]["4"]
    assert measures["pretraining_seconds"] > 0 and measures["steps_per_second"] > 0
    assert measures["losses"]["step"] == 4 and "loss_rtd_constant" in measures["losses"]
    assert measures["collapse"]["texts"] == 40 and 0 < measures["collapse"]["cls_effective_rank"] <= 40
    assert result["checkpoints"]["0"]["pretraining_seconds"] is None and result["trivial_losses"]["unigram_entropy"] > 0
    table = (out / "curve_toy.md").read_text()
    assert table.startswith("Data: NSMC ratings_train 32 labels / ratings_test 50 reviews, seeds 1, 2")
    assert "| *trivial baseline* |" in table and "| *TF-IDF + logistic regression* |" in table
    assert "| 0 (random initialisation: no pre-training) |" in table and "logging_steps=2" in table
    assert "| 0, starting embeddings only (no ELECTRA step) |" in table
    assert (out / "curve_toy.png").stat().st_size > 0
    capsys.readouterr()
    assert learning_curve.main(argv) == 0  # every step finished: nothing is trained again
    assert capsys.readouterr().out.count("already done") == 8  # tokenizer, pre-training, six fine-tunings
    # a variant (another pre-training run) fine-tunes only its own checkpoint: its controls are the same bytes, so
    # their fine-tunings are reused, and its result reads against the same control scores
    variant = [*argv[: argv.index("--result-name")], "--result-name", "curve_variant", "--pretrain-option",
               "learning_rate=1e-3", *argv[argv.index("--result-name") + 2 :]]  # fmt: skip
    assert learning_curve.main(variant) == 0
    printed = capsys.readouterr().out
    assert printed.count("already done") == 5 and "finetune teacher at step 4, seed 1]: " in printed
    other = json.loads((out / "curve_variant.json").read_text())
    assert other["work_folder"] != result["work_folder"] and len(list(finetunings.iterdir())) == 8
    for point in ("0", "embeddings_only"):
        assert other["nsmc_accuracy"][point] == result["nsmc_accuracy"][point]


@pytest.mark.slow
def test_ablation_compares_two_students_that_differ_by_one_change_on_paired_seeds(tmp_path, capsys):
    """Toy scale: a 2-step teacher (with its generator), then students with and without --corrupt_inputs, and with
    and without --embedding_init ppmi-svd."""
    import torch
    from safetensors.torch import load_file

    from benchmarks import ablation, learning_curve

    scale = ["--corpus", str(PACKAGE_DATA / "sample_corpus.txt"), "--nsmc-dir", str(PACKAGE_DATA / "sample_nsmc"),
             "--corpus-lines", "1500", "--vocab-size", "2000", "--train-samples", "32", "--task-epochs", "1",
             "--eval-samples", "50"]  # fmt: skip
    assert learning_curve.main([*scale, "--steps", "2", "--seeds", "42", "--work-dir", str(tmp_path / "curve"),
                                "--output-dir", str(tmp_path / "curve-out")]) == 0  # fmt: skip
    [run] = (tmp_path / "curve").glob("electra_2steps_*")
    teacher = run / "pretrained"
    out = tmp_path / "out"
    argv = [*scale, "--teacher", str(teacher), "--student-steps", "2", "--seeds", "1", "2",
            "--work-dir", str(tmp_path / "work"), "--output-dir", str(out), "--student-preset", "small-lf-v3",
            "--change", "--corrupt_inputs"]  # fmt: skip
    assert ablation.main(argv) == 0
    result = json.loads((out / "ablation_corrupt_inputs.json").read_text())
    changed = json.loads((tmp_path / "work" / "corrupt_inputs" / "student_changed" / "distillation.json").read_text())
    baseline = json.loads((tmp_path / "work" / "corrupt_inputs" / "student_baseline" / "distillation.json").read_text())
    assert changed["corrupted_inputs"] is True and baseline["corrupted_inputs"] is False
    work = tmp_path / "work" / "corrupt_inputs"
    for student in ("student_changed", "student_baseline", "student_random_init_seed1", "student_random_init_seed2"):
        config = json.loads((work / student / "config.json").read_text())  # every student in the low-rank shape
        assert config["ffn_rank"] and config["attention_rank"] and config["embedding_rank"], student
    accuracy = result["nsmc_accuracy"]
    expected = [round(b - a, 2) for a, b in zip(accuracy["baseline"]["per_seed"], accuracy["changed"]["per_seed"])]
    assert result["difference"]["per_seed"] == expected
    # the controls: the teacher fine-tuned on the same seeds (each student's share of it) and a random-init student
    assert len(accuracy["teacher"]["per_seed"]) == len(accuracy["random_init"]["per_seed"]) == 2
    teacher = accuracy["teacher"]["per_seed"]
    shares = [round(100 * a / t, 1) for a, t in zip(accuracy["baseline"]["per_seed"], teacher)]
    assert result["share_of_teacher"]["baseline"]["per_seed"] == shares
    random_init = accuracy["random_init"]["per_seed"]
    paired = [round(a - r, 2) for a, r in zip(accuracy["changed"]["per_seed"], random_init)]
    assert result["above_random_init"]["changed"]["per_seed"] == paired
    table = (out / "ablation_corrupt_inputs.md").read_text()
    assert "| *TF-IDF + logistic regression* |" in table and "differ only by `--corrupt_inputs`" in table
    assert "| teacher, fine-tuned (no distillation) |" in table and "minus the random-init student, paired" in table
    assert "| student shape, randomly initialised (no teacher) |" in table
    assert "small-lf-v3" in table
    assert result["settings"]["corpus"] == "training/data/sample_corpus.txt"  # committed: repository-relative
    assert "above_embeddings_only" not in result and "starting embeddings" not in table  # no such control here

    # a student starting from corpus embeddings is also read against its shape with those embeddings, never distilled,
    # and (--self-pretrained-control) against that shape ELECTRA-pre-trained for the same steps from them
    argv = [*argv[: argv.index("--change")], "--self-pretrained-control", "--change", "--embedding_init", "ppmi-svd"]
    assert ablation.main(argv) == 0
    result = json.loads((out / "ablation_embedding_init_ppmi-svd.json").read_text())
    work = tmp_path / "work" / "embedding_init_ppmi-svd"
    vectors = load_file(str(work / "starting_embeddings.safetensors"))["vectors"]
    assert vectors.shape[1] == json.loads((work / "student_baseline" / "config.json").read_text())["embedding_rank"]
    for seed in (1, 2):
        weights = load_file(str(work / f"student_embeddings_only_seed{seed}" / "model.safetensors"))
        [embedding] = [value for key, value in weights.items() if key.endswith("word_embeddings.weight")]
        assert torch.equal(embedding[1:], vectors[1:])  # row 0: the padding token, zeroed
    accuracy = result["nsmc_accuracy"]
    paired = [round(a - e, 2) for a, e in zip(accuracy["changed"]["per_seed"], accuracy["embeddings_only"]["per_seed"])]
    assert result["above_embeddings_only"]["changed"]["per_seed"] == paired
    shares = [
        round(100 * e / t, 1) for e, t in zip(accuracy["embeddings_only"]["per_seed"], accuracy["teacher"]["per_seed"])
    ]
    assert result["share_of_teacher"]["embeddings_only"]["per_seed"] == shares
    table = (out / "ablation_embedding_init_ppmi-svd.md").read_text()
    assert (
        "| student shape, randomly initialised with the changed student's starting embeddings (no teacher) |" in table
    )
    assert "minus the embeddings-only student, paired" in table
    self_pretrained = work / "student_self_pretrained"
    config = json.loads((self_pretrained / "config.json").read_text())
    assert config["embedding_rank"] and config["ffn_rank"] and (self_pretrained / "generator").is_dir()
    weights = load_file(str(self_pretrained / "model.safetensors"))
    [embedding] = [value for key, value in weights.items() if key.endswith("word_embeddings.weight")]
    # two steps move the starting vectors little: still the corpus vectors, not a random matrix
    assert torch.nn.functional.cosine_similarity(embedding[1:].flatten(), vectors[1:].flatten(), dim=0) > 0.9
    paired = [round(a - e, 2) for a, e in zip(accuracy["changed"]["per_seed"], accuracy["self_pretrained"]["per_seed"])]
    assert result["above_self_pretrained"]["changed"]["per_seed"] == paired
    assert "ELECTRA-pre-trained for the same 2 steps" in table and "minus the self-pretrained student" in table


def test_learning_curve_reads_the_pretraining_losses_last_logged_before_a_checkpoint(tmp_path):
    from benchmarks.learning_curve import pretraining_losses

    history = [{"step": 50, "loss": 30.0, "loss_rtd": 0.5, "loss_mlm": 8.0},
               {"step": 100, "loss": 25.0, "loss_rtd": 0.41234, "loss_mlm": 6.1234},
               {"step": 100, "train_runtime": 9.0}]  # fmt: skip
    (tmp_path / "trainer_state.json").write_text(json.dumps({"log_history": history}))
    assert pretraining_losses(tmp_path) == {"step": 100, "loss_rtd": 0.4123, "loss_mlm": 6.123}
    (tmp_path / "trainer_state.json").write_text(json.dumps({"log_history": []}))
    assert pretraining_losses(tmp_path) is None


BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _scripts() -> dict[str, ast.Module]:
    """Every benchmark script (a module with a main()), parsed."""
    modules = {path.stem: ast.parse(path.read_text(encoding="utf-8")) for path in BENCHMARKS.glob("*.py")}
    return {
        name: tree
        for name, tree in modules.items()
        if any(isinstance(node, ast.FunctionDef) and node.name == "main" for node in tree.body)
    }


def _names(tree: ast.Module) -> set[str]:
    """Every dotted name and imported module a module mentions: `sys.path`, `torch.utils.benchmark`, `save_results`."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            names.add(f"{node.value.id}.{node.attr}")
        elif isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, ast.ImportFrom):
            names.add(node.module or "")
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_benchmark_scripts_run_as_modules_time_with_one_timer_and_write_with_one_writer():
    scripts = _scripts()
    assert {"size_speed", "compile_latency", "gpu_check", "reproduce", "baseline_table", "distillation_nsmc"} <= set(
        scripts
    )
    for name, tree in scripts.items():
        names = _names(tree)
        assert "sys.path" not in names, f"benchmarks/{name}.py changes sys.path; run it as python -m benchmarks.{name}"
        # comparison_main (common.py) is the shared command of the scripts that compare committed results; it writes
        # with save_results too (asserted below)
        assert names & {"save_results", "comparison_main"}, (
            f"benchmarks/{name}.py writes its results without report.save_results"
        )
        assert not names & {"torch.utils.benchmark", "Timer"}, f"benchmarks/{name}.py has its own timer"
    common = _names(ast.parse((BENCHMARKS / "common.py").read_text(encoding="utf-8")))
    assert "sys.path" not in common and not common & {"torch.utils.benchmark", "Timer"}
    assert "save_results" in common
    # the one timer lives in training/timing.py (convert --target_ms times with it too); benchmarks import it
    timing = _names(ast.parse((BENCHMARKS.parent / "training" / "timing.py").read_text(encoding="utf-8")))
    assert "torch.utils.benchmark" in timing and "training.timing" in common


def test_the_timer_pools_blocks_into_median_and_quartiles():
    from benchmarks.common import command_line, quartiles, time_blocks

    assert quartiles([5.0, 1.0, 4.0, 2.0, 3.0]) == (2.0, 3.0, 4.0)
    assert quartiles([0.5]) == (0.5, 0.5, 0.5)
    calls = []
    blocks = time_blocks(lambda: calls.append(1), min_run_time=0.01)
    assert blocks and all(block > 0 for block in blocks) and len(calls) >= len(blocks)
    assert command_line("size_speed", ["--quick", "--presets", "tiny"]) == (
        "python -m benchmarks.size_speed --quick --presets tiny"
    )


@pytest.mark.slow
def test_a_benchmark_script_runs_as_a_module_from_the_repository_root():
    import subprocess
    import sys

    process = subprocess.run(
        [sys.executable, "-m", "benchmarks.tokenizer_compare", "--help"],
        cwd=BENCHMARKS.parent,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert process.returncode == 0, process.stderr
    assert "python -m benchmarks.tokenizer_compare" in process.stdout


def test_the_rank_budget_verdict_claims_the_goal_only_beyond_noise():
    from benchmarks.rank_budget import verdict

    def row(per_seed):
        mean = sum(per_seed) / len(per_seed)
        sd = (sum((value - mean) ** 2 for value in per_seed) / (len(per_seed) - 1)) ** 0.5 if len(per_seed) > 1 else 0
        wins = sum(value > 0 for value in per_seed)
        return {"paired_difference": {"mean": mean, "sd": sd, "per_seed": per_seed, "wins": wins}}

    text = verdict({"a budgeted": row([1.92, -0.45, 0.15]), "b budgeted": row([2.89, 1.94, 1.42])})
    assert "a: +0.54 points" in text and "of no difference): goal not shown" in text
    assert "b: +2.08 points" in text and "(0.43)): goal reached" in text
    assert "goal not reached" in verdict({"c budgeted": row([-2.0, -2.1, -1.9])})
    assert "one seed: no estimate of noise): goal not shown" in verdict({"d budgeted": row([3.0])})


def test_rank_budget_distils_from_a_given_teacher_and_refuses_bad_folders_in_one_line(tmp_path, capsys):
    """--teacher replaces the scale's own teacher in every distillation (the arms start from their conversion);
    --small-kd without --teacher, or a folder with no config.json, stops at the command line."""
    import argparse

    from benchmarks.rank_budget import RANK_BUDGET_SCALES, distill_options, main, small_kd_path

    teacher, dense = tmp_path / "teacher", tmp_path / "dense"
    args = argparse.Namespace(work_dir=tmp_path / "work", corpus=["c.txt"], data_dir=None, tasks=["nsmc"],
                              scale="tiny", settings=RANK_BUDGET_SCALES["tiny"], teacher=str(teacher), small_kd=None)  # fmt: skip
    options = distill_options(args, 2, tmp_path / "out", init=tmp_path / "convert")
    assert options["teacher"] == str(teacher) and options["student_init"] == str(tmp_path / "convert")
    assert options["seed"] == 2
    assert options["max_steps"] == RANK_BUDGET_SCALES["tiny"]["distill_steps"]
    assert "student_init" not in distill_options(args, 2, tmp_path / "out")
    assert small_kd_path(args) == tmp_path / "work" / "students" / "small-kd"
    assert small_kd_path(argparse.Namespace(**{**vars(args), "small_kd": str(dense)})) == dense
    dense.mkdir()
    (dense / "config.json").write_text("{}")
    for argv, message in (
        (["--teacher", str(teacher)], f"--teacher {teacher}: no config.json there"),
        (["--small-kd", str(dense)], "--small-kd needs --teacher"),
    ):
        with pytest.raises(SystemExit):
            main([*argv, "--work-dir", str(tmp_path / "work")])
        error = capsys.readouterr().err.strip().splitlines()
        assert message in error[-1] and "Traceback" not in "\n".join(error)
    assert not (tmp_path / "work").exists()


def test_ablation_reads_its_change_as_distill_keyword_options():
    from benchmarks.ablation import change_options

    change = ["--corrupt_inputs", "--weight-hidden", "0", "--no_packing", "--temperature=2.5", "--corpus", "a", "b"]
    expected = {"corrupt_inputs": True, "weight_hidden": 0, "packing": False, "temperature": 2.5, "corpus": ["a", "b"]}
    assert change_options(change) == expected
    with pytest.raises(ValueError, match="follows no option name"):
        change_options(["0"])


def test_learning_curve_reads_key_value_options_and_refuses_a_bad_one_in_one_line(capsys):
    from benchmarks.common import keyword_options
    from benchmarks.learning_curve import parse_arguments

    given = ["learning_rate=2e-4", "warmup-steps=100", "packing=false", "masking=bert", "lr_scheduler_type=constant"]
    assert keyword_options(given, "--pretrain-option") == {"learning_rate": 2e-4, "warmup_steps": 100, "packing": False,
                                                           "masking": "bert", "lr_scheduler_type": "constant"}  # fmt: skip
    args = parse_arguments(["--pretrain-option", "rtd_weight=20", "--finetune-option", "warmup_steps=0.1",
                            "--teacher-shape", "num_hidden_layers=2"])  # fmt: skip
    assert args.pretrain_options == {"rtd_weight": 20} and args.finetune_options == {"warmup_steps": 0.1}
    assert args.shape["num_hidden_layers"] == 2 and args.shape["hidden_size"] == 256 and args.seeds == [42, 43, 44]
    for argv, message in (
        (["--pretrain-option", "learning_rate"], "--pretrain-option 'learning_rate' is not KEY=VALUE: give e.g."),
        (["--finetune-option", "=3"], "--finetune-option '=3' is not KEY=VALUE"),
        (["--pretrain-option", "max_steps=9"], "--pretrain-option max_steps: set by the script itself"),
        (["--teacher-shape", "num_attention_heads=3"], "--teacher-shape 'num_attention_heads=3': "),
        (["--teacher-shape", "hiden_size=128"], "--teacher-shape hiden_size: not a KRElectraKDConfig field"),
    ):
        with pytest.raises(SystemExit) as stopped:
            parse_arguments(argv)
        assert stopped.value.code == 2
        error = capsys.readouterr().err.strip().splitlines()
        assert message in error[-1] and "Traceback" not in "\n".join(error), (argv, error)


def test_learning_curve_work_folders_differ_whenever_an_option_of_their_run_differs():
    from benchmarks.learning_curve import parse_arguments, recipe, work_folders

    def folders(*argv):
        return work_folders(Path("work"), recipe(parse_arguments(list(argv))))

    reference = folders()
    assert reference["run"].name.startswith("electra_6000steps_") and reference["tokenizer"].parent == Path("work")
    for argv in (["--pretrain-option", "learning_rate=1e-4"], ["--teacher-shape", "num_hidden_layers=2"],
                 ["--pretraining-lines", "1000"], ["--seeds", "7"], ["--steps", "0", "3000", "6000"],
                 ["--batch-size", "64"], ["--vocab-size", "8000"]):  # fmt: skip
        assert folders(*argv)["run"] != reference["run"], argv
    assert folders("--vocab-size", "8000")["tokenizer"] != reference["tokenizer"]
    assert folders("--pretrain-option", "learning_rate=1e-4")["tokenizer"] == reference["tokenizer"]
    # a fine-tuning option: the same pre-training run, other fine-tuned folders
    changed = folders("--finetune-option", "learning_rate=1e-4")
    assert changed["run"] == reference["run"] and changed["finetunings"] != reference["finetunings"]
    assert folders("--learning-rate", "1e-3")["finetunings"] != reference["finetunings"]
    assert folders()["run"] == reference["run"]  # the same options: the same folder (finished steps are reused)


def test_learning_curve_keys_a_teacher_by_what_it_computes_not_by_the_package_version_that_wrote_it(tmp_path):
    """A fine-tuned control is reused when only the copied modeling code or a config field at its default differs
    (a later package wrote it); any change to the weights, tokenizer or a field's value gives another key."""
    import shutil

    from benchmarks.learning_curve import content_key

    teacher = tmp_path / "teacher"
    teacher.mkdir()
    config = {"model_type": "kr-electra-kd", "hidden_size": 64, "num_hidden_layers": 2, "transformers_version": "5.0"}
    (teacher / "config.json").write_text(json.dumps(config))
    (teacher / "model.safetensors").write_bytes(b"weights")
    (teacher / "tokenizer.json").write_text("{}")
    (teacher / "modeling_kr_electra_kd.py").write_text("# old code")
    reference = content_key(teacher)

    def key_after(change) -> str:
        copy = tmp_path / f"copy{len(list(tmp_path.iterdir()))}"
        shutil.copytree(teacher, copy)
        change(copy)
        return content_key(copy)

    def config_with(**fields):
        return lambda folder: (folder / "config.json").write_text(json.dumps(config | fields, indent=2))

    same = [config_with(classifier_pooling="cls", layer_norm_position="post", transformers_version="5.25.0"),
            lambda folder: (folder / "modeling_kr_electra_kd.py").write_text("# new code")]  # fmt: skip
    for change in same:
        assert key_after(change) == reference
    other = [config_with(layer_norm_position="pre"), config_with(hidden_size=128),
             lambda folder: (folder / "model.safetensors").write_bytes(b"weightz"),
             lambda folder: (folder / "tokenizer.json").write_text('{"a": 1}'),
             lambda folder: (folder / "config.json").write_text(json.dumps({k: v for k, v in config.items()
                                                                            if k != "hidden_size"}))]  # fmt: skip
    assert len({reference, *(key_after(change) for change in other)}) == 1 + len(other)


def _curve_result(scores: dict[str, list[float]]) -> dict:
    """A hand-made learning-curve result (the fields the table reads) with these per-seed accuracies."""
    from benchmarks.common import summary
    from benchmarks.learning_curve import against_control

    collapse = {"cls_mean_cosine": 0.9, "mean_pool_mean_cosine": 0.8, "token_mean_cosine": 0.5,
                "cls_effective_rank": 3.0, "mean_pool_effective_rank": 9.0, "texts": 1000}  # fmt: skip
    losses = {"step": 750, "loss_rtd": 0.35, "loss_mlm": 6.1, "loss_rtd_constant": 0.39}
    checkpoints = {step: {"pretraining_seconds": 300.0 if int(step) else None, "steps_per_second": 2.5 if int(step)
                          else None, "losses": losses if int(step) else None, "collapse": collapse}
                   for step in scores}  # fmt: skip
    baseline = summary([81.0, 82.0, 81.5])
    return {
        "command": "python -m benchmarks.learning_curve",
        "settings": {"seeds": [42, 43, 44], "train_samples": 4000, "eval_samples": 5000, "steps": [int(s) for s in scores],
                     "pretrain_options": {"learning_rate": 2e-4}, "finetune_options": {}, "teacher_shape": None},  # fmt: skip
        "step_seconds": 100, "seconds": 10, "work_folder": "electra_1500steps_abc", "task_steps": 375,
        "recipe": {"tokenizer": {"vocab_size": 16000, "corpus_lines": 60000}, "corpus_lines": "the whole corpus",
                   "pretraining": {"learning_rate": 2e-4, "max_steps": 1500}, "finetuning": {"learning_rate": 2e-4}},
        "teacher_shape": {"hidden_size": 256}, "trivial_losses": {"unigram_entropy": 6.5, "lines": 20000},
        "nsmc_accuracy": {step: summary(values) for step, values in scores.items()},
        "against_control": against_control(scores), "checkpoints": checkpoints,
        "baselines": {"trivial": summary([50.0, 50.0, 50.0]), "classical": baseline},
        "crossing": {"text": "Below the TF-IDF baseline."},
    }  # fmt: skip


def test_learning_curve_calls_a_point_above_the_control_only_beyond_twice_the_larger_sd():
    from benchmarks.learning_curve import markdown

    # control 78 ± 1; 750 steps: +3 each seed, its sd 1 -> 3 > 2 x 1: above; 1500 steps: +1.5 -> not above (1.5 < 2)
    result = _curve_result({"0": [77.0, 78.0, 79.0], "750": [80.0, 81.0, 82.0], "1500": [78.5, 79.5, 80.5],
                            "3000": [70.0, 85.0, 79.0]})  # fmt: skip
    paired = result["against_control"]
    assert paired["750"]["mean"] == 3.0 and paired["750"]["stdev"] == 0.0 and paired["750"]["above_control"] is True
    assert paired["1500"]["mean"] == 1.5 and paired["1500"]["above_control"] is False
    # 3000 steps: +0.0 mean, its own sd 7.55 is the larger one
    assert paired["3000"]["noise_sd"] == 7.55 and paired["3000"]["above_control"] is False
    table = markdown(result)
    assert "| 750 | 81.00 ± 1.00 | 80.00 / 81.00 / 82.00 | +3.00 ± 0.00 | **yes** (> 2 x 1.00) |" in table
    assert "| 1,500 | 79.50 ± 1.00 | 78.50 / 79.50 / 80.50 | +1.50 ± 0.00 | no (not > 2 x 1.00) |" in table
    assert "| *TF-IDF + logistic regression* | 81.50 ± 0.50 |" in table
    assert (
        "`learning_rate=0.0002, max_steps=1500`" in table
        and "options given: pre-training `learning_rate=0.0002`" in table
    )
    assert "| 750 | 300 | 2.50 | 0.350 (0.390) | 6.10 | 0.900 | 0.800 | 0.500 | 9.0 / 3.0 |" in table
    assert "MLM loss (unigram 6.50)" in table
    # one seed: no estimate of noise, no verdict
    single = _curve_result({"0": [78.0], "750": [90.0]})
    assert single["against_control"]["750"]["above_control"] is None
    assert "one seed: no estimate" in markdown(single)


def test_compare_curves_tables_each_variant_against_its_own_control_and_the_reference_recipe(tmp_path, capsys):
    from benchmarks import compare_curves
    from benchmarks.common import paired_difference, summary

    reference = _curve_result({"0": [77.0, 78.0, 79.0], "750": [80.0, 81.0, 82.0]})
    # the embeddings-only point, which is not a step count (its row names what it is)
    reference["nsmc_accuracy"]["embeddings_only"] = summary([81.0, 82.0, 83.0])
    reference["against_control"]["embeddings_only"] = paired_difference([81.0, 82.0, 83.0], [77.0, 78.0, 79.0])
    reference["checkpoints"]["embeddings_only"] = {**reference["checkpoints"]["0"]}
    # 1,500 steps: a point the reference does not have
    variant = _curve_result({"0": [76.0, 78.0, 80.0], "750": [77.0, 79.0, 81.0], "1500": [80.0, 81.0, 82.0]})
    variant["recipe"]["pretraining"]["learning_rate"] = 5e-4
    variant["recipe"]["pretraining"]["rtd_weight"] = 20
    variant["checkpoints"]["750"]["collapse"] = {**variant["checkpoints"]["750"]["collapse"], "cls_mean_cosine": 0.999}
    # a fine-tuning lever that only lowers its own control: +4 over it, +1 over the reference's (not beyond noise)
    lowered = _curve_result({"0": [74.0, 75.0, 76.0], "750": [78.0, 79.0, 80.0]})
    lowered["recipe"]["finetuning"]["layerwise_lr_decay"] = 0.8
    for name, result in (("curve_reference", reference), ("curve_lr", variant), ("curve_llrd", lowered)):
        (tmp_path / f"{name}.json").write_text(json.dumps(result))
    argv = ["curve_reference", "curve_lr", "curve_llrd", "--results-dir", str(tmp_path), "--output-dir",
            str(tmp_path / "out")]  # fmt: skip
    assert compare_curves.main(argv) == 0
    result = json.loads((tmp_path / "out" / "pretraining_levers.json").read_text())
    assert result["reference"] == "curve_reference" and [v["name"] for v in result["variants"]] == argv[:3]
    assert result["variants"][0]["recipe_difference"] == {}
    assert result["variants"][1]["recipe_difference"] == {
        "pretraining.learning_rate": [0.0002, 0.0005],
        "pretraining.rtd_weight": [None, 20],
    }
    # the variant's gain is over its own control: +1.00 each seed (its sd 2.00: not beyond noise)
    assert result["variants"][1]["steps"]["750"]["gain_over_control"]["mean"] == 1.0
    table = (tmp_path / "out" / "pretraining_levers.md").read_text()
    assert "- `curve_reference`: the reference recipe" in table
    assert "- `curve_lr`: pretraining.learning_rate 0.0002 -> 0.0005; pretraining.rtd_weight None -> 20" in table
    assert (
        "| `curve_reference` | 750 | 81.00 ± 1.00 | +3.00 ± 0.00 (**yes**) | +3.00 ± 0.00 (**yes**) | (the reference) | "
        "0.350 (0.390) | 6.10 (6.50) | 0.900 | 0.800 | 0.500 | 9.0 / 3.0 |" in table
    )
    assert "| `curve_reference` | 0 | 78.00 ± 1.00 | (the control) | (the control) | (the reference) |" in table
    # versus the reference's own point at the same step: 77/79/81 against 80/81/82 -> -2.00 ± 1.00
    assert (
        "| `curve_lr` | 750 | 79.00 ± 2.00 | +1.00 ± 0.00 (no) | +1.00 ± 1.00 (no) | -2.00 ± 1.00 (no) | "
        "0.350 (0.390) |" in table
    )
    assert "| `curve_lr` | 0 | 78.00 ± 2.00 | (the control) | +0.00 ± 1.00 (no) | +0.00 ± 1.00 (no) |" in table
    assert (
        "| `curve_llrd` | 750 | 79.00 ± 1.00 | +4.00 ± 0.00 (**yes**) | +1.00 ± 0.00 (no) | -2.00 ± 0.00 (no) |"
        in table
    )
    assert result["variants"][2]["steps"]["750"]["gain_over_reference_point"]["mean"] == -2.0
    assert "| `curve_lr` | 1,500 | 81.00 ± 1.00 | +3.00 ± 1.00 (no) | +3.00 ± 0.00 (**yes**) | no such point |" in table
    assert result["variants"][1]["steps"]["1500"]["gain_over_reference_point"] is None
    assert "| `curve_llrd` | 0 | 75.00 ± 1.00 | (the control) | -3.00 ± 0.00 (no) |" in table
    assert result["variants"][2]["steps"]["750"]["gain_over_reference_control"]["above_control"] is False
    assert (
        "| `curve_reference` | 0, starting embeddings only (no ELECTRA step) | 82.00 ± 1.00 | +4.00 ± 0.00 (**yes**) "
        "| +4.00 ± 0.00 (**yes**) |" in table
    )
    # a missing curve, or one written before the recipe was recorded: one line naming the file
    (tmp_path / "old.json").write_text(json.dumps({"nsmc_accuracy": {}}))
    for name, message in (("missing", "missing.json: no such result; run"), ("old", "old.json: written before")):
        with pytest.raises(SystemExit):
            compare_curves.main([name, "--results-dir", str(tmp_path), "--output-dir", str(tmp_path / "out")])
        assert message in capsys.readouterr().err.strip().splitlines()[-1]


def _seeded_curve(pretraining_seed: int, point: list[float]) -> dict:
    """A hand-made curve of one recipe pre-trained on `pretraining_seed`: control 77/78/79, starting embeddings
    81/82/83, TF-IDF 81/82/81.5 on fine-tuning seeds 42/43/44, and `point` at 3,000 steps."""
    from benchmarks.common import summary

    result = _curve_result({"0": [77.0, 78.0, 79.0], "3000": point})
    result["nsmc_accuracy"]["embeddings_only"] = summary([81.0, 82.0, 83.0])
    result["recipe"]["pretraining"]["seed"] = pretraining_seed
    record = {"primary_metric": "accuracy", "classical": {"metrics": {}}}
    result["baselines"]["per_seed"] = {
        str(seed): {**record, "classical": {"metrics": {"accuracy": score}}}
        for seed, score in zip((42, 43, 44), (81.0, 82.0, 81.5))
    }
    return result


def test_pretraining_seeds_reads_one_point_over_every_pair_of_pretraining_and_finetuning_seeds(tmp_path, capsys):
    from benchmarks import pretraining_seeds

    curves = {"curve": _seeded_curve(42, [82.0, 83.0, 84.0]), "curve_p43": _seeded_curve(43, [81.5, 82.5, 83.5])}
    for name, result in curves.items():
        (tmp_path / f"{name}.json").write_text(json.dumps(result))
    folders = ["--results-dir", str(tmp_path), "--output-dir", str(tmp_path / "out")]
    assert pretraining_seeds.main(["curve", "curve_p43", *folders]) == 0
    result = json.loads((tmp_path / "out" / "pretraining_seeds.json").read_text())
    assert list(result["points"]) == ["3000"]
    row = result["points"]["3000"]
    # seed 42: +1 over the starting embeddings on each fine-tuning seed, sd 1 on both sides: not beyond 2 x 1
    first = row["runs"][0]["gains"]
    assert first["embeddings_only"]["mean"] == 1.0 and first["embeddings_only"]["above_control"] is False
    assert first["control"]["mean"] == 5.0 and first["control"]["above_control"] is True
    assert first["classical"]["per_seed"] == [1.0, 1.0, 2.5]
    # all six pairs: +1, +1, +1, +0.5, +0.5, +0.5 over the starting embeddings; seeds' means 83 and 82.5
    pooled = row["all_pairs"]["gains"]["embeddings_only"]
    assert pooled["mean"] == 0.75 and pooled["wins"] == 6 and len(pooled["per_seed"]) == 6
    assert row["pretraining_seed_means"]["stdev"] == 0.35
    table = (tmp_path / "out" / "pretraining_seeds.md").read_text()
    assert "| 3,000 | 42 | 83.00 ± 1.00 | +5.00 ± 0.00 (3/3 above; **yes**) | +1.00 ± 0.00 (3/3 above; no) |" in table
    assert (
        "| 3,000 | all pairs | 82.75 ± 0.94 | +4.75 ± 0.27 (6/6 above; **yes**) | +0.75 ± 0.27 (6/6 above; no) |"
        in table
    )
    assert "| 3,000 | sd of the pre-training seeds' means | 0.35 |" in table
    # not one recipe, a shared pre-training seed: one line naming the curve and the fix
    other = _seeded_curve(44, [80.0, 81.0, 82.0])
    other["recipe"]["pretraining"]["learning_rate"] = 1e-3
    (tmp_path / "curve_lr.json").write_text(json.dumps(other))
    (tmp_path / "curve_again.json").write_text(json.dumps(_seeded_curve(42, [80.0, 81.0, 82.0])))
    for name, message in (("curve_lr", "curve_lr: differs from curve in pretraining.learning_rate; only the"),
                          ("curve_again", "the curves share a pre-training seed ([42, 42])")):  # fmt: skip
        with pytest.raises(SystemExit):
            pretraining_seeds.main(["curve", name, *folders])
        error = capsys.readouterr().err.strip().splitlines()
        assert message in error[-1] and "Traceback" not in "\n".join(error)


def _teacher_ablation(teacher: str, rows: dict[str, list[float]]) -> dict:
    """A hand-made ablation result from `teacher`: `rows` per fine-tuning seed 42/43/44, random init 66 on each,
    TF-IDF 80/81/82."""
    from benchmarks.common import summary

    settings = {"teacher": teacher, "name": teacher, "change": ["--embedding_init", "ppmi-svd"], "student_steps": 4000,
                "seeds": [42, 43, 44], "work_dir": "abl", "train_samples": 4000, "eval_samples": 5000}  # fmt: skip
    record = {"primary_metric": "accuracy"}
    baselines = {str(seed): {**record, "classical": {"metrics": {"accuracy": score}}}
                 for seed, score in zip((42, 43, 44), (80.0, 81.0, 82.0))}  # fmt: skip
    accuracy = {name: summary(values) for name, values in {**rows, "random_init": [66.0] * 3}.items()}
    summaries = {"trivial": summary([50.0] * 3), "classical": summary([80.0, 81.0, 82.0])}
    return {"settings": settings, "nsmc_accuracy": accuracy, "baselines": {"per_seed": baselines, **summaries}}


def test_ablation_teachers_reads_students_per_teacher_and_over_every_pair(tmp_path, capsys):
    from benchmarks import ablation_teachers

    first = {"teacher": [80.0] * 3, "changed": [78.0, 79.0, 80.0], "baseline": [76.0] * 3,
             "embeddings_only": [76.0, 77.0, 78.0]}  # fmt: skip
    second = {"teacher": [82.0] * 3, "changed": [80.0, 81.0, 82.0], "baseline": [77.0] * 3,
              "embeddings_only": [77.0, 78.0, 79.0]}  # fmt: skip
    for name, teacher, rows in (("ablation_a", "t1", first), ("ablation_b", "t2", second)):
        (tmp_path / f"{name}.json").write_text(json.dumps(_teacher_ablation(teacher, rows)))
    folders = ["--results-dir", str(tmp_path), "--output-dir", str(tmp_path / "out")]
    assert ablation_teachers.main(["ablation_a", "ablation_b", *folders]) == 0
    result = json.loads((tmp_path / "out" / "ablation_teachers.json").read_text())
    changed = result["runs"]["ablation_a"]["students"]["changed"]
    assert changed["share_of_teacher"]["per_seed"] == [97.5, 98.8, 100.0]
    # +2 on every seed with sd 1 on both sides: not beyond 2 x 1; the second teacher's +3 is
    assert changed["gains"]["embeddings_only"]["mean"] == 2.0
    assert changed["gains"]["embeddings_only"]["above_control"] is False
    assert result["runs"]["ablation_b"]["students"]["changed"]["gains"]["embeddings_only"]["above_control"] is True
    assert changed["gains"]["classical"]["per_seed"] == [-2.0, -2.0, -2.0]
    # every pair: +2, +2, +2, +3, +3, +3, but the six students' sd (1.41) doubled is above the mean gain
    pooled = result["all_pairs"]["students"]["changed"]["gains"]["embeddings_only"]
    assert pooled["mean"] == 2.5 and pooled["wins"] == 6 and pooled["noise_sd"] == 1.41
    assert pooled["above_control"] is False
    assert result["all_pairs"]["change"]["per_seed"] == [2.0, 3.0, 4.0, 3.0, 4.0, 5.0]
    assert result["teacher_means"]["stdev"] == 1.41
    table = (tmp_path / "out" / "ablation_teachers.md").read_text()
    assert (
        "| all pairs | student, `--embedding_init ppmi-svd` | 80.00 ± 1.41 | 98.8% ± 1.1 | +14.00 ± 1.41 (6/6 above; "
        "**yes**) | +2.50 ± 0.55 (6/6 above; no) | -1.00 ± 1.10 (0/6 above; no) |" in table
    )
    assert "- all pairs: +3.50 ± 1.05 (6/6 above; **yes**)" in table
    assert table.startswith("Data: NSMC ratings_train 4,000 labels / ratings_test 5,000 reviews per fine-tuning seed")
    assert "Baselines on the same slices (every run): trivial baseline 50.00 ± 0.00; TF-IDF + logistic regression 81.00 ± 1.00." in table  # fmt: skip
    # runs that differ in more than the teacher, runs sharing a teacher, a missing run: one line naming it and the fix
    longer = _teacher_ablation("t3", first)
    longer["settings"]["student_steps"] = 800
    (tmp_path / "ablation_c.json").write_text(json.dumps(longer))
    (tmp_path / "ablation_d.json").write_text(json.dumps(_teacher_ablation("t1", second)))
    for name, message in (
        ("ablation_c", "ablation_c: differs from ablation_a in student_steps; only the teacher may differ."),
        ("ablation_d", "the runs share a teacher (t1, t1)"),
        ("ablation_e", "ablation_e.json: no such result; run python -m benchmarks.ablation ... --name e."),
    ):
        with pytest.raises(SystemExit):
            ablation_teachers.main(["ablation_a", name, *folders])
        error = capsys.readouterr().err.strip().splitlines()
        assert message in error[-1] and "Traceback" not in "\n".join(error)


def test_benchmarks_hand_the_recipe_a_single_tasks_own_folder(tmp_path):
    """A benchmark's --data-dir holds one folder per task, and the recipe reads a single task's --data_dir as that
    task's folder or a parent holding it (rank_budget --tasks nsmc stopped at its first fine-tuning: `data has no
    ratings_test.txt`; then reproduce handed a task's own folder stopped at `.../nsmc/nsmc does not exist`)."""
    import argparse

    from benchmarks.rank_budget import pipeline_arguments
    from training.recipe import task_data_dir

    (tmp_path / "nsmc").mkdir()
    (tmp_path / "kohate").mkdir()
    args = argparse.Namespace(work_dir=tmp_path, corpus=["c.txt"], data_dir=str(tmp_path), scale="tiny")
    for tasks, expected in ((["nsmc"], tmp_path / "nsmc"), (["kohate-bias"], tmp_path / "kohate")):
        pipeline = pipeline_arguments(argparse.Namespace(**vars(args), tasks=tasks))
        assert task_data_dir(pipeline, tasks[0]) == str(expected)
    # a single task's own folder (no folder named for the task inside it) is read as is
    own = argparse.Namespace(**{**vars(args), "data_dir": str(tmp_path / "nsmc")}, tasks=["nsmc"])
    assert task_data_dir(pipeline_arguments(own), "nsmc") == str(tmp_path / "nsmc")
    pipeline = pipeline_arguments(argparse.Namespace(**vars(args), tasks=["nsmc", "korsts"]))
    assert task_data_dir(pipeline, "korsts") == str(tmp_path / "korsts")
