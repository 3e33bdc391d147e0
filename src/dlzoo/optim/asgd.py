"""ASGD (averaged stochastic gradient descent): Polyak & Juditsky, "Acceleration of Stochastic Approximation
by Averaging", SIAM J. Control and Optimization 30(4), 1992; with the decaying step size and averaging
start of Bottou, "Stochastic Gradient Descent Tricks", Neural Networks: Tricks of the Trade, 2012 (Sec. 5.3).
Following ``torch.optim.ASGD`` (state ``step``, ``eta``, ``mu``, ``ax``)::

    g_t     <- g_t + lambda_wd * theta_{t-1}                      (L2 weight decay)
    theta_t  = theta_{t-1} (1 - lambd * eta_{t-1}) - eta_{t-1} * g_t
    ax_t     = ax_{t-1} + mu_{t-1} (theta_t - ax_{t-1})     (running average; ax_t = theta_t while mu = 1)
    eta_t    = lr / (1 + lambd * lr * t)^alpha
    mu_t     = 1 / max(1, t - t0)

``eta_0 = lr`` and ``mu_0 = 1``. ``eta`` and ``mu`` are 0-d tensors of the step dtype (float32 unless the
default dtype is float64), as in torch, so the trajectories round the same way; after
``load_state_dict`` (which casts them to the parameter dtype) they are put back in the step dtype, so a
resumed run equals an uninterrupted one (torch's own resumed run keeps the cast values). The averaged iterate
``ax`` is what Polyak-Ruppert averaging returns; load it into the model for evaluation.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from .base import ForeachOptimizer, ParamsT, scalar_dtype, uniform
from .validation import check_flags, check_hparam

__all__ = ["ASGD"]


class ASGD(ForeachOptimizer):
    """ASGD (``torch.optim.ASGD``-compatible arguments, defaults and state keys).

    Args:
        params: iterable of tensors or param-group dicts.
        lr: initial step size (may be a one-element tensor). lambd: decay term of the step size.
        alpha: power of the step-size decay. t0: step after which averaging starts.
        weight_decay: L2 penalty. maximize: ascend instead of descend.
        foreach: recorded only; ``capturable``/``differentiable`` must be False
            (see :func:`dlzoo.optim.validation.check_flags`).
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 1e-2,
        lambd: float = 1e-4,
        alpha: float = 0.75,
        t0: float = 1e6,
        weight_decay: float = 0,
        foreach: bool | None = None,
        maximize: bool = False,
        differentiable: bool = False,
        capturable: bool = False,
    ) -> None:
        check_hparam("ASGD", "lr", lr)
        check_hparam("ASGD", "lambd", lambd)
        check_hparam("ASGD", "alpha", alpha)
        check_hparam("ASGD", "t0", t0)
        check_hparam("ASGD", "weight_decay", weight_decay)
        check_flags("ASGD", foreach=foreach, capturable=capturable, differentiable=differentiable)
        defaults = dict(
            lr=lr,
            lambd=lambd,
            alpha=alpha,
            t0=t0,
            weight_decay=weight_decay,
            foreach=foreach,
            maximize=maximize,
            differentiable=False,
            capturable=False,
        )
        super().__init__(params, defaults)

    def _update_group(self, group: dict[str, Any], params: list[Tensor], grads: list[Tensor]) -> None:
        lr, lambd, alpha, t0 = self._lr(group), group["lambd"], group["alpha"], group["t0"]

        def init(p: Tensor) -> dict[str, Any]:
            return {
                "step": self._new_step(),
                "eta": torch.tensor(lr, dtype=scalar_dtype()),
                "mu": torch.tensor(1.0, dtype=scalar_dtype()),
                "ax": self._zeros(p),
            }

        states = self._states(params, init)
        for s in states:  # back to the step dtype after load_state_dict (it casts them to the param dtype)
            for key in ("eta", "mu"):
                if not isinstance(s[key], Tensor) or s[key].dtype != scalar_dtype():
                    s[key] = torch.tensor(float(s[key]), dtype=scalar_dtype())
        steps = self._advance([s["step"] for s in states])
        etas = torch.stack([s["eta"].double() for s in states]).tolist()  # one sync for eta and mu
        mus = torch.stack([s["mu"].double() for s in states]).tolist()
        params, grads = self._real(params), self._real(grads)
        axs = self._real([s["ax"] for s in states])
        grads = self._l2_grads(grads, params, group["maximize"], group["weight_decay"])

        torch._foreach_mul_(params, [1.0 - lambd * e for e in etas])  # theta (1 - lambd eta)
        if uniform(etas):
            torch._foreach_add_(params, grads, alpha=-etas[0])  # - eta g
        else:
            torch._foreach_add_(params, torch._foreach_mul(grads, [-e for e in etas]))

        copy = [i for i, m in enumerate(mus) if m == 1.0]  # mu = 1: the average is the iterate itself
        avg = [i for i, m in enumerate(mus) if m != 1.0]
        if copy:
            torch._foreach_copy_([axs[i] for i in copy], [params[i] for i in copy])
        if avg:
            diff = torch._foreach_sub([params[i] for i in avg], [axs[i] for i in avg])  # theta - ax
            torch._foreach_mul_(diff, [mus[i] for i in avg])
            torch._foreach_add_([axs[i] for i in avg], diff)  # ax += mu (theta - ax)

        for s, t in zip(states, steps):  # stored in the step dtype, like torch (rounds the same way)
            s["eta"].fill_(lr / ((1.0 + lambd * lr * t) ** alpha))
            s["mu"].fill_(1.0 / max(1.0, t - t0))
