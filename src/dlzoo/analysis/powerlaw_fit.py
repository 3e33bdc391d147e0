"""Power-law fit of an empirical spectral density: continuous MLE with the KS-distance xmin scan.

Clauset, Shalizi, Newman, "Power-Law Distributions in Empirical Data", SIAM Review 2009, arXiv:0706.1062,
Eq. 3.1 and Section 3.3; as used by weightwatcher 0.7.7 (Martin & Mahoney, "Implicit Self-Regularization in
Deep Neural Networks", JMLR 2021, arXiv:1810.01075). For sorted eigenvalues ``x_0 <= ... <= x_{N-1}``
(those above ``thresh``) and every candidate ``xmin = x_i`` with tail size ``n = N - i``:

    alpha_i = 1 + n / sum_{j >= i} ln(x_j / x_i)                       (MLE)
    D_i     = max_{j >= i} | 1 - (x_j / x_i)^(1 - alpha_i) - (j - i) / n | (KS, alpha_i > 1, else 1)

and the fit keeps the ``i`` with the smallest ``D_i`` (the first one on ties). With ``N < 20`` eigenvalues
weightwatcher switches to its small-N rule, mirrored here: tails of at least 8 points, the bias-corrected
``alpha = 1 + (n - 1) / sum ln(x_j / x_i)`` and the objective ``D_i - 0.868 / sqrt(n)``.

Vectorised: the MLE for every xmin comes from one reversed cumulative sum of ``ln x``; the KS distances of
all candidates are evaluated as (rows = xmin, columns = tail points) blocks, a few blocks per layer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["PowerLawFit", "fit_power_law", "EVALS_THRESH", "SMALL_N_CUTOFF"]

EVALS_THRESH = 1e-5  # weightwatcher's EVALS_THRESH (CPU): eigenvalues at or below are not fitted
SMALL_N_CUTOFF = 20  # weightwatcher's WW_powerlaw.SMALL_N_CUTOFF
_SMALL_N_MIN_TAIL = 8
_BLOCK_ELEMENTS = 1 << 22  # elements of one (xmin, tail) block of the KS scan


@dataclass
class PowerLawFit:
    """Result of :func:`fit_power_law`; a failed fit has ``alpha = xmin = D = sigma = -1``."""

    alpha: float
    xmin: float
    D: float
    sigma: float
    num_pl_spikes: int  # eigenvalues >= xmin (over all eigenvalues, as weightwatcher counts them)
    status: str  # "success" | "failed"


def _ks_block(logx: Tensor, alphas: Tensor, rows: slice, n_total: int) -> Tensor:
    """max_j |1 - (x_j/x_i)^(1-alpha_i) - (j-i)/n_i| for i in ``rows``, j >= i; shape (rows,)."""
    a = rows.start
    i = torch.arange(a, rows.stop, device=logx.device)
    j = torch.arange(a, n_total, device=logx.device)
    offset = (j[None, :] - i[:, None]).to(logx.dtype)  # (R, C): j - i, columns j = a .. N-1
    n = (n_total - i).to(logx.dtype)[:, None]  # (R, 1): tail size
    # (x_j/x_i)^(1-alpha) = exp((1-alpha)(ln x_j - ln x_i)); alpha = inf (a flat tail) is capped so that
    # 0 * (1-alpha) stays 0 as in pow(1, -inf) = 1
    expo = (1 - alphas[rows, None].clamp(max=1e300)) * (logx[None, a:] - logx[rows, None])  # (R, C)
    dev = (1 - torch.exp(expo) - offset / n).abs().masked_fill(offset < 0, 0.0)
    return dev.amax(dim=1)


def _ks_distances(x: Tensor, alphas: Tensor) -> Tensor:
    """KS distance of every candidate xmin x_0..x_{N-2}, block by block over the candidates."""
    n_total = x.numel()
    logx = torch.log(x)
    out = torch.empty(n_total - 1, dtype=x.dtype, device=x.device)
    step = max(1, _BLOCK_ELEMENTS // n_total)
    for a in range(0, n_total - 1, step):  # a few blocks, not one iteration per xmin
        rows = slice(a, min(n_total - 1, a + step))
        out[rows] = _ks_block(logx, alphas, rows, n_total)
    return out


def _failed() -> PowerLawFit:
    return PowerLawFit(-1.0, -1.0, -1.0, -1.0, -1, "failed")


def fit_power_law(evals: Tensor, thresh: float = EVALS_THRESH) -> PowerLawFit:
    """Fit ``p(x) ~ x^-alpha`` for ``x >= xmin`` to eigenvalues ``evals`` (any order, shape (K,)).

    Reproduces weightwatcher 0.7.7 ``fit_powerlaw`` with its defaults (``pl_package='ww'``, ``xmin=None``,
    ``xmax=None``): only ``evals > thresh`` are fitted; every fitted eigenvalue but the largest is tried as
    xmin.
    """
    if evals.dim() != 1:
        raise ValueError(f"fit_power_law: expected eigenvalues of shape (K,), got {list(evals.shape)}")
    all_evals = evals.detach().double()
    x = torch.sort(all_evals[all_evals > thresh]).values  # (N,) ascending
    n_total = x.numel()
    if n_total == 0:
        return _failed()
    logx = torch.log(x)
    # suffix[i] = sum_{j >= i} ln x_j ; s[i] = sum_{j >= i} ln(x_j / x_i)
    suffix = torch.flip(torch.cumsum(torch.flip(logx, [0]), 0), [0])
    n = (n_total - torch.arange(n_total, device=x.device)).to(x.dtype)  # tail sizes N - i
    s = (suffix - n * logx)[:-1]  # (N-1,) candidates x_0 .. x_{N-2}
    n = n[:-1]
    with torch.no_grad():
        if n_total < SMALL_N_CUTOFF:
            alphas, D_all, sigmas = _small_n(x, s, n)
        else:
            alphas = 1 + n / s
            D_all = torch.where(alphas > 1, _ks_distances(x, alphas), torch.ones_like(alphas))
            sigmas = (alphas - 1) / n.sqrt()
    if D_all.numel() == 0:  # a single eigenvalue: no candidate xmin (ww's fit raises and fails)
        return _failed()
    # ww picks the smallest KS distance in both regimes (its small-N objective is overridden by this)
    i_best = int(torch.argmin(D_all))  # first minimum, like np.argmin
    alpha, D, sigma = float(alphas[i_best]), float(D_all[i_best]), float(sigmas[i_best])
    if math.isnan(alpha):
        return _failed()
    xmin = float(x[i_best])
    return PowerLawFit(alpha, xmin, D, sigma, int((all_evals >= xmin).sum()), "success")


def _small_n(x: Tensor, s: Tensor, n: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """weightwatcher's ``fit_powerlaw_smallN`` arrays (k_min = 8, no prior): (alphas, Ds, sigmas).

    Tails shorter than 8 or with ``sum ln(x_j/x_i) <= 1e-12`` are skipped (alpha 0, D 1); the others get the
    bias-corrected MLE and, when it exceeds 1, their KS distance. With no admissible tail ww refits the whole
    sample into entry 0 (its sigma stays the stale one).
    """
    n_total = x.numel()
    ok = (n >= _SMALL_N_MIN_TAIL) & (s > 1e-12)
    alphas = torch.where(ok, 1 + (n - 1) / s, torch.zeros_like(s))  # bias-corrected MLE
    valid = ok & (alphas > 1)
    D_all = torch.ones_like(alphas)
    if valid.any():
        D_all = torch.where(valid, _ks_distances(x, alphas), D_all)
    sigmas = (alphas - 1) / n.sqrt()
    if valid.any() or n_total < 2 or float(s[0]) <= 1e-12:
        return alphas, D_all, sigmas
    alpha0 = 1 + (n_total - 1) / float(s[0])  # fallback: the whole sample is the tail
    offset = torch.arange(n_total, dtype=x.dtype, device=x.device)
    D0 = (offset / n_total - (1 - (x / x[0]) ** (1 - alpha0))).abs().max()
    alphas, D_all = alphas.clone(), D_all.clone()
    alphas[0], D_all[0] = alpha0, D0
    return alphas, D_all, sigmas
