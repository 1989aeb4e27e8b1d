"""Teacher pre-training (ELECTRA) and distillation on the project's fixture corpus."""

from __future__ import annotations

import json
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
    KRElectraKDForPreTraining,
    KRElectraKDForSequenceClassification,
)
from training import distill, pretrain
from training.distiller import LOSS_PARTS, DistillationConfig, DistillationTrainer, uniform_layer_map

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
    assert len(rtd) == len(mlm) == 8  # each part logged separately
    assert rtd[-1] < rtd[0]


def test_generator_is_narrower_and_shares_the_embeddings(tokenizer_dir):
    config = KRElectraKDConfig.from_preset("tiny", vocab_size=100)
    generator = pretrain.KRElectraKDForMaskedLM(pretrain.generator_config(config))
    model = pretrain.ElectraPreTrainingModel(KRElectraKDForPreTraining(config), generator)
    assert generator.config.hidden_size == 16
    assert model.generator.electra.embeddings is model.discriminator.electra.embeddings
    assert model.generator.generator_lm_head.weight is model.discriminator.electra.embeddings.word_embeddings.weight


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


def test_task_agnostic_distillation_loss_falls_and_student_is_hub_ready(teacher_dir, fixtures_dir, tmp_path):
    output = tmp_path / "student"
    assert distill.main(_student_argv(teacher_dir, fixtures_dir, output)) == 0
    record = json.loads((output / "distillation.json").read_text())
    assert record["mode"] == "task-agnostic" and record["steps"] == 40
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
    fresh = trainer._teacher_outputs(first)
    again = collate([dataset[i] for i in (2, 1, 0, 3)])  # other order, other padding length
    trainer._teacher_outputs(collate([dataset[3]]))
    cached = trainer._teacher_outputs(again)
    for row, source in ((0, 2), (2, 0)):
        length = int(first["attention_mask"][source].sum())
        assert torch.allclose(cached["logits"][row], fresh["logits"][source], atol=1e-6)
        assert torch.allclose(
            cached["hidden_states"][2][row, :length], fresh["hidden_states"][2][source, :length], atol=1e-6
        )


def test_bad_distillation_settings_are_refused(teacher_dir, fixtures_dir, tmp_path, capsys, korean_texts):
    base = _student_argv(teacher_dir, fixtures_dir, tmp_path / "x")
    assert distill.main([*base, "--temperature", "0"]) == 2
    assert "temperature must be > 0" in capsys.readouterr().err
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


def test_two_processes_follow_the_one_process_loss_curve(tokenizer_dir, fixtures_dir, tmp_path):
    """DDP through torchrun (gloo on CPU): 2 processes x batch 4 vs 1 process x batch 8, same seed and steps. (That
    the processes split the streamed corpus is checked in test_corpus.py.)"""
    common = ["--corpus", str(fixtures_dir / "corpus.txt"), "--tokenizer", str(tokenizer_dir), "--preset", "tiny"]
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


def test_student_initialised_from_teacher_layers(teacher_dir, fixtures_dir, tmp_path):
    from transformers import AutoTokenizer

    teacher = KRElectraKDForPreTraining.from_pretrained(teacher_dir)
    args = distill.DistillArguments(
        teacher=str(teacher_dir), student_preset="tiny", student_shape="num_hidden_layers=1"
    )
    args.student_init = "teacher-layers"
    student, note = distill.build_student(
        args, teacher, AutoTokenizer.from_pretrained(teacher_dir), "pretraining", None
    )
    assert note == {"init": "teacher-layers"}
    # one student layer <- the teacher's last layer (uniform map), embeddings copied
    assert torch.equal(
        student.electra.encoder.layer[0].output.dense.weight, teacher.electra.encoder.layer[1].output.dense.weight
    )
    assert torch.equal(
        student.electra.embeddings.word_embeddings.weight, teacher.electra.embeddings.word_embeddings.weight
    )
    args.student_shape = "hidden_size=32"
    with pytest.raises(ValueError, match="as wide as the teacher"):
        distill.build_student(args, teacher, AutoTokenizer.from_pretrained(teacher_dir), "pretraining", None)
