"""Teacher pre-training (ELECTRA) and distillation on the project's fixture corpus."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import build_tiny_tokenizer
from datasets import Dataset
from transformers import DataCollatorWithPadding, TrainingArguments

from modeling_kr_electra_kd import (
    KRElectraKDConfig,
    KRElectraKDForMaskedLM,
    KRElectraKDForPreTraining,
    KRElectraKDForSequenceClassification,
)
from training import electra_objective
from training.commands import distill
from training.commands import pretrain_teacher as pretrain
from training.distillation import (
    LOSS_PARTS,
    DistillationConfig,
    DistillationTrainer,
    build_student,
    check_layer_map,
    run_distillation,
    uniform_layer_map,
)
from training.provenance import find_local_paths
from training.tasks import get_task

REPO = Path(__file__).resolve().parents[1]
QUIET = ["--disable_tqdm", "true", "--report_to", "none"]


def _losses(log_history: list[dict], key: str = "loss") -> list[float]:
    return [entry[key] for entry in log_history if key in entry and "train_runtime" not in entry]


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory, tiny_tokenizer):
    folder = tmp_path_factory.mktemp("tokenizer")
    tiny_tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def teacher_dir(tmp_path_factory, tokenizer_dir, fixtures_dir):
    """A tiny teacher pre-trained for 40 steps (checkpoints every 20)."""
    folder = tmp_path_factory.mktemp("teacher")
    argv = ["--corpus", str(fixtures_dir / "corpus.txt"), "--tokenizer", str(tokenizer_dir), "--preset", "tiny"]
    argv += ["--output_dir", str(folder), "--max_steps", "40", "--save_steps", "20", "--logging_steps", "5"]
    argv += ["--per_device_train_batch_size", "8", "--seed", "0", *QUIET]
    assert pretrain.main(argv) == 0
    return folder


@pytest.mark.slow
def test_pretraining_saves_a_hub_ready_teacher_and_generator(teacher_dir):
    for name in ("config.json", "model.safetensors", "modeling_kr_electra_kd.py", "tokenizer.json"):
        assert (teacher_dir / name).is_file(), name
    assert (teacher_dir / "generator" / "model.safetensors").is_file()
    teacher = KRElectraKDForPreTraining.from_pretrained(teacher_dir)
    assert teacher.config.hidden_size == 64
    state = json.loads(
        next((teacher_dir / "checkpoints").glob("checkpoint-40")).joinpath("trainer_state.json").read_text()
    )
    rtd = _losses(state["log_history"], "loss_rtd")
    mlm = _losses(state["log_history"], "loss_mlm")
    constant = _losses(state["log_history"], "loss_rtd_constant")
    assert len(rtd) == len(mlm) == len(constant) == 8  # each part logged separately
    assert rtd[-1] < rtd[0]
    assert all(0.2 < value < 0.6 for value in constant)  # about 13% of the tokens replaced: about 0.39


@pytest.mark.slow
def test_pretraining_warns_when_the_discriminator_has_not_beaten_a_constant_prediction(
    tokenizer_dir, fixtures_dir, tmp_path, capsys
):
    argv = ["--corpus", str(fixtures_dir / "corpus.txt"), "--tokenizer", str(tokenizer_dir), "--preset", "tiny"]
    argv += ["--output_dir", str(tmp_path / "teacher"), "--max_steps", "2", "--logging_steps", "1", *QUIET]
    assert pretrain.main(argv) == 0  # a warning, not an error: the teacher is saved
    error = capsys.readouterr().err
    assert "has not learned to detect replaced tokens" in error and "--max_steps" in error
    assert "starting token embeddings" in error
    assert (tmp_path / "teacher" / "model.safetensors").is_file()


def test_generator_is_narrower_and_shares_the_embeddings(tokenizer_dir):
    config = KRElectraKDConfig.from_preset("tiny", vocab_size=100)
    generator = KRElectraKDForMaskedLM(electra_objective.generator_config(config))
    model = electra_objective.ElectraGeneratorDiscriminator(KRElectraKDForPreTraining(config), generator)
    assert generator.config.hidden_size == 16
    assert model.generator.electra.embeddings is model.discriminator.electra.embeddings
    assert model.generator.generator_lm_head.weight is model.discriminator.electra.embeddings.word_embeddings.weight


@pytest.mark.slow
def test_pretraining_resumes_from_its_last_checkpoint(teacher_dir, tokenizer_dir, fixtures_dir, tmp_path):
    import shutil

    folder = tmp_path / "teacher"
    shutil.copytree(teacher_dir, folder)
    shutil.rmtree(folder / "checkpoints" / "checkpoint-40")  # as if interrupted after step 20
    argv = ["--corpus", str(fixtures_dir / "corpus.txt"), "--tokenizer", str(tokenizer_dir), "--preset", "tiny"]
    argv += ["--output_dir", str(folder), "--max_steps", "30", "--save_steps", "10", "--logging_steps", "5", *QUIET]
    assert pretrain.main(argv) == 0
    state = json.loads((folder / "checkpoints" / "checkpoint-30" / "trainer_state.json").read_text())
    steps = [entry["step"] for entry in state["log_history"] if "loss" in entry]
    assert steps[0] == 5 and steps[-1] == 30  # history of the first run kept, then continued


def _student_argv(teacher_dir, fixtures_dir, output, *extra):
    argv = ["--teacher", str(teacher_dir), "--student_preset", "tiny"]
    argv += ["--student_shape", "hidden_size=32,num_attention_heads=2,ffn_rank=16,attention_rank=16,embedding_rank=16"]
    argv += ["--corpus", str(fixtures_dir / "corpus.txt"), "--output_dir", str(output), "--max_steps", "40"]
    argv += ["--logging_steps", "5", "--save_steps", "20", "--per_device_train_batch_size", "8", "--seed", "0", *QUIET]
    return argv + list(extra)


@pytest.mark.slow
def test_task_agnostic_distillation_loss_falls_and_student_is_hub_ready(teacher_dir, fixtures_dir, tmp_path):
    output = tmp_path / "student"
    assert distill.main(_student_argv(teacher_dir, fixtures_dir, output)) == 0
    record = json.loads((output / "distillation.json").read_text())
    assert record["mode"] == "task-agnostic" and record["steps"] == 40
    # published with the student: paths relative to its folder, none of this machine's
    assert record["teacher"].startswith("../") and record["corpus"][0].startswith("../")
    assert not list(find_local_paths(record, output))
    assert record["last_loss"]["loss"] < record["first_loss"]["loss"]
    for part in ("loss_kl", "loss_hidden", "loss_attention"):
        assert part in record["last_loss"]
    student = KRElectraKDForPreTraining.from_pretrained(output)
    assert student.config.ffn_rank == 16 and student.config.hidden_size == 32
    assert (output / "modeling_kr_electra_kd.py").is_file() and (output / "tokenizer.json").is_file()


def _trainer(teacher, student, dataset, tokenizer, tmp_path, **weights):
    config = DistillationConfig(**{**{f"weight_{part}": 0.0 for part in LOSS_PARTS}, **weights})
    args = TrainingArguments(
        output_dir=str(tmp_path), max_steps=30, per_device_train_batch_size=8, learning_rate=3e-3,
        logging_steps=5, report_to=[], disable_tqdm=True, save_strategy="no", seed=0,
    )  # fmt: skip
    return DistillationTrainer(
        model=student, teacher=teacher, distillation=config, args=args, train_dataset=dataset,
        data_collator=DataCollatorWithPadding(tokenizer),
    )  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("part", LOSS_PARTS)
def test_each_loss_part_alone_trains(part, korean_texts, tiny_tokenizer, tmp_path):
    torch.manual_seed(0)
    config = KRElectraKDConfig.from_preset("tiny", vocab_size=len(tiny_tokenizer), hidden_dropout_prob=0.0)
    teacher = KRElectraKDForSequenceClassification(config)
    student = KRElectraKDForSequenceClassification(
        KRElectraKDConfig.from_preset("tiny", vocab_size=len(tiny_tokenizer), hidden_size=32, ffn_rank=16)
    )
    rows = {"text": korean_texts[:32], "label": [i % 2 for i in range(32)]}
    dataset = Dataset.from_dict(rows).map(lambda b: tiny_tokenizer(b["text"]), batched=True, remove_columns="text")
    trainer = _trainer(teacher, student, dataset, tiny_tokenizer, tmp_path, **{f"weight_{part}": 1.0})
    trainer.train()
    parts = _losses(trainer.state.log_history, f"loss_{part}")
    assert len(parts) == 6 and all(value == value for value in parts)  # logged, finite
    others = [p for p in LOSS_PARTS if p != part]
    assert not any(f"loss_{p}" in trainer.state.log_history[0] for p in others)
    assert parts[-1] < parts[0], (part, parts)


def test_cached_teacher_outputs_equal_fresh_ones(korean_texts, tiny_tokenizer, tmp_path):
    torch.manual_seed(0)
    config = KRElectraKDConfig.from_preset("tiny", vocab_size=len(tiny_tokenizer), num_labels=2)
    teacher = KRElectraKDForSequenceClassification(config).eval()
    student = KRElectraKDForSequenceClassification(config)
    dataset = Dataset.from_dict({"text": korean_texts[:8], "label": [0, 1] * 4})
    dataset = dataset.map(lambda b: tiny_tokenizer(b["text"]), batched=True, remove_columns="text")
    dataset = dataset.add_column("example_index", list(range(8)))
    trainer = _trainer(teacher, student, dataset, tiny_tokenizer, tmp_path, weight_kl=1.0, weight_hidden=1.0)
    trainer.distillation.cache_teacher_outputs = True
    collate = DataCollatorWithPadding(tiny_tokenizer)
    first = collate([dataset[i] for i in (0, 1, 2)])
    fresh = trainer.teacher_outputs(first)
    again = collate([dataset[i] for i in (2, 1, 0, 3)])  # other order, other padding length
    trainer.teacher_outputs(collate([dataset[3]]))
    cached = trainer.teacher_outputs(again)
    for row, source in ((0, 2), (2, 0)):
        length = int(first["attention_mask"][source].sum())
        assert torch.allclose(cached["logits"][row], fresh["logits"][source], atol=1e-6)
        assert torch.allclose(
            cached["hidden_states"][2][row, :length], fresh["hidden_states"][2][source, :length], atol=1e-6
        )


@pytest.mark.slow
def test_bad_distillation_settings_are_refused(teacher_dir, fixtures_dir, tmp_path, capsys, korean_texts):
    base = _student_argv(teacher_dir, fixtures_dir, tmp_path / "x")
    with pytest.raises(SystemExit) as stop:  # a number out of range is refused by the parser
        distill.main([*base, "--temperature", "0"])
    assert stop.value.code == 2 and "--temperature must be > 0 (got 0)" in capsys.readouterr().err
    assert distill.main([*base, "--layer_map", "1", "3"]) == 2
    assert "points outside the teacher's layers 1..2" in capsys.readouterr().err
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n", encoding="utf-8")
    argv = _student_argv(teacher_dir, fixtures_dir, tmp_path / "y")
    argv[argv.index("--corpus") + 1] = str(empty)
    assert distill.main(argv) == 2
    assert "contains no text" in capsys.readouterr().err
    other = tmp_path / "other_tokenizer"
    build_tiny_tokenizer(korean_texts, vocab_size=300).save_pretrained(other)
    assert distill.main([*base, "--student_tokenizer", str(other)]) == 2
    assert "Teacher and student tokenizers differ" in capsys.readouterr().err
    assert uniform_layer_map(4, 12) == [3, 6, 9, 12]


@pytest.mark.parametrize(
    "student_layers, teacher_layers",
    [(12, 4), (4, 2), (3, 2), (5, 3), (4, 4), (12, 12), (4, 12), (3, 4), (5, 12), (1, 2), (6, 12)],
)
def test_default_layer_map_is_valid_for_every_pair_of_depths(student_layers, teacher_layers):
    """Student deeper than, as deep as and shallower than the teacher: teacher layer ceil(i * T / S) for i = 1..S."""
    layer_map = uniform_layer_map(student_layers, teacher_layers)
    check_layer_map(layer_map, student_layers, teacher_layers)  # one entry per student layer, each in 1..T
    assert layer_map[-1] == teacher_layers
    assert all(earlier <= later for earlier, later in zip(layer_map, layer_map[1:]))
    if student_layers <= teacher_layers:  # no two student layers learn from the same teacher layer
        assert len(set(layer_map)) == student_layers
    assert layer_map == [math.ceil(i * teacher_layers / student_layers) for i in range(1, student_layers + 1)]


@pytest.mark.slow
def test_a_student_deeper_than_its_teacher_distils_with_the_default_map(teacher_dir, fixtures_dir, tmp_path):
    """A 4-layer student of the 2-layer teacher (rounding sent student layer 1 to teacher layer 0 before)."""
    output = tmp_path / "deep"
    argv = _student_argv(teacher_dir, fixtures_dir, output)
    shape = argv.index("--student_shape") + 1
    argv[shape] += ",num_hidden_layers=4"
    argv[argv.index("--max_steps") + 1] = "2"
    assert distill.main(argv) == 0
    assert json.loads((output / "distillation.json").read_text())["layer_map"] == [1, 1, 2, 2]


@pytest.mark.slow
def test_task_specific_distillation_with_transfer_set_and_svd_student(
    teacher_dir, fixtures_dir, tmp_path, tokenizer_dir
):
    # a "fine-tuned" teacher: the pre-trained one with an NSMC head
    teacher = tmp_path / "teacher-nsmc"
    model = KRElectraKDForSequenceClassification.from_pretrained(teacher_dir, num_labels=2)
    model.config.finetuning_task = "nsmc"
    model.save_pretrained(teacher)
    from transformers import AutoTokenizer

    AutoTokenizer.from_pretrained(tokenizer_dir).save_pretrained(teacher)
    # a dense student, factorized by SVD to the preset's ranks, then distilled on the task + transfer texts
    dense = tmp_path / "dense"
    KRElectraKDForSequenceClassification(
        KRElectraKDConfig.from_preset("tiny", vocab_size=model.config.vocab_size)
    ).save_pretrained(dense)
    output = tmp_path / "student-nsmc"
    argv = ["--teacher", str(teacher), "--student_preset", "tiny", "--student_shape", "ffn_rank=16,attention_rank=16"]
    argv += ["--student_init", str(dense), "--task", "nsmc", "--data_dir", str(fixtures_dir / "tasks" / "nsmc")]
    argv += ["--transfer_corpus", str(fixtures_dir / "corpus.txt"), "--output_dir", str(output), "--max_steps", "10"]
    argv += ["--logging_steps", "5", "--per_device_train_batch_size", "8", *QUIET]
    assert distill.main(argv) == 0
    record = json.loads((output / "distillation.json").read_text())
    assert record["mode"] == "task-specific" and record["student_init"]["svd"]["ranks"] == {
        "attention_rank": 16,
        "ffn_rank": 16,
    }
    student = KRElectraKDForSequenceClassification.from_pretrained(output)
    assert student.config.ffn_rank == 16 and student.config.id2label[1] == "positive"
    # a teacher fine-tuned on another task is refused
    assert distill.main([*argv[:-8], "--task", "kohate", "--output_dir", str(tmp_path / "z")]) == 2


@pytest.mark.slow
def test_distillation_from_a_parquet_dataset_trains_as_from_the_text_file(
    teacher_dir, fixtures_dir, tmp_path, monkeypatch
):
    """corpus.txt's texts as a parquet dataset (--dataset_name): the same student weights, and distillation.json names
    the dataset (relative to the student's folder) instead of corpus files."""
    from safetensors.torch import load_file

    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the same thread count for both runs: the same float sums
    texts = [line.strip() for line in (fixtures_dir / "corpus.txt").read_text(encoding="utf-8").splitlines()]
    Dataset.from_dict({"text": [text for text in texts if text]}).to_parquet(tmp_path / "data" / "train.parquet")
    steps = ["--max_steps", "6", "--save_strategy", "no"]
    assert distill.main(_student_argv(teacher_dir, fixtures_dir, tmp_path / "from_file", *steps)) == 0
    argv = _student_argv(teacher_dir, fixtures_dir, tmp_path / "from_data", *steps)
    argv[argv.index("--corpus") : argv.index("--corpus") + 2] = ["--dataset_name", str(tmp_path / "data")]
    assert distill.main(argv) == 0
    from_file = load_file(tmp_path / "from_file" / "model.safetensors")
    from_data = load_file(tmp_path / "from_data" / "model.safetensors")
    assert from_file.keys() == from_data.keys()
    assert all(torch.equal(from_file[name], from_data[name]) for name in from_file)
    record = json.loads((tmp_path / "from_data" / "distillation.json").read_text())
    assert record["corpus"] is None and record["steps"] == 6
    assert record["dataset"] == {
        "dataset_name": "../data",
        "dataset_config_name": None,
        "dataset_split": "train",
        "text_column_name": None,
    }


@pytest.mark.slow
@pytest.mark.parametrize("source", ["corpus", "dataset"])
def test_two_processes_follow_the_one_process_loss_curve(tokenizer_dir, fixtures_dir, tmp_path, source):
    """DDP through torchrun (gloo on CPU): 2 processes x batch 4 vs 1 process x batch 8, same seed and steps, on the
    corpus file or on its texts as a dataset of two parquet files (one per process). (That the processes split the
    streamed corpus is checked in test_corpus.py.)"""
    corpus = ["--corpus", str(fixtures_dir / "corpus.txt")]
    if source == "dataset":
        texts = [line.strip() for line in (fixtures_dir / "corpus.txt").read_text(encoding="utf-8").splitlines()]
        texts = [text for text in texts if text]
        for part, rows in enumerate((texts[::2], texts[1::2])):
            Dataset.from_dict({"text": rows}).to_parquet(tmp_path / "data" / f"train-{part:05d}.parquet")
        corpus = ["--dataset_name", str(tmp_path / "data")]
    common = [*corpus, "--tokenizer", str(tokenizer_dir), "--preset", "tiny"]
    common += ["--max_steps", "8", "--logging_steps", "1", "--save_strategy", "no", "--seed", "0", *QUIET]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    curves = {}
    for processes, batch in ((2, 4), (1, 8)):
        output = tmp_path / f"p{processes}"
        command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(processes), "--master_port"]
        command += [str(29500 + processes), "-m", "training.cli", "pretrain-teacher", *common]
        command += ["--output_dir", str(output), "--per_device_train_batch_size", str(batch)]
        result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr[-3000:]
        lines = [
            json.loads(line.replace("'", '"')) for line in result.stdout.splitlines() if line.startswith("{'loss'")
        ]
        curves[processes] = [float(entry["loss"]) for entry in lines]
    assert len(curves[1]) == len(curves[2]) == 8
    # different data order per process count: the same curve within noise, not bit-identical
    for one, two in zip(curves[1], curves[2]):
        assert abs(one - two) / one < 0.05
    assert curves[2][-1] < curves[2][0]


