"""Rprop (resilient backpropagation): Riedmiller & Braun, "A Direct Adaptive Method for Faster
Backpropagation Learning: The RPROP Algorithm", IEEE ICNN 1993 (the variant without weight backtracking,
later called Rprop-). Following ``torch.optim.Rprop`` (state ``step``, ``prev``, ``step_size``)::

    s_t   = sign(g_t * g_{t-1})                                  (g_0 = 0)
    Delta_t = min(Delta_{t-1} * eta_plus,  Delta_max)   if s_t > 0
            = max(Delta_{t-1} * eta_minus, Delta_min)   if s_t < 0   (and g_t <- 0: no step, no memory)
            = Delta_{t-1}                               if s_t = 0
    theta_t = theta_{t-1} - Delta_t * sign(g_t)
    g_{t-1} <- g_t                                               (the possibly zeroed gradient)

``Delta_0 = lr`` for every element. Only the gradient's sign is used, so Rprop suits full-batch training.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from .base import ForeachOptimizer, ParamsT
from .validation import check_flags, check_hparam, check_tuple

__all__ = ["Rprop"]


class Rprop(ForeachOptimizer):
    """Rprop (``torch.optim.Rprop``-compatible arguments, defaults and state keys).

    Args:
        params: iterable of tensors or param-group dicts.
        lr: initial per-element step size Delta_0 (may be a one-element tensor).
        etas: (eta_minus, eta_plus), need ``0 < eta_minus < 1 < eta_plus``.
        step_sizes: (Delta_min, Delta_max), need ``0 <= Delta_min <= Delta_max``.
        maximize: ascend instead of descend. foreach: recorded only; ``capturable``/``differentiable`` must
            be False (see :func:`dlzoo.optim.validation.check_flags`).
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 1e-2,
        etas: tuple[float, float] = (0.5, 1.2),
        step_sizes: tuple[float, float] = (1e-6, 50),
        *,
        capturable: bool = False,
        foreach: bool | None = None,
        maximize: bool = False,
        differentiable: bool = False,
    ) -> None:
        check_hparam("Rprop", "lr", lr)
        check_tuple("Rprop", "etas", etas, 2)
        check_hparam("Rprop", "etas[0]", etas[0], 0.0, 1.0, low_open=True, high_open=True)
        check_hparam("Rprop", "etas[1]", etas[1], 1.0, low_open=True)
        check_tuple("Rprop", "step_sizes", step_sizes, 2)
        lo = check_hparam("Rprop", "step_sizes[0]", step_sizes[0])
        check_hparam("Rprop", "step_sizes[1]", step_sizes[1], lo)
        check_flags("Rprop", foreach=foreach, capturable=capturable, differentiable=differentiable)
        defaults = dict(
            lr=lr,
            etas=etas,
            step_sizes=step_sizes,
            foreach=foreach,
            maximize=maximize,
            differentiable=False,
            capturable=False,
        )
        super().__init__(params, defaults)

    def _update_group(self, group: dict[str, Any], params: list[Tensor], grads: list[Tensor]) -> None:
        lr = self._lr(group)

        def init(p: Tensor) -> dict[str, Any]:
            fill = complex(lr, lr) if p.is_complex() else lr  # real and imaginary parts step independently
            return {
                "step": self._new_step(),
                "prev": self._zeros(p),
                "step_size": torch.full_like(p, fill, memory_format=torch.preserve_format),
            }

        states = self._states(params, init)
        self._advance([s["step"] for s in states])
        eta_minus, eta_plus = group["etas"]
        size_min, size_max = group["step_sizes"]
        params, grads = self._real(params), self._real(grads)
        prevs = self._real([s["prev"] for s in states])
        sizes = self._real([s["step_size"] for s in states])
        if group["maximize"]:
            grads = torch._foreach_neg(grads)

        signs = torch._foreach_mul(grads, prevs)
        torch._foreach_sign_(signs)  # s_t = sign(g_t g_{t-1})
        factors = [  # eta_plus where s > 0, eta_minus where s < 0, 1 where s = 0 (in the parameter's dtype)
            torch.ones_like(s).masked_fill_(s > 0, eta_plus).masked_fill_(s < 0, eta_minus) for s in signs
        ]
        torch._foreach_mul_(sizes, factors)
        torch._foreach_clamp_min_(sizes, size_min)
        torch._foreach_clamp_max_(sizes, size_max)  # Delta_t
        for prev, g, s in zip(prevs, grads, signs):
            prev.copy_(g.masked_fill(s < 0, 0.0))  # a sign change: forget g_t (no step this time)
        update = torch._foreach_sign(prevs)
        torch._foreach_mul_(update, sizes)
        torch._foreach_sub_(params, update)  # theta -= Delta_t sign(g_t)
