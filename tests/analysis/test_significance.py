"""dlzoo.analysis.significance against scipy.stats (Wilson interval, exact binomial test, bootstrap)."""

from __future__ import annotations

import numpy as np
import pytest

from dlzoo.analysis.significance import (
    binom_cdf,
    bootstrap_mean_ci,
    exact_mcnemar,
    holm_adjust,
    mcnemar_from_correct,
    paired_bootstrap,
    wilson_interval,
)

stats = pytest.importorskip("scipy.stats")


@pytest.mark.parametrize(
    ("k", "n", "conf"),
    [(0, 10, 0.95), (3, 10, 0.95), (10, 10, 0.9), (261, 270, 0.95), (137, 270, 0.99), (1, 1, 0.95)],
)
def test_wilson_interval_matches_scipy(k, n, conf):
    ref = stats.binomtest(k, n).proportion_ci(confidence_level=conf, method="wilson")
    lo, hi = wilson_interval(k, n, conf)
    assert lo == pytest.approx(ref.low, abs=1e-12) and hi == pytest.approx(ref.high, abs=1e-12)


@pytest.mark.parametrize(
    ("b", "c"), [(0, 0), (0, 1), (1, 0), (5, 5), (3, 12), (12, 3), (40, 61), (200, 151), (0, 30)]
)
def test_exact_mcnemar_matches_scipy_binomtest(b, c):
    res = exact_mcnemar(b, c)
    expected = 1.0 if b + c == 0 else stats.binomtest(b, b + c, 0.5).pvalue
    assert res.p == pytest.approx(expected, rel=1e-10, abs=1e-300)
    assert res.discordant == b + c and res.significant() == (expected < 0.05)


def test_binom_cdf_matches_scipy():
    for n, p in [(7, 0.5), (50, 0.3), (3000, 0.5)]:
        for k in (0, 1, n // 3, n // 2, n - 1):
            assert binom_cdf(k, n, p) == pytest.approx(stats.binom.cdf(k, n, p), rel=1e-9, abs=1e-300)


def test_mcnemar_counts_discordant_pairs_only():
    rng = np.random.default_rng(0)
    a, b = rng.random(300) < 0.9, rng.random(300) < 0.8
    res = mcnemar_from_correct(a, b)
    assert (res.b, res.c) == (int(np.sum(a & ~b)), int(np.sum(~a & b)))
    assert res.p == pytest.approx(stats.binomtest(res.b, res.b + res.c).pvalue, rel=1e-10)
    with pytest.raises(ValueError, match="same N"):
        mcnemar_from_correct(a, b[:10])


def test_bootstrap_mean_ci_agrees_with_scipy_percentile_bootstrap():
    v = np.random.default_rng(1).exponential(size=400)
    lo, hi = bootstrap_mean_ci(v, n_boot=4000, seed=0)
    ref = stats.bootstrap(
        (v,), np.mean, n_resamples=4000, method="percentile", random_state=0, confidence_level=0.95
    ).confidence_interval
    se = v.std(ddof=1) / np.sqrt(v.size)  # Monte-Carlo noise of the end points is a small part of the SE
    assert lo == pytest.approx(ref.low, abs=0.15 * se) and hi == pytest.approx(ref.high, abs=0.15 * se)
    assert lo < v.mean() < hi


def test_paired_bootstrap_close_to_paired_t_test_on_large_sample():
    rng = np.random.default_rng(2)
    base = rng.normal(size=2000)
    a, b = base + rng.normal(0.05, 1.0, size=2000), base + rng.normal(0.0, 1.0, size=2000)
    res = paired_bootstrap(a, b, n_boot=4000, seed=0)
    t = stats.ttest_rel(a, b)
    ci = t.confidence_interval(0.95)
    d = a - b
    assert res.diff == pytest.approx(d.mean(), abs=1e-12)
    se = d.std(ddof=1) / np.sqrt(d.size)
    assert res.low == pytest.approx(ci.low, abs=0.1 * se) and res.high == pytest.approx(ci.high, abs=0.1 * se)
    assert res.p == pytest.approx(t.pvalue, abs=0.02)


def test_paired_bootstrap_identical_models_not_significant():
    a = np.random.default_rng(3).random(100) < 0.9
    res = paired_bootstrap(a, a, n_boot=200)
    assert res.diff == 0.0 and res.p == 1.0 and not res.significant()
    with pytest.raises(ValueError, match="paired_bootstrap"):
        paired_bootstrap(a, a[:5])


def test_holm_adjust_definition():
    p = [0.01, 0.04, 0.03, 0.5]
    # sorted: 0.01*4=0.04, 0.03*3=0.09, 0.04*2=0.08 -> max(0.09, 0.08)=0.09, 0.5*1 -> 0.5
    assert holm_adjust(p) == pytest.approx([0.04, 0.09, 0.09, 0.5])
    assert holm_adjust([0.6, 0.7]) == pytest.approx([1.0, 1.0])
    assert holm_adjust([]) == []


def test_bad_input_is_a_clear_error():
    with pytest.raises(ValueError, match="wilson_interval"):
        wilson_interval(5, 3)
    with pytest.raises(ValueError, match="confidence"):
        wilson_interval(1, 3, confidence=1.5)
    with pytest.raises(ValueError, match="exact_mcnemar"):
        exact_mcnemar(-1, 2)
