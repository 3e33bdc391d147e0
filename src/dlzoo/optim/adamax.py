"""Adamax: Kingma & Ba, "Adam: A Method for Stochastic Optimization", 2014, arXiv:1412.6980 (Sec. 7.1,
Algorithm 2: the infinity-norm variant). Following ``torch.optim.Adamax`` (state ``step``, ``exp_avg``,
``exp_inf``; eps added inside the max)::

    g_t  <- g_t + lambda * theta_{t-1}
    m_t  =  beta1 * m_{t-1} + (1 - beta1) * g_t
    u_t  =  max(beta2 * u_{t-1}, |g_t| + eps)
    theta_t = theta_{t-1} - lr / (1 - beta1^t) * m_t / u_t
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from .base import ForeachOptimizer, ParamsT, uniform
from .validation import check_adam_hparams, check_flags

__all__ = ["Adamax"]


class Adamax(ForeachOptimizer):
    """Adamax (``torch.optim.Adamax``-compatible arguments and state keys).

    ``lr`` may be a one-element tensor; ``foreach`` is recorded only, ``capturable``/``differentiable``
    must be False (see :func:`dlzoo.optim.validation.check_flags`).
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 2e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        foreach: bool | None = None,
        *,
        maximize: bool = False,
        differentiable: bool = False,
        capturable: bool = False,
    ) -> None:
        check_adam_hparams("Adamax", lr, betas, eps, weight_decay)
        check_flags("Adamax", foreach=foreach, capturable=capturable, differentiable=differentiable)
        defaults = dict(
            lr=lr,
            betas=betas,
            eps=eps,
            weight_decay=weight_decay,
            foreach=foreach,
            maximize=maximize,
            differentiable=False,
            capturable=False,
        )
        super().__init__(params, defaults)

    def _update_group(self, group: dict[str, Any], params: list[Tensor], grads: list[Tensor]) -> None:
        states = self._states(
            params, lambda p: {"step": self._new_step(), "exp_avg": self._zeros(p), "exp_inf": self._zeros(p)}
        )
        steps = self._advance([s["step"] for s in states])
        lr, (beta1, beta2), eps = self._lr(group), group["betas"], group["eps"]
        params, grads = self._real(params), self._real(grads)
        exp_avg = self._real([s["exp_avg"] for s in states])
        exp_inf = self._real([s["exp_inf"] for s in states])
        grads = self._l2_grads(grads, params, group["maximize"], group["weight_decay"])

        torch._foreach_lerp_(exp_avg, grads, 1.0 - beta1)  # m
        abs_eps = torch._foreach_abs(grads)
        torch._foreach_add_(abs_eps, eps)  # |g| + eps
        torch._foreach_mul_(exp_inf, beta2)
        torch._foreach_maximum_(exp_inf, abs_eps)  # u = max(beta2 u, |g| + eps)
        if uniform(steps):
            torch._foreach_addcdiv_(params, exp_avg, exp_inf, -lr / (1.0 - beta1 ** steps[0]))
        else:
            torch._foreach_addcdiv_(params, exp_avg, exp_inf, [-lr / (1.0 - beta1**t) for t in steps])
