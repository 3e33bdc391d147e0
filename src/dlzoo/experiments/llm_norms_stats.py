"""Welch's unequal-variance t-test, written from its formulas (no scipy at run time).

Welch, "The generalization of 'Student's' problem when several different population variances are
involved", Biometrika 1947:

    t = (m1 - m2) / sqrt(s1^2/n1 + s2^2/n2)
    df = (s1^2/n1 + s2^2/n2)^2 / ((s1^2/n1)^2/(n1-1) + (s2^2/n2)^2/(n2-1))      (Welch-Satterthwaite)
    p (two-sided) = I_{df/(df+t^2)}(df/2, 1/2)

where I_x(a, b) is the regularized incomplete beta function, evaluated with the continued fraction of
Numerical Recipes (modified Lentz). A paired t-test is the one-sample test of the per-seed differences:
t = mean(d) / (sd(d)/sqrt(n)), df = n - 1.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["TTest", "welch_t_test", "paired_t_test", "betainc"]


@dataclass(frozen=True)
class TTest:
    """A two-sided t-test result; ``p`` is nan when the test is undefined (n < 2 or zero variance)."""

    t: float
    df: float
    p: float
    diff: float  # mean(a) - mean(b)

    @property
    def defined(self) -> bool:
        return not math.isnan(self.p)

    def significant(self, level: float = 0.05) -> bool:
        return self.defined and self.p < level


def _betacf(a: float, b: float, x: float, max_iter: int = 300, eps: float = 1e-15) -> float:
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, max_iter + 1):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < eps:
            break
    return h


def betainc(a: float, b: float, x: float) -> float:
    """Regularized incomplete beta I_x(a, b) for a, b > 0 and 0 <= x <= 1."""
    if a <= 0 or b <= 0 or not 0.0 <= x <= 1.0:
        raise ValueError(f"betainc: need a, b > 0 and 0 <= x <= 1, got a={a}, b={b}, x={x}")
    if x in (0.0, 1.0):
        return x
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _betacf(a, b, x) / a
    return 1.0 - math.exp(log_front) * _betacf(b, a, 1.0 - x) / b


def _two_sided_p(t: float, df: float) -> float:
    return betainc(df / 2.0, 0.5, df / (df + t * t))


def welch_t_test(a: Sequence[float], b: Sequence[float]) -> TTest:
    """Two-sided Welch t-test of mean(a) == mean(b)."""
    n1, n2 = len(a), len(b)
    diff = (statistics.fmean(a) - statistics.fmean(b)) if n1 and n2 else math.nan
    if n1 < 2 or n2 < 2:
        return TTest(math.nan, math.nan, math.nan, diff)
    v1, v2 = statistics.variance(a) / n1, statistics.variance(b) / n2
    if v1 + v2 == 0.0:
        return TTest(math.nan, math.nan, math.nan, diff)
    t = diff / math.sqrt(v1 + v2)
    df = (v1 + v2) ** 2 / (v1 * v1 / (n1 - 1) + v2 * v2 / (n2 - 1))
    return TTest(t, df, _two_sided_p(t, df), diff)


def paired_t_test(a: Sequence[float], b: Sequence[float]) -> TTest:
    """Two-sided paired t-test of the differences a[i] - b[i] (same seeds)."""
    if len(a) != len(b):
        raise ValueError(f"paired_t_test: a and b must pair up, got {len(a)} and {len(b)} values")
    d = [x - y for x, y in zip(a, b)]
    n = len(d)
    mean = statistics.fmean(d) if d else math.nan
    if n < 2 or statistics.variance(d) == 0.0:
        return TTest(math.nan, math.nan, math.nan, mean)
    t = mean / math.sqrt(statistics.variance(d) / n)
    return TTest(t, n - 1.0, _two_sided_p(t, n - 1.0), mean)