@pytest.mark.slow
def test_student_initialised_from_teacher_layers(teacher_dir, fixtures_dir, tmp_path):
    from transformers import AutoTokenizer

    teacher = KRElectraKDForPreTraining.from_pretrained(teacher_dir)
    tokenizer = AutoTokenizer.from_pretrained(teacher_dir)
    student, note = build_student(
        teacher, tokenizer, "pretraining", None, "tiny", shape="num_hidden_layers=1", init="teacher-layers"
    )
    assert note == {"init": "teacher-layers"}
    # one student layer <- the teacher's last layer (uniform map), embeddings copied
    assert torch.equal(
        student.electra.encoder.layer[0].output.dense.weight, teacher.electra.encoder.layer[1].output.dense.weight
    )
    assert torch.equal(
        student.electra.embeddings.word_embeddings.weight, teacher.electra.embeddings.word_embeddings.weight
    )
    with pytest.raises(ValueError, match="as wide as the teacher"):
        build_student(teacher, tokenizer, "pretraining", None, "tiny", shape="hidden_size=32", init="teacher-layers")


def _nsmc_teacher(teacher_dir, tokenizer_dir, folder: Path) -> Path:
    """The pre-trained teacher with an NSMC head, marked as fine-tuned on nsmc."""
    from transformers import AutoTokenizer

    model = KRElectraKDForSequenceClassification.from_pretrained(teacher_dir, num_labels=2)
    model.config.finetuning_task = "nsmc"
    model.save_pretrained(folder)
    AutoTokenizer.from_pretrained(tokenizer_dir).save_pretrained(folder)
    return folder


