"""``mdn-forecast``: mixture CDF / density / quantiles / coverage / KS against scipy and numpy, the regime
filter against brute-force enumeration of the regime paths, the generator's stated properties, and one tiny
end-to-end run whose report numbers are checked against results.json."""

from __future__ import annotations

import itertools
import json
import math
import statistics
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import optimize, stats

from dlzoo.analysis.mixture_calibration import (
    central_interval,
    interval_coverage,
    ks_uniform,
    mixture_cdf,
    mixture_mean,
    mixture_pdf,
    mixture_quantile,
    pit,
    pit_histogram,
)
from dlzoo.cli import main as dlzoo_main
from dlzoo.experiments.mdn_forecast import regime_filter, regime_series, windows
from dlzoo.experiments.mdn_forecast_report import coverage_z


def _mixture(n: int = 5, k: int = 3, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, k, generator=g, dtype=torch.float64)
    mu = 3 * torch.randn(n, k, generator=g, dtype=torch.float64)
    sigma = 0.2 + torch.rand(n, k, generator=g, dtype=torch.float64)
    return logits, mu, sigma


def test_cdf_pdf_mean_against_scipy():
    logits, mu, sigma = _mixture()
    w = torch.softmax(logits, 1).numpy()
    y = torch.linspace(-4, 4, 5, dtype=torch.float64)
    want = (w * stats.norm.cdf(y.numpy()[:, None], mu.numpy(), sigma.numpy())).sum(1)
    np.testing.assert_allclose(mixture_cdf(logits, mu, sigma, y).numpy(), want, rtol=1e-10, atol=1e-12)
    grid = torch.linspace(-6, 6, 7, dtype=torch.float64).expand(5, 7)
    want_pdf = (
        w[:, None, :]
        * stats.norm.pdf(grid.numpy()[:, :, None], mu.numpy()[:, None, :], sigma.numpy()[:, None, :])
    ).sum(-1)
    np.testing.assert_allclose(mixture_pdf(logits, mu, sigma, grid).numpy(), want_pdf, rtol=1e-9)
    np.testing.assert_allclose(
        mixture_cdf(logits, mu, sigma, grid).numpy()[:, 3],
        mixture_cdf(logits, mu, sigma, grid[:, 3]).numpy(),
        rtol=1e-12,
    )
    np.testing.assert_allclose(mixture_mean(logits, mu).numpy(), (w * mu.numpy()).sum(1), rtol=1e-12)


def test_quantiles_against_scipy():
    mu = torch.tensor([[0.3], [-2.0]], dtype=torch.float64)
    sigma = torch.tensor([[1.5], [0.1]], dtype=torch.float64)
    for q in (0.025, 0.5, 0.9):
        got = mixture_quantile(torch.zeros_like(mu), mu, sigma, q)
        np.testing.assert_allclose(got.numpy(), stats.norm.ppf(q, mu[:, 0], sigma[:, 0]), atol=1e-9)
    logits, mu, sigma = _mixture(n=3)
    w = torch.softmax(logits, 1).numpy()
    for q in (0.1, 0.75):
        got = mixture_quantile(logits, mu, sigma, q).numpy()
        for i in range(3):
            f = lambda t, i=i, q=q: float((w[i] * stats.norm.cdf(t, mu[i], sigma[i])).sum()) - q  # noqa: E731
            assert got[i] == pytest.approx(optimize.brentq(f, -50, 50, xtol=1e-12), abs=1e-8)
    with pytest.raises(ValueError, match="q must be in"):
        mixture_quantile(logits, mu, sigma, 1.0)


