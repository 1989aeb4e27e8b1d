"""Issue 37's levers, for a pre-training that pays off at small compute: a pre-LN teacher through `--shape
layer_norm_position=pre`, `pretrain-teacher --pretraining_dropout` and `--token_embedding_lr_scale`, and `finetune
--layerwise_lr_decay` and `--reinit_top_layers`. (The pre-LN model itself is tested in test_modeling.py and
test_transformers_common.py.)"""

from __future__ import annotations

import copy
import json

import pytest
import torch
from conftest import build_tiny_tokenizer
from safetensors.torch import load_file
from test_finetune import save_tiny_model
from test_tasks import fixture_texts
from torch import nn
from transformers import PreTrainedModel, TrainingArguments

from modeling_kr_electra_kd import KRElectraKDConfig, KRElectraKDForPreTraining, KRElectraKDForSequenceClassification
from training.commands import distill, finetune, pretrain_teacher
from training.distillation import build_student
from training.finetuning import FinetuneTrainer, reinit_top_layers
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


@pytest.mark.parametrize("scale", [0.5, 0.0])
def test_token_embedding_lr_scale_moves_the_token_embeddings_at_that_share_of_the_rate(
    scale, tmp_path, tiny_tokenizer, fixtures_dir
):
    """Known answer: AdamW's first step moves every parameter with a gradient by its group's rate (m / sqrt(v) is the
    gradient's sign), so with a constant schedule and no weight decay the token embeddings, shared by the generator
    and the discriminator and tied to the generator's output layer, move by exactly scale * lr and every other weight by
    lr. Scale 0 freezes them: no gradient, not in the optimizer, the starting vectors unchanged."""
    tiny_tokenizer.save_pretrained(tmp_path / "tokenizer")
    args = PretrainArguments(
        corpus=[str(fixtures_dir / "corpus.txt")],
        tokenizer=str(tmp_path / "tokenizer"),
        preset="tiny",
        token_embedding_lr_scale=scale,
    )
    lr = 1e-3
    options = {"lr_scheduler_type": "constant", "warmup_steps": 0, "weight_decay": 0.0, "learning_rate": lr}
    quiet = {"disable_tqdm": True, "logging_steps": 100, "seed": 0, "max_steps": 1}
    training_args = TrainingArguments(**{**PRETRAINING_DEFAULTS, **options, **quiet, "output_dir": str(tmp_path / "t")})
    run = prepare_pretraining(args, training_args)
    embeddings = run.model.discriminator.electra.embeddings.word_embeddings.weight
    assert embeddings is run.model.generator.generator_lm_head.weight  # tied: one tensor
    others = {
        "discriminator": run.model.discriminator.electra.encoder.layer[0].intermediate.dense.weight,
        "generator": run.model.generator.electra.encoder.layer[0].intermediate.dense.weight,
        "position embeddings": run.model.discriminator.electra.embeddings.position_embeddings.weight,
    }
    before = embeddings.detach().clone(), {name: p.detach().clone() for name, p in others.items()}
    assert embeddings.requires_grad == (scale > 0)
    assert run.train() is None
    moved = (embeddings.detach() - before[0]).abs()
    if scale == 0:
        assert torch.equal(embeddings.detach(), before[0])
        assert all(embeddings is not p for group in run.trainer.optimizer.param_groups for p in group["params"])
    else:
        assert moved.max().item() == pytest.approx(scale * lr, rel=1e-3)
        assert (moved > 0).any(dim=1).sum() > 10  # many rows: the tied output layer reaches every token
    for name, parameter in others.items():
        step = (parameter.detach() - before[1][name]).abs().max().item()
        assert step == pytest.approx(lr, rel=1e-3), name


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


