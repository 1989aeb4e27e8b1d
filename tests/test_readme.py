"""README.md's generated sections match what the generator measures now (they are never typed by hand)."""

import json
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


README = (REPO / "README.md").read_text(encoding="utf-8")


def test_readme_names_no_folder_of_this_projects_machines():
    """A user has no ../shared, /tmp/... folder, nor the folder this checkout sits in: commands use placeholders the
    README explains, and generated results name a model or input by its name (issue 36)."""
    for local in ("../shared", "/tmp/", f"{REPO.parent}/", "../../"):
        lines = [line for line in README.splitlines() if local in line]
        assert not lines, f"README.md names {local!r}: {lines[0][:200]}"


def test_no_readme_table_runs_into_the_text_after_it():
    """GitHub reads a line straight after a table row as one more row: a generated table ends with a blank line."""
    lines = README.splitlines()
    run_on = [
        f"line {number + 2}: {after[:80]}"
        for number, (row, after) in enumerate(zip(lines, lines[1:]))
        if row.startswith("|") and after.strip() and not after.startswith(("|", "<!--"))
    ]
    assert not run_on, f"README.md text runs on from a table: {run_on}"


def recipe_commands() -> list[list[str]]:
    """The commands of the README's "The recipe, step by step" block, continuation lines joined, comments left out."""
    import shlex

    section = README.split("## The recipe, step by step", 1)[1]
    block = section.split("```bash\n", 1)[1].split("\n```", 1)[0].replace("\\\n", " ")
    return [shlex.split(line) for line in block.splitlines() if line.strip() and not line.lstrip().startswith("#")]


# What the test adds to each command so that it runs in seconds (the README's options stay as written).
SHORTER = {
    "train-tokenizer": ["--vocab_size", "1500"],
    "pretrain-teacher": ["--max_steps", "2", "--max_seq_length", "32", "--per_device_train_batch_size", "4"],
    "distill": ["--max_steps", "2", "--max_seq_length", "32", "--per_device_train_batch_size", "4"],
    "finetune": ["--max_steps", "2", "--max_seq_length", "32", "--max_train_samples", "16", "--max_eval_samples", "16"],
    "evaluate": ["--max_seq_length", "32", "--max_eval_samples", "16"],
}


def test_the_recipe_block_is_the_pipeline_in_order():
    commands = recipe_commands()
    steps = [argv[1] for argv in commands]  # the sub-command, or the script after `python`
    assert steps[:5] == ["train-tokenizer", "pretrain-teacher", "distill", "distill", "finetune"], steps
    assert {argv[0] for argv in commands} == {"kr-electra-kd", "python"} and steps[-1] == "upload.py"
    assert all(step in SHORTER or step in ("card", "upload.py") for step in steps), steps


@pytest.mark.slow  # every step of the recipe trains or loads models
def test_the_readme_recipe_runs_as_written(tmp_path, monkeypatch, capsys):
    """The block runs command by command in a folder holding stand-ins named as the README names them (corpus.txt,
    more_reviews.txt, nsmc/ from the package's sample data), with tiny step counts appended and teacher-base made
    tiny; `python upload.py` runs upload.py's main."""
    import runpy
    import shutil

    from training.cli import main as cli_main

    sample = REPO / "training" / "data"
    shutil.copy(sample / "sample_corpus.txt", tmp_path / "corpus.txt")
    lines = (sample / "sample_corpus.txt").read_text(encoding="utf-8").splitlines()
    (tmp_path / "more_reviews.txt").write_text("\n".join(lines[:64]) + "\n", encoding="utf-8")
    shutil.copytree(sample / "sample_nsmc", tmp_path / "nsmc")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for argv in recipe_commands():
        argv = ["tiny" if word == "teacher-base" else word for word in argv]
        if argv[0] == "kr-electra-kd":
            code = cli_main(argv[1:] + SHORTER.get(argv[1], []))
        else:
            assert argv[:2] == ["python", "upload.py"], argv
            monkeypatch.setattr(sys, "argv", [str(REPO / "upload.py"), *argv[2:]])
            with pytest.raises(SystemExit) as exited:
                runpy.run_path(str(REPO / "upload.py"), run_name="__main__")
            code = exited.value.code
        assert code in (0, None), f"{' '.join(argv)} exited {code}: {capsys.readouterr().err[-2000:]}"
    assert json.loads((tmp_path / "lf3-nsmc" / "results.json").read_text())["task"] == "nsmc"
    assert (tmp_path / "lf3-nsmc-kd" / "model.safetensors").is_file()
    assert (tmp_path / "lf3-nsmc" / "README.md").is_file()
