"""Dense -> low-rank conversion by truncated SVD, and stock ELECTRA/BERT -> this family."""

from __future__ import annotations

import json

import pytest
import torch
from transformers import (
    BertConfig,
    BertForQuestionAnswering,
    BertForSequenceClassification,
    BertForTokenClassification,
    BertModel,
    ElectraConfig,
    ElectraForMaskedLM,
    ElectraForPreTraining,
    ElectraForSequenceClassification,
    ElectraModel,
    GPT2Config,
    GPT2Model,
)

from modeling_kr_electra_kd import (
    KRElectraKDConfig,
    KRElectraKDForMaskedLM,
    KRElectraKDForPreTraining,
    KRElectraKDForSequenceClassification,
    KRElectraKDLowRankLinear,
    KRElectraKDModel,
)
from training.commands.convert import main
from training.loading import convert_stock_model, load_model
from training.lowrank import convert_to_low_rank

ELECTRA = ElectraConfig(
    vocab_size=120,
    embedding_size=32,
    hidden_size=64,
    num_hidden_layers=2,
    num_attention_heads=2,
    intermediate_size=128,
    num_labels=3,
)
BERT = BertConfig(
    vocab_size=120, hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=128, num_labels=3
)
FULL_RANK = {"embedding_rank": 32, "attention_rank": 64, "ffn_rank": 64}  # the tiny preset's largest ranks


def _inputs():
    generator = torch.Generator().manual_seed(1)
    input_ids = torch.randint(5, 120, (2, 11), generator=generator)
    attention_mask = torch.ones_like(input_ids)
    attention_mask[1, 8:] = 0
    return input_ids, attention_mask


def _first_output(model, **kwargs):
    input_ids, attention_mask = _inputs()
    with torch.no_grad():
        outputs = model.eval()(input_ids, attention_mask=attention_mask, **kwargs)
    return outputs[next(iter(outputs.keys()))]


STOCK_CASES = [
    (ElectraModel, ELECTRA),
    (ElectraForPreTraining, ELECTRA),
    (ElectraForMaskedLM, ELECTRA),
    (ElectraForSequenceClassification, ELECTRA),
    (BertModel, BERT),
    (BertForSequenceClassification, BERT),
    (BertForTokenClassification, BERT),
    (BertForQuestionAnswering, BertConfig(**{**BERT.to_dict(), "num_labels": 2})),
]


@pytest.mark.parametrize(("stock_class", "config"), STOCK_CASES, ids=lambda value: getattr(value, "__name__", ""))
def test_stock_models_convert_exactly_heads_included(stock_class, config):
    torch.manual_seed(0)
    stock = stock_class(config).eval()
    ours = convert_stock_model(stock)
    assert ours.config.model_type == "kr-electra-kd"
    assert torch.allclose(_first_output(stock), _first_output(ours), atol=1e-5)


@pytest.mark.parametrize(
    "model_class",
    [KRElectraKDModel, KRElectraKDForPreTraining, KRElectraKDForMaskedLM, KRElectraKDForSequenceClassification],
)
@pytest.mark.parametrize("position", ["post", "pre"])
def test_full_rank_conversion_reproduces_the_dense_model(model_class, position):
    torch.manual_seed(0)
    config = KRElectraKDConfig.from_preset("tiny", vocab_size=120, num_labels=3, layer_norm_position=position)
    dense = model_class(config)
    with torch.no_grad():  # layer norms away from their initial 1 / 0, so one not carried over shows
        for name, parameter in dense.named_parameters():
            if "LayerNorm" in name:
                parameter.add_(torch.rand_like(parameter))
    converted, report = convert_to_low_rank(dense, **FULL_RANK)
    assert isinstance(converted.base_model.encoder.layer[0].intermediate.dense, KRElectraKDLowRankLinear)
    assert (_first_output(converted) - _first_output(dense)).abs().max() < 1e-4
    assert report.max_relative_error < 1e-6
    assert len(report.matrices) == 1 + 2 * (4 + 2)  # embeddings + per layer: Q, K, V, attn-out, FFN in, FFN out


def test_stock_electra_full_rank_conversion_reproduces_it():
    torch.manual_seed(0)
    stock = ElectraForSequenceClassification(ELECTRA).eval()
    converted, _ = convert_to_low_rank(stock, **FULL_RANK)
    assert (_first_output(converted) - _first_output(stock)).abs().max() < 1e-4


