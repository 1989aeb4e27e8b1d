"""Does a learning-curve point hold across pre-training seeds? Several learning curves (benchmarks/learning_curve.py
results) of one recipe that differ only in the pre-training seed (`--pretrain-option seed=N`), read together: per
point and per pre-training seed, the accuracy over the fine-tuning seeds and its paired gains over the random-init
control, over the starting embeddings (the embeddings-only point: the same random shape with the vectors pre-training
starts from, no ELECTRA step) and over TF-IDF on the same slices; then the same gains over every (pre-training seed,
fine-tuning seed) pair, beyond noise by the learning curve's rule (the mean gain over twice the larger sd of the two
sides). The spread of the pre-training seeds' means says how much of a point is one pre-training run's luck.

    python -m benchmarks.learning_curve --steps 0 3000 --result-name curve
    python -m benchmarks.learning_curve --steps 0 3000 --pretrain-option seed=43 --result-name curve_pseed43
    python -m benchmarks.pretraining_seeds curve curve_pseed43

Writes benchmarks/results/pretraining_seeds.json and .md (--output-name names them).
"""

from __future__ import annotations

import sys

from benchmarks.common import classical_per_seed, comparison_main, paired_difference, summary
from benchmarks.compare_curves import BEYOND_NOISE, load_curve, recipe_difference, step_label
from benchmarks.learning_curve import EMBEDDINGS_ONLY

# The one recipe option the curves may differ in.
SEED_OPTION = "pretraining.seed"
# What each pre-trained point is read against: the curve's own points, and the TF-IDF baseline on the same slices.
REFERENCES = {"control": "random-init control", EMBEDDINGS_ONLY: "starting embeddings only", "classical": "TF-IDF"}


def check_one_recipe(names: list[str], curves: list[dict]) -> None:
    """A ValueError naming the curve and the option when the curves are not one recipe on the same fine-tuning seeds
    with distinct pre-training seeds, or have no starting-embeddings point."""
    for name, curve in zip(names, curves):
        other = set(recipe_difference(curves[0], curve)) - {SEED_OPTION}
        if other:
            raise ValueError(
                f"{name}: differs from {names[0]} in {', '.join(sorted(other))}; only the pre-training seed may "
                f"differ (--pretrain-option seed=N)."
            )
        if curve["settings"]["seeds"] != curves[0]["settings"]["seeds"]:
            raise ValueError(f"{name}: fine-tuned on other seeds than {names[0]}; use the same --seeds.")
        if EMBEDDINGS_ONLY not in curve["nsmc_accuracy"]:
            raise ValueError(f"{name}: has no starting-embeddings point; run it with an --embedding_init.")
    seeds = [curve["recipe"]["pretraining"]["seed"] for curve in curves]
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"the curves share a pre-training seed ({seeds}): give each its own --pretrain-option seed=N.")


def reference_scores(curve: dict) -> dict[str, list[float]]:
    """Per fine-tuning seed, the scores a point is read against (REFERENCES)."""
    accuracy = curve["nsmc_accuracy"]
    return {"control": accuracy["0"]["per_seed"], EMBEDDINGS_ONLY: accuracy[EMBEDDINGS_ONLY]["per_seed"],
            "classical": classical_per_seed(curve)}  # fmt: skip


def point_rows(point: str, curves: list[dict]) -> dict:
    """One point: each pre-training seed's accuracy and gains, and the gains over every pair of seeds."""
    references = [reference_scores(curve) for curve in curves]
    runs = [
        {
            "pretraining_seed": curve["recipe"]["pretraining"]["seed"],
            "accuracy": curve["nsmc_accuracy"][point],
            "gains": {
                kind: paired_difference(curve["nsmc_accuracy"][point]["per_seed"], scores[kind]) for kind in REFERENCES
            },
        }
        for curve, scores in zip(curves, references)
    ]
    every = [value for curve in curves for value in curve["nsmc_accuracy"][point]["per_seed"]]
    pooled = {
        kind: paired_difference(every, [value for scores in references for value in scores[kind]])
        for kind in REFERENCES
    }
    spread = summary([run["accuracy"]["mean"] for run in runs])
    return {"runs": runs, "all_pairs": {"accuracy": summary(every), "gains": pooled}, "pretraining_seed_means": spread}


def compare(names: list[str], curves: list[dict]) -> dict:
    check_one_recipe(names, curves)
    shared = set.intersection(*(set(curve["nsmc_accuracy"]) for curve in curves))
    points = [point for point in curves[0]["nsmc_accuracy"] if point in shared and point not in ("0", EMBEDDINGS_ONLY)]
    if not points:
        raise ValueError(f"{', '.join(names)}: no pre-trained step in common; run them with the same --steps.")
    return {
        "curves": names,
        "fine_tuning_seeds": curves[0]["settings"]["seeds"],
        "recipe": curves[0]["recipe"],
        "points": {point: point_rows(point, curves) for point in points},
    }


def gain_text(gain: dict) -> str:
    beyond = BEYOND_NOISE[gain["above_control"]]
    return f"{gain['mean']:+.2f} ± {gain['stdev']:.2f} ({gain['wins']}/{len(gain['per_seed'])} above; {beyond})"


def markdown(result: dict) -> str:
    seeds = ", ".join(map(str, result["fine_tuning_seeds"]))
    lines = [
        f"One recipe, several pre-training seeds: learning curves {', '.join(f'`{n}`' for n in result['curves'])} "
        f"(only `{SEED_OPTION}` differs), each fine-tuned on seeds {seeds}; command: `{result['command']}`.",
        "",
        "Accuracy (%): mean ± sd over fine-tuning seeds (all pairs: over every pre-training and fine-tuning seed). "
        "Gains: paired on the same fine-tuning seed and slices, mean ± sd, how many pairs are above, and beyond noise "
        "when the mean exceeds twice the larger sd of the point and of what it is read against.",
        "",
        f"| pre-training steps | pre-training seed | NSMC accuracy | {' | '.join(f'over {t}' for t in REFERENCES.values())} |",  # fmt: skip
        "|---|---|---|---|---|---|",
    ]
    for point, row in result["points"].items():
        for run in [*row["runs"], {"pretraining_seed": "all pairs", **row["all_pairs"]}]:
            gains = " | ".join(gain_text(run["gains"][kind]) for kind in REFERENCES)
            accuracy = run["accuracy"]
            lines.append(
                f"| {step_label(point)} | {run['pretraining_seed']} | {accuracy['mean']:.2f} ± {accuracy['stdev']:.2f} "
                f"| {gains} |"
            )
        spread = row["pretraining_seed_means"]
        lines.append(f"| {step_label(point)} | sd of the pre-training seeds' means | {spread['stdev']:.2f} | | | |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    return comparison_main(
        argv, __doc__, "pretraining_seeds", "Result names of learning curves of one recipe, one per pre-training seed.",
        "pretraining_seeds", load_curve, compare, markdown,
    )  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
