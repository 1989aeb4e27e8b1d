"""Ranks chosen for a budget: `kr-electra-kd convert --target_mb X` (file size) or `--target_ms T` (latency).

The paper and the presets give each group of matrices one hand-picked rank, but matrices differ: some keep 95% of
their spectral energy at rank 32, others need 150. Here every factorizable matrix (the word embedding; Q, K, V, the
attention output and both FFN matrices of every layer) gets its own rank:

- Keeping singular value j of matrix m keeps `s_j^2 / ||W_m||_F^2` of that matrix's spectral energy (its squared
  relative reconstruction error falls by as much). The objective is the kept energy summed over matrices, each
  weighted by its dense parameter count: the parameter-weighted mean of the squared relative errors is minimized.
  Weighted so, one rank of any matrix is worth what it keeps per share of that matrix's own size; unweighted, the
  one 30,000-row embedding counted like one 256 x 256 query and was cut to rank 1 (tried on small-kd).
- A greedy allocation starts every matrix at rank 1 and hands out ranks, best weighted energy gained per unit of cost
  first, until the budget is spent. With cost linear in rank (bytes) and falling singular values, a matrix's gain per
  cost never rises, so the greedy order is the best one up to the last rank. A matrix that reaches the rank at which its
  factors would hold as many parameters as the dense matrix goes dense instead (all its energy, no more bytes).
- The budget is checked by measurement, not by formula: `--target_mb` saves the model and reads the size of
  `model.safetensors` (embeddings, heads, biases, header and all, fp32); `--target_ms` times the model with the
  benchmarks' timer (training/timing.py) on the machine it runs on, after timing each matrix shape at a grid of ranks
  (on a CPU, time is not linear in a GEMM's rank). When the measurement is over the budget the allocation is redone
  with the excess taken off, until it fits.

The result is a `RankPlan`: an embedding rank and a `matrix_ranks` dict for the config; `training.lowrank` does the
SVD with those ranks.
"""

from __future__ import annotations

import heapq
import math
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import torch
from torch import nn

from modeling_kr_electra_kd import KRElectraKDConfig, KRElectraKDLowRankLinear, KRElectraKDPreTrainedModel
from training.defaults import RANK_FIELDS, RANK_GROUPS
from training.lowrank import config_with, dense_weight, group_matrices
from training.timing import quartiles, random_inputs, time_blocks

GROUP_FIELDS = dict(zip(RANK_GROUPS, RANK_FIELDS))  # rank group -> its config field
EMBEDDING = "embeddings.word_embeddings"  # the word-embedding matrix's name in plans and reports
REFIT_ATTEMPTS = 8  # allocations tried before giving up (each takes the measured excess off the budget)


@dataclass
class MatrixSpectrum:
    """One factorizable matrix: its name (`EMBEDDING` or `"<layer>.<matrix>"`, as in `config.matrix_ranks`), group,
    `out x in` shape and the cumulative share of spectral energy kept at rank 1, 2, ..."""

    name: str
    group: str
    shape: tuple[int, int]
    cumulative_energy: torch.Tensor

    @property
    def dense_rank(self) -> int:
        """The rank from which the two factors hold at least as many parameters as the dense matrix."""
        rows, columns = self.shape
        return min(min(rows, columns), math.ceil(rows * columns / (rows + columns)))

    def weight_params(self, rank: int | None) -> int:
        """Parameters of the matrix at `rank` (None: dense); biases do not change with the rank."""
        rows, columns = self.shape
        return rows * columns if rank is None else rank * (rows + columns)

    def kept_energy(self, rank: int | None) -> float:
        return 1.0 if rank is None else float(self.cumulative_energy[rank - 1])

    @property
    def weight(self) -> int:
        """The matrix's weight in the objective: its dense parameter count."""
        return self.shape[0] * self.shape[1]

    def rank_steps(self, grid: list[int] | None = None) -> list[int | None]:
        """The ranks the allocation may give, smallest first, ending with dense (None): every rank below
        `dense_rank`, or the `grid` ranks below it."""
        ranks = range(1, self.dense_rank) if grid is None else sorted({r for r in grid if r < self.dense_rank} | {1})
        return [*ranks, None]


