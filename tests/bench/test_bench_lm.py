"""``dlzoo bench lm`` smoke run: same-weight parity checks, JSON + Markdown written, usage errors."""

from __future__ import annotations

import json

import pytest

from dlzoo.bench import lm as bench_lm
from dlzoo.errors import UsageError

pytest.importorskip("transformers")


def test_bench_lm_smoke(tmp_path, monkeypatch):
    cls, cfg, kw = bench_lm.PAIRS["gpt2"]  # a thinner model keeps the smoke run cheap; same code path
    monkeypatch.setitem(bench_lm.PAIRS, "gpt2", (cls, cfg, {**kw, "n_embd": 32, "n_layer": 1, "n_head": 2}))
    rc = bench_lm.main(["--pairs", "gpt2", "--quick", "--rounds", "1", "--batch-size", "2", "--seq-len", "8",
                        "--prompt-len", "3", "--new-tokens", "4", "--out", str(tmp_path)])
    assert rc == 0
    rows = json.loads((tmp_path / "lm.json").read_text())["rows"]
    assert {(r["pair"], r["task"]) for r in rows} == {("gpt2", "train step"), ("gpt2", "generate")}
    for r in rows:
        assert r["max_logit_diff"] < 1e-3 and r["ratio"] == pytest.approx(r["ours_ms"] / r["hf_ms"])
    assert "| gpt2 | train step |" in (tmp_path / "lm.md").read_text()


def test_bench_lm_usage_errors():
    with pytest.raises(UsageError, match="unknown pair"):
        bench_lm.main(["--pairs", "gpt3"])
    with pytest.raises(UsageError, match="usage"):
        bench_lm.main(["--seq-len", "x"])
    with pytest.raises(UsageError, match="context of 512"):
        bench_lm.main(["--new-tokens", "600"])