@pytest.mark.slow
@pytest.mark.parametrize("parts", ["defaults", "every-part"])
def test_two_process_distillation(parts, teacher_dir, tokenizer_dir, fixtures_dir, tmp_path):
    """torchrun, 2 processes (gloo on CPU), a student narrower than the teacher: with the default loss weights
    (task-agnostic) and with every part on (task-specific, so the hard loss has labels)."""
    argv = _student_argv(teacher_dir, fixtures_dir, tmp_path / "student")
    argv[argv.index("--max_steps") + 1] = "3"
    argv[argv.index("--logging_steps") + 1] = "1"
    argv[argv.index("--per_device_train_batch_size") + 1] = "4"
    argv += ["--save_strategy", "no"]
    if parts == "every-part":
        teacher = _nsmc_teacher(teacher_dir, tokenizer_dir, tmp_path / "teacher-nsmc")
        argv[argv.index("--teacher") + 1] = str(teacher)
        corpus = argv.index("--corpus")
        argv[corpus : corpus + 2] = ["--task", "nsmc", "--data_dir", str(fixtures_dir / "tasks" / "nsmc")]
        argv += ["--weight_hard", "1", "--weight_embedding", "1"]
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29531"]
    command += ["-m", "training.cli", "distill", *argv]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    logged = [json.loads(line.replace("'", '"')) for line in result.stdout.splitlines() if line.startswith("{'loss'")]
    assert len(logged) == 3
    expected = {"loss_kl", "loss_hidden", "loss_attention"}
    if parts == "every-part":
        expected |= {"loss_hard", "loss_embedding"}
    assert expected <= set(logged[-1])


