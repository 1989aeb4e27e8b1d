"""Per-parameter learning rates through Trainer's own optimizer: `finetune --layerwise_lr_decay` and
`pretrain-teacher --token_embedding_lr_scale` scale some parameters' rate, and Trainer still builds the optimizer (its
class and settings from TrainingArguments) and the scheduler, which scales every group alike."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn


def scaled_parameter_groups(
    model: nn.Module,
    learning_rate: float,
    scale: Callable[[str], float],
    weight_decay: float,
    decay_names: list[str],
) -> list[dict]:
    """The optimizer's parameter groups: one per (scale, weight decay) pair, at rate `learning_rate * scale(name)`, with
    weight decay only on `decay_names` (Trainer's `get_decay_parameter_names`: no bias, no layer norm), trainable
    parameters only (a parameter shared by two modules, once)."""
    groups: dict[tuple[float, bool], dict] = {}
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            continue
        factor, decays = scale(name), name in decay_names
        group = groups.setdefault(
            (factor, decays),
            {"params": [], "lr": learning_rate * factor, "weight_decay": weight_decay if decays else 0.0},
        )
        group["params"].append(parameter)
    return [groups[key] for key in sorted(groups, key=lambda key: (-key[0], key[1]))]


class ScaledLearningRatesMixin:
    """Trainer mixin: `learning_rate_scale(name)` says how many times --learning_rate parameter `name` trains at. When
    any parameter's scale is not 1, `create_optimizer` hands Trainer the groups of `scaled_parameter_groups` (Trainer's
    `params` entry of the optimizer keyword arguments); otherwise Trainer builds its optimizer untouched."""

    def learning_rate_scale(self, name: str) -> float:
        return 1.0

    def create_optimizer(self, model=None):
        opt_model = self.model if model is None else model
        if self.optimizer is None and any(
            self.learning_rate_scale(name) != 1.0 for name, _ in opt_model.named_parameters()
        ):
            optimizer_cls, optimizer_kwargs = self.optimizer_cls_and_kwargs or self.get_optimizer_cls_and_kwargs(
                self.args, opt_model
            )
            groups = scaled_parameter_groups(
                opt_model,
                self.args.learning_rate,
                self.learning_rate_scale,
                self.args.weight_decay,
                self.get_decay_parameter_names(opt_model),
            )
            self.optimizer_cls_and_kwargs = (optimizer_cls, {**optimizer_kwargs, "params": groups})
        return super().create_optimizer(model)
