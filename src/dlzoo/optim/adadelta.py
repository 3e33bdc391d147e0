"""Adadelta: Zeiler, "ADADELTA: An Adaptive Learning Rate Method", 2012, arXiv:1212.5701 (Algorithm 1).
Following ``torch.optim.Adadelta`` (state ``step``, ``square_avg``, ``acc_delta``; an extra ``lr`` scale)::

    g_t    <- g_t + lambda * theta_{t-1}
    E[g2]_t  = rho * E[g2]_{t-1} + (1 - rho) * g_t^2
    dx_t     = sqrt(E[dx2]_{t-1} + eps) / sqrt(E[g2]_t + eps) * g_t
    E[dx2]_t = rho * E[dx2]_{t-1} + (1 - rho) * dx_t^2
    theta_t  = theta_{t-1} - lr * dx_t
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from .base import ForeachOptimizer, ParamsT
from .validation import check_flags, check_hparam

__all__ = ["Adadelta"]


class Adadelta(ForeachOptimizer):
    """Adadelta (``torch.optim.Adadelta``-compatible arguments and state keys).

    ``lr`` may be a one-element tensor; ``foreach`` is recorded only, ``capturable``/``differentiable``
    must be False (see :func:`dlzoo.optim.validation.check_flags`).
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 1.0,
        rho: float = 0.9,
        eps: float = 1e-6,
        weight_decay: float = 0,
        foreach: bool | None = None,
        *,
        capturable: bool = False,
        maximize: bool = False,
        differentiable: bool = False,
    ) -> None:
        check_hparam("Adadelta", "lr", lr)
        check_hparam("Adadelta", "rho", rho, 0.0, 1.0)
        check_hparam("Adadelta", "eps", eps)
        check_hparam("Adadelta", "weight_decay", weight_decay)
        check_flags("Adadelta", foreach=foreach, capturable=capturable, differentiable=differentiable)
        defaults = dict(
            lr=lr,
            rho=rho,
            eps=eps,
            weight_decay=weight_decay,
            maximize=maximize,
            capturable=False,
            foreach=foreach,
            differentiable=False,
        )
        super().__init__(params, defaults)

    def _update_group(self, group: dict[str, Any], params: list[Tensor], grads: list[Tensor]) -> None:
        states = self._states(
            params,
            lambda p: {"step": self._new_step(), "square_avg": self._zeros(p), "acc_delta": self._zeros(p)},
        )
        self._advance([s["step"] for s in states])
        lr, rho, eps = self._lr(group), group["rho"], group["eps"]
        params, grads = self._real(params), self._real(grads)
        square_avg = self._real([s["square_avg"] for s in states])
        acc_delta = self._real([s["acc_delta"] for s in states])
        grads = self._l2_grads(grads, params, group["maximize"], group["weight_decay"])

        torch._foreach_mul_(square_avg, rho)
        torch._foreach_addcmul_(square_avg, grads, grads, 1.0 - rho)  # E[g2]
        std = torch._foreach_add(square_avg, eps)
        torch._foreach_sqrt_(std)  # sqrt(E[g2] + eps)
        delta = torch._foreach_add(acc_delta, eps)
        torch._foreach_sqrt_(delta)  # sqrt(E[dx2] + eps)
        torch._foreach_div_(delta, std)
        torch._foreach_mul_(delta, grads)  # dx
        torch._foreach_mul_(acc_delta, rho)
        torch._foreach_addcmul_(acc_delta, delta, delta, 1.0 - rho)  # E[dx2]
        torch._foreach_add_(params, delta, alpha=-lr)