@pytest.mark.slow
def test_resumed_distillation_continues_the_uninterrupted_run(teacher_dir, fixtures_dir, tmp_path, capsys):
    """A run killed while writing its last checkpoint (no trainer_state.json yet) resumes from the newest complete one,
    projections included, and ends with the uninterrupted run's weights and losses."""
    import shutil

    from safetensors.torch import load_file

    argv = _student_argv(teacher_dir, fixtures_dir, tmp_path / "full")
    argv[argv.index("--max_steps") + 1] = "8"
    argv[argv.index("--save_steps") + 1] = "4"
    argv[argv.index("--logging_steps") + 1] = "2"
    argv += ["--learning_rate", "3e-3"]
    assert distill.main(argv) == 0
    checkpoints = tmp_path / "full" / "checkpoints"
    assert (checkpoints / "checkpoint-4" / "distillation_projections.safetensors").is_file()

    resumed = tmp_path / "resumed"
    shutil.copytree(checkpoints, resumed / "checkpoints")
    (resumed / "checkpoints" / "checkpoint-8" / "trainer_state.json").unlink()  # killed while saving step 8
    argv[argv.index("--output_dir") + 1] = str(resumed)
    capsys.readouterr()
    assert distill.main(argv) == 0
    assert "checkpoint-4, skipping the incomplete checkpoint-8" in capsys.readouterr().out

    full_weights, resumed_weights = (
        load_file(tmp_path / "full" / "model.safetensors"),
        load_file(resumed / "model.safetensors"),
    )
    for name, value in full_weights.items():
        assert torch.allclose(resumed_weights[name], value, atol=1e-6), name
    full_record = json.loads((tmp_path / "full" / "distillation.json").read_text())
    resumed_record = json.loads((resumed / "distillation.json").read_text())
    assert resumed_record["last_loss"]["loss_hidden"] == pytest.approx(
        full_record["last_loss"]["loss_hidden"], rel=1e-4
    )

    # A checkpoint without the projections (written before checkpoints carried them) is refused before training.
    old_format = tmp_path / "old_format"
    shutil.copytree(checkpoints, old_format / "checkpoints")
    for checkpoint in (old_format / "checkpoints").glob("checkpoint-*"):
        (checkpoint / "distillation_projections.safetensors").unlink()
    argv[argv.index("--output_dir") + 1] = str(old_format)
    capsys.readouterr()
    assert distill.main(argv) == 2
    stderr = capsys.readouterr().err  # progress bars of the loading share stderr
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert "Traceback" not in stderr and len(errors) == 1 and "has no distillation_projections.safetensors" in errors[0]


