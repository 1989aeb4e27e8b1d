"""`python -m benchmarks.edge --smoke`: the browser benchmark end to end on one tiny model, its files and keys."""

from __future__ import annotations

import json

import pytest
from test_browser import _require_browser

from benchmarks import edge


@pytest.mark.slow
def test_edge_smoke_writes_every_field(shared_data, tmp_path):
    _require_browser()
    argv = ["--smoke", "--nsmc-dir", str(shared_data / "nsmc"), "--work", str(tmp_path / "work")]
    assert edge.main([*argv, "--output-dir", str(tmp_path / "out")]) == 0
    result = json.loads((tmp_path / "out/edge.json").read_text())
    assert {"browser", "runtime", "rows", "accuracy", "machine", "targets"} <= set(result)
    assert result["browser"]["version"][0].isdigit() and result["runtime"]["@huggingface/transformers"] == "4.3.2"
    assert {(r["dtype"], r["threads"], r["tokens"]) for r in result["rows"]} == {
        (dtype, threads, tokens) for dtype in edge.DTYPES for threads in edge.THREADS for tokens in edge.TOKENS
    }
    for row in result["rows"]:
        assert row["browser_p50_ms"] > 0 and row["onnxruntime_p50_ms"] > 0 and row["cold_start_ms"] > 0
        assert row["first_visit_gzip_bytes"]["total"] > row["first_visit_gzip_bytes"]["runtime"] > 3_000_000
        assert (row["pytorch_p50_ms"] is None) == (row["dtype"] == "q8")
    assert result["accuracy"]["reviews"] == 20 and 0 <= result["accuracy"]["label_agreement"] <= 100
    assert result["accuracy"]["model"].startswith("small-lf-v3 with 2 layers")  # words, not this machine's path
    assert (tmp_path / "out/edge.md").read_text().startswith("Browser: Chromium")
    assert (tmp_path / "out/edge.png").stat().st_size > 1000