def test_lower_rank_reports_each_matrix_error_and_shrinks_the_model():
    torch.manual_seed(0)
    dense = KRElectraKDForSequenceClassification(KRElectraKDConfig.from_preset("tiny", vocab_size=120))
    errors = {}
    for rank in (32, 8):
        converted, report = convert_to_low_rank(dense, attention_rank=rank, ffn_rank=rank)
        assert report.params_after < report.params_before
        assert all(0.0 < m.relative_error < 1.0 for m in report.matrices)
        assert {m.name.rsplit(".", 1)[-1] for m in report.matrices} == {"query", "key", "value", "dense"}
        errors[rank] = report.max_relative_error
        # the relative error is the one the factors really have
        layer = converted.electra.encoder.layer[0].attention.self.query
        original = dense.electra.encoder.layer[0].attention.self.query.weight
        measured = torch.linalg.norm(original - layer.up.weight @ layer.down.weight) / torch.linalg.norm(original)
        reported = next(m for m in report.matrices if m.name.endswith("layer.0.attention.self.query"))
        assert abs(measured.item() - reported.relative_error) < 1e-4
    assert errors[8] > errors[32]
    assert "relative error" in report.to_markdown()


def test_energy_picks_ranks_that_keep_that_energy():
    torch.manual_seed(0)
    dense = KRElectraKDModel(KRElectraKDConfig.from_preset("tiny", vocab_size=120))
    converted, report = convert_to_low_rank(dense, energy=0.8)
    assert report.embedding_rank and report.attention_rank and report.ffn_rank
    assert all(m.kept_energy >= 0.8 - 1e-9 for m in report.matrices)
    assert converted.config.attention_rank == report.attention_rank


def test_refactorizing_a_low_rank_model_keeps_its_other_groups():
    torch.manual_seed(0)
    lf_v1 = KRElectraKDModel(KRElectraKDConfig.from_preset("tiny", vocab_size=120, ffn_rank=16))
    lf_v2, report = convert_to_low_rank(lf_v1, attention_rank=64)
    assert lf_v2.config.ffn_rank == 16 and lf_v2.config.attention_rank == 64
    assert (_first_output(lf_v2) - _first_output(lf_v1)).abs().max() < 1e-4


@pytest.mark.parametrize(
    ("ranks", "message"),
    [
        ({"ffn_rank": 65}, "ffn_rank must be an integer from 1 to 64"),
        ({"attention_rank": 0}, "attention_rank"),
        ({"embedding_rank": -1}, "embedding_rank"),
        ({"energy": 1.5}, "energy"),
        ({}, "at least one"),
    ],
)
def test_bad_conversion_arguments_are_clear_errors(ranks, message):
    dense = KRElectraKDModel(KRElectraKDConfig.from_preset("tiny", vocab_size=120))
    with pytest.raises(ValueError, match=message):
        convert_to_low_rank(dense, **ranks)


def test_unsupported_architecture_is_refused(tmp_path):
    GPT2Model(GPT2Config(n_layer=1, n_embd=16, n_head=2, vocab_size=50)).save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="'gpt2' checkpoint; supported"):
        load_model(tmp_path)
    with pytest.raises(ValueError, match="takes a model of this family"):
        convert_to_low_rank(GPT2Model(GPT2Config(n_layer=1, n_embd=16, n_head=2, vocab_size=50)), ffn_rank=4)


def test_from_pretrained_any_loads_stock_and_own_folders(tmp_path):
    torch.manual_seed(0)
    stock = ElectraForSequenceClassification(ELECTRA).eval()
    stock.save_pretrained(tmp_path / "stock")
    loaded = load_model(tmp_path / "stock")
    assert isinstance(loaded, KRElectraKDForSequenceClassification)
    assert torch.allclose(_first_output(loaded), _first_output(stock), atol=1e-5)
    loaded.save_pretrained(tmp_path / "ours")
    again = load_model(tmp_path / "ours", head="base")
    assert isinstance(again, KRElectraKDModel)
    with pytest.raises(ValueError, match="Unknown head 'classifier'"):
        load_model(tmp_path / "ours", head="classifier")
    with pytest.raises(ValueError, match="no config.json"):
        load_model(tmp_path)


@pytest.mark.slow
def test_convert_command(tmp_path, tiny_tokenizer, capsys):
    torch.manual_seed(0)
    source = tmp_path / "dense"
    KRElectraKDForPreTraining(KRElectraKDConfig.from_preset("tiny", vocab_size=len(tiny_tokenizer))).save_pretrained(
        source
    )
    tiny_tokenizer.save_pretrained(source)
    output = tmp_path / "low"
    assert (
        main(["--model", str(source), "--output_dir", str(output), "--attention_rank", "16", "--ffn_rank", "16"]) == 0
    )
    report = json.loads((output / "lowrank_report.json").read_text())
    assert report["attention_rank"] == 16 and report["max_relative_error"] > 0
    for name in ("config.json", "model.safetensors", "modeling_kr_electra_kd.py", "tokenizer.json"):
        assert (output / name).is_file(), name
    assert main(["--model", str(source), "--output_dir", str(tmp_path / "bad"), "--ffn_rank", "999"]) == 2
    assert "ffn_rank must be an integer from 1 to 64" in capsys.readouterr().err
    assert main(["--model", str(source), "--output_dir", str(tmp_path / "bad"), "--preset", "nope"]) == 2


