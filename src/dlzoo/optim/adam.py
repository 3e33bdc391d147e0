"""Adam and AdamW.

Adam: Kingma & Ba, "Adam: A Method for Stochastic Optimization", 2014, arXiv:1412.6980 (Algorithm 1),
with AMSGrad from Reddi et al., "On the Convergence of Adam and Beyond", ICLR 2018.
AdamW: Loshchilov & Hutter, "Decoupled Weight Decay Regularization", 2017, arXiv:1711.05101 (Alg. 2).

For gradient g_t of parameter theta (t = 1, 2, ...)::

    g_t   <- g_t + lambda * theta_{t-1}                 (Adam: L2 penalty folded into the gradient)
    theta <- theta_{t-1} * (1 - lr * lambda)            (AdamW: decoupled weight decay)
    m_t   =  beta1 * m_{t-1} + (1 - beta1) * g_t
    v_t   =  beta2 * v_{t-1} + (1 - beta2) * g_t^2
    vmax  =  max(vmax, v_t)                             (AMSGrad; used in place of v_t below)
    theta <- theta - lr * m_t / (1 - beta1^t) / (sqrt(v_t / (1 - beta2^t)) + eps)

The last line is evaluated in the paper's "more efficient" ordering (Sec. 2, end):
``theta -= (lr / bc1) * m_t / (sqrt(v_t) / sqrt(bc2) + eps)``, which is also torch's ordering.
All tensors of a param group are updated together with ``torch._foreach_*`` ops.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from .base import ForeachOptimizer, ParamsT, uniform, value
from .validation import check_adam_hparams, check_flags

__all__ = ["Adam", "AdamW"]


class Adam(ForeachOptimizer):
    """Adam (``torch.optim.Adam``-compatible arguments, state keys and param-group keys).

    Args:
        params: iterable of tensors or param-group dicts.
        lr: learning rate. betas: (beta1, beta2) moment decay rates. eps: denominator term.
        weight_decay: L2 penalty (or decoupled decay when ``decoupled_weight_decay``).
        amsgrad: use the running maximum of ``v_t``. maximize: ascend instead of descend.
        foreach, fused: accepted and recorded; dlzoo always runs its own foreach implementation (same math).
        capturable, differentiable: must be False (see :func:`dlzoo.optim.validation.check_flags`).

    ``lr`` and ``betas`` may be one-element tensors (as in torch; their values are read each step). Unlike
    torch, a Tensor ``lr``/``betas`` is also accepted with ``foreach=True``.
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 1e-3,
        betas: tuple[float | Tensor, float | Tensor] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        amsgrad: bool = False,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        capturable: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
        decoupled_weight_decay: bool = False,
    ) -> None:
        name = type(self).__name__
        check_adam_hparams(name, lr, betas, eps, weight_decay)
        check_flags(name, foreach=foreach, capturable=capturable, differentiable=differentiable, fused=fused)
        defaults = dict(
            lr=lr,
            betas=betas,
            eps=eps,
            weight_decay=weight_decay,
            amsgrad=amsgrad,
            maximize=maximize,
            foreach=foreach,
            capturable=False,
            differentiable=False,
            fused=fused,
            decoupled_weight_decay=decoupled_weight_decay,
        )
        super().__init__(params, defaults)

    def _update_group(self, group: dict[str, Any], params: list[Tensor], grads: list[Tensor]) -> None:
        amsgrad = group["amsgrad"]

        def init(p: Tensor) -> dict[str, Any]:
            state = {"step": self._new_step(), "exp_avg": self._zeros(p), "exp_avg_sq": self._zeros(p)}
            if amsgrad:
                state["max_exp_avg_sq"] = self._zeros(p)
            return state

        states = self._states(params, init)
        beta1, beta2 = (value(b) for b in group["betas"])
        lr, eps = self._lr(group), group["eps"]
        steps = self._advance([s["step"] for s in states])
        params = self._real(params)
        grads = self._real(grads)
        exp_avg = self._real([s["exp_avg"] for s in states])
        exp_avg_sq = self._real([s["exp_avg_sq"] for s in states])

        grads = self._weight_decay(group, grads, params, lr)  # AdamW decay or Adam's L2 on g

        torch._foreach_lerp_(exp_avg, grads, 1.0 - beta1)  # m = beta1 m + (1 - beta1) g
        torch._foreach_mul_(exp_avg_sq, beta2)
        torch._foreach_addcmul_(exp_avg_sq, grads, grads, 1.0 - beta2)  # v = beta2 v + (1 - beta2) g^2

        second = exp_avg_sq
        if amsgrad:
            second = self._real([s["max_exp_avg_sq"] for s in states])
            torch._foreach_maximum_(second, exp_avg_sq)  # vmax = max(vmax, v)

        denom = torch._foreach_sqrt(second)
        if uniform(steps):
            t = steps[0]
            bc1, bc2 = 1.0 - beta1**t, 1.0 - beta2**t
            torch._foreach_div_(denom, bc2**0.5)  # sqrt(v_hat)
            torch._foreach_add_(denom, eps)
            torch._foreach_addcdiv_(params, exp_avg, denom, -lr / bc1)  # theta -= lr m_hat / (...)
        else:
            bc1s = [1.0 - beta1**t for t in steps]
            torch._foreach_div_(denom, [(1.0 - beta2**t) ** 0.5 for t in steps])
            torch._foreach_add_(denom, eps)
            torch._foreach_addcdiv_(params, exp_avg, denom, [-lr / b for b in bc1s])


class AdamW(Adam):
    """AdamW: Adam with decoupled weight decay (``torch.optim.AdamW``-compatible; default wd 0.01)."""

    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 1e-3,
        betas: tuple[float | Tensor, float | Tensor] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
        capturable: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        super().__init__(
            params,
            lr,
            betas,
            eps,
            weight_decay,
            amsgrad,
            foreach=foreach,
            maximize=maximize,
            capturable=capturable,
            differentiable=differentiable,
            fused=fused,
            decoupled_weight_decay=True,
        )
