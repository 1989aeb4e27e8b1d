"""scripts/compat_check.py: which transformers releases load a saved folder. The committed results cover the releases
the package claims, cards carry their sentence, and the newest 4.x case runs for real (slow: it builds an environment
from the package index the first time)."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]


def _load_script():
    spec = importlib.util.spec_from_file_location("compat_check", REPO / "scripts" / "compat_check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


compat = _load_script()
COMMITTED = json.loads((compat.RESULTS / "compat.json").read_text(encoding="utf-8"))


def test_default_versions_are_the_claims_the_releases_below_them_and_the_newest(monkeypatch):
    released = ["5.25.0", "5.4.0", "5.3.0", "5.2.0", "5.1.0", "5.0.0", "4.57.6", "4.54.0", "4.53.3", "4.9.2", "3.5.1"]
    monkeypatch.setattr(compat, "OLDEST_4X", "4.54.0")
    monkeypatch.setattr(compat, "pyproject_claims", lambda: ("5.2", ["5.3.0"]))
    chosen = compat.default_versions(released)
    assert list(chosen) == ["4.53.3", "4.54.0", "4.57.6", "5.1.0", "5.2.0", "5.3.0", "5.25.0"]
    assert chosen["5.2.0"].startswith("oldest 5.x claimed") and chosen["5.3.0"].startswith("excluded")
    assert compat.newest(released, 4) == "4.57.6"  # numeric order, not text order (4.9.2 < 4.57.6)
    offline = compat.default_versions(None)  # the index unreachable: the claims and the last known newest releases
    assert list(offline) == ["4.54.0", compat.NEWEST_KNOWN[4], "5.2.0", compat.NEWEST_KNOWN[5]]


def test_pyproject_claims_are_read_from_pyproject():
    minimum, excluded = compat.pyproject_claims()
    requirement = f"transformers>={minimum}" + "".join(f",!={version}" for version in excluded)
    assert f'"{requirement}"' in (REPO / "pyproject.toml").read_text(encoding="utf-8")


def test_pipeline_outputs_agree_only_within_tolerance():
    expected = [{"label": "긍정", "score": 0.51}]
    assert compat.same([{"label": "긍정", "score": 0.51 + compat.TOLERANCE / 2}], expected)
    assert not compat.same([{"label": "긍정", "score": 0.51 + compat.TOLERANCE * 2}], expected)
    assert not compat.same([{"label": "부정", "score": 0.51}], expected)
    assert not compat.same([], expected)
    assert compat.same({"answer": "세 시간", "start": 14}, {"answer": "세 시간", "start": 14})


def test_a_failing_release_splits_the_tested_range_and_is_named():
    summaries = [
        {"transformers": version, "status": "pass" if ok else "fail"}
        for version, ok in [("5.25.0", False), ("4.53.3", False), ("4.54.0", True), ("4.57.6", True), ("5.1.0", False),
                            ("5.2.0", True), ("5.3.0", False), ("5.24.0", True)]
    ]  # fmt: skip
    assert compat.tested_with(summaries, "2026-12-03") == (
        "Tested with transformers 4.54.0–4.57.6, 5.2.0 and 5.24.0 (scripts/compat_check.py, 2026-12-03); "
        "4.53.3, 5.1.0, 5.3.0, 5.25.0 fail."
    )
    assert compat.tested_with(summaries[2:4], "2026-12-03").startswith("Tested with transformers 4.54.0–4.57.6 (")
    assert compat.diff_cell({"dense": 0.0, "low-rank": None}) == "0.0e+00 / —"
    assert compat.diff_cell({"dense": "nan", "low-rank": 2e-5}) == "nan / 2.0e-05"


PIP_ERROR = "ERROR: No matching distribution found for kernels<0.20,>=0.19.1"


def test_a_release_whose_environment_cannot_be_built_is_not_checked_never_fail(tmp_path, monkeypatch, tiny_tokenizer):
    """pip failing to build a release's environment says nothing about transformers: the claim line, the table and a
    model card say "not checked" with pip's reason, and the release neither fails nor joins a tested span."""

    def pip_fails(command):  # the venv step works, the install step fails as pip does when the index lacks a dependency
        if "venv" in command:
            folder = Path(command[-1])
            (folder / "lib" / f"python{compat.sys.version_info.major}.{compat.sys.version_info.minor}" / "site-packages").mkdir(parents=True)  # fmt: skip
            return
        raise RuntimeError(f"`pip install -q transformers==9.9.9` failed: {PIP_ERROR}")

    monkeypatch.setattr(compat, "run_or_raise", pip_fails)
    summary, rows = compat.check_version("9.9.9", "newest 9.x", tmp_path / "cache", tmp_path / "folders", {})
    assert rows == [] and summary["status"] == "not checked" and PIP_ERROR in summary["reason"]
    summaries = [
        {"transformers": "5.2.0", "status": "pass", "reason": None},
        summary,
        {"transformers": "9.10.0", "status": "pass", "reason": None},
        {"transformers": "5.1.0", "status": "fail", "reason": None},
    ]
    line = compat.tested_with(summaries, "2026-12-04")
    assert line == (
        "Tested with transformers 5.2.0 and 9.10.0 (scripts/compat_check.py, 2026-12-04); 5.1.0 fail; 9.9.9 not checked "
        f"(its environment could not be built: `pip install -q transformers==9.9.9` failed: {PIP_ERROR})."
    )
    result = {"tested_with": line, "reference": {"transformers": "9.10.0", "torch": "2.13.0"}, "tolerance": 1e-4,
              "versions": [{**s, "chosen_as": "x", "environment_build_seconds": None, "check_seconds": None}
                           for s in summaries], "rows": []}  # fmt: skip
    table_row = next(line for line in compat.markdown(result).splitlines() if line.startswith("| 9.9.9 |"))
    assert table_row.endswith(f"| not checked: environment could not be built (`pip install -q transformers==9.9.9` failed: {PIP_ERROR}) |")  # fmt: skip
    assert "**no**" not in table_row
    # a model card carries the line as it is
    import training.model_card as model_card
    from modeling_kr_electra_kd import KRElectraKDConfig, KRElectraKDModel

    (tmp_path / "compat.json").write_text(json.dumps(result), encoding="utf-8")
    monkeypatch.setattr(model_card, "COMPAT_RESULTS", tmp_path / "compat.json")
    model_dir = tmp_path / "model"
    KRElectraKDModel(KRElectraKDConfig.from_preset("tiny", vocab_size=len(tiny_tokenizer))).save_pretrained(model_dir)
    card = model_card.write_model_card(model_dir).text
    assert "9.9.9 not checked (its environment could not be built" in card and "9.9.9 fail" not in card


