"""weight_spectra vs weightwatcher 0.7.7 ``analyze()`` on the same models; the power-law fit vs the
``powerlaw`` package (Alstott et al. 2014) and vs synthetic Pareto eigenvalues of known exponent."""

from __future__ import annotations

import logging
import math
import warnings

import numpy as np
import pytest
import torch
from torch import nn

import dlzoo
from dlzoo.analysis.powerlaw_fit import fit_power_law
from dlzoo.analysis.weight_spectra import layer_esd, weight_spectra
from dlzoo.models.resnet import ResNet

NORM_KEYS = ("log_norm", "log_spectral_norm", "alpha_weighted", "log_alpha_norm")


def _ww_details(model: nn.Module):
    ww = pytest.importorskip("weightwatcher")
    logging.getLogger("weightwatcher").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ww.WeightWatcher(model=model).analyze()


def _assert_matches_weightwatcher(model: nn.Module) -> list:
    details = _ww_details(model)
    ours = weight_spectra(model)
    assert [s.name for s in ours] == list(details["longname"])
    for (_, row), s in zip(details.iterrows(), ours):
        assert s.num_evals == int(row["num_evals"]), s.name
        assert (s.N, s.M, s.rf) == (int(row["N"]), int(row["M"]), int(row["rf"])), s.name
        assert s.alpha == pytest.approx(float(row["alpha"]), rel=0.02), s.name
        assert s.xmin == pytest.approx(float(row["xmin"]), rel=1e-6), s.name
        assert s.D == pytest.approx(float(row["D"]), abs=1e-6), s.name
        for key in NORM_KEYS:
            if key == "log_alpha_norm" and s.alpha <= 0:  # failed fit: sum of lambda^-1 over ~0 values
                continue
            assert getattr(s, key) == pytest.approx(float(row[key]), abs=1e-3), (s.name, key)
        assert s.stable_rank == pytest.approx(float(row["stable_rank"]), rel=1e-6), s.name
        assert s.warning == row["warning"], s.name
        assert s.num_pl_spikes == int(row["num_pl_spikes"]), s.name
    return ours


def _power_law_matrix(n: int, m: int, alpha: float, seed: int) -> torch.Tensor:
    """(n, m) matrix U diag(sqrt(lambda)) V^T with Pareto(alpha) eigenvalues lambda (heavy-tailed ESD)."""
    gen = torch.Generator().manual_seed(seed)
    u, _ = torch.linalg.qr(torch.randn(n, m, generator=gen, dtype=torch.float64))
    v, _ = torch.linalg.qr(torch.randn(m, m, generator=gen, dtype=torch.float64))
    lam = 0.1 * (1 - torch.rand(m, generator=gen, dtype=torch.float64)) ** (-1 / (alpha - 1))
    return (u * lam.sqrt()) @ v.T


