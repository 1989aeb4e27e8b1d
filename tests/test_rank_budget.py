"""Per-matrix ranks (`matrix_ranks`) and ranks chosen for a budget (`convert --target_mb` / `--target_ms`)."""

from __future__ import annotations

import json
import math

import pytest
import torch
from transformers import BertConfig, BertModel, ElectraConfig, ElectraForSequenceClassification

from modeling_kr_electra_kd import (
    PRESETS,
    KRElectraKDConfig,
    KRElectraKDForSequenceClassification,
    KRElectraKDLowRankLinear,
    KRElectraKDModel,
)
from training.commands.convert import main as convert
from training.lowrank import convert_to_low_rank
from training.rank_budget import (
    EMBEDDING,
    MatrixSpectrum,
    allocate,
    calibrate_matrix_times,
    kept_energy,
    matrix_spectra,
    plan_for_size,
)

SMALL = {"vocab_size": 400, "num_hidden_layers": 2, "max_position_embeddings": 64}


def _spectrum(name: str, shape: tuple[int, int], singular_values: list[float]) -> MatrixSpectrum:
    squared = torch.tensor(singular_values, dtype=torch.float64) ** 2
    return MatrixSpectrum(name, "attention", shape, torch.cumsum(squared, 0) / squared.sum())


def _varied_model(preset: str = "small-kd", **overrides) -> KRElectraKDForSequenceClassification:
    """A model whose matrices have different spectra (columns scaled by decays of different speeds), as trained
    ones do; random initialisation alone gives every matrix the same flat spectrum."""
    torch.manual_seed(0)
    model = KRElectraKDForSequenceClassification(KRElectraKDConfig.from_preset(preset, num_labels=2, **overrides))
    with torch.no_grad():
        for index, module in enumerate(m for m in model.modules() if isinstance(m, torch.nn.Linear)):
            decay = torch.linspace(0, 3 + index % 5, module.weight.shape[1]).neg().exp()
            module.weight.mul_(decay)
        words = model.base_model.embeddings.word_embeddings.weight
        words.mul_(torch.linspace(0, 2, words.shape[1]).neg().exp())
    return model


# --- the config --------------------------------------------------------------------------------------------------


def test_old_configs_with_one_rank_per_group_load_unchanged(tmp_path):
    config = KRElectraKDConfig.from_preset("small-lf-v2", **SMALL)
    saved = config.to_dict()
    saved.pop("matrix_ranks")
    saved.pop("rank_budget")
    (tmp_path / "config.json").write_text(json.dumps(saved))
    loaded = KRElectraKDConfig.from_pretrained(tmp_path)
    assert loaded.matrix_ranks is None
    model = KRElectraKDModel(loaded)
    for layer in model.encoder.layer:
        assert layer.attention.self.query.rank == 72 and layer.attention.output.dense.rank == 72
        assert layer.intermediate.dense.rank == 56 and layer.output.dense.rank == 56
    assert set(model.state_dict()) == set(KRElectraKDModel(config).state_dict())


def test_matrix_ranks_override_the_group_and_survive_save_and_load(tmp_path):
    ranks = {"0.query": 8, "0.value": 12, "1.ffn_output": None, "1.attention_output": 5}
    config = KRElectraKDConfig.from_preset("tiny", attention_rank=16, ffn_rank=20, matrix_ranks=ranks)
    model = KRElectraKDModel(config).eval()
    first, second = model.encoder.layer
    assert (first.attention.self.query.rank, first.attention.self.key.rank, first.attention.self.value.rank) == (
        8,
        16,
        12,
    )
    assert isinstance(second.output.dense, torch.nn.Linear) and second.attention.output.dense.rank == 5
    assert second.intermediate.dense.rank == 20
    model.save_pretrained(tmp_path)
    loaded = KRElectraKDModel.from_pretrained(tmp_path).eval()
    inputs = torch.randint(5, 100, (2, 9))
    torch.testing.assert_close(loaded(inputs).last_hidden_state, model(inputs).last_hidden_state)
    assert loaded.config.matrix_ranks == ranks


