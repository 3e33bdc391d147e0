"""RAdam: Liu et al., "On the Variance of the Adaptive Learning Rate and Beyond", ICLR 2020,
arXiv:1908.03265 (Algorithm 2). Following ``torch.optim.RAdam`` (state ``step``, ``exp_avg``,
``exp_avg_sq``; eps added to sqrt(v_t) before bias correction; ``decoupled_weight_decay`` gives RAdamW)::

    m_t = beta1 m_{t-1} + (1 - beta1) g_t ;  v_t = beta2 v_{t-1} + (1 - beta2) g_t^2
    rho_inf = 2 / (1 - beta2) - 1 ;  rho_t = rho_inf - 2 t beta2^t / (1 - beta2^t)
    if rho_t > 5:  l_t = sqrt(1 - beta2^t) / (sqrt(v_t) + eps)
                   r_t = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t))
                   theta_t = theta_{t-1} - lr * m_t / (1 - beta1^t) * l_t * r_t
    else:          theta_t = theta_{t-1} - lr * m_t / (1 - beta1^t)
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from .base import ForeachOptimizer, ParamsT
from .validation import check_adam_hparams, check_flags

__all__ = ["RAdam"]


class RAdam(ForeachOptimizer):
    """RAdam (``torch.optim.RAdam``-compatible arguments and state keys).

    ``lr`` may be a one-element tensor; ``foreach`` is recorded only, ``capturable``/``differentiable``
    must be False (see :func:`dlzoo.optim.validation.check_flags`).
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        decoupled_weight_decay: bool = False,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        capturable: bool = False,
        differentiable: bool = False,
    ) -> None:
        check_adam_hparams("RAdam", lr, betas, eps, weight_decay)
        check_flags("RAdam", foreach=foreach, capturable=capturable, differentiable=differentiable)
        defaults = dict(
            lr=lr,
            betas=betas,
            eps=eps,
            weight_decay=weight_decay,
            maximize=maximize,
            foreach=foreach,
            capturable=False,
            decoupled_weight_decay=decoupled_weight_decay,
            differentiable=False,
        )
        super().__init__(params, defaults)

    def _update_group(self, group: dict[str, Any], params: list[Tensor], grads: list[Tensor]) -> None:
        states = self._states(
            params,
            lambda p: {"step": self._new_step(), "exp_avg": self._zeros(p), "exp_avg_sq": self._zeros(p)},
        )
        steps = self._advance([s["step"] for s in states])
        lr, (beta1, beta2), eps = self._lr(group), group["betas"], group["eps"]
        params, grads = self._real(params), self._real(grads)
        exp_avg = self._real([s["exp_avg"] for s in states])
        exp_avg_sq = self._real([s["exp_avg_sq"] for s in states])
        grads = self._weight_decay(group, grads, params, lr)

        torch._foreach_lerp_(exp_avg, grads, 1.0 - beta1)
        torch._foreach_mul_(exp_avg_sq, beta2)
        torch._foreach_addcmul_(exp_avg_sq, grads, grads, 1.0 - beta2)

        rho_inf = 2.0 / (1.0 - beta2) - 1.0
        rect, unrect = [], []  # per-parameter step-size factors for the two branches
        for t in steps:
            bc2 = 1.0 - beta2**t
            rho_t = rho_inf - 2.0 * t * beta2**t / bc2
            step_size = lr / (1.0 - beta1**t)
            if rho_t > 5.0:
                r_t = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
                rect.append(step_size * r_t * math.sqrt(bc2))
                unrect.append(None)
            else:
                rect.append(None)
                unrect.append(step_size)
        idx_r = [i for i, v in enumerate(rect) if v is not None]
        idx_u = [i for i, v in enumerate(unrect) if v is not None]
        if idx_r:
            denom = torch._foreach_sqrt([exp_avg_sq[i] for i in idx_r])
            torch._foreach_add_(denom, eps)  # sqrt(v) + eps
            torch._foreach_addcdiv_(
                [params[i] for i in idx_r], [exp_avg[i] for i in idx_r], denom, [-rect[i] for i in idx_r]
            )
        if idx_u:  # early steps: un-adapted momentum SGD, theta -= lr m / (1 - beta1^t)
            update = torch._foreach_mul([exp_avg[i] for i in idx_u], [unrect[i] for i in idx_u])
            torch._foreach_sub_([params[i] for i in idx_u], update)