@pytest.mark.slow
def test_a_pre_ln_teacher_pretrains_distils_and_finetunes_with_every_lever(tmp_path, fixtures_dir, korean_texts):
    """End to end: `pretrain-teacher --shape layer_norm_position=pre --pretraining_dropout 0`; `distill` of that
    teacher (hidden-state and attention losses: a pre-LN student); `finetune --layerwise_lr_decay 0.8
    --reinit_top_layers 1` of the teacher and of the low-rank student."""
    tokenizer = build_tiny_tokenizer(fixture_texts(fixtures_dir, korean_texts), 4000)
    tokenizer.save_pretrained(tmp_path / "tokenizer")
    teacher = tmp_path / "teacher"
    pretrain = ["--corpus", str(fixtures_dir / "corpus.txt"), "--tokenizer", str(tmp_path / "tokenizer")]
    pretrain += ["--preset", "tiny", "--shape", "layer_norm_position=pre", "--pretraining_dropout", "0"]
    pretrain += ["--output_dir", str(teacher), "--max_steps", "2", "--per_device_train_batch_size", "4"]
    assert pretrain_teacher.main([*pretrain, *QUIET]) == 0
    student = tmp_path / "student"
    distil = ["--teacher", str(teacher), "--corpus", str(fixtures_dir / "corpus.txt"), "--student_preset", "tiny"]
    distil += ["--student_shape", "ffn_rank=16", "--output_dir", str(student), "--max_steps", "2"]
    assert distill.main([*distil, "--per_device_train_batch_size", "4", *QUIET]) == 0
    assert json.loads((student / "config.json").read_text())["layer_norm_position"] == "pre"
    for model in (teacher, student):
        tuned = tmp_path / f"{model.name}-tuned"
        tune = ["--model", str(model), "--task", "paws", "--data_dir", str(fixtures_dir / "tasks/paws")]
        tune += ["--layerwise_lr_decay", "0.8", "--reinit_top_layers", "1", "--max_steps", "2"]
        assert finetune.main([*tune, "--output_dir", str(tuned), "--per_device_train_batch_size", "2", *QUIET]) == 0
        config = json.loads((tuned / "config.json").read_text())
        assert config["layer_norm_position"] == "pre" and config["hidden_dropout_prob"] == 0.1
        assert (tuned / "results.json").is_file()


# --------------------------------------------------------------------------------------------------------------------
# Fine-tuning: layer-wise learning-rate decay
# --------------------------------------------------------------------------------------------------------------------

# Tiny with 3 layers, learning rate 1e-3, decay 0.5: head 1e-3, layer i 1e-3 * 0.5**(3 - i), embeddings 1e-3 * 0.5**4.
EXPECTED_RATES = {
    "dense": {
        "electra.embeddings.word_embeddings.weight": 6.25e-5,
        "electra.embeddings.LayerNorm.bias": 6.25e-5,
        "electra.embeddings_project.weight": 6.25e-5,
        "electra.encoder.layer.0.attention.self.query.weight": 1.25e-4,
        "electra.encoder.layer.1.output.LayerNorm.weight": 2.5e-4,
        "electra.encoder.layer.2.intermediate.dense.bias": 5e-4,
        "classifier.dense.weight": 1e-3,
        "classifier.out_proj.bias": 1e-3,
    },
    "low-rank pre-ln": {
        "electra.embeddings.word_embeddings.weight": 6.25e-5,
        "electra.embeddings.word_embeddings_up.weight": 6.25e-5,
        "electra.encoder.layer.0.attention.self.query.down.weight": 1.25e-4,
        "electra.encoder.layer.1.intermediate.LayerNorm.weight": 2.5e-4,
        "electra.encoder.layer.2.output.dense.up.bias": 5e-4,
        "electra.encoder.LayerNorm.weight": 1e-3,  # the final layer norm feeds the head
        "classifier.out_proj.weight": 1e-3,
    },
}
CASES = {
    "dense": {},
    "low-rank pre-ln": {"layer_norm_position": "pre", "embedding_rank": 8, "attention_rank": 8, "ffn_rank": 8},
}


def _trainer(tmp_path, fields: dict, decay: float) -> FinetuneTrainer:
    torch.manual_seed(0)
    config = KRElectraKDConfig.from_preset("tiny", vocab_size=100, num_hidden_layers=3, num_labels=2, **fields)
    args = TrainingArguments(
        output_dir=str(tmp_path),
        learning_rate=1e-3,
        weight_decay=0.01,
        warmup_steps=0,
        lr_scheduler_type="linear",
        report_to="none",
        use_cpu=True,
    )
    trainer = FinetuneTrainer(model=KRElectraKDForSequenceClassification(config), args=args, layerwise_lr_decay=decay)
    trainer.create_optimizer_and_scheduler(num_training_steps=10)
    return trainer


