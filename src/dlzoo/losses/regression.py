"""Element-wise regression losses mirroring ``torch.nn``: MSE, L1, Huber, SmoothL1.

With ``d = input - target`` (same shape; unlike torch, a shape mismatch is a ``ValueError`` rather than
a broadcasting warning):

* MSE:       ``l = d^2``
* L1:        ``l = |d|``
* Huber (Huber, "Robust Estimation of a Location Parameter", Ann. Math. Statist. 1964):
  ``l = 0.5 d^2`` if ``|d| < delta`` else ``delta (|d| - 0.5 delta)``
* SmoothL1 (Girshick, "Fast R-CNN", 2015, arXiv 1504.08083):
  ``l = 0.5 d^2 / beta`` if ``|d| < beta`` else ``|d| - 0.5 beta``; ``beta = 0`` is L1.
  SmoothL1(beta) = Huber(delta=beta) / beta.

Reductions ``'none' | 'mean' | 'sum'`` as in torch.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ._base import Loss, check_reduction, check_same_shape, check_tensor, legacy_reduction, reduce_loss
from .factory import register_loss

__all__ = ["mse_loss", "l1_loss", "huber_loss", "smooth_l1_loss", "MSELoss", "L1Loss", "HuberLoss",
           "SmoothL1Loss"]


def _diff(layer: str, input: Tensor, target: Tensor) -> Tensor:
    check_tensor(layer, "input", input)
    check_tensor(layer, "target", target)
    check_same_shape(layer, input, target)
    return input - target


def mse_loss(input: Tensor, target: Tensor, size_average: bool | None = None, reduce: bool | None = None,
             reduction: str = "mean") -> Tensor:
    """Squared error ``(input - target)^2``, reduced."""
    reduction = check_reduction(legacy_reduction(size_average, reduce, reduction), "mse_loss")
    d = _diff("mse_loss", input, target)
    return reduce_loss(d * d, reduction)


def l1_loss(input: Tensor, target: Tensor, size_average: bool | None = None, reduce: bool | None = None,
            reduction: str = "mean") -> Tensor:
    """Absolute error ``|input - target|``, reduced."""
    reduction = check_reduction(legacy_reduction(size_average, reduce, reduction), "l1_loss")
    return reduce_loss(_diff("l1_loss", input, target).abs(), reduction)


def huber_loss(input: Tensor, target: Tensor, reduction: str = "mean", delta: float = 1.0) -> Tensor:
    """Huber loss: quadratic inside ``|d| < delta``, linear with slope ``delta`` outside."""
    check_reduction(reduction, "huber_loss")
    if delta <= 0:
        raise ValueError(f"huber_loss: delta must be > 0, got {delta}")
    a = _diff("huber_loss", input, target).abs()
    loss = torch.where(a < delta, 0.5 * a * a, delta * (a - 0.5 * delta))
    return reduce_loss(loss, reduction)


def smooth_l1_loss(input: Tensor, target: Tensor, size_average: bool | None = None,
                   reduce: bool | None = None, reduction: str = "mean", beta: float = 1.0) -> Tensor:
    """Smooth L1: quadratic ``0.5 d^2 / beta`` inside ``|d| < beta``, ``|d| - beta / 2`` outside."""
    reduction = check_reduction(legacy_reduction(size_average, reduce, reduction), "smooth_l1_loss")
    if beta < 0:
        raise ValueError(f"smooth_l1_loss: beta must be >= 0, got {beta}")
    a = _diff("smooth_l1_loss", input, target).abs()
    if beta == 0:
        return reduce_loss(a, reduction)
    loss = torch.where(a < beta, 0.5 * a * a / beta, a - 0.5 * beta)
    return reduce_loss(loss, reduction)


@register_loss("mse", paper="(mean squared error)")
class MSELoss(Loss):
    """Mirrors ``torch.nn.MSELoss``."""

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return mse_loss(input, target, reduction=self.reduction)


@register_loss("l1", paper="(mean absolute error)")
class L1Loss(Loss):
    """Mirrors ``torch.nn.L1Loss``."""

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return l1_loss(input, target, reduction=self.reduction)


@register_loss("huber", paper="Robust Estimation of a Location Parameter", year=1964)
class HuberLoss(Loss):
    """Mirrors ``torch.nn.HuberLoss(reduction='mean', delta=1.0)``."""

    def __init__(self, reduction: str = "mean", delta: float = 1.0) -> None:
        super().__init__(reduction=reduction)
        self.delta = delta

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return huber_loss(input, target, reduction=self.reduction, delta=self.delta)


@register_loss("smooth_l1", paper="Fast R-CNN", year=2015, arxiv="1504.08083")
class SmoothL1Loss(Loss):
    """Mirrors ``torch.nn.SmoothL1Loss(size_average=None, reduce=None, reduction='mean', beta=1.0)``."""

    def __init__(self, size_average: bool | None = None, reduce: bool | None = None,
                 reduction: str = "mean", beta: float = 1.0) -> None:
        super().__init__(size_average, reduce, reduction)
        self.beta = beta

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return smooth_l1_loss(input, target, reduction=self.reduction, beta=self.beta)
