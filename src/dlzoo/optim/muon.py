"""Muon (MomentUm Orthogonalized by Newton-Schulz): Jordan et al., "Muon: An optimizer for hidden layers in
neural networks", 2024 (kellerjordan.github.io/posts/muon); lr adjustment "match_rms_adamw" from Liu et al.,
"Muon is Scalable for LLM Training", 2025, arXiv:2502.16982. Following ``torch.optim.Muon`` (2-D
parameters only; state ``momentum_buffer``)::

    B_t  = mu B_{t-1} + (1 - mu) G_t                          (EMA momentum)
    B~_t = mu B_t + (1 - mu) G_t  (nesterov)   or   B_t
    O_t  = NS_k(B~_t)                                          (orthogonalisation, bfloat16)
    theta_t = theta_{t-1} (1 - lr lambda) - lr' O_t,   lr' = lr sqrt(max(1, A/B))  or  0.2 lr sqrt(max(A, B))

NS_k: X_0 = G / max(||G||_F, eps) (transposed so rows <= cols), then k times
``A = X X^T;  X = a X + (b A + c A A) X`` with (a, b, c) = (3.4445, -4.775, 2.0315).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from .base import ForeachOptimizer, ParamsT
from .validation import check_choice, check_hparam, check_int, check_tuple

__all__ = ["Muon", "zeropower_via_newtonschulz"]


def zeropower_via_newtonschulz(
    grad: Tensor, ns_coefficients: tuple[float, float, float], ns_steps: int, eps: float
) -> Tensor:
    """Approximate U V^T of ``grad = U S V^T`` (2-D, (A, B)) by quintic Newton-Schulz in bfloat16."""
    if grad.ndim != 2:
        raise ValueError(f"Muon: expected a 2-D gradient, got shape {tuple(grad.shape)}")
    a, b, c = ns_coefficients
    x = grad.bfloat16()
    tall = grad.size(0) > grad.size(1)
    if tall:
        x = x.T  # (B, A): rows <= cols so X X^T is the small Gram matrix
    x = x / x.norm().clamp(min=eps)  # never writes into a bfloat16 grad
    for _ in range(ns_steps):
        gram = x @ x.T  # A = X X^T
        poly = torch.addmm(gram, gram, gram, beta=b, alpha=c)  # b A + c A A
        x = torch.addmm(x, poly, x, beta=a)  # a X + (b A + c A^2) X
    return x.T if tall else x


def _adjusted_lr(lr: float, adjust_lr_fn: str | None, shape: torch.Size) -> float:
    rows, cols = shape[:2]
    if adjust_lr_fn is None or adjust_lr_fn == "original":
        return lr * math.sqrt(max(1.0, rows / cols))
    return lr * 0.2 * math.sqrt(max(rows, cols))  # "match_rms_adamw"


class Muon(ForeachOptimizer):
    """Muon (``torch.optim.Muon``-compatible arguments and state keys). Use AdamW for non-2-D params.

    ``momentum`` must lie in ``[0, 1)`` (it is an EMA coefficient; torch only checks ``>= 0``); ``lr`` may
    be a one-element tensor.
    """

    supports_complex = False

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        weight_decay: float = 0.1,
        momentum: float = 0.95,
        nesterov: bool = True,
        ns_coefficients: tuple[float, float, float] = (3.4445, -4.775, 2.0315),
        eps: float = 1e-7,
        ns_steps: int = 5,
        adjust_lr_fn: str | None = None,
    ) -> None:
        check_hparam("Muon", "lr", lr)
        # an EMA coefficient (B = mu B + (1 - mu) G): stricter than torch, which only asks for >= 0
        check_hparam("Muon", "momentum", momentum, 0.0, 1.0, high_open=True)
        check_hparam("Muon", "weight_decay", weight_decay)
        check_hparam("Muon", "eps", eps)
        check_choice("Muon", "adjust_lr_fn", adjust_lr_fn, (None, "original", "match_rms_adamw"))
        check_int("Muon", "ns_steps", ns_steps, 1, 99)
        for i, c in enumerate(check_tuple("Muon", "ns_coefficients", ns_coefficients, 3)):
            check_hparam("Muon", f"ns_coefficients[{i}]", c, float("-inf"))
        defaults = dict(
            lr=lr,
            weight_decay=weight_decay,
            momentum=momentum,
            nesterov=nesterov,
            ns_coefficients=ns_coefficients,
            eps=eps,
            ns_steps=ns_steps,
            adjust_lr_fn=adjust_lr_fn,
        )
        super().__init__(params, defaults)
        for group in self.param_groups:
            for p in group["params"]:
                if p.ndim != 2:
                    raise ValueError(f"Muon: only 2-D parameters are supported, got shape {tuple(p.shape)}")

    def _update_group(self, group: dict[str, Any], params: list[Tensor], grads: list[Tensor]) -> None:
        if any(p.is_complex() for p in params):
            raise RuntimeError("Muon does not support complex parameters")
        states = self._states(params, lambda p: {"momentum_buffer": self._zeros(p)})
        lr, mu, wd = self._lr(group), group["momentum"], group["weight_decay"]
        bufs = [s["momentum_buffer"] for s in states]
        torch._foreach_lerp_(bufs, grads, 1.0 - mu)  # B = mu B + (1 - mu) G
        updates = torch._foreach_lerp(grads, bufs, mu) if group["nesterov"] else bufs
        ortho = [
            zeropower_via_newtonschulz(u, group["ns_coefficients"], group["ns_steps"], group["eps"])
            for u in updates
        ]
        if wd != 0:
            torch._foreach_mul_(params, 1.0 - lr * wd)
        by_lr: dict[float, list[int]] = {}
        for i, p in enumerate(params):
            by_lr.setdefault(_adjusted_lr(lr, group["adjust_lr_fn"], p.shape), []).append(i)
        for adj, idx in by_lr.items():
            torch._foreach_add_([params[i] for i in idx], [ortho[i] for i in idx], alpha=-adj)
