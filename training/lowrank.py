"""Dense -> low-rank conversion by truncated SVD (`kr-electra-kd convert`).

`convert_to_low_rank` factorizes each chosen matrix `W (out x in)` as `U_r sqrt(S_r) @ sqrt(S_r) V_r^T`, the best
rank-r approximation in Frobenius norm, and reports each matrix's relative reconstruction error
`||W - W_r||_F / ||W||_F`. Ranks are given per group (embedding, attention, FFN) or found from the spectral energy to
keep. Everything else (layer norms, biases, heads) is copied unchanged.

The model to convert is loaded by `training.loading.load_model`: this family directly, or a stock transformers ELECTRA
or BERT checkpoint (a Hub id or a local folder) as the equivalent dense model of this family, heads carried over.

    kr-electra-kd convert --model teacher_dir --output-dir student_lf --preset small-lf-v2
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import torch
from torch import nn
from transformers import PreTrainedModel

from modeling_kr_electra_kd import (
    LAYER_MATRICES,
    KRElectraKDConfig,
    KRElectraKDLowRankLinear,
    KRElectraKDPreTrainedModel,
)
from training.defaults import RANK_GROUPS
from training.loading import convert_stock_model

# --------------------------------------------------------------------------------------------------------------------
# Truncated SVD
# --------------------------------------------------------------------------------------------------------------------


@dataclass
class FactorReport:
    """What happened to one matrix."""

    name: str
    shape: tuple[int, int]
    rank: int
    kept_energy: float
    relative_error: float
    params_before: int
    params_after: int


@dataclass
class ConversionReport:
    embedding_rank: int | None
    attention_rank: int | None
    ffn_rank: int | None
    energy: float | None
    params_before: int
    params_after: int
    matrices: list[FactorReport] = field(default_factory=list)
    matrix_ranks: dict[str, int | None] | None = None  # per-matrix ranks over the group ranks (a budget's plan)
    budget: dict | None = None  # --target_mb / --target_ms: the target, what was reached, the smallest reachable

    @property
    def max_relative_error(self) -> float:
        return max((m.relative_error for m in self.matrices), default=0.0)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["max_relative_error"] = self.max_relative_error
        return data

    def to_markdown(self) -> str:
        lines = [
            f"Ranks: embedding={self.embedding_rank}, attention={self.attention_rank}, ffn={self.ffn_rank}"
            + (f" (energy {self.energy})" if self.energy is not None else "")
            + (f", {len(self.matrix_ranks)} matrices with their own rank" if self.matrix_ranks else ""),
            f"Parameters: {self.params_before:,} -> {self.params_after:,}",
            *([budget_line(self.budget)] if self.budget else []),
            "",
            "| matrix | shape | rank | kept energy | relative error |",
            "|---|---|---|---|---|",
        ]
        lines += [
            f"| {m.name} | {m.shape[0]}x{m.shape[1]} | {m.rank} | {m.kept_energy:.4f} | {m.relative_error:.4f} |"
            for m in self.matrices
        ]
        return "\n".join(lines)


def dense_weight(module: nn.Module) -> torch.Tensor:
    """The `out x in` weight a (possibly already factorized) linear layer computes."""
    if isinstance(module, KRElectraKDLowRankLinear):
        return module.up.weight @ module.down.weight
    return module.weight


def _svd(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    # float64: the full-rank round trip must be exact to well below 1e-4.
    return torch.linalg.svd(weight.detach().double(), full_matrices=False)


def rank_for_energy(singular_values: torch.Tensor, energy: float) -> int:
    """Smallest rank whose singular values keep at least `energy` of the squared Frobenius norm."""
    squared = singular_values.double() ** 2
    cumulative = torch.cumsum(squared, 0) / squared.sum()
    return int(torch.searchsorted(cumulative, torch.tensor(energy, dtype=cumulative.dtype) - 1e-12).item()) + 1


def _factor(weight: torch.Tensor, rank: int) -> tuple[torch.Tensor, torch.Tensor, float, float]:
    """Split `weight` into `left (out x r) @ right (r x in)`; return them, the kept energy and relative error."""
    u, s, vh = _svd(weight)
    root = s[:rank].sqrt()
    left = u[:, :rank] * root
    right = root[:, None] * vh[:rank]
    total = (s**2).sum()
    kept = float((s[:rank] ** 2).sum() / total) if total > 0 else 1.0
    return left, right, kept, math.sqrt(max(0.0, 1.0 - kept))


def _group_of(name: str, module: nn.Module) -> str | None:
    """Which rank group a linear layer belongs to, by its place in the encoder. The `down` / `up` factors of an
    already low-rank layer belong to none: the low-rank layer itself is the group's member."""
    if not isinstance(module, (nn.Linear, KRElectraKDLowRankLinear)) or ".encoder.layer." not in f".{name}":
        return None
    if name.rsplit(".", 1)[-1] in ("down", "up"):
        return None
    if ".attention." in f".{name}.":
        return "attention"
    if name.endswith("intermediate.dense") or name.endswith("output.dense"):
        return "ffn"
    return None


