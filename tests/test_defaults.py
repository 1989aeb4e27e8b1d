"""The constants several modules share live in training/defaults.py alone: no module of training/, benchmarks/ or
scripts/ writes its own copy of the rank field names, the paper's model sizes or the masking share."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from training import defaults

REPO = Path(__file__).resolve().parents[1]
HOME = REPO / "training" / "defaults.py"
# modeling_kr_electra_kd/ is left out on purpose: it cannot import training, so its presets keep their literals.
SEARCHED = ("training", "benchmarks", "scripts", "model_cards")

COPIES = {
    "a rank field name in quotes": r"""["'](embedding|attention|ffn)_rank["']""",
    "a paper model size": r"\b432\b|\b110M\b",
    "the masking share": r"(?<![\d.])0\.15(?!\d)",
    "the results file name": r"""["']results\.json["']""",
    "the built student inits": r"""\(["']random["'], ["']teacher-layers["']\)""",
}


def _sources() -> list[Path]:
    return sorted(path for folder in SEARCHED for path in (REPO / folder).rglob("*.py") if path != HOME)


@pytest.mark.parametrize("what", sorted(COPIES))
def test_constant_written_only_in_defaults(what):
    pattern = re.compile(COPIES[what])
    copies = [
        f"{path.relative_to(REPO)}:{number}: {line.strip()}"
        for path in _sources()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if pattern.search(line)
    ]
    assert not copies, f"{what} written outside training/defaults.py (import it from there):\n" + "\n".join(copies)
    assert pattern.search(HOME.read_text(encoding="utf-8")), f"{what} is no longer in training/defaults.py"


def test_defaults_match_what_the_modules_use():
    from modeling_kr_electra_kd import KRElectraKDConfig
    from training.distillation import LOSSES, DistillationConfig
    from training.trainer_common import SHAPE_FIELDS

    assert defaults.RANK_FIELDS == ("embedding_rank", "attention_rank", "ffn_rank")
    assert set(defaults.RANK_FIELDS) <= set(SHAPE_FIELDS)
    assert all(hasattr(KRElectraKDConfig(), name) for name in defaults.RANK_FIELDS)  # the config's own field names
    assert DistillationConfig().weights() == {name: spec.weight for name, spec in LOSSES.items()}
