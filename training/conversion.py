"""Converting a dense model to low rank by truncated SVD, the library behind `kr-electra-kd convert`: the ranks from a
preset, explicit ranks, an energy share or a budget, the converted folder with its `lowrank_report.json`. The SVD is
training/lowrank.py; training/rank_budget.py chooses per-matrix ranks for --target_mb / --target_ms.
`run_conversion(**options)` runs one from keyword arguments named as the command's options:

    run_conversion(model="small-kd", output_dir="lf", preset="small-lf-v3")

    kr-electra-kd convert --model small-kd --output_dir lf --preset small-lf-v3        # the paper's ranks
    kr-electra-kd convert --model small-kd --output_dir lf --target_mb 17.9             # ranks for a file size
    kr-electra-kd convert --model small-kd --output_dir lf --target_ms 30 --batch 1 --seq 128   # for a latency here
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from modeling_kr_electra_kd import PRESETS, check_preset
from training.arguments import check_output_dir, overwrite_field, split_options
from training.defaults import RANK_FIELDS, RANK_GROUPS
from training.loading import HEADS, load_model, load_tokenizer
from training.lowrank import convert_to_low_rank, family_model
from training.outputs import atomic_output, bytes_of, output_run
from training.rank_budget import EMBEDDING, GROUP_FIELDS, RankPlan, plan_for_latency, plan_for_size


# The command's arguments live here, not in training/commands/convert.py: `run_conversion` builds them from keyword
# options with their defaults, and a library may not import a command.
@dataclass
class ConvertArguments:
    model: str = field(metadata={"help": "Dense model to convert: a folder or Hub id (this family, ELECTRA or BERT)."})
    output_dir: str = field(metadata={"help": "Where to write the low-rank model (a Hub-ready folder)."})
    preset: str | None = field(
        default=None,
        metadata={"help": f"Take the three ranks from a preset ({', '.join(PRESETS)}); explicit ranks override."},
    )
    embedding_rank: int | None = field(default=None, metadata={"help": "Rank of the word-embedding matrix."})
    attention_rank: int | None = field(default=None, metadata={"help": "Rank of Q, K, V and attention output."})
    ffn_rank: int | None = field(default=None, metadata={"help": "Rank of both feed-forward matrices."})
    energy: float | None = field(
        default=None,
        metadata={"help": "Instead of ranks: keep this share (0-1] of each matrix's spectral energy, per group."},
    )
    target_mb: float | None = field(
        default=None,
        metadata={
            "help": "Instead of ranks: choose a rank per matrix so that the fp32 model.safetensors (embeddings, heads "
            "and biases included) is at most this many MB (1e6 bytes), keeping the most spectral energy."
        },
    )
    target_ms: float | None = field(
        default=None,
        metadata={
            "help": "Instead of ranks: choose a rank per matrix so that one inference forward at --batch x --seq, "
            "timed on this machine (its GPU when there is one), takes at most this many milliseconds."
        },
    )
    batch: int = field(default=1, metadata={"help": "Batch size of the --target_ms measurement."})
    seq: int = field(default=128, metadata={"help": "Sequence length (tokens) of the --target_ms measurement."})
    budget_groups: list[str] = field(
        default_factory=lambda: list(RANK_GROUPS),
        metadata={
            "help": "Matrix groups --target_mb / --target_ms may factorize (embedding, attention, ffn); the others "
            "stay as they are."
        },
    )
    head: str = field(
        default="auto", metadata={"help": f"Which head to load: auto (the checkpoint's own), {', '.join(HEADS)}."}
    )
    overwrite_output_dir: bool = overwrite_field()


def _check_budget_options(args: ConvertArguments, ranks: dict) -> None:
    """One budget at a time, not mixed with ranks or --energy, and only known groups."""
    budgets = [flag for flag in ("target_mb", "target_ms") if getattr(args, flag) is not None]
    if not budgets:
        return
    others = [f"--{key}" for key, value in ranks.items() if value is not None] + (["--energy"] if args.energy else [])
    if len(budgets) > 1 or others or args.preset:
        given = [f"--{flag}" for flag in budgets] + others + (["--preset"] if args.preset else [])
        raise ValueError(
            f"Give one of --target_mb or --target_ms alone: it chooses every rank (got {' '.join(given)})."
        )
    unknown = [group for group in args.budget_groups if group not in RANK_GROUPS]
    if unknown or not args.budget_groups:
        raise ValueError(
            f"--budget_groups takes some of: {', '.join(RANK_GROUPS)}; got {' '.join(args.budget_groups)}."
        )


def _budget_plan(args: ConvertArguments, model) -> RankPlan | None:
    """The per-matrix ranks for --target_mb or --target_ms (None without a budget)."""
    if args.target_mb is None and args.target_ms is None:
        return None
    model = family_model(model)
    groups = tuple(args.budget_groups)
    if args.target_mb is not None:
        return plan_for_size(model, args.target_mb, groups)
    print(f"Timing each matrix shape at a grid of ranks, then the model, at batch {args.batch} x {args.seq} ...")
    return plan_for_latency(model, args.target_ms, args.batch, args.seq, groups)


def _check_saved_size(output: Path, budget: dict) -> None:
    """The saved file is the size the plan measured: its config differs only in the record, not in the weights."""
    size_mb = (output / "model.safetensors").stat().st_size / 1e6
    if size_mb > budget["target_mb"] or abs(size_mb - budget["size_mb"]) > 1e-6:
        raise RuntimeError(f"{output}/model.safetensors is {size_mb} MB, not the {budget['size_mb']} MB planned.")


def _copy_tokenizer(model: str, output: Path) -> None:
    """Keep the source's tokenizer beside the converted weights so the folder is complete."""
    try:
        tokenizer = load_tokenizer(model)
    except ValueError:
        return
    from training.tokenizer import save_tokenizer

    save_tokenizer(tokenizer, output)