@pytest.mark.parametrize("case", CASES)
def test_layerwise_lr_decay_gives_each_layer_its_rate_and_the_scheduler_scales_them(case, tmp_path):
    trainer = _trainer(tmp_path, CASES[case], decay=0.5)
    groups = trainer.optimizer.param_groups
    rate = {id(p): group["lr"] for group in groups for p in group["params"]}
    weight_decay = {id(p): group["weight_decay"] for group in groups for p in group["params"]}
    parameters = dict(trainer.model.named_parameters())
    assert sorted(rate) == sorted(id(p) for p in parameters.values())  # every parameter, once
    for name, expected in EXPECTED_RATES[case].items():
        assert rate[id(parameters[name])] == pytest.approx(expected, rel=1e-12), name
        # Trainer's weight-decay rule: not on biases and layer norms
        assert weight_decay[id(parameters[name])] == (0.0 if "bias" in name or "LayerNorm" in name else 0.01), name
    assert isinstance(trainer.optimizer, torch.optim.AdamW)  # Trainer's optimizer, from TrainingArguments
    for _ in range(3):  # linear schedule without warm-up over 10 steps: 70% of each group's rate after 3
        trainer.optimizer.step()
        trainer.lr_scheduler.step()
    for name, expected in EXPECTED_RATES[case].items():
        group = next(g for g in groups if any(p is parameters[name] for p in g["params"]))
        assert group["lr"] == pytest.approx(0.7 * expected, rel=1e-9), name


def test_layerwise_lr_decay_of_one_is_trainers_own_optimizer(tmp_path):
    groups = _trainer(tmp_path, {}, decay=1.0).optimizer.param_groups
    assert [group["weight_decay"] for group in groups] == [0.01, 0.0]
    assert {group["lr"] for group in groups} == {1e-3}


# --------------------------------------------------------------------------------------------------------------------
# Fine-tuning: re-initialised top layers
# --------------------------------------------------------------------------------------------------------------------


def test_reinit_top_layers_reinitialises_those_layers_and_nothing_else():
    torch.manual_seed(0)
    model = KRElectraKDForSequenceClassification(KRElectraKDConfig.from_preset("tiny", num_hidden_layers=3))
    with torch.no_grad():  # as after training: no weight at its initial value
        for parameter in model.parameters():
            parameter.add_(torch.rand_like(parameter))
    before = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    by_hand = copy.deepcopy(model)
    rng = torch.get_rng_state()
    reinit_top_layers(model, 2, seed=7)
    assert torch.equal(torch.get_rng_state(), rng)  # the global generator is left as it was
    torch.manual_seed(7)
    for layer in by_hand.electra.encoder.layer[1:]:
        layer.apply(by_hand._init_weights)
    after = model.state_dict()
    for name, tensor in after.items():
        assert torch.equal(tensor, by_hand.state_dict()[name]), name
        reinitialised = name.startswith(("electra.encoder.layer.1.", "electra.encoder.layer.2."))
        assert torch.equal(tensor, before[name]) != reinitialised, name
    fresh = after["electra.encoder.layer.2.intermediate.dense.weight"]
    assert 0.015 < fresh.std() < 0.025  # initializer_range 0.02
    assert torch.equal(after["electra.encoder.layer.2.output.LayerNorm.weight"], torch.ones(64))


def test_reinit_top_layers_beyond_the_model_is_one_line_before_loading(tmp_path, tiny_tokenizer, capsys, monkeypatch):
    model = save_tiny_model(tmp_path / "model", tiny_tokenizer)  # 2 layers
    monkeypatch.setattr(PreTrainedModel, "from_pretrained", classmethod(lambda *a, **k: pytest.fail("loaded")))
    capsys.readouterr()  # what saving printed
    argv = ["--model", str(model), "--task", "nsmc", "--data_dir", str(tmp_path / "no-data")]
    assert finetune.main([*argv, "--output_dir", str(tmp_path / "out"), "--reinit_top_layers", "3"]) == 2
    error = capsys.readouterr().err.strip()
    assert error == "error: --reinit_top_layers 3: the model has 2 encoder layers; choose 0 to 2."
    with pytest.raises(ValueError, match="--reinit_top_layers 3: the model has 2 encoder layers"):
        reinit_top_layers(KRElectraKDForSequenceClassification(KRElectraKDConfig.from_preset("tiny")), 3, seed=0)


# --------------------------------------------------------------------------------------------------------------------
# Fine-tuning: the sentence head's pooling
# --------------------------------------------------------------------------------------------------------------------