# A rank group's matrices: (name in the encoder, linear layer), or for the embedding the word-embedding matrix itself.
GroupedMatrices = dict[str, list[tuple[str, nn.Module | torch.Tensor]]]


def family_model(model: PreTrainedModel) -> KRElectraKDPreTrainedModel:
    """`model` as a model of this family: stock ELECTRA/BERT models are converted, anything else is refused."""
    if isinstance(model, KRElectraKDPreTrainedModel):
        return model
    if isinstance(model, PreTrainedModel) and model.config.model_type in ("electra", "bert"):
        return convert_stock_model(model)
    raise ValueError(
        f"convert_to_low_rank takes a model of this family or a stock ELECTRA/BERT model, got {type(model).__name__}."
    )


def group_matrices(encoder: nn.Module) -> GroupedMatrices:
    """The encoder's matrices by rank group. The embedding's is the full `vocab x hidden` word matrix (the product of
    its two factors when it is already low-rank)."""
    embeddings = encoder.embeddings
    word_matrix = embeddings.word_embeddings.weight
    if hasattr(embeddings, "word_embeddings_up"):
        word_matrix = word_matrix @ embeddings.word_embeddings_up.weight.T
    groups: GroupedMatrices = {"embedding": [("embeddings.word_embeddings", word_matrix)], "attention": [], "ffn": []}
    for name, module in encoder.named_modules():
        group = _group_of(name, module)
        if group is not None:
            groups[group].append((name, module))
    return groups


def _choose_ranks(
    groups: GroupedMatrices, requested: dict[str, int | None], current: dict[str, int | None], energy: float | None
) -> dict[str, int | None]:
    """Each group's new rank: the one `requested`, else (with `energy`) the smallest that keeps `energy` in every
    matrix of the group, else its `current` one (None: dense)."""
    ranks = dict(requested)
    for group, matrices in groups.items():
        if ranks[group] is None and energy is not None:
            weights = [m if isinstance(m, torch.Tensor) else dense_weight(m) for _, m in matrices]
            ranks[group] = max(rank_for_energy(_svd(weight)[1], energy) for weight in weights)
        if ranks[group] is None:
            ranks[group] = current[group]
    return ranks


def config_with(source_config: KRElectraKDConfig, **fields) -> KRElectraKDConfig:
    """`source_config` with `fields` replaced; the config validates them (a one-line ValueError), before any SVD
    work."""
    config_dict = source_config.to_dict()
    for key in ("auto_map", "architectures", "model_type", "transformers_version"):
        config_dict.pop(key, None)
    try:
        return KRElectraKDConfig(**{**config_dict, **fields})
    except ValueError as error:
        raise ValueError(f"Cannot convert: {error}") from None


def _target_config(
    source_config: KRElectraKDConfig,
    ranks: dict[str, int | None],
    requested: dict[str, int | None],
    matrix_ranks: dict[str, int | None] | None,
) -> KRElectraKDConfig:
    """`source_config` with the new group ranks and per-matrix ranks. A group given a rank now drops the per-matrix
    ranks the source had for it (the new group rank is what was asked for)."""
    kept = {
        key: rank
        for key, rank in (source_config.matrix_ranks or {}).items()
        if requested[LAYER_MATRICES[key.split(".", 1)[1]]] is None
    }
    fields = {f"{group}_rank": ranks[group] for group in RANK_GROUPS}
    # rank_budget records the budget the source's ranks were chosen for; the caller sets the new one, if any
    new_matrix_ranks = {**kept, **(matrix_ranks or {})} or None
    return config_with(source_config, **fields, matrix_ranks=new_matrix_ranks, rank_budget=None)


def budget_line(budget: dict) -> str:
    """One line saying what a --target_mb / --target_ms budget asked for and what the conversion reached."""
    if "target_mb" in budget:
        return (
            f"Budget: at most {budget['target_mb']:g} MB (fp32 model.safetensors); reached {budget['size_mb']:.3f} MB "
            f"(smallest reachable {budget['smallest_mb']:.3f} MB); kept energy {budget['kept_energy']:.4f} "
            "(size-weighted)"
        )
    return (
        f"Budget: at most {budget['target_ms']:g} ms per forward at batch {budget['batch']} x {budget['seq']} tokens "
        f"on {budget['device']} ({budget['threads']} threads); measured {budget['latency_ms']:.2f} ms (fastest "
        f"reachable {budget['fastest_ms']:.2f} ms); kept energy {budget['kept_energy']:.4f} (size-weighted)"
    )