def test_an_older_releases_environment_does_not_see_the_parents_kernels(tmp_path, monkeypatch):
    """kernels (which transformers 5.25 requires) reached through the parent's site-packages broke 4.54.0 (ImportError)
    and 5.2.0 (a ValueError) in the checker only: a release's environment hides it unless it installed its own."""
    import importlib.util
    import sysconfig

    pytest.importorskip("kernels")
    monkeypatch.setitem(compat.sys.modules, "kernels", compat.sys.modules.get("kernels"))  # restored afterwards
    compat.sys.modules.pop("kernels")
    compat.hide_parent_extras()  # here kernels is this environment's own: kept
    assert importlib.util.find_spec("kernels") is not None
    paths = sysconfig.get_paths()
    monkeypatch.setattr(sysconfig, "get_paths", lambda: {**paths, "purelib": str(tmp_path)})  # a release's venv
    compat.hide_parent_extras()
    assert importlib.util.find_spec("kernels") is None


def test_nan_outputs_fail():
    got = {"loads": True, "tokenizer_ok": True, "max_abs_diff": float("nan"), "pipeline": None}
    verdict = compat.folder_verdict(got, {"pipeline": None})
    assert verdict["error"] == "outputs differ by nan" and verdict["max_abs_diff"] == "nan"


