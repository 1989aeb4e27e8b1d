"""`DistillationConfig`: the distill command's loss options. One `--weight_<name>` option per registered loss
(`losses.LOSSES`), with the loss's default weight and help; a new loss gets its option by being registered."""

from __future__ import annotations

from dataclasses import dataclass, field, make_dataclass

from training.distillation.losses import LABELS, LOSSES, QKV

LOSS_PARTS = tuple(LOSSES)


def weight_option(name: str) -> str:
    """The config field (and command-line option) holding the weight of loss `name`."""
    return f"weight_{name}"


@dataclass
class _Settings:
    """What the distillation loss is made of, besides the weights."""

    temperature: float = field(default=2.0, metadata={"help": "Softmax temperature of the soft targets (> 0)."})
    layer_map: list[int] | None = field(
        default=None,
        metadata={
            "help": "Teacher layer (1-based) matched to each student layer, e.g. 3 6 9 12 for a 4-layer student of "
            "a 12-layer teacher. Default: teacher layer ceil(i * T / S) for student layer i (valid for any depths)."
        },
    )
    cache_teacher_outputs: bool = field(
        default=False, metadata={"help": "Compute the teacher's outputs once per example and reuse them each epoch."}
    )
    teacher_cache_mb: float = field(
        default=2048,
        metadata={
            "help": "Most CPU memory (MB) the teacher-output cache may hold; examples past it are recomputed each "
            "epoch. Only the outputs the active losses read are cached (attention maps are the largest)."
        },
    )

    def weights(self) -> dict[str, float]:
        """Loss name -> weight, for every registered loss."""
        return {name: getattr(self, weight_option(name)) for name in LOSSES}

    def active(self) -> dict[str, float]:
        """The losses with a weight above 0, and their weights."""
        return {name: weight for name, weight in self.weights().items() if weight > 0}

    def needs(self) -> frozenset[str]:
        """Everything the active losses read."""
        return frozenset().union(*(LOSSES[name].needs for name in self.active()))

    def validate(self, corrupted_inputs: bool = False) -> None:
        if corrupted_inputs and self.cache_teacher_outputs:
            raise ValueError(
                "Corrupted inputs differ at every step, so the teacher's outputs cannot be cached: drop "
                "--cache_teacher_outputs or --corrupt_inputs."
            )
        if not self.temperature > 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}.")
        for name, weight in self.weights().items():
            if weight < 0:
                raise ValueError(f"{weight_option(name)} must be >= 0, got {weight}.")
        if not self.active():
            raise ValueError("All loss weights are 0: give at least one of weight_kl, weight_hard, weight_hidden, ...")
        uncached = sorted(name for name in self.active() if QKV in LOSSES[name].needs)
        if self.cache_teacher_outputs and uncached:
            raise ValueError(
                f"The teacher-output cache does not hold query/key/value states, which {', '.join(uncached)} reads: "
                "drop --cache_teacher_outputs."
            )

    def check_labels(self, unlabelled_source: str | None) -> None:
        """Refuse a loss mix in which every active loss reads labels while `unlabelled_source` (the flag whose texts
        have none: --corpus, --transfer_corpus) feeds the run; it would otherwise fail at its first step."""
        active = self.active()
        if unlabelled_source is None or not all(LABELS in LOSSES[name].needs for name in active):
            return
        given = ", ".join(f"--{weight_option(name)} {weight:g}" for name, weight in active.items())
        raise ValueError(
            f"{given}: only losses on labels are on, but {unlabelled_source} texts have no labels: add a loss from "
            "the teacher (e.g. --weight_kl 1 or --weight_hidden 1)."
        )


DistillationConfig = make_dataclass(
    "DistillationConfig",
    [
        (weight_option(name), float, field(default=spec.weight, metadata={"help": spec.help}))
        for name, spec in LOSSES.items()
    ],
    bases=(_Settings,),
    namespace={"__doc__": "What the distillation loss is made of: the settings and one weight per registered loss."},
)
DistillationConfig.__module__ = __name__
