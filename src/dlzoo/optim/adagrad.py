"""Adagrad: Duchi, Hazan & Singer, "Adaptive Subgradient Methods for Online Learning and Stochastic
Optimization", JMLR 2011 (diagonal version, Sec. 1.1). Following ``torch.optim.Adagrad`` (state ``step``,
``sum``)::

    g_t   <- g_t + lambda * theta_{t-1}
    lr_t  =  lr / (1 + (t - 1) * lr_decay)
    s_t   =  s_{t-1} + g_t^2                               (s_0 = initial_accumulator_value)
    theta_t = theta_{t-1} - lr_t * g_t / (sqrt(s_t) + eps)
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from .base import ForeachOptimizer, ParamsT, uniform
from .validation import check_flags, check_hparam

__all__ = ["Adagrad"]


class Adagrad(ForeachOptimizer):
    """Adagrad (``torch.optim.Adagrad``-compatible arguments and state keys).

    ``lr`` may be a one-element tensor; ``foreach``/``fused`` are recorded only (same math), and
    ``differentiable`` must be False (see :func:`dlzoo.optim.validation.check_flags`).
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 1e-2,
        lr_decay: float = 0,
        weight_decay: float = 0,
        initial_accumulator_value: float = 0,
        eps: float = 1e-10,
        foreach: bool | None = None,
        *,
        maximize: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        for name, value in (
            ("lr", lr),
            ("lr_decay", lr_decay),
            ("weight_decay", weight_decay),
            ("initial_accumulator_value", initial_accumulator_value),
            ("eps", eps),
        ):
            check_hparam("Adagrad", name, value)
        check_flags("Adagrad", foreach=foreach, differentiable=differentiable, fused=fused)
        defaults = dict(
            lr=lr,
            lr_decay=lr_decay,
            eps=eps,
            weight_decay=weight_decay,
            initial_accumulator_value=initial_accumulator_value,
            foreach=foreach,
            maximize=maximize,
            differentiable=False,
            fused=fused,
        )
        super().__init__(params, defaults)

    def _update_group(self, group: dict[str, Any], params: list[Tensor], grads: list[Tensor]) -> None:
        init_value = group["initial_accumulator_value"]

        def init(p: Tensor) -> dict[str, Any]:
            fill = complex(init_value, init_value) if p.is_complex() else init_value
            return {
                "step": self._new_step(),
                "sum": torch.full_like(p, fill, memory_format=torch.preserve_format),
            }

        states = self._states(params, init)
        steps = self._advance([s["step"] for s in states])
        lr, lr_decay = self._lr(group), group["lr_decay"]
        params, grads = self._real(params), self._real(grads)
        sums = self._real([s["sum"] for s in states])
        grads = self._l2_grads(grads, params, group["maximize"], group["weight_decay"])

        torch._foreach_addcmul_(sums, grads, grads, 1.0)  # s = s + g^2
        std = torch._foreach_sqrt(sums)
        torch._foreach_add_(std, group["eps"])
        if uniform(steps):
            torch._foreach_addcdiv_(params, grads, std, -lr / (1 + (steps[0] - 1) * lr_decay))
        else:
            torch._foreach_addcdiv_(params, grads, std, [-lr / (1 + (t - 1) * lr_decay) for t in steps])
