"""Strong-Wolfe line search with safeguarded cubic interpolation, as used by :class:`dlzoo.optim.LBFGS`.

Nocedal & Wright, "Numerical Optimization", 2nd ed., 2006: Algorithm 3.5 (bracketing phase) and
Algorithm 3.6 ("zoom"), with the cubic interpolation of Eq. (3.59) and the safeguards of Schmidt's minFunc
(the same procedure as ``torch.optim.lbfgs._strong_wolfe``). Along a direction d from x, with
phi(t) = f(x + t d), a step t satisfies the strong Wolfe conditions when::

    phi(t) <= phi(0) + c1 t phi'(0)            (sufficient decrease, Armijo)
    |phi'(t)| <= c2 |phi'(0)|                  (curvature)
"""

from __future__ import annotations

import math
from collections.abc import Callable

from torch import Tensor

__all__ = ["cubic_minimizer", "strong_wolfe"]

# obj(t) -> (phi(t), gradient of f at x + t d)
Objective = Callable[[float], tuple[float, Tensor]]


def cubic_minimizer(
    x1: float,
    f1: float,
    g1: float,
    x2: float,
    f2: float,
    g2: float,
    bounds: tuple[float, float] | None = None,
) -> float:
    """Minimiser of the cubic through (x1, f1, f1' = g1) and (x2, f2, f2' = g2), clipped to ``bounds``
    (default: the interval [x1, x2]); the bounds' midpoint when the cubic has no minimiser (N&W Eq. 3.59)."""
    lo, hi = bounds if bounds is not None else (min(x1, x2), max(x1, x2))
    d1 = g1 + g2 - 3.0 * (f1 - f2) / (x1 - x2)
    disc = d1 * d1 - g1 * g2
    if disc < 0:
        return (lo + hi) / 2.0
    d2 = math.sqrt(disc)
    if x1 <= x2:
        t = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2.0 * d2))
    else:
        t = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2.0 * d2))
    return min(max(t, lo), hi)


class _Point:
    """One trial step: t, phi(t), the full gradient there and phi'(t) = g . d."""

    __slots__ = ("t", "f", "g", "gtd")

    def __init__(self, t: float, f: float, g: Tensor, gtd: float) -> None:
        self.t, self.f, self.g, self.gtd = t, f, g, gtd


def strong_wolfe(
    obj: Objective,
    t: float,
    d: Tensor,
    f: float,
    g: Tensor,
    gtd: float,
    c1: float = 1e-4,
    c2: float = 0.9,
    tolerance_change: float = 1e-9,
    max_ls: int = 25,
) -> tuple[float, Tensor, float, int]:
    """Find a step along ``d`` satisfying the strong Wolfe conditions.

    Args:
        obj: ``t -> (phi(t), grad f(x + t d))``, evaluated at the trial steps.
        t: initial trial step. d: search direction (flat). f, g, gtd: phi(0), grad f(x), phi'(0) < 0.
        c1, c2: the Wolfe constants (0 < c1 < c2 < 1). tolerance_change: stop zooming once the bracket is
            shorter than this (in units of ``max |d|``). max_ls: maximum number of evaluations.

    Returns:
        ``(f_new, g_new, t, n_evals)``: loss and gradient at the accepted step, the step, evaluations made.
    """
    d_norm = float(d.abs().max())
    start = _Point(0.0, f, g.clone(), gtd)

    def evaluate(step: float) -> _Point:
        f_new, g_new = obj(step)
        return _Point(step, f_new, g_new, float(g_new.dot(d)))

    new = evaluate(t)
    evals, iters = 1, 0
    prev = start
    bracket: list[_Point] | None = None
    # Algorithm 3.5: grow the step until [prev, new] brackets an acceptable step (or new is acceptable)
    while iters < max_ls:
        if new.f > f + c1 * new.t * gtd or (iters > 1 and new.f >= prev.f):
            bracket = [prev, _copy(new)]
            break
        if abs(new.gtd) <= -c2 * gtd:
            return new.f, new.g, new.t, evals  # strong Wolfe holds: done
        if new.gtd >= 0:
            bracket = [prev, _copy(new)]
            break
        # extrapolate: a cubic step in [t + 0.01 (t - t_prev), 10 t]
        step = cubic_minimizer(
            prev.t, prev.f, prev.gtd, new.t, new.f, new.gtd,
            bounds=(new.t + 0.01 * (new.t - prev.t), new.t * 10.0),
        )
        prev = _copy(new)
        new = evaluate(step)
        evals += 1
        iters += 1
    if bracket is None:  # out of evaluations while extrapolating: the better of x and the last trial
        best = start if start.f <= new.f else new
        return best.f, best.g, best.t, evals
    return _zoom(evaluate, bracket, f, gtd, c1, c2, tolerance_change, d_norm, evals, iters, max_ls)


def _copy(p: _Point) -> _Point:
    return _Point(p.t, p.f, p.g.clone(), p.gtd)


def _zoom(
    evaluate: Callable[[float], _Point],
    bracket: list[_Point],
    f: float,
    gtd: float,
    c1: float,
    c2: float,
    tolerance_change: float,
    d_norm: float,
    evals: int,
    iters: int,
    max_ls: int,
) -> tuple[float, Tensor, float, int]:
    """Algorithm 3.6: shrink ``bracket`` (which contains an acceptable step) by safeguarded cubic steps."""
    low, high = (0, 1) if bracket[0].f <= bracket[1].f else (1, 0)
    insufficient = False
    while iters < max_ls:
        a, b = bracket[0], bracket[1]
        if abs(b.t - a.t) * d_norm < tolerance_change:
            break
        t = cubic_minimizer(a.t, a.f, a.gtd, b.t, b.f, b.gtd)
        # safeguard: a trial within 10% of an end of the bracket is moved inwards (minFunc's rule)
        t_lo, t_hi = min(a.t, b.t), max(a.t, b.t)
        eps = 0.1 * (t_hi - t_lo)
        if min(t_hi - t, t - t_lo) < eps:
            if insufficient or t >= t_hi or t <= t_lo:
                t = t_hi - eps if abs(t - t_hi) < abs(t - t_lo) else t_lo + eps
                insufficient = False
            else:
                insufficient = True
        else:
            insufficient = False
        new = evaluate(t)
        evals += 1
        iters += 1
        if new.f > f + c1 * t * gtd or new.f >= bracket[low].f:
            bracket[high] = _copy(new)  # no sufficient decrease: new upper end
            low, high = (0, 1) if bracket[0].f <= bracket[1].f else (1, 0)
        else:
            if abs(new.gtd) <= -c2 * gtd:
                bracket[low] = _copy(new)
                break  # strong Wolfe holds
            if new.gtd * (bracket[high].t - bracket[low].t) >= 0:
                bracket[high] = bracket[low]  # the minimum lies between low and new
            bracket[low] = _copy(new)
    best = bracket[low]
    return best.f, best.g, best.t, evals
