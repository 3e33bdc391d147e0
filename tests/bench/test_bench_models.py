"""``dlzoo bench models`` smoke run: same-weight parity check, JSON + Markdown written, usage errors."""

from __future__ import annotations

import json

import pytest

from dlzoo.bench import models as bench_models
from dlzoo.errors import UsageError

pytest.importorskip("transformers")


def test_bench_models_smoke(tmp_path, monkeypatch):
    # a thin ConvNeXt keeps the smoke run cheap; the code path is the one the full benchmark takes
    cls, cfg, _ = bench_models.ARCHS["convnext_tiny"]
    monkeypatch.setitem(bench_models.ARCHS, "convnext_tiny",
                        (cls, cfg, dict(depths=[1, 1], hidden_sizes=[8, 16], num_stages=2)))
    rc = bench_models.main(["--models", "convnext_tiny", "--img-size", "32", "--batch-size", "2",
                            "--rounds", "1", "--no-compile", "--out", str(tmp_path)])
    assert rc == 0
    data = json.loads((tmp_path / "models.json").read_text())
    rows = data["results"]
    assert {(r["model"], r["mode"], r["compiled"]) for r in rows} == {
        ("convnext_tiny", "inference", False), ("convnext_tiny", "training", False)}
    for r in rows:
        assert r["max_logit_diff"] < 1e-3
        assert r["ratio"] == pytest.approx(r["hf_s"] / r["ours_s"])
    assert "| convnext_tiny | training | no |" in (tmp_path / "models.md").read_text()


def test_bench_models_usage_errors():
    with pytest.raises(UsageError, match="unknown model"):
        bench_models.main(["--models", "resnet5"])
    with pytest.raises(UsageError, match="usage"):
        bench_models.main(["--batch-size", "x"])