def _factor_linear(name: str, module: nn.Module, new_module: nn.Module) -> FactorReport:
    """Fill `new_module` (low-rank, or dense when its group has no rank) from `module`'s weight and bias."""
    weight = dense_weight(module)
    bias = module.up.bias if isinstance(module, KRElectraKDLowRankLinear) else module.bias
    if isinstance(new_module, KRElectraKDLowRankLinear):
        left, right, kept, error = _factor(weight, new_module.rank)
        new_module.up.weight.copy_(left.to(new_module.up.weight.dtype))
        new_module.down.weight.copy_(right.to(new_module.down.weight.dtype))
        new_module.up.bias.copy_(bias)
        rank, params_after = new_module.rank, new_module.rank * sum(weight.shape)
    else:
        new_module.weight.copy_(weight)
        new_module.bias.copy_(bias)
        rank, kept, error, params_after = min(weight.shape), 1.0, 0.0, weight.numel()
    return FactorReport(name, tuple(weight.shape), rank, kept, error, weight.numel(), params_after)


def _factor_word_embeddings(word_matrix: torch.Tensor, embeddings: nn.Module, rank: int | None) -> FactorReport | None:
    """Fill the target's word embeddings from `word_matrix`: factorized at `rank`, or dense (no report) for None."""
    if rank is None:
        embeddings.word_embeddings.weight.copy_(word_matrix)
        return None
    left, right, kept, error = _factor(word_matrix, rank)
    embeddings.word_embeddings.weight.copy_(left.to(word_matrix.dtype))
    embeddings.word_embeddings_up.weight.copy_(right.T.to(word_matrix.dtype))
    shape = tuple(word_matrix.shape)
    return FactorReport("embeddings.word_embeddings", shape, rank, kept, error, word_matrix.numel(), rank * sum(shape))


def _factor_into(target: KRElectraKDPreTrainedModel, groups: GroupedMatrices) -> list[FactorReport]:
    """Fill `target`'s factorized (and dense) matrices from the source's `groups`; one report per matrix, the word
    embedding's first."""
    target_encoder = target.base_model
    target_named = dict(target_encoder.named_modules())
    reports = []
    with torch.no_grad():
        for group in ("attention", "ffn"):
            reports.extend(_factor_linear(name, module, target_named[name]) for name, module in groups[group])
        [(_, word_matrix)] = groups["embedding"]
        embedding_report = _factor_word_embeddings(word_matrix, target_encoder.embeddings, target.config.embedding_rank)
    return reports if embedding_report is None else [embedding_report, *reports]


def convert_to_low_rank(
    model: KRElectraKDPreTrainedModel,
    embedding_rank: int | None = None,
    attention_rank: int | None = None,
    ffn_rank: int | None = None,
    energy: float | None = None,
    matrix_ranks: dict[str, int | None] | None = None,
) -> tuple[KRElectraKDPreTrainedModel, ConversionReport]:
    """Return a copy of `model` with the chosen matrix groups factorized by truncated SVD, and a per-matrix report.

    Give ranks per group, or `energy` (0 < energy <= 1) to pick, for each group not given a rank, the smallest rank
    that keeps that share of the squared singular values in every matrix of the group. A group with neither stays as
    it is (dense, or at its current rank). `matrix_ranks` (keys as in `KRElectraKDConfig.matrix_ranks`, e.g. from
    `training.rank_budget`) gives single matrices their own rank over their group's. Stock ELECTRA/BERT models are
    converted to this family first.
    """
    model = family_model(model)
    if energy is not None and not 0.0 < energy <= 1.0:
        raise ValueError(f"energy must be in (0, 1], the share of spectral energy to keep; got {energy}.")
    requested = {"embedding": embedding_rank, "attention": attention_rank, "ffn": ffn_rank}
    if energy is None and not matrix_ranks and all(rank is None for rank in requested.values()):
        raise ValueError("Give at least one of embedding_rank, attention_rank, ffn_rank, matrix_ranks, or energy.")

    groups = group_matrices(model.base_model)
    current = {group: getattr(model.config, f"{group}_rank") for group in RANK_GROUPS}
    target_config = _target_config(
        model.config, _choose_ranks(groups, requested, current, energy), requested, matrix_ranks
    )
    target = type(model)(target_config)
    target.load_state_dict(_copy_unfactorized(model.state_dict(), target.state_dict()), strict=False)
    report = ConversionReport(
        embedding_rank=target_config.embedding_rank,
        attention_rank=target_config.attention_rank,
        ffn_rank=target_config.ffn_rank,
        energy=energy,
        params_before=sum(p.numel() for p in model.parameters()),
        params_after=0,
        matrices=_factor_into(target, groups),
        matrix_ranks=target_config.matrix_ranks,
    )
    if hasattr(target, "generator_lm_head"):
        target.tie_weights()
    report.params_after = sum(p.numel() for p in target.parameters())
    target.train(model.training)
    return target, report


def _copy_unfactorized(source: dict[str, torch.Tensor], target: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Every weight whose name and shape are unchanged (norms, biases of untouched layers, position embeddings,
    heads); factorized matrices are filled by the SVD afterwards."""
    return {key: value for key, value in source.items() if key in target and target[key].shape == value.shape}


# --------------------------------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------------------------------