def plan_conversion(args: ConvertArguments) -> tuple:
    """Every check (the output folder claimed first) and the conversion itself: (converted model, report, budget plan
    or None). Bad input raises ValueError (or OSError) before anything is written."""
    ranks = dict.fromkeys(RANK_FIELDS)
    # a fine-tuned folder's results.json and card would otherwise stay beside the new weights
    check_output_dir(args.output_dir, args.overwrite_output_dir)
    if args.preset is not None:
        check_preset(args.preset)
        ranks.update({key: PRESETS[args.preset].get(key) for key in ranks})
    ranks.update({key: getattr(args, key) for key in ranks if getattr(args, key) is not None})
    _check_budget_options(args, ranks)
    model = load_model(args.model, head=args.head)
    plan = _budget_plan(args, model)
    if plan is not None:
        field_name = GROUP_FIELDS["embedding"]
        ranks[field_name] = plan.ranks.get(EMBEDDING, ranks[field_name])
    matrix_ranks = None if plan is None else {k: v for k, v in plan.ranks.items() if k != EMBEDDING}
    converted, report = convert_to_low_rank(model, energy=args.energy, matrix_ranks=matrix_ranks, **ranks)
    return converted, report, plan


def save_conversion(args: ConvertArguments, converted, report, plan: RankPlan | None) -> Path:
    """The converted folder (weights, the source's tokenizer, lowrank_report.json), moved into place once complete;
    prints the report. Returns the folder."""
    output = Path(args.output_dir)
    if plan is not None:
        report.budget = {**plan.budget, "ranks_by_group": plan.summary()}
        converted.config.rank_budget = report.budget  # for model cards, through distillation and fine-tuning
    with atomic_output(output, needed=bytes_of(converted)) as staging:  # moved into place once complete
        converted.save_pretrained(staging)
        if plan is not None and "target_mb" in plan.budget:
            _check_saved_size(staging, plan.budget)
        _copy_tokenizer(args.model, staging)
        (staging / "lowrank_report.json").write_text(json.dumps(report.to_dict(), indent=2), encoding="utf-8")
    print(report.to_markdown())
    print(f"\nSaved to {output} (max relative reconstruction error {report.max_relative_error:.4f}).")
    return output


def run_conversion(**options) -> Path:
    """One conversion, from keyword arguments named as the convert command's options (`model`, `output_dir`,
    `preset` or ranks or a budget, ...), with its defaults; returns the converted folder. Runs in its own `output_run`
    (the output folder is locked until it returns). Bad input raises ValueError."""
    (own,) = split_options(options, (ConvertArguments,), "conversion")
    args = ConvertArguments(**own)
    with output_run():
        return save_conversion(args, *plan_conversion(args))