@dataclass
class RankPlan:
    """Ranks for every matrix the budget covers, what they reach, and the budget."""

    ranks: dict[str, int | None]
    budget: dict = field(default_factory=dict)

    def config_fields(self, config: KRElectraKDConfig) -> dict:
        """The config fields that carry the plan: `embedding_rank` and `matrix_ranks` (merged over the config's
        own). A group the plan covers has its group rank cleared, its matrices being all listed."""
        fields = {"matrix_ranks": {**(config.matrix_ranks or {})}}
        for name, rank in self.ranks.items():
            if name == EMBEDDING:
                fields[GROUP_FIELDS["embedding"]] = rank
            else:
                fields["matrix_ranks"][name] = rank
        covered = {group_of_matrix(name) for name in self.ranks if name != EMBEDDING}
        fields.update({GROUP_FIELDS[group]: None for group in covered})
        fields["matrix_ranks"] = fields["matrix_ranks"] or None
        return fields

    def summary(self) -> dict[str, dict[str, int | str]]:
        """Per group: the smallest, median and largest rank (dense counted as "dense"), for cards and tables."""
        by_group: dict[str, list] = {}
        for name, rank in self.ranks.items():
            by_group.setdefault(group_of_matrix(name), []).append(rank)
        summary = {}
        for group, ranks in by_group.items():
            numeric = sorted(r for r in ranks if r is not None)
            summary[group] = {
                "matrices": len(ranks),
                "dense": len(ranks) - len(numeric),
                "min": numeric[0] if numeric else "dense",
                "median": numeric[len(numeric) // 2] if numeric else "dense",
                "max": numeric[-1] if numeric else "dense",
            }
        return summary


def group_of_matrix(name: str) -> str:
    from modeling_kr_electra_kd import LAYER_MATRICES

    return "embedding" if name == EMBEDDING else LAYER_MATRICES[name.split(".", 1)[1]]


# --------------------------------------------------------------------------------------------------------------------
# Spectra
# --------------------------------------------------------------------------------------------------------------------


def layer_matrix_name(module_name: str) -> str | None:
    """`"<layer>.<matrix>"` for an encoder module name (`encoder.layer.3.attention.self.query` -> `3.query`), else
    None."""
    marker = "encoder.layer."
    if marker not in module_name:
        return None
    layer, _, rest = module_name.split(marker, 1)[1].partition(".")
    matrix = {
        "attention.self.query": "query",
        "attention.self.key": "key",
        "attention.self.value": "value",
        "attention.output.dense": "attention_output",
        "intermediate.dense": "ffn_intermediate",
        "output.dense": "ffn_output",
    }.get(rest)
    return None if matrix is None else f"{layer}.{matrix}"


def _cumulative_energy(weight: torch.Tensor) -> torch.Tensor:
    squared = torch.linalg.svdvals(weight.detach().double()) ** 2
    total = squared.sum()
    return torch.cumsum(squared, 0) / total if total > 0 else torch.ones_like(squared)


def matrix_spectra(model: KRElectraKDPreTrainedModel, groups: tuple[str, ...] = RANK_GROUPS) -> list[MatrixSpectrum]:
    """The spectrum of every factorizable matrix of `model` in `groups` (the product of the factors when a matrix is
    already low-rank), found by the same grouping `convert_to_low_rank` factorizes."""
    spectra = []
    for group, matrices in group_matrices(model.base_model).items():
        if group not in groups:
            continue
        for module_name, matrix in matrices:
            weight = matrix if isinstance(matrix, torch.Tensor) else dense_weight(matrix)
            name = EMBEDDING if group == "embedding" else layer_matrix_name(module_name)
            spectra.append(MatrixSpectrum(name, group, tuple(weight.shape), _cumulative_energy(weight)))
    return spectra


# --------------------------------------------------------------------------------------------------------------------
# The greedy allocation
# --------------------------------------------------------------------------------------------------------------------

# cost(matrix, rank or None) -> the budget it uses (bytes, seconds)
CostFunction = Callable[[MatrixSpectrum, "int | None"], float]


def allocate(
    spectra: list[MatrixSpectrum], budget: float, cost: CostFunction, grid: list[int] | None = None
) -> dict[str, int | None]:
    """Ranks that keep the most spectral energy (weighted sum over matrices) for at most `budget` of `cost`, from
    each matrix's smallest step. A step that costs nothing more is always taken; steps that no longer fit are skipped
    while cheaper ones of other matrices may still fit."""
    steps = {spectrum.name: spectrum.rank_steps(grid) for spectrum in spectra}
    position = dict.fromkeys(steps, 0)
    spent = sum(cost(spectrum, steps[spectrum.name][0]) for spectrum in spectra)
    by_name = {spectrum.name: spectrum for spectrum in spectra}
    heap: list[tuple[float, str]] = []

    def push(name: str) -> None:
        index = position[name]
        if index + 1 < len(steps[name]):
            spectrum, now, after = by_name[name], steps[name][index], steps[name][index + 1]
            extra = max(0.0, cost(spectrum, after) - cost(spectrum, now))
            gain = spectrum.weight * (spectrum.kept_energy(after) - spectrum.kept_energy(now))
            heapq.heappush(heap, (-(gain / extra) if extra > 0 else -math.inf, name))

    for name in steps:
        push(name)
    while heap:
        _, name = heapq.heappop(heap)
        spectrum, index = by_name[name], position[name]
        extra = max(0.0, cost(spectrum, steps[name][index + 1]) - cost(spectrum, steps[name][index]))
        if spent + extra > budget:
            continue  # this matrix stops here; others may still fit
        spent += extra
        position[name] = index + 1
        push(name)
    return {name: steps[name][position[name]] for name in steps}


def kept_energy(spectra: list[MatrixSpectrum], ranks: dict[str, int | None]) -> float:
    """The objective the allocation maximizes, as a share: kept energy weighted by each matrix's dense size."""
    total = sum(spectrum.weight for spectrum in spectra)
    return sum(spectrum.weight * spectrum.kept_energy(ranks[spectrum.name]) for spectrum in spectra) / max(1, total)


# --------------------------------------------------------------------------------------------------------------------
# Budgets measured as they will be: file size and latency
# --------------------------------------------------------------------------------------------------------------------


def _planned_config(config: KRElectraKDConfig, plan: RankPlan) -> KRElectraKDConfig:
    return config_with(config, **plan.config_fields(config))


def saved_bytes(model_class: type[KRElectraKDPreTrainedModel], config: KRElectraKDConfig) -> int:
    """Size of the `model.safetensors` that `save_pretrained` writes for `model_class(config)` (fp32)."""
    from transformers.utils import logging

    bars = logging.is_progress_bar_enabled()
    logging.disable_progress_bar()  # one bar per measurement would bury the command's output
    try:
        with tempfile.TemporaryDirectory() as folder:
            model_class(config).to(torch.float32).save_pretrained(folder)
            return sum(path.stat().st_size for path in Path(folder).glob("*.safetensors"))
    finally:
        if bars:
            logging.enable_progress_bar()


def _fit(
    measure: Callable[[dict[str, int | None]], float],
    spectra: list[MatrixSpectrum],
    target: float,
    cost: CostFunction,
    unit: str,
    option: str,
    grid: list[int] | None = None,
) -> tuple[dict[str, int | None], float, float]:
    """Allocate for `target` (measured by `measure`), redoing it with the measured excess taken off the budget until
    the measurement fits. Returns ranks, the measured value and the floor (every matrix at its smallest step)."""
    floor_ranks = {spectrum.name: spectrum.rank_steps(grid)[0] for spectrum in spectra}
    floor = measure(floor_ranks)
    if floor > target:
        raise ValueError(
            f"{option} {target:g} {unit} cannot be met: the smallest reachable is {floor:g} {unit} (every factorizable "
            f"matrix at rank 1; the rest of the model does not shrink). Give {option} {math.ceil(floor * 100) / 100:g} "
            "or more."
        )
    fixed = floor - sum(cost(spectrum, floor_ranks[spectrum.name]) for spectrum in spectra)
    budget = target - fixed
    for _ in range(REFIT_ATTEMPTS):
        ranks = allocate(spectra, budget, cost, grid)
        reached = measure(ranks)
        if reached <= target:
            return ranks, reached, floor
        budget -= (reached - target) * 1.05  # what the estimate missed (header bytes, fused kernels), with a margin
    raise ValueError(
        f"{option} {target:g} {unit}: no allocation measured within it after {REFIT_ATTEMPTS} tries (the last reached "
        f"{reached:g} {unit}); give a larger {option}, or for a latency budget a longer, quieter measurement."
    )


def plan_for_size(
    model: KRElectraKDPreTrainedModel, target_mb: float, groups: tuple[str, ...] = RANK_GROUPS
) -> RankPlan:
    """Per-matrix ranks whose fp32 `model.safetensors` (this model's class) is at most `target_mb` MB (1e6 bytes)."""
    spectra = matrix_spectra(model, groups)
    model_class = type(model)

    def measure(ranks: dict[str, int | None]) -> float:
        return saved_bytes(model_class, _planned_config(model.config, RankPlan(ranks))) / 1e6

    def cost(spectrum: MatrixSpectrum, rank: int | None) -> float:
        return 4 * spectrum.weight_params(rank) / 1e6

    ranks, reached, floor = _fit(measure, spectra, target_mb, cost, "MB", "--target_mb")
    budget = {
        "target_mb": target_mb,
        "size_mb": reached,
        "smallest_mb": floor,
        "kept_energy": kept_energy(spectra, ranks),
    }
    return RankPlan(ranks, budget)


# Latency ------------------------------------------------------------------------------------------------------------


def _device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def median_seconds(call: Callable[[], object], min_run_time: float) -> float:
    """The median seconds of one `call` over blocks of at least `min_run_time` (the one timer, training/timing.py)."""
    return quartiles(time_blocks(call, min_run_time, torch.get_num_threads()))[1]


def _matrix_forward(spectrum: MatrixSpectrum, rank: int | None, tokens: int, device: torch.device) -> Callable:
    """One forward through `spectrum`'s matrix at `rank` (None: dense) for `tokens` rows, ready to time. The word
    embedding is a lookup (then the `rank -> embedding_size` projection when factorized)."""
    rows, columns = spectrum.shape
    if spectrum.name == EMBEDDING:
        lookup = nn.Embedding(rows, rank or columns).to(device)
        project = nn.Linear(rank, columns, bias=False).to(device) if rank else nn.Identity()
        ids = torch.randint(0, rows, (tokens,), device=device)
        return partial(lambda module, inputs: module(inputs), nn.Sequential(lookup, project), ids)
    module = nn.Linear(columns, rows) if rank is None else KRElectraKDLowRankLinear(columns, rows, rank)
    return partial(module.to(device), torch.randn(tokens, columns, device=device))


def calibrate_matrix_times(
    spectra: list[MatrixSpectrum], tokens: int, grid: list[int], min_run_time: float = 0.05
) -> dict[tuple[tuple[int, int], int | None], float]:
    """Seconds of one forward through a matrix of each shape at each grid rank (and dense), for `tokens` rows, on the
    machine this runs on. Made non-decreasing in rank, since a larger rank never needs less work and timer noise
    would otherwise hand out free ranks."""
    device = _device()
    times: dict[tuple[tuple[int, int], int | None], float] = {}
    for shape, spectrum in {spectrum.shape: spectrum for spectrum in spectra}.items():
        largest = 0.0
        for rank in spectrum.rank_steps(grid):
            with torch.inference_mode():
                seconds = median_seconds(_matrix_forward(spectrum, rank, tokens, device), min_run_time)
            largest = max(largest, seconds)
            times[shape, rank] = largest
    return times


def model_latency_ms(model: KRElectraKDPreTrainedModel, batch: int, seq: int, min_run_time: float = 0.2) -> float:
    """Median milliseconds of one inference forward of `model`'s encoder (what every head shares; a pre-training
    model's generator is not served) on a padded random batch, the benchmarks' inputs."""
    device = _device()
    model = model.base_model.to(device).eval()
    inputs = {key: value.to(device) for key, value in random_inputs(batch, seq, model.config.vocab_size).items()}
    with torch.inference_mode():
        return 1000 * median_seconds(lambda: model(**inputs), min_run_time)


def latency_grid(spectra: list[MatrixSpectrum]) -> list[int]:
    """Ranks timed in calibration: 1, then every multiple of 8 (GEMM kernels work in such tiles)."""
    largest = max(spectrum.dense_rank for spectrum in spectra)
    return [1, *range(8, largest, 8)]


def plan_for_latency(
    model: KRElectraKDPreTrainedModel,
    target_ms: float,
    batch: int,
    seq: int,
    groups: tuple[str, ...] = RANK_GROUPS,
    min_run_time: float = 0.2,
) -> RankPlan:
    """Per-matrix ranks whose encoder forward (inference, `batch` x `seq` tokens) takes at most `target_ms`
    milliseconds on this machine (its GPU when there is one)."""
    if seq > model.config.max_position_embeddings:
        raise ValueError(
            f"--seq {seq} is longer than the model's {model.config.max_position_embeddings} positions; give a shorter "
            "--seq."
        )
    spectra = matrix_spectra(model, groups)
    grid = latency_grid(spectra)
    times = calibrate_matrix_times(spectra, batch * seq, grid, min_run_time / 4)
    model_class = type(model)

    def measure(ranks: dict[str, int | None]) -> float:
        return model_latency_ms(model_class(_planned_config(model.config, RankPlan(ranks))), batch, seq, min_run_time)

    def cost(spectrum: MatrixSpectrum, rank: int | None) -> float:
        return 1000 * times[spectrum.shape, rank]

    ranks, reached, floor = _fit(measure, spectra, target_ms, cost, "ms", "--target_ms", grid)
    budget = {
        "target_ms": target_ms,
        "latency_ms": reached,
        "fastest_ms": floor,
        "batch": batch,
        "seq": seq,
        "device": str(_device()),
        "threads": torch.get_num_threads(),
        "kept_energy": kept_energy(spectra, ranks),
    }
    return RankPlan(ranks, budget)
