"""benchmarks/reproduce.py in stages (issue 20 item 4): one stage at a time, a stage that needs an unfinished one
refused, finished stages skipped on a rerun, a slot that runs out stopping its stage; at the `tiny` scale on CPU."""

from __future__ import annotations

import json
import subprocess

import pytest

from benchmarks import reproduce

pytestmark = pytest.mark.slow  # each test runs pipeline stages end to end


@pytest.fixture
def argv(tmp_path, fixtures_dir):
    return [
        "--scale", "tiny", "--tasks", "nsmc", "--students", "small-kd",
        "--corpus", str(fixtures_dir / "corpus.txt"), "--data-dir", str(fixtures_dir / "tasks" / "nsmc"),
        "--work-dir", str(tmp_path / "work"), "--output-dir", str(tmp_path / "results"),
    ]  # fmt: skip


def _status(tmp_path) -> dict:
    return json.loads((tmp_path / "work" / reproduce.STAGES_FILE).read_text(encoding="utf-8"))


def test_stages_run_one_at_a_time_and_a_rerun_skips_finished_ones(argv, tmp_path, capsys, monkeypatch):
    assert reproduce.main([*argv, "--stage", "teacher"]) == 2
    assert "needs stage 'tokenizer' first" in capsys.readouterr().err
    assert reproduce.main([*argv, "--stage", "nonsense"]) == 2

    assert reproduce.main([*argv, "--stage", "tokenizer"]) == 0
    status = _status(tmp_path)
    assert list(status) == ["tokenizer", "teacher", "small-kd", "finetune teacher nsmc", "finetune small-kd nsmc"]
    assert status["tokenizer"]["done"] and not status["teacher"]["done"]
    assert reproduce.main([*argv, "--stage", "table"]) == 2  # not every stage is finished
    assert "stage 'teacher' is not finished" in capsys.readouterr().err
    tokenizer_done = tmp_path / "work" / "tokenizer" / ".done"
    stamp = tokenizer_done.stat().st_mtime_ns

    assert reproduce.main(argv) == 0  # the rest, in this process, then the table
    assert "tokenizer already done" in capsys.readouterr().out
    assert tokenizer_done.stat().st_mtime_ns == stamp
    assert all(state["done"] and state["seconds"] >= 0 for state in _status(tmp_path).values())
    assert json.loads((tmp_path / "results" / "reproduce.json").read_text())["models"].keys() == {"teacher", "small-kd"}

    def no_process(*args, **kwargs):
        raise AssertionError(f"a finished stage was started again: {args}")

    monkeypatch.setattr(subprocess, "Popen", no_process)
    assert reproduce.main([*argv, "--slot-minutes", "9"]) == 0  # everything finished: only the table
    out = capsys.readouterr().out
    assert all(f"[{stage}] already done" in out for stage in _status(tmp_path))
    assert tokenizer_done.stat().st_mtime_ns == stamp


def test_a_slot_that_runs_out_stops_its_stage_unfinished(argv, tmp_path, capsys):
    assert reproduce.main([*argv, "--slot-minutes", "0.02"]) == 0  # 1.2 s: the tokenizer stage cannot finish
    out = capsys.readouterr().out
    assert "[tokenizer] stopped: the slot's 0.02 minutes are up" in out and "next: 'tokenizer'" in out
    assert not _status(tmp_path)["tokenizer"]["done"]
    assert not (tmp_path / "results" / "reproduce.json").exists()