@pytest.mark.slow
def test_resuming_with_another_shape_is_a_one_line_error(teacher_dir, tokenizer_dir, fixtures_dir, tmp_path, capsys):
    import shutil

    folder = tmp_path / "teacher"
    shutil.copytree(teacher_dir / "checkpoints", folder / "checkpoints")
    argv = ["--corpus", str(fixtures_dir / "corpus.txt"), "--tokenizer", str(tokenizer_dir), "--preset", "tiny"]
    argv += ["--shape", "hidden_size=32", "--output_dir", str(folder), "--max_steps", "50", *QUIET]
    assert pretrain.main(argv) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1
    assert "shape hidden_size=64" in error and "this run builds hidden_size=32" in error


def _cache_trainer(korean_texts, tiny_tokenizer, tmp_path, **weights):
    torch.manual_seed(0)
    config = KRElectraKDConfig.from_preset("tiny", vocab_size=len(tiny_tokenizer), num_labels=2)
    teacher = KRElectraKDForSequenceClassification(config).eval()
    # one student layer: the uniform map reads only the teacher's last layer
    student = KRElectraKDForSequenceClassification(
        KRElectraKDConfig.from_preset("tiny", vocab_size=len(tiny_tokenizer), num_labels=2, num_hidden_layers=1)
    )
    dataset = Dataset.from_dict({"text": korean_texts[:8], "label": [0, 1] * 4})
    dataset = dataset.map(lambda b: tiny_tokenizer(b["text"]), batched=True, remove_columns="text")
    dataset = dataset.add_column("example_index", list(range(8)))
    trainer = _trainer(teacher, student, dataset, tiny_tokenizer, tmp_path, **weights)
    trainer.distillation.cache_teacher_outputs = True
    return trainer, dataset, DataCollatorWithPadding(tiny_tokenizer)


