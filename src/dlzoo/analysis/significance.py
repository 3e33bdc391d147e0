"""Confidence intervals and paired significance tests for comparing classifiers on one test set.

Written from the formulas (no scipy at run time; the tests check them against ``scipy.stats``).

* Wilson score interval for a proportion (Wilson, "Probable inference, the law of succession, and
  statistical inference", JASA 1927). With k successes in n trials, p = k/n and z the standard normal
  quantile of (1 + confidence)/2::

      centre = (p + z^2/(2n)) / (1 + z^2/n)
      half   = z / (1 + z^2/n) * sqrt(p (1 - p) / n + z^2 / (4 n^2))

* Exact McNemar test (McNemar, Psychometrika 1947; the exact form in Edwards 1948 / Dietterich,
  "Approximate statistical tests for comparing supervised classification learning algorithms", Neural
  Computation 1998). Of the examples on which two classifiers disagree in correctness, b are right only
  for A and c only for B. Under H0 (equal error rates) b ~ Binomial(b + c, 1/2), so the two-sided p-value
  is ``min(1, 2 * P[X <= min(b, c)])`` with X ~ Binomial(b + c, 1/2), i.e. scipy's ``binomtest(b, b + c)``.

* Percentile bootstrap (Efron, "Bootstrap methods: another look at the jackknife", Ann. Statist. 1979)
  of a mean, and a paired bootstrap of the mean difference of per-example scores of two models on the
  same examples (the same resampled indices for both, as in Koehn, "Statistical significance tests for
  machine translation evaluation", EMNLP 2004). Its two-sided p-value recentres the bootstrap
  distribution on the null (Hall & Wilson, "Two guidelines for bootstrap hypothesis testing",
  Biometrics 1991): ``p = (1 + #{|d*_b - d| >= |d|}) / (1 + B)``.

* Holm's step-down adjustment for several pairwise tests (Holm, "A simple sequentially rejective
  multiple test procedure", Scand. J. Statist. 1979): sort the m p-values, p_(i) -> max_{j<=i}
  min(1, (m - j + 1) p_(j)).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

__all__ = [
    "wilson_interval",
    "binom_cdf",
    "McNemarResult",
    "exact_mcnemar",
    "mcnemar_from_correct",
    "bootstrap_mean_ci",
    "PairedBootstrap",
    "paired_bootstrap",
    "holm_adjust",
]


def _check_confidence(confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")


def wilson_interval(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval ``(low, high)`` for a proportion with ``k`` successes out of ``n``."""
    _check_confidence(confidence)
    if n < 1 or not 0 <= k <= n:
        raise ValueError(f"wilson_interval: need n >= 1 and 0 <= k <= n, got k={k}, n={n}")
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p = k / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def binom_cdf(k: int, n: int, p: float = 0.5) -> float:
    """P[X <= k] for X ~ Binomial(n, p), summed exactly in log space (stable for n in the millions)."""
    if k < 0:
        return 0.0
    if k >= n:
        return 1.0
    if p in (0.0, 1.0):
        return 1.0 if p == 0.0 else 0.0
    lp, lq = math.log(p), math.log1p(-p)
    logs = [
        math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * lp + (n - i) * lq
        for i in range(k + 1)
    ]
    top = max(logs)
    return min(1.0, math.exp(top) * math.fsum(math.exp(v - top) for v in logs))


@dataclass(frozen=True)
class McNemarResult:
    """Exact McNemar test: ``b`` = right only for A, ``c`` = right only for B, two-sided ``p``."""

    b: int
    c: int
    p: float

    @property
    def discordant(self) -> int:
        return self.b + self.c

    def significant(self, level: float = 0.05) -> bool:
        return self.p < level


