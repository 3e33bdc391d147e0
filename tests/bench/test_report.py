"""dlzoo.bench.report: the JSON holds the raw rows, the Markdown table formats them column by column."""

from __future__ import annotations

import json

from dlzoo.bench.report import environment, write_results


def test_write_results_json_and_markdown(tmp_path):
    rows = [{"case": "a", "ours_ms": 1.23456, "ratio": 0.5}, {"case": "b", "ours_ms": 2.0, "ratio": 1.25}]
    meta = environment("cpu", rounds=3)
    columns = [("case", "case", "{}"), ("ours (ms)", "ours_ms", "{:.3f}"), ("ours / ref", "ratio", "{:.2f}")]
    markdown = write_results(tmp_path / "sub" / "demo_cpu", "demo", columns, rows, meta, notes=["noisy."])
    saved = json.loads((tmp_path / "sub" / "demo_cpu.json").read_text())
    assert saved == {"meta": meta, "rows": rows}
    assert meta["rounds"] == 3 and meta["device"] == "cpu" and meta["gpu"] is None
    assert (tmp_path / "sub" / "demo_cpu.md").read_text() == markdown
    assert markdown.splitlines() == [
        "# demo", "", "| case | ours (ms) | ours / ref |", "| --- | ---: | ---: |",
        "| a | 1.235 | 0.50 |", "| b | 2.000 | 1.25 |", "", "noisy.",
    ]
