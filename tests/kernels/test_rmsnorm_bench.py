"""Smoke test of ``dlzoo bench rmsnorm``: it runs, checks dlzoo RMSNorm against torch RMSNorm, and writes
json/md with ratios against torch LayerNorm and torch RMSNorm. Speed is measured there, not asserted here."""

from __future__ import annotations

import json

import pytest
import torch

from dlzoo.bench import cli, rmsnorm
from dlzoo.errors import UsageError
from dlzoo.kernels import select_rmsnorm_backend


def test_bench_rmsnorm_quick_run_writes_results(tmp_path):
    threads = torch.get_num_threads()
    assert cli.main(["rmsnorm", "--shapes", "2x8x16,3x32", "--dtypes", "float32,bfloat16", "--rounds", "1",
                     "--threads", "1,2", "--out", str(tmp_path)]) == 0
    assert torch.get_num_threads() == threads  # restored
    data = json.loads((tmp_path / "rmsnorm.json").read_text())
    rows = data["rows"]
    assert {r["candidate"] for r in rows} == {"copy", "torch LayerNorm", "torch RMSNorm", "dlzoo RMSNorm"}
    assert {r["mode"] for r in rows} == {"forward", "forward+backward"}
    assert {tuple(r["shape"]) for r in rows} == {(2, 8, 16), (3, 32)}
    assert {r["dtype"] for r in rows} == {"float32", "bfloat16"}
    assert {r["threads"] for r in rows} == {1, 2} and data["meta"]["threads"] == "1,2"
    for r in rows:
        assert r["us"] > 0 and r["gb_per_s"] > 0
        assert (r["cpu_us"] is None) == (r["threads"] != 1) and (r["cpu_us"] is None or r["cpu_us"] >= 0)
        if r["candidate"] == "torch LayerNorm":
            assert r["vs_torch_layernorm"] == 1.0
        if r["candidate"] == "torch RMSNorm":
            assert r["vs_torch_rmsnorm"] == 1.0
        if r["candidate"] == "dlzoo RMSNorm":
            x = torch.randn(r["shape"], dtype=getattr(torch, r["dtype"]))
            assert r["backend"] == select_rmsnorm_backend(x, torch.ones(r["shape"][-1], dtype=x.dtype))
            assert r["max_err"] < (1e-5 if r["dtype"] == "float32" else 3e-2)
    md = (tmp_path / "rmsnorm.md").read_text()
    assert "| dlzoo RMSNorm |" in md and "torch LayerNorm (" in md


def test_bench_rmsnorm_usage_errors():
    with pytest.raises(UsageError, match="bad --shapes"):
        rmsnorm.main(["--shapes", "64xabc"])
    with pytest.raises(UsageError, match="bad --threads"):
        rmsnorm.main(["--threads", "one"])
    with pytest.raises(UsageError, match="bad --dtypes"):
        rmsnorm.main(["--dtypes", "float8"])
    with pytest.raises(UsageError, match="usage"):
        rmsnorm.main(["--no-such-flag"])
