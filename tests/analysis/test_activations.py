"""Activation statistics from hooks vs direct computation, scipy.stats.kurtosis and numpy SVD."""

from __future__ import annotations

import math

import numpy as np
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


def test_kurtosis_dead_units_and_rank_measures_against_references():
    from scipy.stats import kurtosis

    torch.manual_seed(1)
    conv = nn.Conv2d(3, 8, 3, padding=1)
    with torch.no_grad():
        conv.bias[:2] = -100.0  # channels 0, 1 never fire after the ReLU: dead units
    model = nn.Sequential(conv, nn.ReLU(), nn.Flatten(), nn.Linear(8 * 25, 6), nn.GELU())
    x = torch.randn(16, 3, 5, 5)
    stats = activation_stats(model, x)
    with torch.no_grad():
        h = torch.relu(conv(x)).double()  # (16, 8, 5, 5)
        g = model(x).double()  # (16, 6)
    assert stats["1"]["kurtosis"] == pytest.approx(float(kurtosis(h.reshape(-1).numpy())), rel=1e-9)
    assert stats["4"]["kurtosis"] == pytest.approx(float(kurtosis(g.reshape(-1).numpy())), rel=1e-9)
    assert stats["1"]["dead_units"] == pytest.approx(2 / 8)
    assert stats["1"]["num_units"] == 8 and stats["4"]["num_units"] == 6
    # features: channels for (N, C, H, W), samples = N*H*W; reference measures from numpy's SVD
    f = h.permute(0, 2, 3, 1).reshape(-1, 8).numpy()
    f = f - f.mean(axis=0)
    s = np.linalg.svd(f, compute_uv=False)
    p = s[s > 1e-12] / s.sum()
    assert stats["1"]["effective_rank"] == pytest.approx(float(np.exp(-(p * np.log(p)).sum())), rel=1e-6)
    lam = s**2 / f.shape[0]
    pr = float(lam.sum() ** 2 / (lam**2).sum())
    assert stats["1"]["participation_ratio"] == pytest.approx(pr, rel=1e-6)


def test_rank_measures_limits():
    from dlzoo.analysis.activations import effective_rank, participation_ratio

    gen = torch.Generator().manual_seed(0)
    rank1 = torch.randn(200, 1, generator=gen) @ torch.randn(1, 10, generator=gen)  # one direction
    assert effective_rank(rank1) == pytest.approx(1.0, abs=1e-4)
    assert participation_ratio(rank1) == pytest.approx(1.0, abs=1e-6)
    q, _ = torch.linalg.qr(torch.randn(400, 10, generator=gen, dtype=torch.float64))
    iso = q - q.mean(0)  # orthonormal columns: all directions (nearly) equal
    assert participation_ratio(q * 20) == pytest.approx(10.0, rel=0.05)
    assert effective_rank(iso) == pytest.approx(10.0, rel=0.05)
    assert participation_ratio(torch.ones(5, 3)) == 0.0 and effective_rank(torch.ones(5, 3)) == 0.0


def test_activation_plot(tmp_path):
    from dlzoo.analysis.activation_plots import plot_activation_stats

    model = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 8), nn.GELU())
    stats = activation_stats(model, torch.randn(32, 3))
    assert plot_activation_stats(stats, tmp_path / "acts.png").stat().st_size > 1000
    with pytest.raises(ValueError, match="none of the keys"):
        plot_activation_stats(stats, tmp_path / "x.png", keys=["nope"])
