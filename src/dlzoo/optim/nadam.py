"""NAdam: Dozat, "Incorporating Nesterov Momentum into Adam", ICLR 2016 workshop (Algorithm 2, with the
momentum schedule mu_t = beta1 * (1 - 0.5 * 0.96^(t * psi))). Following ``torch.optim.NAdam`` (state
``step``, ``mu_product``, ``exp_avg``, ``exp_avg_sq``; ``decoupled_weight_decay`` gives NAdamW)::

    g_t    <- g_t + lambda * theta_{t-1}     (or theta <- theta (1 - lr lambda) if decoupled)
    mu_t    = beta1 * (1 - 0.5 * 0.96^(t psi)),   mu_{t+1} likewise,   P_t = prod_{i<=t} mu_i
    m_t     = beta1 * m_{t-1} + (1 - beta1) * g_t
    v_t     = beta2 * v_{t-1} + (1 - beta2) * g_t^2
    d_t     = sqrt(v_t / (1 - beta2^t)) + eps
    theta_t = theta_{t-1} - lr (1 - mu_t) / (1 - P_t) * g_t / d_t
                          - lr mu_{t+1} / (1 - P_t mu_{t+1}) * m_t / d_t

``mu_product`` is kept as a scalar tensor of the ``step`` dtype (torch does the same), so trajectories
and state_dicts match torch's.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from .base import ForeachOptimizer, ParamsT, scalar_dtype
from .validation import check_adam_hparams, check_flags, check_hparam

__all__ = ["NAdam"]


class NAdam(ForeachOptimizer):
    """NAdam (``torch.optim.NAdam``-compatible arguments and state keys).

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
        momentum_decay: float = 4e-3,
        decoupled_weight_decay: bool = False,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        capturable: bool = False,
        differentiable: bool = False,
    ) -> None:
        check_adam_hparams("NAdam", lr, betas, eps, weight_decay)
        check_hparam("NAdam", "momentum_decay", momentum_decay)
        check_flags("NAdam", foreach=foreach, capturable=capturable, differentiable=differentiable)
        defaults = dict(
            lr=lr,
            betas=betas,
            eps=eps,
            weight_decay=weight_decay,
            momentum_decay=momentum_decay,
            decoupled_weight_decay=decoupled_weight_decay,
            maximize=maximize,
            foreach=foreach,
            capturable=False,
            differentiable=False,
        )
        super().__init__(params, defaults)

    def _update_group(self, group: dict[str, Any], params: list[Tensor], grads: list[Tensor]) -> None:
        states = self._states(
            params,
            lambda p: {
                "step": self._new_step(),
                "mu_product": torch.tensor(1.0, dtype=scalar_dtype()),
                "exp_avg": self._zeros(p),
                "exp_avg_sq": self._zeros(p),
            },
        )
        steps = self._advance([s["step"] for s in states])
        lr, (beta1, beta2), eps = self._lr(group), group["betas"], group["eps"]
        psi = group["momentum_decay"]
        params, grads = self._real(params), self._real(grads)
        exp_avg = self._real([s["exp_avg"] for s in states])
        exp_avg_sq = self._real([s["exp_avg_sq"] for s in states])
        grads = self._weight_decay(group, grads, params, lr)

        mus = [beta1 * (1.0 - 0.5 * 0.96 ** (t * psi)) for t in steps]
        mu_nexts = [beta1 * (1.0 - 0.5 * 0.96 ** ((t + 1) * psi)) for t in steps]
        mu_products = [s["mu_product"] for s in states]
        torch._foreach_mul_(mu_products, mus)  # P_t = P_{t-1} mu_t (in the step dtype, like torch)
        prods = torch.stack(mu_products).tolist() if len(mu_products) > 1 else [mu_products[0].item()]

        torch._foreach_lerp_(exp_avg, grads, 1.0 - beta1)  # m
        torch._foreach_mul_(exp_avg_sq, beta2)
        torch._foreach_addcmul_(exp_avg_sq, grads, grads, 1.0 - beta2)  # v
        denom = torch._foreach_div(exp_avg_sq, [1.0 - beta2**t for t in steps])
        torch._foreach_sqrt_(denom)
        torch._foreach_add_(denom, eps)  # d
        grad_coef = [-lr * (1.0 - mu) / (1.0 - p) for mu, p in zip(mus, prods)]
        avg_coef = [-lr * mn / (1.0 - p * mn) for mn, p in zip(mu_nexts, prods)]
        torch._foreach_addcdiv_(params, grads, denom, grad_coef)
        torch._foreach_addcdiv_(params, exp_avg, denom, avg_coef)
