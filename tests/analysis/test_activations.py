"""Activation statistics from hooks vs the same statistics computed on directly evaluated layers."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from dlzoo.analysis.activations import activation_stats
from dlzoo.nn import DyT, LayerNorm


def test_activation_stats_match_direct_computation():
    torch.manual_seed(0)
    fc, act, dyt, ln = nn.Linear(5, 16), nn.ReLU(), DyT(16, alpha_init=1.5), LayerNorm(16)
    model = nn.Sequential(fc, act, dyt, ln)
    x = torch.randn(32, 5) * 2
    stats = activation_stats(model, x)
    assert list(stats) == ["1", "2", "3"]  # forward order: ReLU, DyT, LayerNorm
    with torch.no_grad():
        h = act(fc(x)).double()
        u = torch.tanh(1.5 * h)
        d = dyt(h.float()).double()
    assert stats["1"]["frac_zero"] == pytest.approx(float((h == 0).double().mean()))
    assert stats["1"]["mean"] == pytest.approx(float(h.mean()))
    assert stats["1"]["std"] == pytest.approx(float(h.std(unbiased=False)))
    assert stats["2"]["frac_saturated"] == pytest.approx(float((u.abs() > 0.95).double().mean()))
    assert stats["2"]["abs_max"] == pytest.approx(float(d.abs().max()), rel=1e-6)
    # LayerNorm output with unit weight/zero bias: mean 0, std ~1 per row -> overall mean 0, std ~1
    assert abs(stats["3"]["mean"]) < 1e-6 and stats["3"]["std"] == pytest.approx(1.0, abs=1e-3)
    assert "frac_saturated" not in stats["3"]
    assert not math.isnan(stats["3"]["frac_outlier"])


def test_activation_stats_named_modules_and_errors():
    model = nn.Sequential(nn.Linear(3, 3), nn.GELU())
    assert list(activation_stats(model, torch.randn(2, 3), modules=["0"])) == ["0"]
    with pytest.raises(ValueError, match=r"has no modules \['9'\]"):
        activation_stats(model, torch.randn(2, 3), modules=["9"])
