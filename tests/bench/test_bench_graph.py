"""`dlzoo bench graph --quick` runs, checks outputs equal before timing, and writes its json/md tables."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch_geometric")

from dlzoo.bench import graph  # noqa: E402


def test_bench_graph_quick_writes_rows(tmp_path, capsys):
    assert graph.main(["--quick", "--rounds", "1", "--inner", "1", "--out", str(tmp_path)]) == 0
    rows = json.loads((tmp_path / "graph.json").read_text())["rows"]
    assert [r["layer"] for r in rows] == ["GCNConv", "GCNConv cached", "SAGEConv mean", "SAGEConv max"]
    assert all(r["same_output"] and r["ratio"] > 0 for r in rows)
    assert "ours / PyG" in (tmp_path / "graph.md").read_text()
    assert graph.main(["--help"]) == 0