def test_unequal_qkv_ranks_compute_what_each_projection_computes():
    config = KRElectraKDConfig.from_preset("tiny", matrix_ranks={"0.query": 3, "0.key": 7, "0.value": 11})
    attention = KRElectraKDModel(config).encoder.layer[0].attention.self
    hidden = torch.randn(2, 5, config.hidden_size)
    for got, projection in zip(attention.project_qkv(hidden), (attention.query, attention.key, attention.value)):
        torch.testing.assert_close(got, projection(hidden))


@pytest.mark.parametrize(
    "matrix_ranks, message",
    [
        ({"2.query": 4}, "layer from 0 to 1"),
        ({"0.qkv": 4}, "a matrix among query"),
        ({"query": 4}, "'<layer>.<matrix>'"),
        ({"0.ffn_output": 65}, "from 1 to 64"),
        ({"0.key": 0}, "from 1 to 64"),
    ],
)
def test_bad_matrix_ranks_are_refused_in_one_line(matrix_ranks, message):
    with pytest.raises(ValueError, match=message) as error:
        KRElectraKDConfig.from_preset("tiny", matrix_ranks=matrix_ranks)
    assert "\n" not in str(error.value)


def test_a_group_rank_asked_for_replaces_that_groups_matrix_ranks():
    model = KRElectraKDModel(KRElectraKDConfig.from_preset("tiny", matrix_ranks={"0.query": 3, "1.ffn_output": 5}))
    converted, _ = convert_to_low_rank(model, attention_rank=10)
    assert converted.config.matrix_ranks == {"1.ffn_output": 5}
    assert converted.encoder.layer[0].attention.self.query.rank == 10


# --- the allocation ----------------------------------------------------------------------------------------------


def test_greedy_allocation_gives_ranks_where_they_keep_most_energy():
    # Two 20 x 20 matrices, 40 parameters per rank. "steep": squared singular values 100, 25, then 18 of 1 (total
    # 143), so its 2nd rank keeps 25/143 = 0.175 and each later one 1/143 = 0.007. "flat": 20 equal values, 0.05 per
    # rank. Both start at rank 1 (80 parameters); a budget of 200 leaves 3 ranks: steep's 2nd (0.175), then two of
    # flat's (0.05 each beat steep's 0.007).
    steep = _spectrum("0.query", (20, 20), [10.0, 5.0] + [1.0] * 18)
    flat = _spectrum("0.key", (20, 20), [1.0] * 20)
    cost = lambda spectrum, rank: spectrum.weight_params(rank)  # noqa: E731
    ranks = allocate([steep, flat], budget=200, cost=cost)
    assert ranks == {"0.query": 2, "0.key": 3}
    assert sum(cost(s, ranks[s.name]) for s in (steep, flat)) <= 200
    # one more rank's worth goes to flat again (0.05 > 0.007)
    assert allocate([steep, flat], budget=240, cost=cost) == {"0.query": 2, "0.key": 4}


def test_a_matrix_past_its_break_even_rank_goes_dense():
    # 4 x 4: rank r costs 8r, dense 16; from rank 2 on, dense is as cheap, and keeps everything.
    spectrum = _spectrum("0.value", (4, 4), [2.0, 1.0, 1.0, 1.0])
    assert spectrum.dense_rank == 2 and spectrum.rank_steps() == [1, None]
    ranks = allocate([spectrum], budget=16, cost=lambda s, r: s.weight_params(r))
    assert ranks == {"0.value": None}