def test_committed_results_cover_the_claims_and_every_head():
    """The oldest 4.x and 5.x the package claims were measured and load, the releases just below them and the ones
    pyproject.toml excludes were measured and fail. A claim changed without rerunning the script, or a rerun that
    shows a claim could be lower or an exclusion dropped, fails here."""
    by_version = {summary["transformers"]: summary for summary in COMMITTED["versions"]}
    minimum, excluded = compat.pyproject_claims()
    for claimed in (compat.OLDEST_4X, compat.oldest_at_least(list(by_version), minimum)):
        assert claimed in by_version, f"{claimed} is claimed but not in compat.json: run `{compat.COMMAND}`"
        assert by_version[claimed]["status"] == "pass", f"{claimed} is claimed but does not pass: raise the claim"
    for version in excluded:
        assert version in by_version and by_version[version]["status"] == "fail", f"{version} is excluded unmeasured"
    for summary in COMMITTED["versions"]:
        if summary["chosen_as"].startswith("the release below"):  # else the claim could be lower
            assert summary["status"] == "fail", f"{summary['transformers']} passes: lower the claim above it"
    for version, summary in by_version.items():
        heads = {row["head"] for row in COMMITTED["rows"] if row["transformers"] == version}
        assert heads == (set() if summary["status"] == "not checked" else set(compat.HEADS)), version
    # The reference row is the environment the script ran in, checked, and the newest release in the table: the one
    # the README's install command gives (issue 36: it had been left "fail" when its own environment did not build).
    reference = COMMITTED["versions"][0]
    assert reference["chosen_as"].startswith(compat.REFERENCE_ROLE) and reference["status"] == "pass", reference
    assert reference["transformers"] == COMMITTED["reference"]["transformers"]
    assert max(by_version, key=compat.version_key) == reference["transformers"], "re-run in the newest release"
    table = (compat.RESULTS / "compat.md").read_text(encoding="utf-8")
    assert table == compat.markdown(COMMITTED)


def test_model_card_names_the_tested_range(tmp_path, tiny_tokenizer):
    from modeling_kr_electra_kd import KRElectraKDConfig, KRElectraKDModel
    from training.model_card import write_model_card

    KRElectraKDModel(KRElectraKDConfig.from_preset("tiny", vocab_size=len(tiny_tokenizer))).save_pretrained(tmp_path)
    card = write_model_card(tmp_path)
    assert COMMITTED["tested_with"].startswith("Tested with transformers ")
    assert COMMITTED["tested_with"] in card.text


@pytest.mark.slow
def test_newest_4x_loads_every_head_tokenizer_and_pipeline(tmp_path):
    """The real thing for the newest 4.x: an environment from the package index (built once, then cached outside
    the checkout), every head loaded there through its folder's code, the same outputs, the same pipeline answers."""
    released = compat.released_versions()
    version = compat.newest(released, 4) if released else compat.NEWEST_KNOWN[4]
    cached = (compat.DEFAULT_CACHE / version / "compat_built.json").is_file()
    if released is None and not cached:
        message = "the package index cannot be reached, and no transformers 4.x environment is cached"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    torch.manual_seed(0)
    result = compat.run_checks({version: "newest 4.x"}, compat.DEFAULT_CACHE, tmp_path)
    rows = [row for row in result["rows"] if row["transformers"] == version]
    assert {row["head"] for row in rows} == set(compat.HEADS)
    for row in rows:
        assert row["ok"] and row["loads"] and row["tokenizer_ok"], row
        assert all(diff is not None and diff <= compat.TOLERANCE for diff in row["max_abs_diff"].values()), row
        has_pipeline = compat.HEADS[row["head"]][3] is not None
        assert row["pipeline_ok"] is (True if has_pipeline else None), row
