"""README.md's generated sections match what the generator measures now (they are never typed by hand)."""

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow  # a subprocess builds every preset at full size, the teacher's 110M parameters included
def test_readme_generated_sections_are_current():
    result = subprocess.run(
        [sys.executable, "scripts/update_readme.py", "--check"], cwd=REPO, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-2000:]


def test_readme_commands_match_ci():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    test_command = 'scripts/setup_browser.sh && pip install -q torch==2.13.0 -e ".[dev]" && python -m pytest -q'
    assert test_command in readme and test_command in ci
    assert 'pip install torch==2.13.0 -e ".[dev]" && kr-electra-kd quickstart' in readme
