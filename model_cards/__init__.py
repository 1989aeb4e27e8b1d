"""Model cards generated from measured results (see generate.py and template.md)."""

from .generate import write_model_card

__all__ = ["write_model_card"]