class _SmallCNN(nn.Module):
    """Every ww code path: conv slicing (odd/even kernels, out < in), dlzoo's own layers (matched by ww's
    type-name rule), Conv1d, Embedding, skipped tiny layers, the small-N fit and a rank-1 layer."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv1 = nn.Conv2d(3, 16, 3)
        self.conv2 = dlzoo.nn.Conv2d(16, 32, 3)
        self.reduce = nn.Conv2d(32, 8, 1)  # out < in, rf odd
        self.even = nn.Conv2d(8, 24, 2)  # rf even
        self.even_reduce = nn.Conv2d(24, 12, 2)  # out < in and rf even: ww's (N, M) quirk
        self.conv1d = nn.Conv1d(16, 12, 9)  # ww: batched SVD over the output channels
        self.emb = nn.Embedding(100, 16)
        self.tiny = nn.Linear(4, 3)  # 3 eigenvalues < min_evals: skipped
        self.small_n = nn.Linear(12, 12)  # 12 eigenvalues: small-N fit
        self.rank1 = nn.Linear(10, 10)  # one non-zero eigenvalue
        self.heavy = dlzoo.nn.Linear(64, 96)
        self.fc = nn.Linear(96, 10)
        with torch.no_grad():
            self.rank1.weight.copy_(torch.outer(torch.randn(10), torch.randn(10)))
            self.heavy.weight.copy_(_power_law_matrix(96, 64, 2.5, seed=1).float())


def test_small_cnn_matches_weightwatcher():
    ours = _assert_matches_weightwatcher(_SmallCNN())
    by_name = {s.name: s for s in ours}
    assert "tiny" not in by_name
    assert by_name["conv1"].num_evals == 3 * 9 and by_name["even_reduce"].rf == 4
    assert by_name["rank1"].alpha == -1.0 and by_name["rank1"].warning == "over-trained"  # failed fit
    assert 2.0 < by_name["heavy"].alpha < 3.2  # the planted Pareto(2.5) spectrum


def test_mlp_matches_weightwatcher():
    torch.manual_seed(0)
    _assert_matches_weightwatcher(dlzoo.create_model("mlp_digits", hidden_dims=[128, 64]))


def test_small_resnet_matches_weightwatcher():
    torch.manual_seed(0)
    model = ResNet(block="basic", layers=(1, 1), stem_width=16, widths=(16, 32), num_classes=10)
    ours = _assert_matches_weightwatcher(model)
    assert {s.type for s in ours} == {"conv2d", "dense"}


@pytest.mark.slow
def test_resnet18_matches_weightwatcher():
    """Every layer of a full ResNet-18 (3x3 and 1x1 convs, the fc). resnet50's 54 layers are compared by
    `dlzoo bench analysis`, which checks the same agreement before timing (benchmarks/results/analysis.md)."""
    torch.manual_seed(0)
    ours = _assert_matches_weightwatcher(dlzoo.create_model("resnet18"))
    assert len(ours) == 21


def test_esd_is_squared_singular_values_with_conv_scaling():
    torch.manual_seed(0)
    lin, conv = nn.Linear(9, 11).requires_grad_(False), nn.Conv2d(5, 6, 3).requires_grad_(False)
    spectra = {s.name: s for s in weight_spectra(nn.ModuleDict({"lin": lin, "conv": conv}))}
    sv = torch.linalg.svdvals(lin.weight.double())
    torch.testing.assert_close(spectra["lin"].evals, torch.sort(sv**2).values)
    slices = conv.weight.double().permute(2, 3, 0, 1)  # (3, 3, out, in)
    pooled = torch.cat([torch.linalg.svdvals(slices[i, j]) ** 2 / 2 for i in range(3) for j in range(3)])
    torch.testing.assert_close(spectra["conv"].evals, torch.sort(pooled).values)
    s = spectra["conv"]
    assert s.log_norm == pytest.approx(math.log10(float(pooled.sum())))
    assert s.stable_rank == pytest.approx(float(pooled.sum() / pooled.max()))
    assert s.alpha_weighted == pytest.approx(s.alpha * math.log10(float(pooled.max())))
    # layer_esd of a wide batch uses the other Gram side: same values
    w = torch.randn(3, 4, 9, dtype=torch.float64)
    torch.testing.assert_close(layer_esd(w), torch.sort(torch.linalg.svdvals(w).reshape(-1) ** 2).values)


def test_fit_at_its_xmin_matches_powerlaw_package():
    """At the selected xmin, alpha (continuous MLE), sigma and the KS distance equal powerlaw.Fit's."""
    powerlaw = pytest.importorskip("powerlaw")
    rng = np.random.default_rng(0)
    x = np.concatenate([0.5 * rng.random(300), 0.5 * (1 - rng.random(700)) ** (-1 / 1.2)])  # alpha 2.2
    ours = fit_power_law(torch.from_numpy(x))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = powerlaw.Fit(x, xmin=ours.xmin, verbose=False)
    assert ours.alpha == pytest.approx(ref.power_law.alpha, rel=1e-9)
    assert ours.D == pytest.approx(ref.power_law.D, rel=1e-9)
    ref_sigma = getattr(ref.power_law, "standard_err", None)  # powerlaw >= 2.0 name of sigma
    assert ours.sigma == pytest.approx(ref_sigma if ref_sigma is not None else ref.power_law.sigma, rel=1e-9)
    assert ours.num_pl_spikes == ref.n_tail


