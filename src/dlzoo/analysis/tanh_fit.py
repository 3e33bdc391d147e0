"""Least-squares fit of a tanh to a norm layer's input-output map.

Zhu, Chen, He, LeCun, Liu, "Transformers without Normalization", CVPR 2025, arXiv:2503.10622, Sec. 3:
the S-shaped maps of trained LayerNorms look like a scaled tanh, which Dynamic Tanh builds in,
``DyT(x) = gamma * tanh(alpha * x) + beta``. :func:`fit_tanh` finds, per group of points (one layer, or one
channel), the least-squares

    (alpha, gamma, beta) = argmin sum_i (y_i - gamma * tanh(alpha * x_i) - beta)^2,   alpha > 0

by variable projection: for a fixed alpha the model is linear in (gamma, beta), solved in closed form, which
leaves a 1-D problem in log(alpha): a grid over alpha * s in [1e-3, 1e3] (s = 99th percentile of |x| in
the group, torch.quantile's "higher" order statistic) and golden-section refinement between the best grid
point's neighbours, all groups at once in float64. (alpha, -gamma) is the same curve as (-alpha, gamma),
so alpha > 0 loses nothing.

Reported per group: alpha, gamma, beta; ``r2 = 1 - SSE / SST`` of the tanh fit and ``linear_r2`` of the
best line; ``reach = alpha * s``, how far into the tanh the 99th-percentile input goes, and ``saturation =
tanh(reach) / reach`` (1: the data only see the linear part of the tanh; 0.76 at reach 1; below 0.5 the
extremes are clearly squashed). A linear map is the alpha -> 0 limit: the fit then sits at the grid's lower
end (``reach`` = 1e-3, ``at_lower_bound``) and gamma * alpha is its slope.

Shapes: ``x``, ``y``: (P,); ``group``: (P,) integer labels.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import Tensor

from .scurve import NormIO

__all__ = ["TanhFit", "fit_tanh", "fit_tanh_groups", "layer_tanh_fit"]

_REACH_LO, _REACH_HI, _GRID = 1e-3, 1e3, 121
_INV_PHI = (math.sqrt(5.0) - 1.0) / 2.0


@dataclass(frozen=True)
class TanhFit:
    """One group's fit ``y ~ gamma * tanh(alpha * x) + beta`` (module docstring)."""

    alpha: float
    gamma: float
    beta: float
    r2: float
    linear_r2: float
    reach: float
    saturation: float
    num_points: int
    at_lower_bound: bool

    def as_dict(self) -> dict[str, float]:
        return {k: float(v) for k, v in asdict(self).items()}


