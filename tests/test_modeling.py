"""The model family: presets and sizes, bad configs, both attention paths, heads, Trainer, LoRA, checkpointing."""

from __future__ import annotations

import inspect
import os
import re
import warnings
from pathlib import Path

import pytest
import torch
from torch import nn
from transformers.modeling_layers import GradientCheckpointingLayer

from modeling_kr_electra_kd import (
    PRESETS,
    KRElectraKDConfig,
    KRElectraKDForMaskedLM,
    KRElectraKDForPreTraining,
    KRElectraKDForQuestionAnswering,
    KRElectraKDForSequenceClassification,
    KRElectraKDForTokenClassification,
    KRElectraKDLowRankLinear,
    KRElectraKDModel,
)
from modeling_kr_electra_kd import modeling_kr_electra_kd as modeling

ALL_HEADS = [
    KRElectraKDModel,
    KRElectraKDForPreTraining,
    KRElectraKDForMaskedLM,
    KRElectraKDForSequenceClassification,
    KRElectraKDForTokenClassification,
    KRElectraKDForQuestionAnswering,
]
# Sizes reported in Kim & Choi (Entropy 2025), in MB.
PAPER_SIZES_MB = {"teacher-base": 432, "small-kd": 53, "small-lf-v1": 35, "small-lf-v2": 30, "small-lf-v3": 18}
LOW_RANK = {"embedding_rank": 8, "attention_rank": 16, "ffn_rank": 16}
PRE_LN = {"layer_norm_position": "pre"}


def _inputs(vocab_size: int = 100, batch: int = 2, length: int = 12):
    generator = torch.Generator().manual_seed(0)
    input_ids = torch.randint(5, vocab_size, (batch, length), generator=generator)
    attention_mask = torch.ones_like(input_ids)
    attention_mask[0, length - 4 :] = 0  # padding in one row exercises the mask on both attention paths
    return input_ids, attention_mask


@pytest.mark.parametrize("preset", sorted(PAPER_SIZES_MB))
def test_preset_size_on_disk_within_ten_percent_of_paper(preset, tmp_path):
    model = KRElectraKDModel(KRElectraKDConfig.from_preset(preset, vocab_size=30000))
    model.save_pretrained(tmp_path)
    size_mb = (tmp_path / "model.safetensors").stat().st_size / 1e6
    assert abs(size_mb - PAPER_SIZES_MB[preset]) / PAPER_SIZES_MB[preset] < 0.10, size_mb


def test_presets_shrink_in_order():
    sizes = [
        sum(p.numel() for p in KRElectraKDModel(KRElectraKDConfig.from_preset(name)).parameters())
        for name in ("small-kd", "small-lf-v1", "small-lf-v2", "small-lf-v3")
    ]
    assert sizes == sorted(sizes, reverse=True)


def test_preset_overrides_and_unknown_preset():
    config = KRElectraKDConfig.from_preset("small-lf-v2", vocab_size=1234, num_labels=5)
    assert (config.vocab_size, config.num_labels, config.attention_rank) == (
        1234,
        5,
        PRESETS["small-lf-v2"]["attention_rank"],
    )
    with pytest.raises(ValueError, match="Unknown preset 'small-lf-v9'.*small-lf-v3"):
        KRElectraKDConfig.from_preset("small-lf-v9")


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"ffn_rank": 0}, "ffn_rank"),
        ({"ffn_rank": -3}, "ffn_rank"),
        ({"ffn_rank": 65}, "ffn_rank"),  # tiny: hidden 64 x intermediate 128 has rank <= 64
        ({"attention_rank": 65}, "attention_rank"),
        ({"embedding_rank": 33}, "embedding_rank"),  # tiny: embedding_size 32
        ({"attention_rank": 2.5}, "attention_rank"),
        ({"num_attention_heads": 3}, "hidden_size"),
        ({"hidden_size": 0}, "hidden_size"),
        ({"layer_norm_position": "middle"}, "layer_norm_position"),
        ({"classifier_pooling": "max"}, "classifier_pooling"),
    ],
)
def test_bad_config_values_raise_at_config_time(overrides, field):
    with pytest.raises(ValueError, match=field):
        KRElectraKDConfig.from_preset("tiny", **overrides)


