"""Margin loss for capsule networks.

Sabour, Frosst, Hinton, "Dynamic Routing Between Capsules", NeurIPS 2017, arXiv 1710.09829, Eq. 4:

    L_k = T_k max(0, m+ - ||v_k||)^2 + lambda (1 - T_k) max(0, ||v_k|| - m-)^2

with ``T_k = 1`` iff class ``k`` is present, ``m+ = 0.9``, ``m- = 0.1``, ``lambda = 0.5``; the total loss of
a sample is ``sum_k L_k``. Input: capsule lengths ``(N, K)`` or capsule vectors ``(N, K, D)`` (their
L2 norms are taken); target int64 ``(N,)`` or multi-hot float ``(N, K)`` (several digits present).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from ._base import check_reduction, reduce_loss
from .factory import register_loss

__all__ = ["margin_loss", "MarginLoss"]


def margin_loss(input: Tensor, target: Tensor, m_plus: float = 0.9, m_minus: float = 0.1,
                lambda_: float = 0.5, reduction: str = "mean") -> Tensor:
    """Per-sample ``sum_k L_k`` (Eq. 4), reduced over the batch."""
    check_reduction(reduction, "margin_loss")
    if input.dim() == 3:
        input = input.norm(dim=-1)  # (N, K, D) -> (N, K) capsule lengths
    if input.dim() != 2:
        raise ValueError(f"margin_loss: input must be lengths (N, K) or capsules (N, K, D), got "
                         f"{list(input.shape)}")
    if target.is_floating_point():
        if target.shape != input.shape:
            raise ValueError(
                f"margin_loss: multi-hot target must be {list(input.shape)}, got {list(target.shape)}"
            )
        t = target.to(input.dtype)
    else:
        if target.shape != input.shape[:1]:
            raise ValueError(
                f"margin_loss: index target must be [{input.shape[0]}], got {list(target.shape)}"
            )
        t = F.one_hot(target, input.shape[1]).to(input.dtype)  # (N, K)
    present = t * (m_plus - input).clamp_min(0.0) ** 2
    absent = lambda_ * (1.0 - t) * (input - m_minus).clamp_min(0.0) ** 2
    return reduce_loss((present + absent).sum(1), reduction)


@register_loss("capsule_margin", paper="Dynamic Routing Between Capsules", year=2017, arxiv="1710.09829")
class MarginLoss(nn.Module):
    """Capsule margin loss module (``m_plus=0.9, m_minus=0.1, lambda_=0.5``)."""

    def __init__(self, m_plus: float = 0.9, m_minus: float = 0.1, lambda_: float = 0.5,
                 reduction: str = "mean") -> None:
        super().__init__()
        self.m_plus, self.m_minus, self.lambda_ = m_plus, m_minus, lambda_
        self.reduction = check_reduction(reduction, "MarginLoss")

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return margin_loss(input, target, self.m_plus, self.m_minus, self.lambda_, self.reduction)