def test_teacher_cache_keeps_only_what_the_losses_read(korean_texts, tiny_tokenizer, tmp_path):
    trainer, dataset, collate = _cache_trainer(korean_texts, tiny_tokenizer, tmp_path, weight_hidden=1.0)
    trainer.teacher_outputs(collate([dataset[i] for i in range(4)]))
    entry = trainer.teacher_cache[0]
    assert entry["logits"] is None and entry["attentions"] is None  # no KL, no attention loss
    # hidden states: only the teacher's layer 2 (the student's one layer maps to it), not the embeddings or layer 1
    assert [layer is not None for layer in entry["hidden_states"]] == [False, False, True]


def test_teacher_cache_is_bounded(korean_texts, tiny_tokenizer, tmp_path, caplog):
    trainer, dataset, collate = _cache_trainer(korean_texts, tiny_tokenizer, tmp_path, weight_kl=1.0, weight_hidden=1.0)
    trainer.teacher_outputs(collate([dataset[0]]))
    one_example = trainer.teacher_cache.bytes
    trainer.teacher_cache.clear()
    trainer.teacher_cache.limit_mb = 2.5 * one_example / 2**20  # room for about two examples
    batch = collate([dataset[i] for i in range(8)])
    fresh = trainer.teacher_outputs(batch)
    assert 1 <= len(trainer.teacher_cache) <= 3
    assert trainer.teacher_cache.full and trainer.teacher_cache.bytes <= trainer.teacher_cache.limit_mb * 2**20
    assert any("teacher-output cache reached teacher_cache_mb" in record.message for record in caplog.records)
    again = trainer.teacher_outputs(batch)  # not all cached: computed afresh, the same values
    assert torch.allclose(again["logits"], fresh["logits"])


