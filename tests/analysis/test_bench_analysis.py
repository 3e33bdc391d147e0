"""``dlzoo bench analysis`` smoke run on a small model: writes json + md, agreement with weightwatcher."""

from __future__ import annotations

import json

import pytest


def test_bench_analysis_small_model(tmp_path, capsys):
    pytest.importorskip("weightwatcher")
    from dlzoo.bench.analysis import main

    assert main(["--models", "mlp_digits", "--rounds", "1", "--out", str(tmp_path)]) == 0
    data = json.loads((tmp_path / "analysis.json").read_text())
    (row,) = data["rows"]
    assert row["model"] == "mlp_digits" and row["layers"] >= 2
    assert row["max_rel_alpha"] < 1e-6 and row["max_abs_norm"] < 1e-6
    assert row["ratio"] == pytest.approx(row["dlzoo_s"] / row["ww_s"])
    assert "| mlp_digits |" in (tmp_path / "analysis.md").read_text()
