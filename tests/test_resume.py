"""Finding the checkpoint a run resumes from: the newest complete one, of the run's own shape."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from modeling_kr_electra_kd import KRElectraKDConfig
from training.trainer_common import resume_checkpoint


def _checkpoint(folder, step: int, complete: bool = True, config: KRElectraKDConfig | None = None):
    path = folder / f"checkpoint-{step}"
    path.mkdir(parents=True)
    save_file({"weight": torch.zeros(1)}, path / "model.safetensors")  # checked before it is trusted
    if complete:
        (path / "trainer_state.json").write_text("{}")
    if config is not None:
        config.save_pretrained(path)
    return path


def test_the_newest_complete_checkpoint_is_chosen_and_named(tmp_path, capsys):
    assert resume_checkpoint(tmp_path / "missing") is None
    _checkpoint(tmp_path, 5)
    newest_complete = _checkpoint(tmp_path, 20)
    _checkpoint(tmp_path, 100, complete=False)  # killed while saving (sorted by step, not by name)
    assert resume_checkpoint(tmp_path) == str(newest_complete)
    assert (
        capsys.readouterr().out.strip() == f"Resuming from {newest_complete}, skipping the incomplete checkpoint-100."
    )


def test_no_complete_checkpoint_starts_over(tmp_path, capsys):
    _checkpoint(tmp_path, 10, complete=False)
    assert resume_checkpoint(tmp_path) is None
    assert "No complete checkpoint" in capsys.readouterr().out


def test_a_checkpoint_of_another_shape_is_refused(tmp_path):
    config = KRElectraKDConfig.from_preset("tiny", vocab_size=100)
    _checkpoint(tmp_path, 10, config=config)
    assert resume_checkpoint(tmp_path, config) is not None
    other = KRElectraKDConfig.from_preset("tiny", vocab_size=100, ffn_rank=16)
    with pytest.raises(ValueError, match="shape ffn_rank=None, but this run builds ffn_rank=16"):
        resume_checkpoint(tmp_path, other)


def test_the_training_clock_logs_cumulative_seconds_and_continues_a_resumed_run(monkeypatch):
    from types import SimpleNamespace

    from training import trainer_common
    from training.trainer_common import TrainingClock, training_seconds

    now = iter([100.0, 104.5, 200.0, 203.0])  # first step begins, a save step ends; resumed: begins, a log step ends
    monkeypatch.setattr(trainer_common.time, "perf_counter", lambda: next(now))
    state = SimpleNamespace(log_history=[], global_step=0)
    quiet, save = (
        SimpleNamespace(should_log=False, should_save=False),
        SimpleNamespace(should_log=False, should_save=True),
    )
    clock = TrainingClock()
    clock.on_train_begin(None, state, quiet)
    clock.on_step_begin(None, state, quiet)
    state.global_step = 1
    clock.on_step_end(None, state, quiet)  # neither logs nor saves: nothing logged
    assert state.log_history == []
    state.global_step = 2
    clock.on_step_end(None, state, save)
    assert state.log_history == [{"step": 2, "train_seconds": 4.5}]
    # a resumed run: its state (log history) comes from the checkpoint; its clock continues from 4.5 s
    resumed = SimpleNamespace(log_history=[{"step": 2, "loss": 1.0}, *state.log_history], global_step=2)
    clock = TrainingClock()
    clock.on_train_begin(None, resumed, quiet)
    clock.on_step_begin(None, resumed, quiet)
    resumed.global_step = 3
    clock.on_step_end(None, resumed, SimpleNamespace(should_log=True, should_save=False))
    assert resumed.log_history[-1] == {"step": 3, "train_seconds": 7.5}
    assert training_seconds(resumed.log_history) == 7.5 and training_seconds([{"step": 1, "loss": 2.0}]) is None