def test_cached_teacher_outputs_follow_the_student_device(korean_texts, tiny_tokenizer, tmp_path):
    """Cached rows live on the CPU and come back on the batch's (the student's) device: CUDA when there is one, else
    the meta device stands in for it."""
    trainer, dataset, collate = _cache_trainer(korean_texts, tiny_tokenizer, tmp_path, weight_kl=1.0, weight_hidden=1.0)
    batch = collate([dataset[i] for i in range(4)])
    trainer.teacher_outputs({key: value.to(trainer.args.device) for key, value in batch.items()})
    assert trainer.teacher_cache[0]["logits"][0].device.type == "cpu"
    device = torch.device("cuda") if torch.cuda.is_available() else torch.device("meta")
    moved = {key: value if key == "example_index" else value.to(device) for key, value in batch.items()}
    cached = trainer.teacher_outputs(moved)
    assert cached["logits"].device.type == device.type
    assert all(layer is None or layer.device.type == device.type for layer in cached["hidden_states"])


# --------------------------------------------------------------------------------------------------------------------
# Distillation on ELECTRA-corrupted text (--corrupt_inputs)
# --------------------------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_corrupt_replaces_exactly_the_masked_tokens_with_the_generators_choice(teacher_dir, tmp_path, monkeypatch):
    """Known answer: with the generator's argmax as its sample, masked positions hold the generator's top token for
    that position, every other position keeps its token, and the labels are gone."""
    from modeling_kr_electra_kd import KRElectraKDForMaskedLM

    monkeypatch.setattr(electra_objective, "sample_replacements", lambda logits: logits.argmax(-1))
    teacher = KRElectraKDForPreTraining.from_pretrained(teacher_dir)
    generator = KRElectraKDForMaskedLM.from_pretrained(teacher_dir / "generator").eval()
    trainer = _trainer(teacher, KRElectraKDForPreTraining(teacher.config), None, None, tmp_path, weight_kl=1.0)
    trainer.generator = generator
    input_ids = torch.tensor([[2, 40, 41, 4, 43, 3], [2, 4, 51, 52, 3, 0]])  # 4 = [MASK]
    labels = torch.tensor([[-100, -100, -100, 42, -100, -100], [-100, 50, -100, -100, -100, -100]])
    attention_mask = torch.tensor([[1] * 6, [1] * 5 + [0]])
    corrupted = trainer.corrupt({"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels})
    assert "labels" not in corrupted
    with torch.no_grad():
        expected = generator(input_ids=input_ids, attention_mask=attention_mask).logits.argmax(-1)
    masked = labels != -100
    assert torch.equal(corrupted["input_ids"][masked], expected[masked])
    assert torch.equal(corrupted["input_ids"][~masked], input_ids[~masked])


@pytest.mark.slow
def test_task_agnostic_distillation_on_corrupted_text(teacher_dir, fixtures_dir, tmp_path):
    output = tmp_path / "student"
    argv = _student_argv(teacher_dir, fixtures_dir, output, "--corrupt_inputs")
    argv[argv.index("--max_steps") + 1] = "4"
    assert distill.main(argv) == 0  # the generator comes from the teacher folder's generator/
    record = json.loads((output / "distillation.json").read_text())
    assert record["corrupted_inputs"] is True and record["steps"] == 4


@pytest.mark.slow
@pytest.mark.parametrize(
    "extra, message",
    [
        (["--generator", "MISSING"], "--generator"),
        (["--mlm_probability", "1.5"], "--mlm_probability must be in (0, 1) (got 1.5)"),
        (["--cache_teacher_outputs"], "cannot be cached"),
    ],
)
def test_corrupted_inputs_refuse_bad_settings_in_one_line(teacher_dir, fixtures_dir, tmp_path, capsys, extra, message):
    extra = [str(tmp_path / "nowhere") if item == "MISSING" else item for item in extra]
    argv = _student_argv(teacher_dir, fixtures_dir, tmp_path / "student", "--corrupt_inputs", *extra)
    try:
        code = distill.main(argv)
    except SystemExit as stop:  # a number out of range is refused by the parser
        code = stop.code
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


@pytest.mark.slow
def test_corrupted_inputs_need_a_generator_of_the_teachers_vocabulary(teacher_dir, fixtures_dir, tmp_path, capsys):
    import shutil

    from modeling_kr_electra_kd import KRElectraKDForMaskedLM

    bare = tmp_path / "bare-teacher"  # a teacher folder without generator/
    shutil.copytree(teacher_dir, bare, ignore=shutil.ignore_patterns("generator", "checkpoints"))
    assert distill.main(_student_argv(bare, fixtures_dir, tmp_path / "a", "--corrupt_inputs")) == 2
    assert "pass --generator" in capsys.readouterr().err
    other = KRElectraKDForMaskedLM(KRElectraKDConfig.from_preset("tiny", vocab_size=77))
    other.save_pretrained(tmp_path / "other-generator")
    argv = _student_argv(teacher_dir, fixtures_dir, tmp_path / "b", "--corrupt_inputs", "--generator")
    assert distill.main([*argv, str(tmp_path / "other-generator")]) == 2
    assert "77-token vocabulary" in capsys.readouterr().err


# The private Trainer methods DistillationTrainer overrides, each with the signature it was written against (the
# comment beside the override says why no public hook does the job).
@pytest.mark.parametrize(
    "task, one_text", [("nsmc", True), ("kohate", True), ("ner", True), ("kornli", False), ("korquad", False)]
)
def test_transfer_texts_fit_single_text_tasks_only(task, one_text):
    assert get_task(task).single_text is one_text


def test_run_distillation_refuses_bad_options_before_loading_anything(tmp_path):
    with pytest.raises(ValueError, match="Unknown distillation option"):
        run_distillation(teacher="nowhere", corpus=["c.txt"], output_dir=str(tmp_path / "out"), weight_bogus=1.0)
    with pytest.raises(ValueError, match="--weight_minilm must be >= 0"):
        run_distillation(teacher="nowhere", corpus=["c.txt"], output_dir=str(tmp_path / "out"), weight_minilm=-1.0)
    with pytest.raises(ValueError, match="cache does not hold query/key/value states, which minilm reads"):
        DistillationConfig(weight_minilm=1.0, cache_teacher_outputs=True).validate()


@pytest.mark.slow
def test_run_distillation_is_the_command_without_argv(teacher_dir, fixtures_dir, tmp_path):
    output = run_distillation(
        teacher=str(teacher_dir), corpus=[str(fixtures_dir / "corpus.txt")], student_preset="tiny",
        student_shape="hidden_size=32,num_attention_heads=2", output_dir=str(tmp_path / "student"), max_steps=3,
        weight_minilm=1.0, max_seq_length=32, per_device_train_batch_size=4, logging_steps=1, report_to="none",
    )  # fmt: skip
    record = json.loads((output / "distillation.json").read_text())
    assert record["steps"] == 3 and record["loss_weights"]["minilm"] == 1.0
    assert "loss_minilm" in record["last_loss"]


def test_embedding_init_is_refused_where_there_is_no_random_student_to_start(tmp_path):
    with pytest.raises(ValueError, match="does not combine with --task nsmc"):
        run_distillation(teacher="nowhere", task="nsmc", embedding_init="ppmi-svd", output_dir=str(tmp_path / "a"))
    with pytest.raises(ValueError, match="does not combine with --student_init teacher-layers"):
        run_distillation(teacher="nowhere", corpus=["c.txt"], student_init="teacher-layers",
                         embedding_init="ppmi-svd", output_dir=str(tmp_path / "b"))  # fmt: skip


@pytest.mark.slow
def test_distill_embedding_init_starts_the_students_embeddings_from_the_corpus(teacher_dir, fixtures_dir, tmp_path):
    """Known answer: with a learning rate of 1e-12 the saved student's (low-rank) word embeddings are exactly the
    co-occurrence vectors of the corpus at its embedding rank (padding row zero); without the option they are not."""
    from safetensors.torch import load_file
    from transformers import AutoTokenizer

    from training.corpus import iter_corpus_lines
    from training.embedding_init import CooccurrenceSettings, ppmi_svd_embeddings

    corpus = str(fixtures_dir / "corpus.txt")
    common = dict(teacher=str(teacher_dir), corpus=[corpus], student_preset="tiny", max_steps=1, learning_rate=1e-12,
                  student_shape="hidden_size=32,num_attention_heads=2,embedding_rank=8", max_seq_length=32,
                  per_device_train_batch_size=4, report_to="none")  # fmt: skip
    started = run_distillation(**common, embedding_init="ppmi-svd", output_dir=str(tmp_path / "ppmi"))
    plain = run_distillation(**common, output_dir=str(tmp_path / "plain"))
    key = "electra.embeddings.word_embeddings.weight"
    tokenizer = AutoTokenizer.from_pretrained(teacher_dir)
    expected = ppmi_svd_embeddings(iter_corpus_lines([corpus], max_lines=500_000), tokenizer, 8, CooccurrenceSettings())
    expected[tokenizer.pad_token_id] = 0.0
    torch.testing.assert_close(load_file(str(started / "model.safetensors"))[key], expected)
    assert not torch.allclose(load_file(str(plain / "model.safetensors"))[key], expected, atol=1e-3)
    assert json.loads((started / "distillation.json").read_text())["embedding_init"] == "ppmi-svd"
