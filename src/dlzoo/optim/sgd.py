"""Stochastic gradient descent with momentum and Nesterov momentum.

Momentum: Polyak, "Some methods of speeding up the convergence of iteration methods", 1964; Nesterov
momentum as in Sutskever et al., "On the importance of initialization and momentum in deep learning",
ICML 2013. Following ``torch.optim.SGD`` (state key ``momentum_buffer``)::

    g_t <- g_t + lambda * theta_{t-1}
    b_1 =  g_1,   b_t = mu * b_{t-1} + (1 - tau) * g_t               (tau = dampening)
    d_t =  g_t + mu * b_t  (nesterov)   or   b_t
    theta_t = theta_{t-1} - lr * d_t
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from .base import ForeachOptimizer, ParamsT, value
from .validation import check_flags, check_hparam

__all__ = ["SGD"]


class SGD(ForeachOptimizer):
    """SGD (``torch.optim.SGD``-compatible). ``nesterov`` needs ``momentum > 0`` and ``dampening == 0``.

    ``lr`` and ``weight_decay`` may be one-element tensors. ``foreach``/``fused`` are accepted and recorded
    (dlzoo always runs its own foreach code, same math); ``differentiable`` must be False.
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 1e-3,
        momentum: float = 0,
        dampening: float = 0,
        weight_decay: float | Tensor = 0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        check_hparam("SGD", "lr", lr)
        check_hparam("SGD", "momentum", momentum)
        check_hparam("SGD", "dampening", dampening, 0.0, 1.0)
        check_hparam("SGD", "weight_decay", weight_decay)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError(
                f"SGD: nesterov=True requires momentum > 0 and dampening == 0, got momentum={momentum!r}, "
                f"dampening={dampening!r}"
            )
        check_flags("SGD", foreach=foreach, differentiable=differentiable, fused=fused)
        defaults = dict(
            lr=lr,
            momentum=momentum,
            dampening=dampening,
            weight_decay=weight_decay,
            nesterov=nesterov,
            maximize=maximize,
            foreach=foreach,
            differentiable=False,
            fused=fused,
        )
        super().__init__(params, defaults)

    def _update_group(self, group: dict[str, Any], params: list[Tensor], grads: list[Tensor]) -> None:
        lr, mu, wd = self._lr(group), group["momentum"], group["weight_decay"]
        wd = value(wd)
        states = [self.state[p] for p in params]
        cplx = [p.is_complex() for p in params]
        params, grads = self._real(params), self._real(grads)
        bufs = [s.get("momentum_buffer") for s in states] if mu != 0 else []
        if mu != 0 and not group["nesterov"] and all(b is not None for b in bufs):
            # b = mu b + (1 - tau)(g + lambda theta), accumulated in place (no temporary for g + lambda theta)
            bufs = self._real(bufs)
            damp = 1.0 - group["dampening"]
            torch._foreach_mul_(bufs, mu)
            torch._foreach_add_(bufs, grads, alpha=-damp if group["maximize"] else damp)
            if wd != 0:
                torch._foreach_add_(bufs, params, alpha=damp * wd)
            torch._foreach_add_(params, bufs, alpha=-lr)
            return
        grads = self._l2_grads(grads, params, group["maximize"], wd)
        if mu != 0:
            if all(b is not None for b in bufs):
                bufs = self._real(bufs)
                torch._foreach_mul_(bufs, mu)
                torch._foreach_add_(bufs, grads, alpha=1.0 - group["dampening"])  # b = mu b + (1 - tau) g
            else:  # some parameters start now: b_1 = g_1 for those
                for i, (state, buf) in enumerate(zip(states, bufs)):
                    if buf is None:
                        buf = torch.clone(grads[i]).detach()
                        state["momentum_buffer"] = torch.view_as_complex(buf) if cplx[i] else buf
                    else:
                        buf = self._real([buf])[0]
                        buf.mul_(mu).add_(grads[i], alpha=1.0 - group["dampening"])
                    bufs[i] = buf
            if group["nesterov"]:
                grads = torch._foreach_add(grads, bufs, alpha=mu)  # d = g + mu b
            else:
                grads = bufs
        torch._foreach_add_(params, grads, alpha=-lr)
