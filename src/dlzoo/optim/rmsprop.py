"""RMSprop: Tieleman & Hinton, "Lecture 6.5 - rmsprop", COURSERA: Neural Networks for Machine Learning,
2012; centered variant from Graves, "Generating Sequences With Recurrent Neural Networks", 2013,
arXiv:1308.0850 (Eq. 38-45). Following ``torch.optim.RMSprop`` (state ``step``, ``square_avg``,
``momentum_buffer``, ``grad_avg``)::

    g_t   <- g_t + lambda * theta_{t-1}
    v_t   =  alpha * v_{t-1} + (1 - alpha) * g_t^2
    gbar_t = alpha * gbar_{t-1} + (1 - alpha) * g_t         (centered only)
    d_t   =  sqrt(v_t - gbar_t^2) + eps    (centered)    or    sqrt(v_t) + eps
    b_t   =  mu * b_{t-1} + g_t / d_t ;  theta_t = theta_{t-1} - lr * b_t      (momentum > 0)
    theta_t = theta_{t-1} - lr * g_t / d_t                                      (momentum = 0)
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from .base import ForeachOptimizer, ParamsT
from .validation import check_flags, check_hparam

__all__ = ["RMSprop"]


class RMSprop(ForeachOptimizer):
    """RMSprop (``torch.optim.RMSprop``-compatible arguments and state keys).

    ``lr`` may be a one-element tensor; ``foreach`` is recorded only, ``capturable``/``differentiable``
    must be False (see :func:`dlzoo.optim.validation.check_flags`).
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0,
        momentum: float = 0,
        centered: bool = False,
        capturable: bool = False,
        foreach: bool | None = None,
        maximize: bool = False,
        differentiable: bool = False,
    ) -> None:
        for name, value in (
            ("lr", lr),
            ("eps", eps),
            ("weight_decay", weight_decay),
            ("momentum", momentum),
        ):
            check_hparam("RMSprop", name, value)
        check_hparam("RMSprop", "alpha", alpha, 0.0, 1.0)
        check_flags("RMSprop", foreach=foreach, capturable=capturable, differentiable=differentiable)
        defaults = dict(
            lr=lr,
            momentum=momentum,
            alpha=alpha,
            eps=eps,
            centered=centered,
            weight_decay=weight_decay,
            capturable=False,
            foreach=foreach,
            maximize=maximize,
            differentiable=False,
        )
        super().__init__(params, defaults)

    def _update_group(self, group: dict[str, Any], params: list[Tensor], grads: list[Tensor]) -> None:
        mu, centered, alpha = group["momentum"], group["centered"], group["alpha"]

        def init(p: Tensor) -> dict[str, Any]:
            state = {"step": self._new_step(), "square_avg": self._zeros(p)}
            if mu > 0:
                state["momentum_buffer"] = self._zeros(p)
            if centered:
                state["grad_avg"] = self._zeros(p)
            return state

        states = self._states(params, init)
        self._advance([s["step"] for s in states])
        lr = self._lr(group)
        params, grads = self._real(params), self._real(grads)
        square_avg = self._real([s["square_avg"] for s in states])
        grads = self._l2_grads(grads, params, group["maximize"], group["weight_decay"])

        torch._foreach_mul_(square_avg, alpha)
        torch._foreach_addcmul_(square_avg, grads, grads, 1.0 - alpha)  # v = alpha v + (1 - alpha) g^2
        if centered:
            grad_avg = self._real([s["grad_avg"] for s in states])
            torch._foreach_lerp_(grad_avg, grads, 1.0 - alpha)  # gbar = alpha gbar + (1 - alpha) g
            denom = torch._foreach_addcmul(square_avg, grad_avg, grad_avg, -1.0)  # v - gbar^2
            torch._foreach_sqrt_(denom)
        else:
            denom = torch._foreach_sqrt(square_avg)
        torch._foreach_add_(denom, group["eps"])
        if mu > 0:
            bufs = self._real([s["momentum_buffer"] for s in states])
            torch._foreach_mul_(bufs, mu)
            torch._foreach_addcdiv_(bufs, grads, denom)  # b = mu b + g / d
            torch._foreach_add_(params, bufs, alpha=-lr)
        else:
            torch._foreach_addcdiv_(params, grads, denom, -lr)