def test_classifier_pooling_reaches_the_fine_tuned_model_of_this_family_and_a_stock_electra(
    tmp_path, tiny_tokenizer, fixtures_dir
):
    """`finetune --classifier_pooling mean` on a pre-trained encoder: the saved model's config says mean and its
    logits are the mean-pooled ones; the same option converts a stock ELECTRA checkpoint into a mean-pooling model.
    Without the option the model keeps its own pooling (cls)."""
    from transformers import ElectraConfig, ElectraForPreTraining

    from training.evaluation import load_task_model
    from training.loading import load_config
    from training.tasks import get_task

    model = save_tiny_model(tmp_path / "model", tiny_tokenizer)
    argv = ["--model", str(model), "--task", "nsmc", "--data_dir", str(fixtures_dir / "tasks/nsmc"), "--max_steps", "2"]
    argv += ["--per_device_train_batch_size", "4", *QUIET]
    assert finetune.main([*argv, "--output_dir", str(tmp_path / "mean"), "--classifier_pooling", "mean"]) == 0
    assert finetune.main([*argv, "--output_dir", str(tmp_path / "cls")]) == 0
    assert json.loads((tmp_path / "mean/config.json").read_text())["classifier_pooling"] == "mean"
    assert json.loads((tmp_path / "cls/config.json").read_text())["classifier_pooling"] == "cls"
    tuned = KRElectraKDForSequenceClassification.from_pretrained(tmp_path / "mean").eval()
    assert tuned.classifier.pooling == "mean"

    stock = tmp_path / "stock"
    config = ElectraConfig(vocab_size=len(tiny_tokenizer), embedding_size=32, hidden_size=32, num_hidden_layers=1,
                           num_attention_heads=2, intermediate_size=64, max_position_embeddings=64)  # fmt: skip
    ElectraForPreTraining(config).save_pretrained(stock)
    task = get_task("nsmc")
    converted = load_task_model(str(stock), task, load_config(str(stock)), classifier_pooling="mean")
    assert converted.config.classifier_pooling == "mean" and converted.classifier.pooling == "mean"
    assert load_task_model(str(stock), task, load_config(str(stock))).classifier.pooling == "cls"


def test_classifier_pooling_for_a_token_level_task_is_one_line_before_loading(
    tmp_path, tiny_tokenizer, capsys, monkeypatch
):
    model = save_tiny_model(tmp_path / "model", tiny_tokenizer)
    monkeypatch.setattr(PreTrainedModel, "from_pretrained", classmethod(lambda *a, **k: pytest.fail("loaded")))
    capsys.readouterr()  # what saving printed
    argv = ["--model", str(model), "--task", "ner", "--data_dir", str(tmp_path / "no-data")]
    assert finetune.main([*argv, "--output_dir", str(tmp_path / "out"), "--classifier_pooling", "mean"]) == 2
    error = capsys.readouterr().err.strip()
    assert "\n" not in error
    assert error.startswith("error: --classifier_pooling mean: task ner is token-classification")
    with pytest.raises(SystemExit):  # a value outside the choices is the parser's error
        finetune.main([*argv, "--output_dir", str(tmp_path / "out"), "--classifier_pooling", "max"])
    assert "invalid choice: 'max'" in capsys.readouterr().err