def _pad(x: Tensor, y: Tensor, group: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Groups as padded rows: labels (G,), x, y, w (G, K) float64 with w = 0 on padding."""
    labels, inverse, counts = torch.unique(group, return_inverse=True, return_counts=True)
    g, k = labels.numel(), int(counts.max())
    order = torch.argsort(inverse, stable=True)
    pos = torch.arange(order.numel()) - torch.repeat_interleave(torch.cumsum(counts, 0) - counts, counts)
    rows = inverse[order]
    xs = torch.zeros(g, k, dtype=torch.float64)
    ys = torch.zeros(g, k, dtype=torch.float64)
    w = torch.zeros(g, k, dtype=torch.float64)
    xs[rows, pos] = x.double()[order]
    ys[rows, pos] = y.double()[order]
    w[rows, pos] = 1.0
    return labels, xs, ys, w


def _project(a: Tensor, x: Tensor, y: Tensor, w: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """For alphas ``a`` (G, A): closed-form (gamma, beta) and the SSE, each (G, A); x, y, w: (G, K)."""
    t = torch.tanh(a[..., None] * x[:, None, :])  # (G, A, K)
    wn = w[:, None, :]
    n = w.sum(-1)[:, None]  # (G, 1)
    tm = (wn * t).sum(-1) / n  # (G, A)
    ym = (w * y).sum(-1)[:, None] / n  # (G, 1)
    dt = t - tm[..., None]
    stt = (wn * dt * dt).sum(-1)
    sty = (wn * dt * (y[:, None, :] - ym[..., None])).sum(-1)
    gamma = torch.where(stt > 0, sty / stt.clamp_min(1e-300), torch.zeros_like(stt))
    beta = ym - gamma * tm
    resid = y[:, None, :] - gamma[..., None] * t - beta[..., None]  # (G, A, K), direct: exact near the fit
    return gamma, beta, (wn * resid * resid).sum(-1)


@torch.no_grad()
def fit_tanh_groups(x: Tensor, y: Tensor, group: Tensor, min_points: int = 4) -> dict[int, TanhFit]:
    """:class:`TanhFit` of every group label with at least ``min_points`` finite points (module docstring)."""
    x, y, group = x.reshape(-1), y.reshape(-1), group.reshape(-1)
    if not x.shape == y.shape == group.shape:
        raise ValueError(
            f"fit_tanh: x, y, group must have the same size, got {x.numel()}, {y.numel()}, {group.numel()}"
        )
    ok = torch.isfinite(x) & torch.isfinite(y)
    x, y, group = x[ok], y[ok], group[ok].long()
    if x.numel() == 0:
        return {}
    labels, xs, ys, w = _pad(x, y, group)
    enough = w.sum(-1) >= min_points
    labels, xs, ys, w = labels[enough], xs[enough], ys[enough], w[enough]
    if labels.numel() == 0:
        return {}
    n = w.sum(-1)
    # 99th percentile of |x| per group: padding set to -1 so it sorts first and is skipped
    ax = torch.where(w > 0, xs.abs(), torch.full_like(xs, -1.0)).sort(-1).values
    first = xs.shape[1] - n.long()
    q_idx = (first + torch.ceil(0.99 * (n - 1)).long()).clamp(max=xs.shape[1] - 1)
    scale = ax.gather(1, q_idx[:, None]).squeeze(1).clamp_min(1e-12)  # (G,)
    grid = torch.linspace(math.log(_REACH_LO), math.log(_REACH_HI), _GRID, dtype=torch.float64)
    log_a = grid[None, :] - scale.log()[:, None]  # (G, A)
    _, _, sse = _project(log_a.exp(), xs, ys, w)
    best = sse.argmin(-1)
    rows = torch.arange(labels.numel())
    lo = log_a[rows, (best - 1).clamp(min=0)]
    hi = log_a[rows, (best + 1).clamp(max=_GRID - 1)]
    c, d = hi - _INV_PHI * (hi - lo), lo + _INV_PHI * (hi - lo)
    fc = _project(c.exp()[:, None], xs, ys, w)[2][:, 0]
    fd = _project(d.exp()[:, None], xs, ys, w)[2][:, 0]
    for _ in range(90):  # bracket shrinks by 0.618 per step: 0.23 * 0.618^90 ~ 1e-20 in log(alpha)
        left = fc < fd  # minimum in [lo, d]
        hi = torch.where(left, d, hi)
        lo = torch.where(left, lo, c)
        d_new = torch.where(left, c, lo + _INV_PHI * (hi - lo))
        c_new = torch.where(left, hi - _INV_PHI * (hi - lo), d)
        fd_new = torch.where(left, fc, torch.nan)
        fc_new = torch.where(left, torch.nan, fd)
        need_c, need_d = left, ~left
        ev = torch.where(need_c, c_new, d_new)
        f = _project(ev.exp()[:, None], xs, ys, w)[2][:, 0]
        fc = torch.where(need_c, f, fc_new)
        fd = torch.where(need_d, f, fd_new)
        c, d = c_new, d_new
    a = ((lo + hi) / 2).exp()
    gamma, beta, sse = (t[:, 0] for t in _project(a[:, None], xs, ys, w))
    ym = (w * ys).sum(-1) / n
    sst = (w * (ys - ym[:, None]) ** 2).sum(-1)
    xm = (w * xs).sum(-1) / n
    sxx = (w * (xs - xm[:, None]) ** 2).sum(-1)
    sxy = (w * (xs - xm[:, None]) * (ys - ym[:, None])).sum(-1)
    lin_sse = (sst - torch.where(sxx > 0, sxy**2 / sxx.clamp_min(1e-300), torch.zeros_like(sxx))).clamp_min(0)
    reach = a * scale
    out = {}
    for i, label in enumerate(labels.tolist()):
        r = float(reach[i])
        s = float(sst[i])
        out[int(label)] = TanhFit(
            alpha=float(a[i]),
            gamma=float(gamma[i]),
            beta=float(beta[i]),
            r2=1.0 - float(sse[i]) / s if s > 0 else 1.0,
            linear_r2=1.0 - float(lin_sse[i]) / s if s > 0 else 1.0,
            reach=r,
            saturation=math.tanh(r) / r,
            num_points=int(n[i]),
            at_lower_bound=r < _REACH_LO * math.exp(0.5 * (grid[1] - grid[0]).item()),
        )
    return out


def fit_tanh(x: Tensor, y: Tensor) -> TanhFit:
    """One :class:`TanhFit` of all points ``y ~ gamma * tanh(alpha * x) + beta`` (module docstring)."""
    fits = fit_tanh_groups(x, y, torch.zeros(x.numel(), dtype=torch.long))
    if not fits:
        raise ValueError(f"fit_tanh: need at least 4 finite points, got {x.numel()}")
    return fits[0]


def layer_tanh_fit(io: NormIO) -> dict[str, float]:
    """The tanh fit of one collected layer (:class:`dlzoo.analysis.scurve.NormIO`).

    One fit of the pooled points for a per-token layer whose affine was removed (one shared map, as DyT's
    scalar alpha); one fit per channel for a per-channel-statistics layer (``io.grouping == "channel"``) or
    when the per-channel affine is still in the output. Per-channel results are medians over channels, with
    ``r2_min`` (worst channel), ``lower_bound_fraction`` (share of channels fitted as a line, alpha at the
    grid's lower end) and ``num_channels`` (0 for a pooled fit).
    """
    per_channel = io.channel is not None and (io.grouping == "channel" or not io.affine_removed)
    if not per_channel:
        out = fit_tanh(io.x, io.y).as_dict()
        out.update(r2_min=out["r2"], lower_bound_fraction=float(out["at_lower_bound"]), num_channels=0.0)
        return out
    fits = list(fit_tanh_groups(io.x, io.y, io.channel).values())
    if not fits:
        raise ValueError(f"layer_tanh_fit: no channel of this {io.layer_type} has 4 finite points")
    keys = ("alpha", "gamma", "beta", "r2", "linear_r2", "reach", "saturation")
    out = {k: float(torch.tensor([getattr(f, k) for f in fits], dtype=torch.float64).median()) for k in keys}
    out.update(
        num_points=float(sum(f.num_points for f in fits)),
        r2_min=min(f.r2 for f in fits),
        lower_bound_fraction=sum(f.at_lower_bound for f in fits) / len(fits),
        num_channels=float(len(fits)),
    )
    return out
