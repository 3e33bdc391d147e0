"""``dlzoo bench layers`` smoke run: every row written, the same-math checks at 0, usage errors."""

from __future__ import annotations

import json

import pytest

from dlzoo.bench import layers as bench_layers
from dlzoo.errors import UsageError


def test_bench_layers_smoke(tmp_path):
    assert bench_layers.main(["--quick", "--threads", "1", "--out", str(tmp_path)]) == 0
    rows = json.loads((tmp_path / "layers.json").read_text())["results"]
    names = ["BitLinear", "BitLinear", "KANLinear", "DifferentialMultiheadAttention", "HopfieldAttention"]
    assert [r["layer"].split(" ")[0] for r in rows] == names
    assert rows[0]["check_max_abs_err"] == 0  # packed inference == training path, bit for bit
    assert rows[-1]["check_max_abs_err"] < 1e-5  # Hopfield (no LayerNorms) == torch MHA
    kan = rows[2]
    assert abs(kan["params"] - kan["baseline_params"]) <= 2 * 16 + 1  # MLP sized to the KAN's count
    for r in rows:
        assert r["ratio"] == pytest.approx(r["ours_ms"] / r["baseline_ms"])
    assert "| 1 | KANLinear" in (tmp_path / "layers.md").read_text()


def test_bench_layers_usage_errors():
    with pytest.raises(UsageError, match="bad --threads"):
        bench_layers.main(["--threads", "x"])
    with pytest.raises(UsageError, match="usage"):
        bench_layers.main(["--rounds", "x"])
