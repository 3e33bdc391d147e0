"""Adafactor: Shazeer & Stern, "Adafactor: Adaptive Learning Rates with Sublinear Memory Cost", ICML 2018,
arXiv:1804.04235 (Algorithms 4 and 5, no first moment, relative step size, update clipping).
Following ``torch.optim.Adafactor`` (state ``step``, ``row_var``, ``col_var`` for tensors with >= 2 dims,
``variance`` otherwise; factored over the last two dims; eps1 clamps the estimate instead of being added
to G^2)::

    beta2_t = 1 - t^c                                    (c = beta2_decay = -0.8)
    rho_t   = min(lr, 1 / sqrt(t)),   alpha_t = max(eps2, RMS(theta_{t-1})) * rho_t
    theta  <- theta (1 - lr lambda)                      (decoupled weight decay)
    R_t = beta2_t R_{t-1} + (1 - beta2_t) mean_cols(G_t^2)       (n x 1)
    C_t = beta2_t C_{t-1} + (1 - beta2_t) mean_rows(G_t^2)       (1 x m)
    V_t = R_t C_t / mean(R_t)        (factored)   or   V_t = beta2_t V_{t-1} + (1 - beta2_t) G_t^2
    U_t = G_t / sqrt(max(V_t, eps1^2))
    theta_t = theta - alpha_t * U_t / max(1, RMS(U_t) / d)
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from .base import ForeachOptimizer, ParamsT
from .validation import check_flags, check_hparam, check_tuple

__all__ = ["Adafactor"]


class Adafactor(ForeachOptimizer):
    """Adafactor (``torch.optim.Adafactor``-compatible arguments and state keys). Real parameters only."""

    supports_complex = False

    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 1e-2,
        beta2_decay: float = -0.8,
        eps: tuple[float | None, float] = (None, 1e-3),
        d: float = 1.0,
        weight_decay: float = 0.0,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
    ) -> None:
        check_hparam("Adafactor", "lr", lr)
        check_hparam("Adafactor", "beta2_decay", beta2_decay, float("-inf"), 0.0)
        check_tuple("Adafactor", "eps", eps, 2)
        if eps[0] is not None:
            check_hparam("Adafactor", "eps[0]", eps[0])
        check_hparam("Adafactor", "eps[1]", eps[1])
        check_hparam("Adafactor", "d", d, 1.0)
        check_hparam("Adafactor", "weight_decay", weight_decay)
        check_flags("Adafactor", foreach=foreach)
        defaults = dict(
            lr=lr,
            beta2_decay=beta2_decay,
            eps=eps,
            d=d,
            weight_decay=weight_decay,
            foreach=foreach,
            maximize=maximize,
        )
        super().__init__(params, defaults)

    @staticmethod
    def _init(p: Tensor) -> dict[str, Any]:
        if p.is_complex():
            raise RuntimeError("Adafactor does not support complex parameters")
        state: dict[str, Any] = {"step": ForeachOptimizer._new_step()}
        if p.dim() > 1:
            row_shape, col_shape = list(p.shape), list(p.shape)
            row_shape[-1] = 1  # (..., n, 1)
            col_shape[-2] = 1  # (..., 1, m)
            state["row_var"] = p.new_zeros(row_shape)
            state["col_var"] = p.new_zeros(col_shape)
        else:
            state["variance"] = ForeachOptimizer._zeros(p)
        return state

    def _update_group(self, group: dict[str, Any], params: list[Tensor], grads: list[Tensor]) -> None:
        states = self._states(params, self._init)
        steps = self._advance([s["step"] for s in states])
        lr, d, wd, c = self._lr(group), group["d"], group["weight_decay"], group["beta2_decay"]
        eps1, eps2 = group["eps"]
        eps1s = [torch.finfo(p.dtype).eps if eps1 is None else eps1 for p in params]
        if group["maximize"]:
            grads = torch._foreach_neg(grads)

        one_minus_beta2 = [t**c for t in steps]  # 1 - beta2_t
        rms_theta = _rms(params)
        alphas = [max(eps2, r) * min(lr, t**-0.5) for r, t in zip(rms_theta, steps)]
        if wd != 0:
            torch._foreach_mul_(params, 1.0 - lr * wd)

        fact = [i for i, p in enumerate(params) if p.dim() > 1]
        flat = [i for i, p in enumerate(params) if p.dim() <= 1]
        estimates: list[Tensor | None] = [None] * len(params)
        if fact:
            g = [grads[i] for i in fact]
            rows = [states[i]["row_var"] for i in fact]
            cols = [states[i]["col_var"] for i in fact]
            w = [one_minus_beta2[i] for i in fact]
            row_mean = [torch.linalg.vector_norm(x, dim=-1, keepdim=True) for x in g]  # (..., n, 1)
            torch._foreach_mul_(row_mean, row_mean)
            torch._foreach_div_(row_mean, [x.size(-1) for x in g])  # mean over columns of G^2
            torch._foreach_lerp_(rows, row_mean, w)
            col_mean = [torch.linalg.vector_norm(x, dim=-2, keepdim=True) for x in g]  # (..., 1, m)
            torch._foreach_mul_(col_mean, col_mean)
            torch._foreach_div_(col_mean, [x.size(-2) for x in g])
            torch._foreach_lerp_(cols, col_mean, w)
            v_hat = [r @ k for r, k in zip(rows, cols)]  # (..., n, m) rank-1 reconstruction
            r_mean = [r.mean(dim=-2, keepdim=True) for r in rows]
            torch._foreach_clamp_min_(r_mean, [eps1s[i] for i in fact])
            torch._foreach_div_(v_hat, r_mean)
            for i, v in zip(fact, v_hat):
                estimates[i] = v
        if flat:
            variances = [states[i]["variance"] for i in flat]
            g = [grads[i] for i in flat]
            torch._foreach_lerp_(variances, torch._foreach_mul(g, g), [one_minus_beta2[i] for i in flat])
            for i, v in zip(flat, torch._foreach_mul(variances, 1.0)):  # copies: never update in place
                estimates[i] = v

        updates = [e for e in estimates if e is not None]
        torch._foreach_clamp_min_(updates, [e * e for e in eps1s])
        torch._foreach_rsqrt_(updates)
        torch._foreach_mul_(updates, grads)  # U = G / sqrt(V)
        rms_u = _rms(updates)
        torch._foreach_mul_(updates, [-a / max(1.0, r / d) for a, r in zip(alphas, rms_u)])
        torch._foreach_add_(params, updates)


def _rms(tensors: list[Tensor]) -> list[float]:
    """Root-mean-square of every tensor, read back with a single synchronisation."""
    norms = torch._foreach_norm(tensors)
    values = torch.stack(norms).tolist() if len(norms) > 1 else [norms[0].item()]
    return [v / (t.numel() ** 0.5) for v, t in zip(values, tensors)]