def test_untie_generator_output_trains_the_generators_own_output_layer_beside_frozen_embeddings(
    tmp_path, tiny_tokenizer, fixtures_dir
):
    """`--untie_generator_output` with `--token_embedding_lr_scale 0`: the generator's output layer is a tensor of its
    own that starts as the token embeddings, and AdamW's first step (constant schedule, no weight decay) moves it by lr
    while the embeddings stay unchanged. The checkpoint's teacher folder keeps that layer (what `distill
    --corrupt_inputs` samples from); resuming with the other setting is refused in one line."""
    from transformers import AutoConfig

    from modeling_kr_electra_kd import KRElectraKDForMaskedLM
    from training.pretraining import teacher_from_checkpoint

    tiny_tokenizer.save_pretrained(tmp_path / "tokenizer")
    lr = 1e-3
    options = {"lr_scheduler_type": "constant", "warmup_steps": 0, "weight_decay": 0.0, "learning_rate": lr}
    quiet = {"disable_tqdm": True, "logging_steps": 100, "seed": 0, "max_steps": 1, "save_steps": 1}

    def prepared(untie: bool, output: str):
        args = PretrainArguments(
            corpus=[str(fixtures_dir / "corpus.txt")],
            tokenizer=str(tmp_path / "tokenizer"),
            preset="tiny",
            token_embedding_lr_scale=0,
            untie_generator_output=untie,
        )
        training_args = TrainingArguments(**{**PRETRAINING_DEFAULTS, **options, **quiet, "output_dir": str(output)})
        return prepare_pretraining(args, training_args)

    run = prepared(True, tmp_path / "untied")
    embeddings = run.model.discriminator.electra.embeddings.word_embeddings.weight
    output = run.model.generator.generator_lm_head.weight
    assert output is not embeddings and torch.equal(output, embeddings) and output.requires_grad
    before = embeddings.detach().clone()
    assert run.train() is None
    assert torch.equal(embeddings.detach(), before)
    assert (output.detach() - before).abs().max().item() == pytest.approx(lr, rel=1e-3)

    checkpoint = tmp_path / "untied" / "checkpoints" / "checkpoint-1"
    teacher = teacher_from_checkpoint(checkpoint, tmp_path / "teacher", tmp_path / "tokenizer")
    assert AutoConfig.from_pretrained(teacher / "generator").tie_word_embeddings is False
    generator = KRElectraKDForMaskedLM.from_pretrained(teacher / "generator")
    assert torch.equal(generator.generator_lm_head.weight, output.detach())
    assert torch.equal(generator.electra.embeddings.word_embeddings.weight, before)

    with pytest.raises(ValueError, match="started with --untie_generator_output and is resumed without it"):
        prepared(False, tmp_path / "untied")
    tied = prepared(False, tmp_path / "tied")
    assert (
        tied.model.generator.generator_lm_head.weight
        is tied.model.discriminator.electra.embeddings.word_embeddings.weight
    )
    assert tied.train() is None
    with pytest.raises(ValueError, match="started without --untie_generator_output and is resumed with it"):
        prepared(True, tmp_path / "tied")


def test_an_untied_checkpoint_saved_before_its_first_update_resumes_untied(tmp_path, tiny_tokenizer, fixtures_dir):
    """Warm-up gives the first step learning rate 0, so a checkpoint saved there holds an untied output layer still
    equal to the token embeddings: the checkpoint's tensor names, not their values, say it is untied, so resuming
    with --untie_generator_output goes on, resuming without it is refused, and its teacher folder's generator is
    untied."""
    from transformers import AutoConfig

    from training.pretraining import teacher_from_checkpoint

    tiny_tokenizer.save_pretrained(tmp_path / "tokenizer")
    options = {"lr_scheduler_type": "linear", "warmup_steps": 2, "learning_rate": 1e-3, "weight_decay": 0.01}
    quiet = {"disable_tqdm": True, "logging_steps": 100, "seed": 0, "save_steps": 1}

    def prepared(untie: bool, max_steps: int):
        args = PretrainArguments(
            corpus=[str(fixtures_dir / "corpus.txt")],
            tokenizer=str(tmp_path / "tokenizer"),
            preset="tiny",
            untie_generator_output=untie,
        )
        output = {"output_dir": str(tmp_path / "run"), "max_steps": max_steps}
        return prepare_pretraining(args, TrainingArguments(**{**PRETRAINING_DEFAULTS, **options, **quiet, **output}))

    assert prepared(True, 1).train() is None
    checkpoint = tmp_path / "run" / "checkpoints" / "checkpoint-1"
    saved = load_file(checkpoint / "model.safetensors")
    assert torch.equal(
        saved["generator.generator_lm_head.weight"], saved["discriminator.electra.embeddings.word_embeddings.weight"]
    )
    teacher = teacher_from_checkpoint(checkpoint, tmp_path / "teacher", tmp_path / "tokenizer")
    assert AutoConfig.from_pretrained(teacher / "generator").tie_word_embeddings is False
    with pytest.raises(ValueError, match="started with --untie_generator_output and is resumed without it"):
        prepared(False, 2)
    resumed = prepared(True, 2)
    assert resumed.train() is None
    saved = load_file(tmp_path / "run" / "checkpoints" / "checkpoint-2" / "model.safetensors")
    assert not torch.equal(
        saved["generator.generator_lm_head.weight"], saved["discriminator.electra.embeddings.word_embeddings.weight"]
    )
