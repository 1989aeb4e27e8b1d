"""The project's Trainer subclasses override a private Trainer method only where no public hook does the job (each
says why beside it); a transformers release that renames or re-signs one fails here, not in a resumed run."""

from __future__ import annotations

import inspect

import pytest
from transformers import Trainer

from training.distillation import DistillationTrainer
from training.finetuning import FinetuneTrainer
from training.pretraining import ElectraPreTrainer

# Each private override and the Trainer signature it was written against.
PRIVATE_OVERRIDES = {
    "_load_from_checkpoint": "(self, resume_from_checkpoint: str, model: torch.nn.modules.module.Module | None = None) "
    "-> None",
}


def private_overrides(trainer_class: type) -> set[str]:
    """The private Trainer methods the project's classes in `trainer_class`'s MRO define."""
    ours = [cls for cls in trainer_class.__mro__ if cls.__module__.startswith("training.")]
    return {
        name
        for cls in ours
        for name in vars(cls)
        if name.startswith("_") and not name.startswith("__") and callable(getattr(Trainer, name, None))
    }


@pytest.mark.parametrize("trainer_class", [DistillationTrainer, ElectraPreTrainer, FinetuneTrainer])
def test_private_overrides_are_listed(trainer_class):
    assert private_overrides(trainer_class) <= set(PRIVATE_OVERRIDES)


@pytest.mark.parametrize("name", sorted(PRIVATE_OVERRIDES))
def test_overridden_trainer_methods_keep_their_signature(name):
    assert str(inspect.signature(getattr(Trainer, name))) == PRIVATE_OVERRIDES[name]


@pytest.mark.parametrize("trainer_class", [DistillationTrainer, ElectraPreTrainer])
def test_checkpoints_are_saved_through_the_public_hook(trainer_class):
    assert "save_model" in vars(trainer_class)
    assert list(inspect.signature(Trainer.save_model).parameters) == ["self", "output_dir", "_internal_call"]


def test_the_rule_catches_an_unlisted_override():
    class Sneaky(ElectraPreTrainer):
        def _save(self, output_dir=None, state_dict=None):
            pass

    Sneaky.__module__ = "training.sneaky"
    assert "_save" in private_overrides(Sneaky) - set(PRIVATE_OVERRIDES)
