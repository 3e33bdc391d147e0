"""Calibration of a predictive distribution given as a 1-D Gaussian mixture (an MDN's output).

For scalar targets and a predictive mixture ``p(y) = sum_k pi_k N(y | mu_k, sigma_k^2)`` (Bishop, "Mixture
Density Networks", 1994), with ``Phi`` the standard normal CDF:

    F(y)    = sum_k pi_k Phi((y - mu_k) / sigma_k)                     mixture CDF
    Q(q)    = F^-1(q)                                                 quantile, by bisection (F is monotone)
    u_i     = F_i(y_i)                                                probability integral transform (PIT)

Dawid, "Statistical theory: the prequential approach", JRSS A 1984, and Gneiting, Balabdaoui, Raftery,
"Probabilistic forecasts, calibration and sharpness", JRSS B 2007: a calibrated forecast has uniform PIT
values. The central ``q``-interval is ``[Q((1 - q)/2), Q((1 + q)/2)]``; ``y`` lies in it exactly when
``(1 - q)/2 <= u <= (1 + q)/2``, so the empirical coverage follows from the PIT alone
(:func:`interval_coverage`); :func:`central_interval` gives the bounds themselves (for widths and plots).
:func:`ks_uniform` is the Kolmogorov-Smirnov distance of the PIT values from U(0, 1),
``D = max_i max(i/n - u_(i), u_(i) - (i-1)/n)``.

Shapes: ``pi_logits``, ``mu``, ``sigma`` ``(N, K)`` (unnormalised mixture logits, means, std devs > 0),
``y`` ``(N,)``; results ``(N,)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

__all__ = [
    "mixture_cdf",
    "mixture_pdf",
    "mixture_mean",
    "mixture_quantile",
    "central_interval",
    "pit",
    "interval_coverage",
    "pit_histogram",
    "ks_uniform",
]


def _check(pi_logits: Tensor, mu: Tensor, sigma: Tensor) -> None:
    if pi_logits.dim() != 2 or mu.shape != pi_logits.shape or sigma.shape != pi_logits.shape:
        raise ValueError(
            f"mixture: expected pi_logits, mu, sigma of one shape (N, K), got "
            f"{list(pi_logits.shape)}, {list(mu.shape)}, {list(sigma.shape)}"
        )
    if bool((sigma <= 0).any()):
        raise ValueError("mixture: sigma must be > 0")


def mixture_cdf(pi_logits: Tensor, mu: Tensor, sigma: Tensor, y: Tensor) -> Tensor:
    """``F(y) = sum_k pi_k Phi((y - mu_k) / sigma_k)`` per row ``(N,)``; ``y`` is ``(N,)`` or ``(N, G)``
    (a grid per row, result ``(N, G)``)."""
    _check(pi_logits, mu, sigma)
    w = torch.softmax(pi_logits, dim=1)  # (N, K)
    if y.dim() == 1:
        return (w * torch.special.ndtr((y[:, None] - mu) / sigma)).sum(1)
    z = (y[:, :, None] - mu[:, None, :]) / sigma[:, None, :]  # (N, G, K)
    return (w[:, None, :] * torch.special.ndtr(z)).sum(-1)


def mixture_pdf(pi_logits: Tensor, mu: Tensor, sigma: Tensor, grid: Tensor) -> Tensor:
    """Density on a grid per row: ``grid (N, G)`` -> ``(N, G)``."""
    _check(pi_logits, mu, sigma)
    logw = torch.log_softmax(pi_logits, dim=1)[:, None, :]  # (N, 1, K)
    z = (grid[:, :, None] - mu[:, None, :]) / sigma[:, None, :]  # (N, G, K)
    log_n = (
        -0.5 * z * z - sigma[:, None, :].log() - 0.5 * torch.log(torch.tensor(2 * torch.pi, dtype=z.dtype))
    )
    return torch.logsumexp(logw + log_n, dim=-1).exp()


def mixture_mean(pi_logits: Tensor, mu: Tensor) -> Tensor:
    """``E[y] = sum_k pi_k mu_k`` ``(N,)``."""
    return (torch.softmax(pi_logits, dim=1) * mu).sum(1)


def mixture_quantile(pi_logits: Tensor, mu: Tensor, sigma: Tensor, q: float, iters: int = 80) -> Tensor:
    """``F^-1(q)`` per row by bisection on ``[min_k mu_k - 12 sigma_k, max_k mu_k + 12 sigma_k]``."""
    if not 0.0 < q < 1.0:
        raise ValueError(f"mixture_quantile: q must be in (0, 1), got {q}")
    _check(pi_logits, mu, sigma)
    lo = (mu - 12 * sigma).min(1).values.double()
    hi = (mu + 12 * sigma).max(1).values.double()
    p, m, s = pi_logits.double(), mu.double(), sigma.double()
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        below = mixture_cdf(p, m, s, mid) < q
        lo, hi = torch.where(below, mid, lo), torch.where(below, hi, mid)
    return (0.5 * (lo + hi)).to(mu.dtype)


def central_interval(pi_logits: Tensor, mu: Tensor, sigma: Tensor, level: float) -> tuple[Tensor, Tensor]:
    """Bounds ``(Q((1 - level)/2), Q((1 + level)/2))`` of the central ``level`` interval, each ``(N,)``."""
    if not 0.0 < level < 1.0:
        raise ValueError(f"central_interval: level must be in (0, 1), got {level}")
    return (
        mixture_quantile(pi_logits, mu, sigma, (1 - level) / 2),
        mixture_quantile(pi_logits, mu, sigma, (1 + level) / 2),
    )


def pit(pi_logits: Tensor, mu: Tensor, sigma: Tensor, y: Tensor) -> Tensor:
    """PIT values ``u_i = F_i(y_i)`` ``(N,)`` (computed in float64)."""
    return mixture_cdf(pi_logits.double(), mu.double(), sigma.double(), y.double())


def interval_coverage(u: Tensor, levels: Sequence[float]) -> dict[float, float]:
    """Share of PIT values inside each central interval, ``{level: mean((1-level)/2 <= u <= (1+level)/2)}``
    (:func:`pit` of the targets)."""
    out = {}
    for level in levels:
        if not 0.0 < level < 1.0:
            raise ValueError(f"interval_coverage: levels must be in (0, 1), got {level}")
        inside = (u >= (1 - level) / 2) & (u <= (1 + level) / 2)
        out[float(level)] = float(inside.double().mean())
    return out


def pit_histogram(u: Tensor, bins: int = 10) -> list[int]:
    """Counts of PIT values in ``bins`` equal bins of [0, 1] (the last bin closed)."""
    idx = (u.double().clamp(0, 1) * bins).long().clamp_max(bins - 1)
    return torch.bincount(idx, minlength=bins).tolist()


def ks_uniform(u: Tensor) -> float:
    """Kolmogorov-Smirnov distance of ``u`` from U(0, 1) (module docstring)."""
    s = u.double().clamp(0, 1).sort().values
    n = s.numel()
    if n == 0:
        raise ValueError("ks_uniform: need at least one value")
    i = torch.arange(1, n + 1, dtype=torch.float64)
    return float(torch.maximum(i / n - s, s - (i - 1) / n).max())
