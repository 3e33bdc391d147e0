"""Smoke test of ``dlzoo bench norms``: it runs, checks the fused DyT against the naive one, and writes
json/md/png. Speed is measured there, never asserted here."""

from __future__ import annotations

import json

import pytest
import torch

from dlzoo.bench import norms
from dlzoo.errors import UsageError
from dlzoo.kernels import select_backend


def test_bench_norms_quick_run_writes_results(tmp_path):
    threads = torch.get_num_threads()
    assert norms.main(["--shapes", "2x8x16,3x32", "--rounds", "1", "--no-compile", "--threads", "1,2",
                       "--out", str(tmp_path)]) == 0
    assert torch.get_num_threads() == threads  # restored
    data = json.loads((tmp_path / "norms.json").read_text())
    rows = data["rows"]
    candidates = {r["candidate"] for r in rows}
    assert {"copy", "torch LayerNorm", "torch RMSNorm", "dlzoo LayerNorm", "dlzoo RMSNorm", "DyT naive",
            "dlzoo DyT"} <= candidates
    assert {r["mode"] for r in rows} == {"forward", "forward+backward"}
    assert {tuple(r["shape"]) for r in rows} == {(2, 8, 16), (3, 32)}
    assert {r["threads"] for r in rows} == {1, 2} and data["meta"]["threads"] == "1,2"
    for r in rows:
        assert r["us"] > 0 and r["gb_per_s"] > 0
        if r["candidate"] == "torch LayerNorm":
            assert r["vs_torch_layernorm"] == 1.0
        if r["candidate"] == "dlzoo DyT":
            assert r["dyt_backend"] == select_backend(torch.randn(r["shape"])) and r["dyt_max_err"] < 1e-5
    assert "| dlzoo DyT |" in (tmp_path / "norms.md").read_text()
    assert all(r["faults_per_call"] is None or r["faults_per_call"] >= 0 for r in rows)
    assert (tmp_path / "norms.png").stat().st_size > 1000


def test_bench_norms_usage_errors():
    with pytest.raises(UsageError, match="bad --shapes"):
        norms.main(["--shapes", "64xabc"])
    with pytest.raises(UsageError, match="bad --threads"):
        norms.main(["--threads", "one"])
    with pytest.raises(UsageError, match="usage"):
        norms.main(["--no-such-flag"])