def test_coverage_from_pit_equals_coverage_from_bounds_and_nominal_on_samples():
    """Samples drawn from the mixture itself: PIT-based coverage equals the share inside the explicit
    quantile bounds, and is the nominal level within 4 binomial standard errors."""
    n = 8000
    logits, mu, sigma = (t.repeat(n // 5, 1) for t in _mixture())
    g = torch.Generator().manual_seed(1)
    comp = torch.multinomial(torch.softmax(logits, 1), 1, generator=g)[:, 0]
    rows = torch.arange(logits.shape[0])
    y = mu[rows, comp] + sigma[rows, comp] * torch.randn(logits.shape[0], generator=g, dtype=torch.float64)
    u = pit(logits, mu, sigma, y)
    levels = [0.5, 0.8, 0.95]
    cov = interval_coverage(u, levels)
    for lv in levels:
        lo, hi = central_interval(logits, mu, sigma, lv)
        assert cov[lv] == pytest.approx(float(((y >= lo) & (y <= hi)).double().mean()), abs=2 / n)
        assert abs(cov[lv] - lv) < 4 * math.sqrt(lv * (1 - lv) / n)
    assert ks_uniform(u) == pytest.approx(stats.kstest(u.numpy(), "uniform").statistic, rel=1e-12)
    assert pit_histogram(u, 10) == np.histogram(u.numpy(), bins=10, range=(0, 1))[0].tolist()
    assert coverage_z(0.52, 0.5, 10000) == pytest.approx(4.0)


def test_regime_filter_equals_enumeration_of_regime_paths():
    """p(x_{t+1} | x_0..x_t) from the filter = ratio of joint likelihoods summed over all 2^T regime paths."""
    a, b, s, p = 0.6, 1.2, 0.7, 0.2
    x, _ = regime_series(7, a, b, s, p, seed=4)
    log_w, means, stds = regime_filter(x, a, b, s, p)
    pred = mixture_pdf(log_w, means, stds, x[1:, None])[:, 0]  # (T,) predictive density at x_{t+1}
    joint = []
    for t in range(1, 8):  # p(x_1..x_t | x_0) by enumeration
        total = 0.0
        for path in itertools.product([0, 1], repeat=t):
            prob = 0.5
            for i in range(1, t):
                prob *= p if path[i] != path[i - 1] else 1 - p
            for i in range(t):
                prob *= stats.norm.pdf(float(x[i + 1]), a * float(x[i]) + b * (2 * path[i] - 1), s)
            total += prob
        joint.append(total)
    want = [joint[0]] + [joint[i] / joint[i - 1] for i in range(1, 7)]
    np.testing.assert_allclose(pred.numpy(), want, rtol=1e-9)


def test_generator_properties():
    x, r = regime_series(8000, 0.5, 1.0, 1e-9, 0.15, seed=0)
    resid = x[1:] - 0.5 * x[:-1]  # = m_{r_t} (+ negligible noise)
    torch.testing.assert_close(resid, (2 * r[1:] - 1).double(), atol=1e-6, rtol=0)
    switch_rate = (r[2:] != r[1:-1]).double().mean().item()
    assert abs(switch_rate - 0.15) < 4 * math.sqrt(0.15 * 0.85 / 8000)
    noisy, r_noisy = regime_series(8000, 0.5, 1.0, 0.5, 0.15, seed=0)
    assert torch.equal(r_noisy, r)  # the regimes depend on the seed only
    e = (noisy[1:] - 0.5 * noisy[:-1] - (2 * r[1:] - 1)) / 0.5
    assert abs(e.mean().item()) < 0.03 and e.std().item() == pytest.approx(1.0, abs=0.03)
    inp, tgt, t = windows(x, 4)
    assert torch.equal(inp[5], x[t[5] - 3 : t[5] + 1].float()) and tgt[5] == x[t[5] + 1].float()
    assert int(t[0]) == 4 and int(t[-1]) == x.numel() - 2


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("mdn")
    code = dlzoo_main(
        [
            "experiment",
            "run",
            "mdn-forecast",
            f"output_dir={out}",
            "seeds=[0,1]",
            "length=400",
            "epochs=2",
            "components=[1,2]",
            "hidden=8",
            "window=4",
            "density_examples=2",
        ]
    )
    assert code == 0
    (run_dir,) = (out / "mdn-forecast").iterdir()
    return run_dir


def test_end_to_end_report_matches_results(tiny_run: Path):
    results = json.loads((tiny_run / "results.json").read_text())
    md = (tiny_run / "report.md").read_text()
    runs = results["runs"]
    assert sorted({r["label"] for r in runs}) == ["gaussian (K=1)", "mdn (K=2)", "mse regression"]
    assert sorted(p.name for p in (tiny_run / "plots").glob("*.png")) == [
        "coverage.png",
        "curves.png",
        "densities.png",
        "pit.png",
    ]
    n = runs[0]["num_test"]
    for label, s in results["summary"].items():
        scores = [
            r["oracle"] if "oracle" in label else r
            for r in runs
            if r["label"] == label or ("oracle" in label and r["label"] == runs[0]["label"])
        ]
        nll = [x["nll"] for x in scores]
        assert s["nll_mean"] == pytest.approx(statistics.fmean(nll))
        assert f"| {label} | 2 | {statistics.fmean(nll):.4f} +- {statistics.stdev(nll):.4f} |" in md
        for lv in ("0.5", "0.8", "0.95"):
            c = statistics.fmean(x["coverage"][lv] for x in scores)
            assert s["coverage_z"][lv] == pytest.approx(
                (c - float(lv)) / math.sqrt(float(lv) * (1 - float(lv)) / (2 * n))
            )
        assert sum(s["pit_hist"]) == 2 * n
    for seed in (0, 1):  # the oracle is the same on every variant's copy of a seed's series
        assert len({r["oracle"]["nll"] for r in runs if r["seed"] == seed}) == 1
    for r in runs:
        assert f"| {r['label']} | {r['seed']} | {r['nll']:.4f} | {r['oracle']['nll']:.4f} |" in md
    assert f"{n} test steps per seed" in md and "2 seed(s)" in md


@pytest.mark.parametrize(
    "override, message",
    [
        ("components=[0,3]", "components must be >= 1"),
        ("levels=[0.5,1.5]", "levels must lie in (0, 1)"),
    ],
)
def test_bad_config_is_a_usage_error(capsys, tmp_path, override, message):
    code = dlzoo_main(["experiment", "run", "mdn-forecast", f"output_dir={tmp_path}", override])
    assert code == 2
    assert message in capsys.readouterr().err


def test_diverged_runs_are_reported_and_left_out_of_the_means(tmp_path):
    """lr 3e4: both mixture-density heads reach a non-finite NLL in the first epoch, the MSE regression
    stays finite; the report lists the two as diverged and summarises the third."""
    tiny = ["seeds=[0]", "length=400", "epochs=2", "components=[1,2]", "hidden=8", "window=4"]
    code = dlzoo_main(["experiment", "run", "mdn-forecast", f"output_dir={tmp_path}", *tiny, "lr=3e4"])
    assert code == 0
    (run_dir,) = (tmp_path / "mdn-forecast").iterdir()
    results = json.loads((run_dir / "results.json").read_text())
    md = (run_dir / "report.md").read_text()
    bad = [r for r in results["runs"] if r.get("diverged")]
    assert sorted(r["label"] for r in bad) == ["gaussian (K=1)", "mdn (K=2)"]
    assert all("training diverged: the loss is" in r["error"] and "nll" not in r for r in bad)
    assert sorted(results["summary"]) == ["mse regression", "oracle (true predictive)"]
    (good,) = [r for r in results["runs"] if not r.get("diverged")]
    assert results["summary"]["mse regression"]["nll_mean"] == good["nll"]
    assert "| gaussian (K=1) | 0 | diverged |" in md and "| mdn (K=2) | 0 | diverged |" in md
    assert "2 of 3 runs diverged (non-finite training loss) and are left out of every mean" in md
