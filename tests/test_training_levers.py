"""Issue 37's levers, for a pre-training that pays off at small compute: a pre-LN teacher through `--shape
layer_norm_position=pre`, `pretrain-teacher --pretraining_dropout`, and `finetune --layerwise_lr_decay` and
`--reinit_top_layers`. (The pre-LN model itself is tested in test_modeling.py and test_transformers_common.py.)"""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn
from transformers import TrainingArguments

from modeling_kr_electra_kd import KRElectraKDConfig, KRElectraKDForPreTraining
from training.distillation import build_student
from training.pretraining import PretrainArguments, prepare_pretraining
from training.trainer_common import PRETRAINING_DEFAULTS, parse_shape

QUIET = ["--disable_tqdm", "true", "--report_to", "none", "--logging_steps", "100", "--seed", "0"]


def test_shape_overrides_take_numbers_none_and_words():
    shape = "hidden_size=128, layer_norm_position=pre,ffn_rank=None,initializer_range=0.01"
    assert parse_shape(shape) == {
        "hidden_size": 128,
        "layer_norm_position": "pre",
        "ffn_rank": None,
        "initializer_range": 0.01,
    }
    with pytest.raises(ValueError, match="layer_norm_position must be one of 'post', 'pre', got 'mid'"):
        KRElectraKDConfig.from_preset("tiny", **parse_shape("layer_norm_position=mid"))


# --------------------------------------------------------------------------------------------------------------------
# Pre-training
# --------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("pretraining_dropout", "expected"), [(None, 0.1), (0.3, 0.3), (0.0, 0.0)])
def test_pretraining_dropout_is_the_pretraining_models_and_not_the_saved_teachers(
    pretraining_dropout, expected, tmp_path, tiny_tokenizer, fixtures_dir
):
    """The pair trains with dropout P in every dropout module (hidden and attention: the attention kernels read the
    module's p); the teacher folder's configs keep the preset's 0.1, what fine-tuning uses. `--shape
    layer_norm_position=pre` reaches the discriminator and the generator."""
    tiny_tokenizer.save_pretrained(tmp_path / "tokenizer")
    args = PretrainArguments(
        corpus=[str(fixtures_dir / "corpus.txt")],
        tokenizer=str(tmp_path / "tokenizer"),
        preset="tiny",
        shape="layer_norm_position=pre",
        pretraining_dropout=pretraining_dropout,
    )
    output = tmp_path / "teacher"
    run = prepare_pretraining(
        args, TrainingArguments(**{**PRETRAINING_DEFAULTS, "output_dir": str(output), "max_steps": 1})
    )
    dropouts = [module.p for module in run.trainer.model.modules() if isinstance(module, nn.Dropout)]
    assert len(dropouts) > 4 and set(dropouts) == {expected}
    assert run.model.discriminator.electra.encoder.layer[0].attention.self.dropout.p == expected
    assert run.model.generator.electra.encoder.layer[0].attention.self.dropout.p == expected
    run.save()
    for folder in (output, output / "generator"):
        saved = json.loads((folder / "config.json").read_text())
        assert saved["hidden_dropout_prob"] == saved["attention_probs_dropout_prob"] == 0.1, folder
        assert saved["layer_norm_position"] == "pre", folder


def test_a_pre_ln_teachers_student_is_pre_ln_and_takes_its_layers(tiny_tokenizer):
    torch.manual_seed(0)
    config = KRElectraKDConfig.from_preset("tiny", vocab_size=len(tiny_tokenizer), layer_norm_position="pre")
    teacher = KRElectraKDForPreTraining(config)
    with torch.no_grad():  # away from the initial ones, so a norm not copied shows
        for name, parameter in teacher.named_parameters():
            if "LayerNorm" in name:
                parameter.add_(torch.rand_like(parameter))
    student, _ = build_student(
        teacher, tiny_tokenizer, "pretraining", None, "tiny", shape="num_hidden_layers=1", init="teacher-layers"
    )
    assert student.config.layer_norm_position == "pre"
    copied = {
        "encoder.layer.0.attention.LayerNorm.weight": "encoder.layer.1.attention.LayerNorm.weight",
        "encoder.layer.0.intermediate.LayerNorm.bias": "encoder.layer.1.intermediate.LayerNorm.bias",
        "encoder.LayerNorm.weight": "encoder.LayerNorm.weight",
    }
    for ours, theirs in copied.items():
        assert torch.equal(student.electra.state_dict()[ours], teacher.electra.state_dict()[theirs]), ours
    post, _ = build_student(teacher, tiny_tokenizer, "pretraining", None, "tiny", shape="layer_norm_position=post")
    assert post.config.layer_norm_position == "post"
    with pytest.raises(
        ValueError, match="needs the teacher's layer_norm_position \\('pre'\\); this student has 'post'"
    ):
        build_student(
            teacher,
            tiny_tokenizer,
            "pretraining",
            None,
            "tiny",
            shape="layer_norm_position=post",
            init="teacher-layers",
        )