@pytest.mark.parametrize("alpha", [2.0, 3.0, 4.5])
def test_fit_recovers_alpha_of_synthetic_power_law(alpha):
    gen = torch.Generator().manual_seed(int(alpha * 10))
    tail = 0.3 * (1 - torch.rand(2000, generator=gen, dtype=torch.float64)) ** (-1 / (alpha - 1))
    bulk = 0.3 * torch.rand(500, generator=gen, dtype=torch.float64)  # below xmin: must be cut off
    fit = fit_power_law(torch.cat([bulk, tail])[torch.randperm(2500, generator=gen)])
    assert fit.status == "success"
    assert fit.alpha == pytest.approx(alpha, abs=5 * (alpha - 1) / math.sqrt(2000) + 0.02)
    assert fit.xmin >= 0.29 and fit.num_pl_spikes <= 2000 + 20


def _ww_fit(x: np.ndarray):
    pytest.importorskip("weightwatcher")
    import contextlib
    import io

    from weightwatcher.WW_powerlaw import WWFit

    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        return WWFit(x[x > 1e-5])


@pytest.mark.parametrize("case", ["small_n", "small_n_fallback", "flat", "two", "standard"])
def test_fit_matches_weightwatcher_fit(case):
    rng = np.random.default_rng(3)
    x = {"small_n": rng.pareto(2.0, 15) + 1, "small_n_fallback": rng.random(6) + 0.5,
         "flat": np.full(30, 2.0), "two": np.array([3.0, 1.0, 0.0]),
         "standard": np.concatenate([rng.random(50), rng.pareto(1.5, 200) + 1])}[case]
    ours, ref = fit_power_law(torch.from_numpy(x)), _ww_fit(x)
    assert ours.status == "success"
    for key in ("alpha", "xmin", "D", "sigma"):
        assert getattr(ours, key) == pytest.approx(float(getattr(ref, key)), rel=1e-9), key


def test_fit_edge_cases_and_errors():
    for evals in (torch.zeros(10), torch.tensor([3.0, 0.0])):  # nothing / one value above the threshold
        failed = fit_power_law(evals)
        assert (failed.status, failed.alpha, failed.xmin, failed.D) == ("failed", -1.0, -1.0, -1.0)
    with pytest.raises(ValueError, match=r"fit_power_law: expected eigenvalues of shape \(K,\)"):
        fit_power_law(torch.ones(2, 3))
    with pytest.raises(TypeError, match="weight_spectra: expected an nn.Module, got Tensor"):
        weight_spectra(torch.ones(3))


def test_spectra_plots(tmp_path):
    import matplotlib.pyplot as plt

    from dlzoo.analysis.spectra_plots import (
        draw_alpha_by_depth,
        draw_esd,
        fitted_density,
        plot_alpha_by_depth,
        plot_esd_grid,
    )

    model = nn.Sequential(nn.Linear(64, 96), nn.Linear(96, 32))
    with torch.no_grad():
        model[0].weight.copy_(_power_law_matrix(96, 64, 2.5, seed=1).float())
    spectra = weight_spectra(model)
    # the fitted density integrates to the tail share over [xmin, inf): (x/xmin)^(1-alpha) -> 0
    s = spectra[0]
    xs = np.logspace(math.log10(s.xmin), math.log10(s.xmin) + 8, 20001)
    assert np.trapezoid(fitted_density(xs, s.alpha, s.xmin, 0.5), xs) == pytest.approx(0.5, rel=1e-2)
    assert np.isnan(fitted_density(np.array([s.xmin / 2]), s.alpha, s.xmin)).all()
    fig, (a, b) = plt.subplots(1, 2)
    draw_esd(a, s)
    assert a.get_xscale() == "log" and any("alpha=" in t.get_text() for t in a.get_legend().get_texts())
    draw_alpha_by_depth(b, {"run": spectra})
    line = b.get_lines()[0]
    assert list(line.get_ydata()) == [x.alpha for x in spectra]
    plt.close(fig)
    assert plot_esd_grid(spectra, tmp_path / "esd.png").stat().st_size > 1000
    assert plot_alpha_by_depth(spectra, tmp_path / "alpha.png").stat().st_size > 1000
    with pytest.raises(ValueError, match="plot_esd_grid: no layer spectra"):
        plot_esd_grid([], tmp_path / "none.png")