def test_mean_pooling_head_reads_the_mean_of_the_unpadded_states():
    """`classifier_pooling="mean"`: the head's logits are its dense layers applied to the mean of the last hidden
    states over the tokens the mask keeps (computed here by hand), so padding a sentence further changes nothing;
    `"cls"` reads the first token's state; a config saved without the field loads as `"cls"`."""
    torch.manual_seed(0)
    config = KRElectraKDConfig.from_preset("tiny", vocab_size=100, num_labels=3, classifier_pooling="mean")
    model = KRElectraKDForSequenceClassification(config).eval()
    input_ids, attention_mask = _inputs()
    with torch.no_grad():
        logits = model(input_ids=input_ids, attention_mask=attention_mask).logits
        states = model.electra(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        head = model.classifier
        kept = [states[row, attention_mask[row].bool()].mean(dim=0) for row in range(len(states))]
        expected = head.out_proj(head.activation(head.dense(torch.stack(kept))))
        assert torch.allclose(logits, expected, atol=1e-6)
        # the first row has 8 real tokens: scored alone, unpadded, it gives the same logits
        alone = model(input_ids=input_ids[:1, :8], attention_mask=attention_mask[:1, :8]).logits
        assert torch.allclose(alone, logits[:1], atol=1e-5)
        model.classifier.pooling = "cls"
        first = head.out_proj(head.activation(head.dense(states[:, 0])))
        assert torch.allclose(model(input_ids=input_ids, attention_mask=attention_mask).logits, first, atol=1e-6)
    saved = config.to_dict()
    del saved["classifier_pooling"]
    assert KRElectraKDConfig.from_dict(saved).classifier_pooling == "cls"


def test_low_rank_layers_replace_dense_ones():
    dense = KRElectraKDModel(KRElectraKDConfig.from_preset("tiny", vocab_size=100))
    low = KRElectraKDModel(KRElectraKDConfig.from_preset("tiny", vocab_size=100, **LOW_RANK))
    layer = low.encoder.layer[0]
    for module in (
        layer.attention.self.query,
        layer.attention.output.dense,
        layer.intermediate.dense,
        layer.output.dense,
    ):
        assert isinstance(module, KRElectraKDLowRankLinear)
    assert low.embeddings.word_embeddings.weight.shape == (100, 8)
    assert sum(p.numel() for p in low.parameters()) < sum(p.numel() for p in dense.parameters())


@pytest.mark.parametrize("head", ALL_HEADS, ids=lambda cls: cls.__name__)
@pytest.mark.parametrize("fields", [{}, LOW_RANK, PRE_LN], ids=["dense", "low-rank", "pre-ln"])
def test_sdpa_and_eager_attention_agree(head, fields):
    """`attn_implementation="sdpa"` (the default) and `"eager"` give the same outputs with a padding mask; the maps,
    when asked for, come under the default too."""
    torch.manual_seed(0)
    config = KRElectraKDConfig.from_preset("tiny", vocab_size=100, num_labels=3, **fields)
    model = head(config).eval()
    assert model.config._attn_implementation == "sdpa"
    eager = head(KRElectraKDConfig(**config.to_dict(), attn_implementation="eager")).eval()
    eager.load_state_dict(model.state_dict())
    assert eager.config._attn_implementation == "eager"
    input_ids, attention_mask = _inputs()
    with torch.no_grad():
        fused = model(input_ids, attention_mask=attention_mask)
        step_by_step = eager(input_ids, attention_mask=attention_mask)
        explicit = model(input_ids, attention_mask=attention_mask, output_attentions=True, output_hidden_states=True)
    key = next(iter(fused.keys()))
    assert torch.allclose(fused[key], step_by_step[key], atol=1e-5)
    assert torch.allclose(fused[key], explicit[key], atol=1e-5)
    assert len(explicit.hidden_states) == config.num_hidden_layers + 1
    assert explicit.hidden_states[0].shape == (2, 12, config.hidden_size)
    assert len(explicit.attentions) == config.num_hidden_layers
    probabilities = explicit.attentions[0]
    assert probabilities.shape == (2, config.num_attention_heads, 12, 12)
    assert torch.allclose(probabilities.sum(-1), torch.ones(()), atol=1e-5)
    assert probabilities[0, :, :, -4:].abs().max() < 1e-6  # padded keys get no attention


def _saved_tensor_names(folder) -> set[str]:
    from safetensors import safe_open

    with safe_open(str(folder / "model.safetensors"), framework="pt") as weights:
        return set(weights.keys())


def _expected_tensor_names(num_layers: int, low_rank: bool) -> set[str]:
    """The weight names of a saved KRElectraKDModel, written out (with LOW_RANK: every matrix factored)."""
    linear = ("down.weight", "up.weight", "up.bias") if low_rank else ("weight", "bias")
    layer = [f"attention.self.{projection}.{w}" for projection in ("query", "key", "value") for w in linear]
    layer += [
        f"{dense}.{w}" for dense in ("attention.output.dense", "intermediate.dense", "output.dense") for w in linear
    ]
    layer += [f"{norm}.LayerNorm.{w}" for norm in ("attention.output", "output") for w in ("weight", "bias")]
    names = {f"encoder.layer.{index}.{name}" for index in range(num_layers) for name in layer}
    names |= {"embeddings.word_embeddings.weight", "embeddings.position_embeddings.weight"}
    names |= {"embeddings.token_type_embeddings.weight", "embeddings.LayerNorm.weight", "embeddings.LayerNorm.bias"}
    names |= {"embeddings_project.weight", "embeddings_project.bias"}
    return names | ({"embeddings.word_embeddings_up.weight"} if low_rank else set())


@pytest.mark.parametrize("low_rank", [False, True], ids=["dense", "low-rank"])
def test_inference_fast_paths_compute_what_the_layers_compute(low_rank, monkeypatch, tmp_path):
    """Stacked low-rank Q/K/V and the token-chunked feed-forward give the outputs of the module-by-module path."""
    torch.manual_seed(0)
    config = KRElectraKDConfig.from_preset("tiny", vocab_size=100, **(LOW_RANK if low_rank else {}))
    model = KRElectraKDModel(config).eval()
    input_ids, attention_mask = _inputs(batch=3)
    monkeypatch.setattr(modeling, "FEED_FORWARD_CHUNK_TOKENS", 5)  # 36 tokens: 8 chunks, the last one short
    with torch.no_grad():
        fast = model(input_ids, attention_mask=attention_mask).last_hidden_state
    monkeypatch.setattr(modeling, "FEED_FORWARD_CHUNK_TOKENS", 10**9)
    monkeypatch.setattr(
        modeling.KRElectraKDSelfAttention, "project_qkv", lambda self, h: (self.query(h), self.key(h), self.value(h))
    )
    with torch.no_grad():
        one_by_one = model(input_ids, attention_mask=attention_mask).last_hidden_state
    assert torch.allclose(fast, one_by_one, atol=1e-5)
    model.save_pretrained(tmp_path)  # nothing stacked is saved: the file holds the module-by-module weights only
    assert _saved_tensor_names(tmp_path) == _expected_tensor_names(config.num_hidden_layers, low_rank)


def _layer_norm(module: nn.LayerNorm, hidden: torch.Tensor) -> torch.Tensor:
    return nn.functional.layer_norm(hidden, module.normalized_shape, module.weight, module.bias, module.eps)


def _pre_ln_layer_by_hand(layer: nn.Module, hidden: torch.Tensor, heads: int) -> torch.Tensor:
    """One pre-LN layer written out: x + attention(LN(x)), then x + FFN(LN(x)) (no mask, no dropout)."""
    batch, length, width = hidden.shape
    attention = layer.attention

    def split(states):
        return states.view(batch, length, heads, width // heads).transpose(1, 2)

    normed = _layer_norm(attention.LayerNorm, hidden)
    query, key, value = (
        split(projection(normed)) for projection in (attention.self.query, attention.self.key, attention.self.value)
    )
    probabilities = torch.softmax(query @ key.transpose(-1, -2) / (width // heads) ** 0.5, dim=-1)
    context = (probabilities @ value).transpose(1, 2).reshape(batch, length, width)
    hidden = hidden + attention.output.dense(context)
    inner = nn.functional.gelu(layer.intermediate.dense(_layer_norm(layer.intermediate.LayerNorm, hidden)))
    return hidden + layer.output.dense(inner)


@pytest.mark.parametrize("fields", [{}, LOW_RANK], ids=["dense", "low-rank"])
def test_pre_layer_norm_computes_pre_ln(fields):
    """`layer_norm_position="pre"`: a layer norm at the start of each residual branch, none after the sums, one after
    the last layer (the last of `hidden_states` is that normalised output); written out by hand here."""
    torch.manual_seed(0)
    config = KRElectraKDConfig.from_preset("tiny", vocab_size=100, attn_implementation="eager", **PRE_LN, **fields)
    model = KRElectraKDModel(config).eval()
    with torch.no_grad():  # layer norms away from 1 / 0, so one in the wrong place shows
        for name, parameter in model.named_parameters():
            if "LayerNorm" in name:
                parameter.uniform_(0.5, 1.5) if name.endswith("weight") else parameter.uniform_(-0.5, 0.5)
    input_ids, _ = _inputs()
    with torch.no_grad():
        outputs = model(input_ids, output_hidden_states=True)
        hidden = model.embeddings_project(model.embeddings(input_ids))
        expected = [hidden]
        for layer in model.encoder.layer:
            hidden = _pre_ln_layer_by_hand(layer, hidden, config.num_attention_heads)
            expected.append(hidden)
        expected[-1] = _layer_norm(model.encoder.LayerNorm, hidden)
    assert len(outputs.hidden_states) == len(expected) == 3
    for got, want in zip(outputs.hidden_states, expected):
        assert torch.allclose(got, want, atol=1e-5)
    assert torch.equal(outputs.last_hidden_state, outputs.hidden_states[-1])
    norms = {name for name in model.state_dict() if "LayerNorm" in name and not name.startswith("embeddings.")}
    per_layer = ("attention.LayerNorm", "intermediate.LayerNorm")
    assert norms == {
        f"encoder.{place}.{w}"
        for place in ("LayerNorm", *(f"layer.{i}.{norm}" for i in range(2) for norm in per_layer))
        for w in ("weight", "bias")
    }


def test_pre_layer_norm_model_saves_and_loads_with_remote_code(tmp_path):
    from transformers import AutoModelForSequenceClassification

    torch.manual_seed(0)
    model = KRElectraKDForSequenceClassification(KRElectraKDConfig.from_preset("tiny", vocab_size=100, **PRE_LN))
    model.eval().save_pretrained(tmp_path)
    loaded = AutoModelForSequenceClassification.from_pretrained(tmp_path, trust_remote_code=True).eval()
    assert loaded.config.layer_norm_position == "pre"
    input_ids, attention_mask = _inputs()
    with torch.no_grad():
        assert torch.equal(model(input_ids, attention_mask).logits, loaded(input_ids, attention_mask).logits)


def _count_attention_calls(monkeypatch) -> dict[str, int]:
    """Count calls of the local eager kernel and of the SDPA kernel in transformers' attention registry."""
    calls = {"eager": 0, "sdpa": 0}

    def counting(name, original):
        def counted(*args, **kwargs):
            calls[name] += 1
            return original(*args, **kwargs)

        return counted

    monkeypatch.setattr(modeling, "eager_attention_forward", counting("eager", modeling.eager_attention_forward))
    registry = modeling.ALL_ATTENTION_FUNCTIONS
    monkeypatch.setitem(registry, "sdpa", counting("sdpa", registry["sdpa"]))
    return calls


def test_config_attn_implementation_picks_the_attention_kernel(monkeypatch, tmp_path):
    """SDPA by default, eager when `attn_implementation="eager"` is passed to from_pretrained or the config, and eager
    whenever the maps are asked for (SDPA cannot return them)."""
    torch.manual_seed(0)
    config = KRElectraKDConfig.from_preset("tiny", vocab_size=100)
    KRElectraKDModel(config).save_pretrained(tmp_path)
    input_ids, attention_mask = _inputs()
    layers = config.num_hidden_layers
    models = {
        "default": KRElectraKDModel.from_pretrained(tmp_path),
        "from_pretrained": KRElectraKDModel.from_pretrained(tmp_path, attn_implementation="eager"),
        "config": KRElectraKDModel(KRElectraKDConfig.from_preset("tiny", vocab_size=100, attn_implementation="eager")),
    }
    expected = {"default": {"eager": 0, "sdpa": layers}, "from_pretrained": {"eager": layers, "sdpa": 0}}
    expected["config"] = expected["from_pretrained"]
    for name, model in models.items():
        calls = _count_attention_calls(monkeypatch)
        with torch.no_grad():
            model.eval()(input_ids, attention_mask=attention_mask)
        assert calls == expected[name], name
    calls = _count_attention_calls(monkeypatch)
    with torch.no_grad():
        maps = models["default"](input_ids, attention_mask=attention_mask, output_attentions=True).attentions
    assert calls == {"eager": layers, "sdpa": 0} and len(maps) == layers


def test_set_attn_implementation_switches_the_kernel(monkeypatch):
    """`model.set_attn_implementation` works on every head: each layer then runs the chosen kernel."""
    torch.manual_seed(0)
    model = KRElectraKDForSequenceClassification(KRElectraKDConfig.from_preset("tiny", vocab_size=100, **LOW_RANK))
    input_ids, attention_mask = _inputs()
    layers = model.config.num_hidden_layers
    outputs = {}
    for implementation in ("eager", "sdpa"):
        model.set_attn_implementation(implementation)
        assert model.config._attn_implementation == implementation
        calls = _count_attention_calls(monkeypatch)
        with torch.no_grad():
            outputs[implementation] = model.eval()(input_ids, attention_mask=attention_mask).logits
        assert calls == {"eager": 0, "sdpa": 0, implementation: layers}
    assert torch.allclose(outputs["eager"], outputs["sdpa"], atol=1e-5)


def test_flex_attention_matches_sdpa_with_padding():
    """flex_attention through transformers' interface (a BlockMask built from the padding mask) gives SDPA's
    output; torch runs it on CPU too."""
    torch.manual_seed(0)
    model = KRElectraKDForSequenceClassification(KRElectraKDConfig.from_preset("tiny", vocab_size=100, **LOW_RANK))
    input_ids, attention_mask = _inputs()
    with torch.no_grad():
        sdpa = model.eval()(input_ids, attention_mask=attention_mask).logits
        model.set_attn_implementation("flex_attention")
        flex = model(input_ids, attention_mask=attention_mask).logits
    assert torch.allclose(flex, sdpa, atol=1e-5)


@pytest.mark.parametrize("preset", ["small-kd", "small-lf-v2", "small-lf-v3"])
def test_inputs_embeds_equal_the_input_ids_path(preset):
    """`get_input_embeddings()` gives full-width embeddings at every rank, and feeding them as `inputs_embeds` gives
    what `input_ids` give (the students' shapes and ranks, with 2 layers and a short vocabulary)."""
    torch.manual_seed(0)
    config = KRElectraKDConfig.from_preset(preset, vocab_size=100, num_hidden_layers=2)
    model = KRElectraKDForMaskedLM(config).eval()
    input_ids, attention_mask = _inputs()
    embeddings = model.get_input_embeddings()
    assert isinstance(embeddings, nn.Embedding)
    with torch.no_grad():
        assert embeddings(input_ids).shape == (*input_ids.shape, config.embedding_size)
        from_ids = model(input_ids=input_ids, attention_mask=attention_mask).logits
        from_embeds = model(inputs_embeds=embeddings(input_ids), attention_mask=attention_mask).logits
    assert torch.allclose(from_ids, from_embeds, atol=1e-6)


def test_factorized_embedding_resizes_and_keeps_the_tied_head():
    """`resize_token_embeddings` grows the `vocab x rank` factor; the generator's output layer stays tied to it, the
    state dict keeps its names, and set_input_embeddings takes the factorized view back."""
    torch.manual_seed(0)
    model = KRElectraKDForMaskedLM(KRElectraKDConfig.from_preset("tiny", vocab_size=100, **LOW_RANK))
    names = set(model.state_dict())
    resized = model.resize_token_embeddings(110)
    assert resized.weight.shape == (110, LOW_RANK["embedding_rank"])
    assert model.electra.embeddings.word_embeddings.weight is model.generator_lm_head.weight
    assert set(model.state_dict()) == names and model.config.vocab_size == 110
    input_ids, attention_mask = _inputs(vocab_size=110)
    with torch.no_grad():
        assert model(input_ids, attention_mask=attention_mask).logits.shape[-1] == 110
    other = KRElectraKDModel(KRElectraKDConfig.from_preset("tiny", vocab_size=100, **LOW_RANK))
    model.set_input_embeddings(other.get_input_embeddings())
    assert model.electra.embeddings.word_embeddings is other.embeddings.word_embeddings
    assert model.electra.embeddings.word_embeddings_up is other.embeddings.word_embeddings_up


def test_feed_forward_is_chunked_only_for_inference_on_cpu():
    """The CPU cache trick: many small launches would slow a GPU down (5x on an H100). `meta` stands for any
    non-CPU device."""
    hidden = 8
    tokens = modeling.FEED_FORWARD_CHUNK_TOKENS + 1
    on_cpu = torch.zeros(1, tokens, hidden)
    with torch.no_grad():
        assert modeling.feed_forward_in_chunks(on_cpu)
        assert not modeling.feed_forward_in_chunks(torch.empty(1, tokens, hidden, device="meta"))
        assert not modeling.feed_forward_in_chunks(on_cpu[:, :-1])  # one chunk's worth of tokens
    assert not modeling.feed_forward_in_chunks(on_cpu)  # training: one block for autograd


@pytest.mark.parametrize(("device", "blocks"), [("cpu", 3), ("meta", 1)])
def test_layer_chunks_its_feed_forward_on_cpu_only(device, blocks, monkeypatch):
    monkeypatch.setattr(modeling, "FEED_FORWARD_CHUNK_TOKENS", 5)  # 12 tokens: 3 blocks on CPU
    config = KRElectraKDConfig.from_preset("tiny", vocab_size=100)
    with torch.device(device):
        layer = modeling.KRElectraKDLayer(config, 0).eval()
        hidden_states = torch.randn(1, 12, config.hidden_size)
    seen = []
    feed_forward = modeling.KRElectraKDLayer.feed_forward
    monkeypatch.setattr(
        modeling.KRElectraKDLayer, "feed_forward", lambda self, x: seen.append(x) or feed_forward(self, x)
    )
    with torch.no_grad():
        output, _ = layer(hidden_states)
    assert len(seen) == blocks and output.shape == hidden_states.shape and output.device.type == device


def test_tracing_gives_no_tracer_warning_and_a_general_graph():
    """ONNX export traces the model: no shape check may turn into a Python bool (a TracerWarning, and a frozen
    choice). The traced graph serves another batch size and length."""

    class Logits(nn.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask):
            return self.model(input_ids, attention_mask=attention_mask).logits

    torch.manual_seed(0)
    model = KRElectraKDForSequenceClassification(KRElectraKDConfig.from_preset("tiny", vocab_size=100, **LOW_RANK))
    wrapper = Logits(model).eval()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("error", torch.jit.TracerWarning)
        traced = torch.jit.trace(wrapper, _inputs())
        other = _inputs(batch=3, length=20)
        assert torch.allclose(traced(*other), wrapper(*other), atol=1e-5)


def test_copied_from_markers_match_the_installed_transformers():
    """Each `# Copied from transformers...` class is that class with Electra->KRElectraKD, as the marker promises."""
    import importlib

    source = Path(modeling.__file__).read_text()
    markers = re.findall(r"^# Copied from transformers\.(\S+)\.(\w+) with Electra->KRElectraKD\n", source, re.M)
    assert len(markers) >= 2, markers
    for module_name, class_name in markers:
        original = getattr(importlib.import_module(f"transformers.{module_name}"), class_name)
        copy = getattr(modeling, class_name.replace("Electra", "KRElectraKD"))
        assert inspect.getsource(copy) == inspect.getsource(original).replace("Electra", "KRElectraKD"), class_name


def test_extra_inputs_are_named_not_dropped_silently():
    from transformers.testing_utils import CaptureLogger

    model = KRElectraKDForSequenceClassification(KRElectraKDConfig.from_preset("tiny", vocab_size=100)).eval()
    input_ids, attention_mask = _inputs()
    with CaptureLogger(modeling.logger) as captured, torch.no_grad():
        with_extra = model(input_ids, attention_mask=attention_mask, not_an_input_of_this_model=1).logits
    assert "not_an_input_of_this_model" in captured.out
    assert torch.equal(with_extra, model(input_ids, attention_mask=attention_mask).logits)


def test_trainer_scales_the_loss_for_gradient_accumulation(tmp_path):
    """The heads' loss is a batch mean that ignores `num_items_in_batch`: Trainer must not expect otherwise."""
    from transformers import Trainer, TrainingArguments

    model = KRElectraKDForSequenceClassification(KRElectraKDConfig.from_preset("tiny", vocab_size=100))
    trainer = Trainer(model=model, args=TrainingArguments(output_dir=str(tmp_path), report_to=[]))
    assert trainer.model_accepts_loss_kwargs is False


def test_stacked_qkv_trains_each_factor():
    torch.manual_seed(0)
    model = KRElectraKDModel(KRElectraKDConfig.from_preset("tiny", vocab_size=100, **LOW_RANK)).train()
    input_ids, attention_mask = _inputs()
    model(input_ids, attention_mask=attention_mask).last_hidden_state.sum().backward()
    attention = model.encoder.layer[0].attention.self
    for projection in (attention.query, attention.key, attention.value):
        assert projection.down.weight.grad.abs().sum() > 0 and projection.up.bias.grad.abs().sum() > 0


def test_compiles_as_one_graph_with_a_padding_mask():
    """No data-dependent branch on the mask: torch.compile captures the whole forward (fullgraph raises otherwise)."""
    model = KRElectraKDForSequenceClassification(KRElectraKDConfig.from_preset("tiny", vocab_size=100, **LOW_RANK))
    model.eval()
    input_ids, attention_mask = _inputs()
    compiled = torch.compile(model, fullgraph=True, backend="eager")
    with torch.no_grad():
        expected = model(input_ids, attention_mask=attention_mask).logits
        assert torch.allclose(compiled(input_ids, attention_mask=attention_mask).logits, expected, atol=1e-5)


def test_return_dict_false_gives_tuples():
    model = KRElectraKDForSequenceClassification(KRElectraKDConfig.from_preset("tiny", vocab_size=100)).eval()
    input_ids, attention_mask = _inputs()
    labels = torch.tensor([0, 1])
    as_tuple = model(input_ids, attention_mask=attention_mask, labels=labels, return_dict=False)
    as_dict = model(input_ids, attention_mask=attention_mask, labels=labels)
    assert isinstance(as_tuple, tuple) and torch.equal(as_tuple[1], as_dict.logits)
    assert torch.equal(as_tuple[0], as_dict.loss)


def test_head_losses():
    torch.manual_seed(0)
    config = KRElectraKDConfig.from_preset("tiny", vocab_size=100, **LOW_RANK)
    input_ids, attention_mask = _inputs()
    rtd = KRElectraKDForPreTraining(config)(
        input_ids, attention_mask=attention_mask, labels=torch.zeros_like(input_ids)
    )
    assert rtd.logits.shape == input_ids.shape and rtd.loss > 0
    mlm = KRElectraKDForMaskedLM(config)(input_ids, attention_mask=attention_mask, labels=input_ids)
    assert mlm.logits.shape == (2, 12, 100) and mlm.loss > 0
    regression = KRElectraKDForSequenceClassification(
        KRElectraKDConfig.from_preset("tiny", vocab_size=100, num_labels=1)
    )
    out = regression(input_ids, attention_mask=attention_mask, labels=torch.tensor([1.5, 4.0]))
    assert out.logits.shape == (2, 1) and regression.config.problem_type == "regression"
    qa = KRElectraKDForQuestionAnswering(config)
    out = qa(
        input_ids,
        attention_mask=attention_mask,
        start_positions=torch.tensor([1, 2]),
        end_positions=torch.tensor([3, 99]),
    )
    assert out.start_logits.shape == (2, 12) and torch.isfinite(out.loss)


@pytest.mark.parametrize("factorized", [False, True], ids=["dense-embeddings", "factorized-embeddings"])
def test_generator_output_layer_is_tied_to_word_embeddings(factorized, tmp_path):
    config = KRElectraKDConfig.from_preset("tiny", vocab_size=100, embedding_rank=8 if factorized else None)
    model = KRElectraKDForMaskedLM(config)
    assert model.generator_lm_head.weight is model.electra.embeddings.word_embeddings.weight
    model.save_pretrained(tmp_path)
    reloaded = KRElectraKDForMaskedLM.from_pretrained(tmp_path)
    assert reloaded.generator_lm_head.weight is reloaded.electra.embeddings.word_embeddings.weight
    assert torch.equal(reloaded.generator_lm_head.weight, model.generator_lm_head.weight)


def test_too_long_input_is_a_clear_error():
    model = KRElectraKDModel(KRElectraKDConfig.from_preset("tiny", vocab_size=100))
    with pytest.raises(ValueError, match="max_position_embeddings"):
        model(torch.ones(1, 129, dtype=torch.long))


@pytest.mark.parametrize("position", ["post", "pre"])
def test_gradient_checkpointing_gives_the_same_gradients(position):
    torch.manual_seed(0)
    config = KRElectraKDConfig.from_preset(
        "tiny",
        vocab_size=100,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
        layer_norm_position=position,
        **LOW_RANK,
    )
    model = KRElectraKDForSequenceClassification(config).train()
    input_ids, attention_mask = _inputs()
    labels = torch.tensor([0, 1])

    def gradients():
        model.zero_grad()
        model(input_ids, attention_mask=attention_mask, labels=labels).loss.backward()
        return [p.grad.clone() for p in model.parameters()]

    # The feed-forward block of every layer runs once per step, and once more when a checkpointed layer is recomputed
    # in the backward pass.
    runs = []
    for layer in model.electra.encoder.layer:
        layer.intermediate.register_forward_hook(lambda *_: runs.append(1))
    plain = gradients()
    assert len(runs) == config.num_hidden_layers
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    assert all(isinstance(layer, GradientCheckpointingLayer) for layer in model.electra.encoder.layer)
    assert all(layer.gradient_checkpointing for layer in model.electra.encoder.layer)
    runs.clear()
    checkpointed = gradients()
    assert len(runs) == 2 * config.num_hidden_layers
    for a, b in zip(plain, checkpointed):
        assert torch.allclose(a, b, atol=1e-6)


@pytest.mark.parametrize("use_reentrant", [True, False])
def test_gradient_checkpointing_kwargs_reach_the_layers(use_reentrant, monkeypatch):
    """`gradient_checkpointing_enable(gradient_checkpointing_kwargs=...)` options are what each layer's checkpoint
    runs with (transformers' mechanism, not a hand-made checkpoint in the encoder)."""
    seen = []
    original = torch.utils.checkpoint.checkpoint

    def recording(*args, **kwargs):
        seen.append(kwargs.get("use_reentrant"))
        return original(*args, **kwargs)

    import transformers.modeling_utils

    monkeypatch.setattr(transformers.modeling_utils, "checkpoint", recording)  # the function transformers binds
    config = KRElectraKDConfig.from_preset("tiny", vocab_size=100, **LOW_RANK)
    model = KRElectraKDForSequenceClassification(config).train()
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": use_reentrant})
    input_ids, attention_mask = _inputs()
    model(input_ids, attention_mask=attention_mask, labels=torch.tensor([0, 1])).loss.backward()
    assert seen == [use_reentrant] * config.num_hidden_layers


# ---- Trainer fine-tuning and LoRA on a small Korean fixture the project wrote (tests/fixtures/corpus.txt) ----

# 1 = positive, 0 = negative, line numbers in corpus.txt of clearly polar reviews.
POLAR_LINES = {0: 1, 1: 0, 2: 1, 12: 1, 13: 1, 14: 0, 15: 1, 19: 1, 28: 0, 29: 0, 30: 1, 31: 0, 32: 1, 33: 0}


def _sentiment_dataset(korean_texts, tokenizer):
    from datasets import Dataset

    rows = {"text": [korean_texts[i] for i in POLAR_LINES], "label": list(POLAR_LINES.values())}
    dataset = Dataset.from_dict(rows)
    return dataset.map(
        lambda batch: tokenizer(batch["text"], truncation=True, max_length=64), batched=True
    ).remove_columns("text")


def _train(model, tokenizer, dataset, output_dir, steps: int = 80, **overrides):
    from transformers import DataCollatorWithPadding, Trainer, TrainingArguments

    args = TrainingArguments(
        output_dir=str(output_dir),
        max_steps=steps,
        per_device_train_batch_size=7,
        learning_rate=overrides.pop("learning_rate", 3e-3),
        logging_steps=1,
        save_strategy="no",
        report_to=[],
        disable_tqdm=True,
        seed=0,
        **overrides,
    )
    trainer = Trainer(model=model, args=args, train_dataset=dataset, data_collator=DataCollatorWithPadding(tokenizer))
    trainer.train()
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    return trainer, losses


def _falls(losses: list[float]) -> bool:
    window = 5
    return sum(losses[-window:]) / window < 0.5 * sum(losses[:window]) / window


@pytest.mark.slow
@pytest.mark.parametrize("preset_ranks", [{}, LOW_RANK], ids=["dense", "low-rank"])
def test_trainer_fine_tuning_loss_falls(preset_ranks, korean_texts, tiny_tokenizer, tmp_path):
    torch.manual_seed(0)
    config = KRElectraKDConfig.from_preset("tiny", vocab_size=len(tiny_tokenizer), **preset_ranks)
    model = KRElectraKDForSequenceClassification(config)
    _, losses = _train(model, tiny_tokenizer, _sentiment_dataset(korean_texts, tiny_tokenizer), tmp_path)
    assert _falls(losses), losses


@pytest.mark.slow
def test_trainer_with_gradient_checkpointing(korean_texts, tiny_tokenizer, tmp_path):
    torch.manual_seed(0)
    config = KRElectraKDConfig.from_preset("tiny", vocab_size=len(tiny_tokenizer), **LOW_RANK)
    model = KRElectraKDForSequenceClassification(config)
    _, losses = _train(
        model, tiny_tokenizer, _sentiment_dataset(korean_texts, tiny_tokenizer), tmp_path, gradient_checkpointing=True
    )
    assert all(layer.gradient_checkpointing for layer in model.electra.encoder.layer)
    assert _falls(losses), losses


@pytest.mark.slow
def test_peft_lora_on_factorized_layers(korean_texts, tiny_tokenizer, tmp_path):
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(0)
    config = KRElectraKDConfig.from_preset(
        "tiny", vocab_size=len(tiny_tokenizer), hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, **LOW_RANK
    )
    model = KRElectraKDForSequenceClassification(config)
    lora = LoraConfig(
        r=4, lora_alpha=8, target_modules=["down", "up"], modules_to_save=["classifier"], task_type="SEQ_CLS"
    )
    peft_model = get_peft_model(model, lora)
    frozen_before = model.electra.encoder.layer[0].intermediate.dense.up.base_layer.weight.detach().clone()
    lora_names = [name for name, p in peft_model.named_parameters() if p.requires_grad and "lora_" in name]
    assert any(".intermediate.dense.up." in name for name in lora_names)
    assert any(".attention.self.query.down." in name for name in lora_names)
    dataset = _sentiment_dataset(korean_texts, tiny_tokenizer)
    _, losses = _train(peft_model, tiny_tokenizer, dataset, tmp_path, steps=120, learning_rate=5e-3)
    assert _falls(losses), losses
    # LoRA trains adapters only: the factorized base weights are unchanged.
    assert torch.equal(frozen_before, model.electra.encoder.layer[0].intermediate.dense.up.base_layer.weight)
    merged = peft_model.merge_and_unload()
    assert isinstance(merged.electra.encoder.layer[0].intermediate.dense, KRElectraKDLowRankLinear)


def test_no_torch_pickle_files_written(tmp_path):
    KRElectraKDForPreTraining(KRElectraKDConfig.from_preset("tiny", vocab_size=100)).save_pretrained(tmp_path)
    written = sorted(os.listdir(tmp_path))
    assert "model.safetensors" in written
    assert not [name for name in written if name.endswith((".bin", ".pt", ".pth", ".ckpt"))]


def test_extract_answers_ranks_spans_within_the_context():
    from modeling_kr_electra_kd import extract_answers

    context = "서울에서 부산까지 세 시간"
    # two windows of 6 tokens; tokens 0-1 are question/special (masked out), offsets point into `context`
    offsets = [
        [(0, 0), (0, 0), (0, 4), (5, 9), (10, 11), (12, 14)],
        [(0, 0), (0, 0), (5, 9), (10, 11), (12, 14), (0, 0)],
    ]
    mask = [[False, False, True, True, True, True], [False, False, True, True, True, False]]
    start = [[9.0, 9.0, 0.0, 0.0, 5.0, 0.0], [9.0, 9.0, 0.0, 4.0, 0.0, 9.0]]
    end = [[9.0, 9.0, 0.0, 0.0, 0.0, 5.0], [9.0, 9.0, 0.0, 0.0, 4.0, 9.0]]
    answers = extract_answers(start, end, offsets, mask, context, top_k=3)
    assert answers[0]["answer"] == "세 시간" and (answers[0]["start"], answers[0]["end"]) == (10, 14)
    assert len({(a["start"], a["end"]) for a in answers}) == len(answers) == 3  # distinct spans
    assert all(0 <= a["start"] <= a["end"] <= len(context) for a in answers)
    short = extract_answers(start, end, offsets, mask, context, max_answer_length=1)
    assert short[0]["end"] - short[0]["start"] <= 2  # one token only


def test_question_answering_pipeline_over_a_long_context(tiny_tokenizer, korean_texts, tmp_path):
    from transformers import pipeline

    torch.manual_seed(0)
    model = KRElectraKDForQuestionAnswering(
        KRElectraKDConfig.from_preset("tiny", vocab_size=len(tiny_tokenizer), **LOW_RANK)
    )
    model.save_pretrained(tmp_path)
    tiny_tokenizer.save_pretrained(tmp_path)
    context = " ".join(korean_texts)  # far longer than one 64-token window
    qa = pipeline("question-answering", model=str(tmp_path), trust_remote_code=True)
    answers = qa(question="부산까지 얼마나 걸리나요?", context=context, max_seq_len=64, doc_stride=16, top_k=3)
    assert len(answers) == 3
    for answer in answers:
        assert answer["answer"] == context[answer["start"] : answer["end"]] and answer["answer"]
    with pytest.raises(ValueError, match="non-empty"):
        qa(question="", context=context)