def test_budgeted_ranks_keep_more_energy_than_uniform_ranks_of_the_same_size():
    dense = _varied_model("small-kd", **SMALL)
    uniform, _ = convert_to_low_rank(dense, embedding_rank=28, attention_rank=72, ffn_rank=56)
    with torch.no_grad():
        uniform_mb = _saved_mb(uniform)
    plan = plan_for_size(dense, uniform_mb)
    spectra = matrix_spectra(dense)
    uniform_ranks = {s.name: {"embedding": 28, "attention": 72, "ffn": 56}[s.group] for s in spectra}
    assert plan.budget["size_mb"] <= uniform_mb
    assert kept_energy(spectra, plan.ranks) > kept_energy(spectra, uniform_ranks)


def _saved_mb(model, folder=None) -> float:
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        model.save_pretrained(tmp)
        return (Path(tmp) / "model.safetensors").stat().st_size / 1e6


# --- convert --target_mb: every preset and stock checkpoints, held to the byte ---------------------------------------


@pytest.mark.parametrize("preset", list(PRESETS))
def test_target_mb_holds_the_size_to_the_byte_on_every_preset(tmp_path, preset):
    shape = {**SMALL, "num_hidden_layers": 1, "intermediate_size": 4 * PRESETS[preset].get("hidden_size", 256)}
    if preset == "teacher-base":
        shape.update(hidden_size=192, embedding_size=192, num_attention_heads=3, intermediate_size=768)
    model = _varied_model(preset, **shape)
    model.save_pretrained(tmp_path / "source")
    dense_mb = _saved_mb(model)
    target_mb = round(0.6 * dense_mb, 4)
    assert convert(["--model", str(tmp_path / "source"), "--output_dir", str(tmp_path / "out"), "--target_mb",
                    str(target_mb)]) == 0  # fmt: skip
    size = (tmp_path / "out" / "model.safetensors").stat().st_size
    assert size <= target_mb * 1e6
    assert size >= 0.97 * target_mb * 1e6  # the budget is used, not just respected
    report = json.loads((tmp_path / "out" / "lowrank_report.json").read_text())
    assert report["budget"]["size_mb"] == size / 1e6 and report["budget"]["target_mb"] == target_mb
    assert {"rank", "kept_energy", "relative_error"} <= set(report["matrices"][0])
    assert KRElectraKDConfig.from_pretrained(tmp_path / "out").rank_budget["target_mb"] == target_mb


@pytest.mark.parametrize(
    "stock_class, config",
    [
        (ElectraForSequenceClassification, ElectraConfig(vocab_size=300, embedding_size=32, hidden_size=64,
                                                         num_hidden_layers=2, num_attention_heads=2,
                                                         intermediate_size=128, max_position_embeddings=64)),
        (BertModel, BertConfig(vocab_size=300, hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                               intermediate_size=128, max_position_embeddings=64)),
    ],
)  # fmt: skip
def test_target_mb_on_stock_electra_and_bert_checkpoints(tmp_path, stock_class, config):
    torch.manual_seed(0)
    stock_class(config).save_pretrained(tmp_path / "stock")
    dense_mb = (tmp_path / "stock" / "model.safetensors").stat().st_size / 1e6
    target_mb = round(0.7 * dense_mb, 4)
    assert convert(["--model", str(tmp_path / "stock"), "--output_dir", str(tmp_path / "out"), "--target_mb",
                    str(target_mb)]) == 0  # fmt: skip
    assert (tmp_path / "out" / "model.safetensors").stat().st_size <= target_mb * 1e6
    converted = KRElectraKDConfig.from_pretrained(tmp_path / "out")
    assert converted.matrix_ranks and len(converted.matrix_ranks) == 2 * 6