SOURCES = {
    "dense": {},
    "ffn": {"ffn_rank": 16},
    "ffn+attention": {"ffn_rank": 16, "attention_rank": 16},
    "all-three": {"ffn_rank": 16, "attention_rank": 16, "embedding_rank": 16},
}
TARGETS = {
    "embedding-8": {"embedding_rank": 8},
    "attention-8": {"attention_rank": 8},
    "ffn-8": {"ffn_rank": 8},
    "all-8": {"embedding_rank": 8, "attention_rank": 8, "ffn_rank": 8},
    "full-rank": FULL_RANK,
    "energy-0.9": {"energy": 0.9},
}


def _computed_weights(model) -> dict[str, torch.Tensor]:
    """The out x in matrix each factorizable layer computes, whatever its storage (dense or low-rank)."""
    from training.lowrank import dense_weight

    base = model.base_model
    layer = base.encoder.layer[1]
    embeddings = base.embeddings
    word = embeddings.word_embeddings.weight
    if hasattr(embeddings, "word_embeddings_up"):
        word = word @ embeddings.word_embeddings_up.weight.T
    return {
        "embedding": word,
        "attention": dense_weight(layer.attention.self.value),
        "ffn": dense_weight(layer.intermediate.dense),
    }


def _best_rank(weight: torch.Tensor, rank: int) -> torch.Tensor:
    u, s, vh = torch.linalg.svd(weight.double(), full_matrices=False)
    return (u[:, :rank] * s[:rank]) @ vh[:rank]


@pytest.mark.slow
@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("source", SOURCES)
def test_every_source_converts_to_every_target(source, target):
    """Known answer: each converted group computes the best rank-r approximation (truncated SVD) of the matrix the
    source computes; groups not asked for keep the source's matrix and rank."""
    torch.manual_seed(0)
    model = KRElectraKDForPreTraining(KRElectraKDConfig.from_preset("tiny", vocab_size=120, **SOURCES[source]))
    converted, report = convert_to_low_rank(model, **TARGETS[target])
    before, after = _computed_weights(model), _computed_weights(converted)
    for group in ("embedding", "attention", "ffn"):
        rank = getattr(converted.config, f"{group}_rank")
        asked = f"{group}_rank" in TARGETS[target] or "energy" in TARGETS[target]
        assert rank == (getattr(report, f"{group}_rank")), group
        if not asked:
            assert rank == SOURCES[source].get(f"{group}_rank"), group
            assert torch.allclose(after[group], before[group], atol=1e-6), group
        else:
            expected = _best_rank(before[group], rank).float()
            assert torch.allclose(after[group], expected, atol=1e-5), (group, rank)
    if target == "full-rank":  # every source's function is kept exactly
        assert (_first_output(converted) - _first_output(model)).abs().max() < 1e-4


@pytest.mark.slow
def test_convert_command_refactorizes_a_low_rank_attention_model(tmp_path, capsys):
    """The LF-V2 -> LF-V3 path (`distill --student_init <LF-V2> --student_preset small-lf-v3`) through the command."""
    torch.manual_seed(0)
    source = tmp_path / "lf-v2"
    config = KRElectraKDConfig.from_preset("tiny", vocab_size=120, **SOURCES["ffn+attention"])
    KRElectraKDForPreTraining(config).save_pretrained(source)
    for ranks in (["--embedding_rank", "8"], ["--attention_rank", "8"], ["--energy", "0.9"]):
        # each conversion replaces the previous one's folder, as the user asked
        assert (
            main(["--model", str(source), "--output_dir", str(tmp_path / "out"), *ranks, "--overwrite_output_dir"]) == 0
        )
    converted = KRElectraKDForPreTraining.from_pretrained(tmp_path / "out")
    assert converted.config.ffn_rank <= 16 and converted.config.attention_rank <= 16
    assert main(["--model", str(source), "--output_dir", str(tmp_path / "bad"), "--attention_rank", "65"]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert error[-1].startswith("error: ") and "attention_rank" in error[-1]
