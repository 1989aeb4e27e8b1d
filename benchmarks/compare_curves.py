"""Pre-training levers side by side: several learning curves (benchmarks/learning_curve.py results, by result name),
each variant's recipe difference from the first (the reference), and per pre-training step its NSMC accuracy (mean ±
sd over seeds), its paired gain over its own random-init control and over the reference's (and whether each gain is
beyond noise) and over the reference's own point at the same step (does the lever beat the recipe it would replace?),
its losses beside their trivial values and its collapse measures. The second gain keeps a fine-tuning lever honest:
one that lowers its own control (layer-wise LR decay slows a random model's lower layers) widens the first gap without
raising the teacher.

    python -m benchmarks.learning_curve --result-name curve_reference
    python -m benchmarks.learning_curve --pretrain-option learning_rate=2e-4 --result-name curve_lr2e-4
    python -m benchmarks.compare_curves curve_reference curve_lr2e-4

Writes benchmarks/results/pretraining_levers.json and .md (--output-name names them).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from benchmarks.common import comparison_main, paired_difference
from benchmarks.learning_curve import EMBEDDINGS_ONLY, EMBEDDINGS_ONLY_LABEL

# The sections of a learning curve's recipe compared between variants.
RECIPE_SECTIONS = ("tokenizer", "pretraining", "finetuning", "teacher_shape")
POINT_LABELS = {EMBEDDINGS_ONLY: EMBEDDINGS_ONLY_LABEL}


def load_curve(results_dir: Path, name: str) -> dict:
    """A learning curve's result; a ValueError naming the file and the fix when it is missing or predates the
    recipe and the per-checkpoint measures."""
    path = results_dir / f"{name}.json"
    if not path.is_file():
        raise ValueError(f"{path}: no such result; run python -m benchmarks.learning_curve --result-name {name}.")
    result = json.loads(path.read_text(encoding="utf-8"))
    if not {"recipe", "against_control", "checkpoints"} <= set(result):
        raise ValueError(f"{path}: written before learning curves recorded their recipe and measures; re-run it.")
    return result


def flat_recipe(result: dict) -> dict[str, object]:
    """The recipe as `section.option` -> value."""
    recipe = result["recipe"]
    return {f"{section}.{key}": value for section in RECIPE_SECTIONS for key, value in recipe.get(section, {}).items()}


def recipe_difference(reference: dict, variant: dict) -> dict[str, list]:
    """`section.option` -> [the reference's value, the variant's] for every option that differs (None: not set)."""
    ours, theirs = flat_recipe(reference), flat_recipe(variant)
    return {key: [ours.get(key), theirs.get(key)] for key in sorted(set(ours) | set(theirs)) if ours.get(key) != theirs.get(key)}  # fmt: skip


def step_row(result: dict, step: str, reference: dict) -> dict:
    """One step of a curve: accuracy, gain over its control, over the `reference` curve's control and over the
    reference's point at the same step (paired on the same seeds; None when the seeds differ or the reference has no
    such point), losses with their trivial values, collapse."""
    measures = result["checkpoints"].get(step, {})
    losses = measures.get("losses") or {}
    same_seeds = result["settings"]["seeds"] == reference["settings"]["seeds"]
    accuracy = result["nsmc_accuracy"][step]["per_seed"]

    def gain_over(point: str) -> dict | None:
        reference_point = reference["nsmc_accuracy"].get(point)
        return paired_difference(accuracy, reference_point["per_seed"]) if same_seeds and reference_point else None

    return {
        "accuracy": result["nsmc_accuracy"][step],
        "gain_over_control": result["against_control"].get(step),
        "gain_over_reference_control": gain_over("0"),
        "gain_over_reference_point": gain_over(step),
        "pretraining_seconds": measures.get("pretraining_seconds"),
        "loss_rtd": losses.get("loss_rtd"),
        "loss_rtd_constant": losses.get("loss_rtd_constant"),
        "loss_mlm": losses.get("loss_mlm"),
        "unigram_entropy": result["trivial_losses"]["unigram_entropy"],
        "collapse": measures.get("collapse"),
    }


def compare(names: list[str], curves: list[dict]) -> dict:
    reference = curves[0]
    return {
        "reference": names[0],
        "variants": [
            {
                "name": name,
                "recipe_difference": recipe_difference(reference, curve),
                "seeds": curve["settings"]["seeds"],
                "steps": {step: step_row(curve, step, reference) for step in curve["nsmc_accuracy"]},
            }
            for name, curve in zip(names, curves)
        ],
    }


def difference_text(difference: dict[str, list]) -> str:
    if not difference:
        return "the reference recipe"
    return "; ".join(f"{key} {before} -> {after}" for key, (before, after) in difference.items())


def _number(value: float | None, digits: int) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def step_label(step: str) -> str:
    """A curve point's cell: its step count, or what a point that is not a step count is (the embeddings-only one)."""
    return f"{int(step):,}" if step.isdigit() else POINT_LABELS.get(step, step)


