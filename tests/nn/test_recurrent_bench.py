"""``dlzoo bench rnn`` runs end to end on tiny configurations (timings are not asserted, only the report)."""

from __future__ import annotations

import json

import dlzoo.bench.rnn as bench

TINY = [
    ("lstm tiny", "lstm", 4, 2, 3, 5, 1, False, False),
    ("gru tiny lengths", "gru", 4, 2, 3, 5, 2, True, True),
]


def test_bench_rnn_writes_json_and_markdown(tmp_path, monkeypatch):
    monkeypatch.setattr(bench, "CONFIGS", TINY)
    monkeypatch.setattr(bench, "QUICK", [0, 1])
    assert bench.main(["--quick", "--rounds", "1", "--inner", "1", "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "rnn.json").read_text())
    assert [r["config"] for r in report["rows"]] == ["lstm tiny", "gru tiny lengths"]
    for row in report["rows"]:
        assert row["same_output"] is True  # ours computes torch's outputs, also with lengths=
        assert row["ratio"] > 0 and row["reference_ms"] > 0
    assert report["meta"]["command"] == "dlzoo bench rnn --quick --rounds 1 --inner 1"
    md = (tmp_path / "rnn.md").read_text()
    assert "| lstm tiny |" in md and "ours / torch" in md
