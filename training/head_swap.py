"""Say an expected head swap in one line instead of transformers' LOAD REPORT.

Fine-tuning a pre-trained encoder always loads a checkpoint whose head differs from the model's (the RTD head of a
teacher or student is unused, the task's head is new), and transformers 5 logs that as a 15-line LOAD REPORT every
time. `from_pretrained_with_head_swap_line` loads with `output_loading_info=True`, holds the report back, and:
- prints one line ("classification head initialised; RTD head dropped") when only head weights are new or unused;
- shows the full report, as transformers wrote it, when anything else is off: an encoder weight missing from the
  checkpoint, encoder weights the model does not use, a weight of another shape, or a load that fails.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from transformers import PreTrainedModel

# transformers 5 logs the report through this module's logger (modeling_utils._finalize_model_loading).
REPORT_LOGGER = "transformers.modeling_utils"
REPORT_MARKER = "LOAD REPORT"

# The head a weight belongs to, by its top-level module name (this family, stock ELECTRA and BERT).
HEAD_NAMES = {
    "discriminator_predictions": "RTD head",
    "generator_predictions": "MLM head",
    "generator_lm_head": "MLM head",
    "cls": "pre-training heads",  # BERT: MLM and next-sentence prediction
    "classifier": "classification head",
    "qa_outputs": "question-answering head",
    "pooler": "pooler",  # BERT's, which only sequence classification uses
}


class _HoldReport(logging.Filter):
    """Keeps transformers' LOAD REPORT records back (and lets every other record through)."""

    def __init__(self) -> None:
        super().__init__()
        self.held: list[logging.LogRecord] = []

    def filter(self, record: logging.LogRecord) -> bool:
        if REPORT_MARKER in record.getMessage():
            self.held.append(record)
            return False
        return True


def _head_module(key: str, base_model_prefix: str) -> str | None:
    """The head module `key` belongs to; None for an encoder weight."""
    prefix = f"{base_model_prefix}."
    if key.startswith(prefix):
        key = key[len(prefix) :]
        return "pooler" if key.startswith("pooler.") else None
    return key.split(".", 1)[0]


def _head_name(module: str, model: PreTrainedModel) -> str:
    if module == "classifier" and type(model).__name__.endswith("TokenClassification"):
        return "token-classification head"
    return HEAD_NAMES.get(module, f"{module} head")


def head_swap_line(model: PreTrainedModel, loading_info: dict[str, Any]) -> str | None:
    """The one line for an expected head swap, "" when nothing was swapped, None when the load is not just a head
    swap (the full report is then due). `loading_info` is what `from_pretrained(..., output_loading_info=True)`
    returns."""
    if loading_info.get("mismatched_keys") or loading_info.get("error_msgs"):
        return None
    names: dict[str, list[str]] = {}
    for kind in ("missing_keys", "unexpected_keys"):
        modules = [_head_module(key, model.base_model_prefix) for key in loading_info.get(kind, ())]
        if None in modules:
            return None  # an encoder weight
        names[kind] = sorted({_head_name(module, model) for module in modules})
    parts = []
    if names["missing_keys"]:
        parts.append(f"{' and '.join(names['missing_keys'])} initialised")
    if names["unexpected_keys"]:
        parts.append(f"{' and '.join(names['unexpected_keys'])} dropped")
    return "; ".join(parts)


def from_pretrained_with_head_swap_line(model_class: Any, path_or_id: str | Path, **kwargs: Any) -> PreTrainedModel:
    """`model_class.from_pretrained(path_or_id, **kwargs)` that says an expected head swap in one line (see the
    module docstring) and shows transformers' full LOAD REPORT for anything else."""
    report_logger = logging.getLogger(REPORT_LOGGER)
    hold = _HoldReport()
    report_logger.addFilter(hold)
    line = None
    try:
        model, loading_info = model_class.from_pretrained(path_or_id, output_loading_info=True, **kwargs)
        line = head_swap_line(model, loading_info)
    finally:
        report_logger.removeFilter(hold)
        if line is None:  # not an expected head swap, or the load failed: the report as transformers wrote it
            for record in hold.held:
                report_logger.handle(record)
    if line:
        print(f"{type(model).__name__} from {path_or_id}: {line}.")
    return model