# A gain's "beyond noise" verdict (paired_difference's above_control) as a table shows it.
BEYOND_NOISE = {True: "**yes**", False: "no", None: "one seed"}


def gain_cell(gain: dict | None, empty: str) -> str:
    if not gain:
        return empty
    beyond = BEYOND_NOISE[gain["above_control"]]
    return f"{gain['mean']:+.2f} ± {gain['stdev']:.2f} ({beyond})"


def row_cells(step: str, row: dict, is_reference: bool) -> str:
    accuracy, collapse = row["accuracy"], row["collapse"] or {}
    gain_text = gain_cell(row["gain_over_control"], "(the control)" if step == "0" else "no control run")
    over_reference = row.get("gain_over_reference_control")
    reference_text = "(the control)" if is_reference and step == "0" else gain_cell(over_reference, "other seeds")
    point_text = "(the reference)" if is_reference else gain_cell(row.get("gain_over_reference_point"), "no such point")
    constant = f" ({row['loss_rtd_constant']:.3f})" if row["loss_rtd_constant"] is not None else ""
    rtd = f"{row['loss_rtd']:.3f}{constant}" if row["loss_rtd"] is not None else ""
    mlm = f"{row['loss_mlm']:.2f} ({row['unigram_entropy']:.2f})" if row["loss_mlm"] is not None else ""
    ranks = f"{collapse['mean_pool_effective_rank']:.1f} / {collapse['cls_effective_rank']:.1f}" if collapse else ""
    return (
        f"{step_label(step)} | {accuracy['mean']:.2f} ± {accuracy['stdev']:.2f} | {gain_text} | {reference_text} | "
        f"{point_text} | {rtd} | {mlm} | "
        f"{_number(collapse.get('cls_mean_cosine'), 3)} | {_number(collapse.get('mean_pool_mean_cosine'), 3)} | "
        f"{_number(collapse.get('token_mean_cosine'), 3)} | {ranks} |"
    )


def markdown(result: dict) -> str:
    lines = [
        f"Pre-training levers: learning curves (benchmarks/learning_curve.py) against the reference "
        f"`{result['reference']}`; command: `{result['command']}`.",
        "",
        *(f"- `{variant['name']}`: {difference_text(variant['recipe_difference'])}" for variant in result["variants"]),
        "",
        "Accuracy (%): mean ± sd over seeds; gain: the paired difference from the variant's own random-init control, "
        "and from the reference's (mean ± sd over seeds; beyond noise when over twice the larger sd of point and "
        "control: a lever that only lowers its own control gains over it, not over the reference's); versus the "
        "reference: the paired difference from the reference's own point at the same step (what a change of default "
        "would gain, beyond noise as above); losses beside their trivial values (a constant prediction's RTD loss, the "
        "corpus's unigram entropy); collapse: the encoder's last hidden states on held-out NSMC reviews (cosines near "
        "1, effective rank near 1: collapsed).",
        "",
        "| variant | pre-training steps | NSMC accuracy | gain over own control (beyond noise) | gain over the "
        "reference's control (beyond noise) | versus the reference at this point (beyond noise) | RTD loss (constant) "
        "| MLM loss (unigram) | [CLS] cosine | mean-pool cosine | token cosine | effective rank: mean-pool / [CLS] |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for variant in result["variants"]:
        for step, row in variant["steps"].items():
            lines.append(f"| `{variant['name']}` | {row_cells(step, row, variant['name'] == result['reference'])}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    return comparison_main(
        argv, __doc__, "compare_curves", "Result names of learning curves; the first is the reference.",
        "pretraining_levers", load_curve, compare, markdown,
    )  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
