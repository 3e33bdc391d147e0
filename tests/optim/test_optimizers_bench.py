"""Smoke test of ``dlzoo bench optim`` (tiny run; timings are never asserted)."""

from __future__ import annotations

import json
import math

import pytest

from dlzoo.bench import optim as bench
from dlzoo.errors import UsageError


def test_vit_s_shapes_match_published_param_count() -> None:
    # timm vit_small_patch16_224: 22,050,664 parameters (22.1M in the DeiT-S paper, arXiv:2012.12877)
    assert sum(math.prod(s) for s in bench.vit_s_shapes()) == 22_050_664


def test_bench_writes_json_and_markdown(tmp_path, monkeypatch) -> None:
    monkeypatch.setitem(bench.MODELS, "tiny", lambda: [(8, 8), (8,), (4, 4)] * 5)
    code = bench.main(
        ["--models", "tiny", "--optimizers", "adamw,muon,lion", "--rounds", "1", "--out", str(tmp_path)]
    )
    assert code == 0
    report = json.loads((tmp_path / "optim.json").read_text())
    rows = {r["optimizer"]: r for r in report["results"]}
    assert set(rows) == {"adamw", "muon", "lion"}
    assert rows["adamw"]["params_match_torch"] is True and rows["muon"]["params_match_torch"] is True
    assert rows["adamw"]["ours_ms"] > 0 and rows["adamw"]["torch_foreach_ms"] > 0
    assert "| tiny | adamw |" in (tmp_path / "optim.md").read_text()


def test_bench_rejects_unknown_names(tmp_path) -> None:
    with pytest.raises(UsageError, match="unknown"):
        bench.main(["--optimizers", "adamz", "--out", str(tmp_path)])
