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
