"""The public-teacher path: a stock transformers ELECTRA discriminator with a BERT WordPiece tokenizer (as on the Hub)
skips pre-training; `distill` makes small-kd from it, then `--student_init` chains small-kd to a low-rank student."""

from __future__ import annotations

import json

import pytest
from transformers import BertTokenizerFast, ElectraConfig, ElectraForPreTraining

from modeling_kr_electra_kd import KRElectraKDForPreTraining
from training.commands import distill
from training.recipe import scaled_preset, shape_string

QUIET = ["--disable_tqdm", "true", "--report_to", "none", "--seed", "0", "--save_strategy", "no"]


@pytest.mark.slow
def test_stock_electra_teacher_then_small_kd_then_lf_student(tmp_path, tiny_tokenizer, fixtures_dir):
    teacher = tmp_path / "public-teacher"
    vocab = sorted(tiny_tokenizer.get_vocab().items(), key=lambda item: item[1])
    teacher.mkdir()
    (teacher / "vocab.txt").write_text("".join(f"{token}\n" for token, _ in vocab), encoding="utf-8")
    tokenizer = BertTokenizerFast(vocab_file=str(teacher / "vocab.txt"), do_lower_case=False)
    tokenizer.save_pretrained(teacher)
    # KR-ELECTRA's discriminator shape (BERT-base layout, embedding = hidden), shrunk
    config = ElectraConfig(
        vocab_size=len(tokenizer), embedding_size=64, hidden_size=64, num_hidden_layers=4, num_attention_heads=2,
        intermediate_size=256, max_position_embeddings=128,
    )  # fmt: skip
    ElectraForPreTraining(config).save_pretrained(teacher)

    corpus = ["--corpus", str(fixtures_dir / "corpus.txt"), "--max_seq_length", "64", "--max_steps", "4", *QUIET]
    dense, low_rank = tmp_path / "small-kd", tmp_path / "small-lf-v1"
    shape = shape_string(scaled_preset("small-kd", width=0.125, layers=2))
    argv = ["--teacher", str(teacher), "--student_preset", "small-kd", "--student_shape", shape]
    assert distill.main([*argv, "--output_dir", str(dense), *corpus]) == 0
    shape = shape_string(scaled_preset("small-lf-v1", width=0.125, layers=2))
    argv = ["--teacher", str(teacher), "--student_preset", "small-lf-v1", "--student_shape", shape]
    assert distill.main([*argv, "--student_init", str(dense), "--output_dir", str(low_rank), *corpus]) == 0

    record = json.loads((low_rank / "distillation.json").read_text())
    assert record["student_init"]["init"] == "../small-kd" and record["student_init"]["svd"]["ranks"] == {"ffn_rank": 7}
    student = KRElectraKDForPreTraining.from_pretrained(low_rank)
    assert student.config.ffn_rank == 7 and student.config.vocab_size == len(tokenizer)
    assert (low_rank / "tokenizer.json").is_file()