def test_an_unreachable_target_names_the_smallest_reachable_size(tmp_path, capsys):
    KRElectraKDModel(KRElectraKDConfig.from_preset("tiny", vocab_size=400)).save_pretrained(tmp_path / "source")
    code = convert(["--model", str(tmp_path / "source"), "--output_dir", str(tmp_path / "out"), "--target_mb", "0.01"])
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert code == 2 and error.startswith("error: --target_mb 0.01 MB cannot be met")
    assert "cannot be met: the smallest reachable is" in error and "MB" in error
    smallest = float(error.split("smallest reachable is ")[1].split(" ")[0])
    assert 0.01 < smallest < (tmp_path / "source" / "model.safetensors").stat().st_size / 1e6
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--ffn_rank", "4"], "alone"),
        (["--target_ms", "5"], "alone"),
        (["--energy", "0.9"], "alone"),
        (["--budget_groups", "ffn", "heads"], "--budget_groups takes some of"),
    ],
)
def test_a_budget_is_not_mixed_with_other_rank_options(tmp_path, capsys, extra, message):
    KRElectraKDModel(KRElectraKDConfig.from_preset("tiny")).save_pretrained(tmp_path / "source")
    argv = ["--model", str(tmp_path / "source"), "--output_dir", str(tmp_path / "out"), "--target_mb", "1", *extra]
    assert convert(argv) == 2
    assert message in capsys.readouterr().err


def test_budget_groups_leave_the_other_groups_as_they_are(tmp_path):
    model = _varied_model("tiny", vocab_size=400)
    model.save_pretrained(tmp_path / "source")
    target_mb = round(0.8 * _saved_mb(model), 4)
    argv = ["--model", str(tmp_path / "source"), "--output_dir", str(tmp_path / "out"), "--target_mb", str(target_mb)]
    assert convert([*argv, "--budget_groups", "ffn"]) == 0
    config = KRElectraKDConfig.from_pretrained(tmp_path / "out")
    assert config.embedding_rank is None and config.attention_rank is None
    assert set(config.matrix_ranks) == {f"{layer}.{m}" for layer in (0, 1) for m in ("ffn_intermediate", "ffn_output")}


# --- convert --target_ms -----------------------------------------------------------------------------------------


def test_calibration_times_every_shape_at_every_grid_rank_by_measurement(monkeypatch):
    spectra = matrix_spectra(_varied_model("tiny"))
    timed = []

    def fake_seconds(call, min_run_time):
        timed.append(call)
        return 0.001 * (len(timed) % 3)  # noisy and not monotone: the table must be made non-decreasing

    monkeypatch.setattr("training.rank_budget.median_seconds", fake_seconds)
    times = calibrate_matrix_times(spectra, tokens=16, grid=[1, 8, 16, 24])
    shapes = {s.shape: s for s in spectra}
    assert len(timed) == sum(len(s.rank_steps([1, 8, 16, 24])) for s in shapes.values()) == len(times)
    for shape, spectrum in shapes.items():
        series = [times[shape, rank] for rank in spectrum.rank_steps([1, 8, 16, 24])]
        assert series == sorted(series)


def test_target_ms_meets_a_latency_measured_here(tmp_path, capsys):
    torch.set_num_threads(1)
    model = _varied_model("tiny")
    model.save_pretrained(tmp_path / "source")
    argv = ["--model", str(tmp_path / "source"), "--batch", "2", "--seq", "16"]
    assert convert([*argv, "--output_dir", str(tmp_path / "fast"), "--target_ms", "0.001"]) == 2
    error = capsys.readouterr().err
    assert "--target_ms 0.001 ms cannot be met: the smallest reachable is" in error
    fastest = float(error.split("smallest reachable is ")[1].split(" ")[0])
    target = round(fastest * 4, 3)  # room above the fastest: the plan must fit it by measurement
    assert convert([*argv, "--output_dir", str(tmp_path / "out"), "--target_ms", str(target)]) == 0
    budget = json.loads((tmp_path / "out" / "lowrank_report.json").read_text())["budget"]
    assert budget["latency_ms"] <= target and budget["batch"] == 2 and budget["seq"] == 16
    assert budget["device"] == "cpu" and not math.isnan(budget["kept_energy"])
    assert KRElectraKDConfig.from_pretrained(tmp_path / "out").rank_budget["target_ms"] == target


