"""Tanh fit y ~ gamma tanh(alpha x) + beta: exact recovery from DyT outputs, agreement with
scipy.optimize.curve_fit on noisy data, the linear limit and bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from dlzoo.analysis.scurve import collect_norm_io
from dlzoo.analysis.tanh_fit import fit_tanh, fit_tanh_groups, layer_tanh_fit
from dlzoo.nn import DyT


def _dyt(c: int, alpha: float, seed: int = 0) -> DyT:
    torch.manual_seed(seed)
    layer = DyT(c, alpha_init=alpha)
    with torch.no_grad():
        layer.weight.copy_(torch.randn(c) * 2)
        layer.bias.copy_(torch.randn(c))
    return layer


def test_recovers_dyt_parameters_per_channel_exactly_in_float64():
    layer = _dyt(5, 0.7).double()
    x = torch.randn(400, 5, dtype=torch.float64) * 3
    with torch.no_grad():
        y = layer(x)  # (N, C): gamma_c tanh(0.7 x) + beta_c
    ch = torch.arange(5).expand(400, 5)
    fits = fit_tanh_groups(x.reshape(-1), y.reshape(-1), ch.reshape(-1))
    assert sorted(fits) == list(range(5))
    for c, f in fits.items():
        assert f.alpha == pytest.approx(layer.alpha.item(), rel=1e-9)  # 0.7 as stored (float32)
        assert f.gamma == pytest.approx(layer.weight[c].item(), rel=1e-9)
        assert f.beta == pytest.approx(layer.bias[c].item(), abs=1e-9)
        assert f.r2 == pytest.approx(1.0, abs=1e-12) and f.num_points == 400
        q99 = torch.quantile(x[:, c].abs(), 0.99, interpolation="higher").item()
        assert f.reach == pytest.approx(f.alpha * q99, rel=1e-12)
        assert f.saturation == pytest.approx(math.tanh(f.reach) / f.reach)


def test_layer_fit_of_collected_dyt_outputs():
    layer = _dyt(8, 1.3, seed=1)
    x = torch.randn(64, 8) * 2
    model = nn.Sequential(layer)
    pooled = layer_tanh_fit(collect_norm_io(model, x, max_points=None, pre_affine=True)["0"])
    assert pooled["num_channels"] == 0  # affine removed: one shared map tanh(1.3 x)
    assert pooled["alpha"] == pytest.approx(1.3, rel=1e-4)
    assert pooled["gamma"] == pytest.approx(1.0, rel=1e-4) and pooled["beta"] == pytest.approx(0.0, abs=1e-5)
    raw = collect_norm_io(model, x, max_points=None, pre_affine=False)["0"]
    per = layer_tanh_fit(raw)  # affine kept: one fit per channel, medians reported
    assert per["num_channels"] == 8 and per["alpha"] == pytest.approx(1.3, rel=1e-4)
    assert per["gamma"] == pytest.approx(layer.weight.median().item(), rel=1e-4)
    fits = fit_tanh_groups(raw.x, raw.y, raw.channel)
    for c, f in fits.items():
        assert f.gamma == pytest.approx(layer.weight[c].item(), rel=1e-4)


def test_matches_scipy_curve_fit_on_noisy_data():
    from scipy.optimize import curve_fit

    gen = torch.Generator().manual_seed(2)
    x = torch.randn(2000, generator=gen, dtype=torch.float64) * 2.5
    y = -1.4 * torch.tanh(0.9 * x) + 0.2 + 0.1 * torch.randn(2000, generator=gen, dtype=torch.float64)
    f = fit_tanh(x, y)

    def model(t, a, g, b):
        return g * np.tanh(a * t) + b

    (a, g, b), _ = curve_fit(model, x.numpy(), y.numpy(), p0=[1.0, 1.0, 0.0])
    a, g = abs(a), g * np.sign(a)  # (-a, -g) is the same curve; ours keeps alpha > 0
    assert f.alpha == pytest.approx(a, rel=1e-6)
    assert f.gamma == pytest.approx(g, rel=1e-6) and f.beta == pytest.approx(b, rel=1e-6)
    yn = y.numpy()
    r2 = 1 - ((yn - model(x.numpy(), a, g, b)) ** 2).sum() / ((yn - yn.mean()) ** 2).sum()
    assert f.r2 == pytest.approx(r2, rel=1e-9)
    lin = np.polyfit(x.numpy(), yn, 1)
    lin_r2 = 1 - ((yn - np.polyval(lin, x.numpy())) ** 2).sum() / ((yn - yn.mean()) ** 2).sum()
    assert f.linear_r2 == pytest.approx(lin_r2, rel=1e-9) and f.linear_r2 < f.r2


def test_linear_map_is_the_small_alpha_limit():
    x = torch.linspace(-4, 4, 300, dtype=torch.float64)
    f = fit_tanh(x, 0.5 * x - 1.0)
    assert f.at_lower_bound and f.reach == pytest.approx(1e-3, rel=1e-3)
    assert f.saturation == pytest.approx(1.0, abs=1e-6)
    assert f.gamma * f.alpha == pytest.approx(0.5, rel=1e-5) and f.beta == pytest.approx(-1.0, abs=1e-6)
    assert f.r2 == pytest.approx(1.0, abs=1e-9) and f.linear_r2 == pytest.approx(1.0, abs=1e-12)


def test_bad_input():
    with pytest.raises(ValueError, match="same size"):
        fit_tanh_groups(torch.zeros(5), torch.zeros(4), torch.zeros(5, dtype=torch.long))
    with pytest.raises(ValueError, match="at least 4 finite points"):
        fit_tanh(torch.tensor([1.0, float("nan"), 2.0]), torch.tensor([1.0, 2.0, 3.0]))
    # groups with too few points are left out, not fitted
    fits = fit_tanh_groups(torch.arange(10.0), torch.arange(10.0), torch.tensor([0] * 8 + [1] * 2))
    assert list(fits) == [0]
