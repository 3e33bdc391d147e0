"""Lion (EvoLved Sign Momentum): Chen et al., "Symbolic Discovery of Optimization Algorithms", 2023,
arXiv:2302.06675 (Algorithm 2 / Program 1). Not in torch. For gradient g_t::

    c_t     = beta1 * m_{t-1} + (1 - beta1) * g_t                 (interpolation, used for the update)
    theta_t = theta_{t-1} - lr * (sign(c_t) + lambda * theta_{t-1})  (decoupled weight decay)
    m_t     = beta2 * m_{t-1} + (1 - beta2) * g_t                 (momentum tracked with beta2)

The paper's defaults: beta1 = 0.9, beta2 = 0.99; lr typically 3-10x smaller than AdamW's and lambda
3-10x larger. State key ``exp_avg`` holds m (as in the authors' and most public implementations).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from .base import ForeachOptimizer, ParamsT
from .validation import check_betas, check_flags, check_hparam

__all__ = ["Lion"]


class Lion(ForeachOptimizer):
    """Lion optimizer (sign of an interpolated momentum, decoupled weight decay). ``lr`` may be a tensor."""

    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 1e-4,
        betas: tuple[float, float] = (0.9, 0.99),
        weight_decay: float = 0.0,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
    ) -> None:
        check_hparam("Lion", "lr", lr)
        check_betas("Lion", betas)  # each in [0, 1): beta = 1 would freeze the momentum
        check_hparam("Lion", "weight_decay", weight_decay)
        check_flags("Lion", foreach=foreach)
        defaults = dict(lr=lr, betas=betas, weight_decay=weight_decay, maximize=maximize, foreach=foreach)
        super().__init__(params, defaults)

    def _update_group(self, group: dict[str, Any], params: list[Tensor], grads: list[Tensor]) -> None:
        states = self._states(params, lambda p: {"step": self._new_step(), "exp_avg": self._zeros(p)})
        self._advance([s["step"] for s in states])
        lr, (beta1, beta2), wd = self._lr(group), group["betas"], group["weight_decay"]
        params, grads = self._real(params), self._real(grads)
        exp_avg = self._real([s["exp_avg"] for s in states])
        if group["maximize"]:
            grads = torch._foreach_neg(grads)
        if wd != 0:
            torch._foreach_mul_(params, 1.0 - lr * wd)  # theta <- theta - lr lambda theta
        update = torch._foreach_lerp(exp_avg, grads, 1.0 - beta1)  # c = beta1 m + (1 - beta1) g
        torch._foreach_sign_(update)
        torch._foreach_add_(params, update, alpha=-lr)  # theta <- theta - lr sign(c)
        torch._foreach_lerp_(exp_avg, grads, 1.0 - beta2)  # m = beta2 m + (1 - beta2) g