def test_a_low_rank_layer_is_what_the_plan_says(tmp_path):
    dense = _varied_model("tiny")
    plan = plan_for_size(dense, round(0.7 * _saved_mb(dense), 4))
    converted, _ = convert_to_low_rank(
        dense,
        embedding_rank=plan.ranks[EMBEDDING],
        matrix_ranks={k: v for k, v in plan.ranks.items() if k != EMBEDDING},
    )
    query = converted.base_model.encoder.layer[1].attention.self.query
    planned = plan.ranks["1.query"]
    assert (query.rank if isinstance(query, KRElectraKDLowRankLinear) else None) == planned


def test_a_budgeted_students_card_states_budget_size_and_ranks(tmp_path):
    from training.model_card import write_model_card

    model = _varied_model("tiny", vocab_size=400)
    model.save_pretrained(tmp_path / "source")
    target_mb = round(0.6 * _saved_mb(model), 4)
    assert convert(["--model", str(tmp_path / "source"), "--output_dir", str(tmp_path / "out"), "--target_mb",
                    str(target_mb)]) == 0  # fmt: skip
    config = KRElectraKDConfig.from_pretrained(tmp_path / "out")
    text = str(write_model_card(tmp_path / "out"))
    assert f"at most {target_mb:g} MB" in text
    assert f"reached {config.rank_budget['size_mb']:.3f} MB" in text
    assert "per matrix: " in text and f"query {config.matrix_ranks['1.query'] or 'dense'}" in text


def test_reconverting_a_budgeted_model_with_group_ranks_drops_the_old_budget_record(tmp_path):
    model = _varied_model("tiny", vocab_size=400)
    model.save_pretrained(tmp_path / "source")
    target_mb = round(0.6 * _saved_mb(model), 4)
    out = tmp_path / "budgeted"
    assert convert(["--model", str(tmp_path / "source"), "--output_dir", str(out), "--target_mb", str(target_mb)]) == 0
    assert convert(["--model", str(out), "--output_dir", str(tmp_path / "again"), "--attention_rank", "8",
                    "--ffn_rank", "8"]) == 0  # fmt: skip
    config = KRElectraKDConfig.from_pretrained(tmp_path / "again")
    assert config.rank_budget is None and config.matrix_ranks is None


def _fastest_ms(error: str) -> float:
    return float(error.split("smallest reachable is ")[1].split(" ")[0])


@pytest.mark.slow
@pytest.mark.parametrize("preset", [*PRESETS, "stock-bert"])
def test_target_ms_works_on_every_preset_and_a_stock_checkpoint(tmp_path, capsys, preset):
    torch.set_num_threads(1)
    if preset == "stock-bert":
        torch.manual_seed(0)
        BertModel(BertConfig(vocab_size=300, hidden_size=64, num_hidden_layers=1, num_attention_heads=2,
                             intermediate_size=128, max_position_embeddings=64)).save_pretrained(tmp_path / "source")  # fmt: skip
    else:
        shape = {**SMALL, "num_hidden_layers": 1}
        if preset == "teacher-base":
            shape.update(hidden_size=192, embedding_size=192, num_attention_heads=3, intermediate_size=768)
        _varied_model(preset, **shape).save_pretrained(tmp_path / "source")
    argv = ["--model", str(tmp_path / "source"), "--batch", "1", "--seq", "32"]
    assert convert([*argv, "--output_dir", str(tmp_path / "none"), "--target_ms", "0.0001"]) == 2
    target = round(3 * _fastest_ms(capsys.readouterr().err), 3)
    assert convert([*argv, "--output_dir", str(tmp_path / "out"), "--target_ms", str(target)]) == 0
    budget = json.loads((tmp_path / "out" / "lowrank_report.json").read_text())["budget"]
    assert budget["latency_ms"] <= target