def exact_mcnemar(b: int, c: int) -> McNemarResult:
    """Two-sided exact McNemar test on the discordant counts: ``min(1, 2 P[Bin(b+c, 1/2) <= min(b, c)])``."""
    if b < 0 or c < 0:
        raise ValueError(f"exact_mcnemar: discordant counts must be >= 0, got b={b}, c={c}")
    n = b + c
    p = 1.0 if n == 0 else min(1.0, 2.0 * binom_cdf(min(b, c), n, 0.5))
    return McNemarResult(int(b), int(c), p)


def mcnemar_from_correct(
    correct_a: Sequence[bool] | np.ndarray, correct_b: Sequence[bool] | np.ndarray
) -> McNemarResult:
    """Exact McNemar test from per-example correctness (N,) of two classifiers on the same examples."""
    a, b = np.asarray(correct_a, dtype=bool), np.asarray(correct_b, dtype=bool)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(
            f"mcnemar_from_correct: need two (N,) arrays of the same N, got {a.shape} and {b.shape}"
        )
    return exact_mcnemar(int((a & ~b).sum()), int((~a & b).sum()))


def bootstrap_mean_ci(
    values: Sequence[float] | np.ndarray, n_boot: int = 2000, confidence: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """Percentile-bootstrap interval ``(low, high)`` of the mean of ``values`` (N,)."""
    _check_confidence(confidence)
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 1 or v.size < 2 or n_boot < 1:
        raise ValueError(
            f"bootstrap_mean_ci: need a (N,) array with N >= 2 and n_boot >= 1, got shape "
            f"{v.shape}, n_boot={n_boot}"
        )
    idx = np.random.default_rng(seed).integers(0, v.size, size=(n_boot, v.size))  # (B, N)
    means = v[idx].mean(axis=1)  # (B,)
    tail = (1 - confidence) / 2
    return float(np.quantile(means, tail)), float(np.quantile(means, 1 - tail))


@dataclass(frozen=True)
class PairedBootstrap:
    """Paired bootstrap of ``mean(a) - mean(b)``: the observed difference, its interval, two-sided p."""

    diff: float
    low: float
    high: float
    p: float
    n_boot: int

    def significant(self, level: float = 0.05) -> bool:
        return self.p < level


def paired_bootstrap(
    a: Sequence[float] | np.ndarray,
    b: Sequence[float] | np.ndarray,
    n_boot: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> PairedBootstrap:
    """Resample the N examples with replacement (the same indices for both models) ``n_boot`` times.

    ``a``, ``b``: per-example scores (N,) of two models on the same examples (e.g. 0/1 correctness or
    the per-example loss). Interval: percentiles of the resampled differences; p-value: the share of
    recentred resampled differences at least as far from 0 as the observed one (Hall & Wilson 1991).
    """
    _check_confidence(confidence)
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1 or x.size < 2 or n_boot < 1:
        raise ValueError(
            f"paired_bootstrap: need two (N,) arrays of the same N >= 2 and n_boot >= 1, got "
            f"{x.shape} and {y.shape}, n_boot={n_boot}"
        )
    d = x - y  # (N,)
    observed = float(d.mean())
    idx = np.random.default_rng(seed).integers(0, d.size, size=(n_boot, d.size))  # (B, N)
    boot = d[idx].mean(axis=1)  # (B,)
    tail = (1 - confidence) / 2
    extreme = int((np.abs(boot - observed) >= abs(observed) - 1e-15).sum())
    p = (1 + extreme) / (1 + n_boot)
    return PairedBootstrap(
        observed, float(np.quantile(boot, tail)), float(np.quantile(boot, 1 - tail)), min(1.0, p), n_boot
    )


def holm_adjust(pvalues: Sequence[float]) -> list[float]:
    """Holm step-down adjusted p-values, in the input order."""
    m = len(pvalues)
    if any(not 0.0 <= p <= 1.0 for p in pvalues):
        raise ValueError(f"holm_adjust: p-values must lie in [0, 1], got {list(pvalues)}")
    order = sorted(range(m), key=lambda i: pvalues[i])
    out = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        out[i] = running
    return out
