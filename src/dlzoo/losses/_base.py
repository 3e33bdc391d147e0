"""Shared pieces of the loss modules: reduction handling, the ``_Loss`` base, input checks.

Mirrors ``torch.nn.modules.loss._Loss``/``_WeightedLoss``: a ``reduction`` attribute ('none' | 'mean' |
'sum'), the deprecated ``size_average``/``reduce`` arguments mapped onto it the way torch does, and class
weights stored as a *buffer* named ``weight`` so state_dict keys match torch's.
"""

from __future__ import annotations

import warnings

import torch
from torch import Tensor, nn

__all__ = ["REDUCTIONS", "check_reduction", "reduce_loss", "legacy_reduction", "Loss", "WeightedLoss"]

REDUCTIONS = ("none", "mean", "sum")


def check_reduction(reduction: str, layer: str) -> str:
    """Return ``reduction`` or raise ``ValueError`` naming ``layer``."""
    if reduction not in REDUCTIONS:
        raise ValueError(f"{layer}: reduction must be one of {REDUCTIONS}, got {reduction!r}")
    return reduction


def reduce_loss(loss: Tensor, reduction: str) -> Tensor:
    """Apply ``'none'`` (identity), ``'mean'`` (over all elements) or ``'sum'``."""
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def legacy_reduction(size_average: bool | None, reduce: bool | None, reduction: str) -> str:
    """torch's mapping of the deprecated ``size_average``/``reduce`` pair onto ``reduction``."""
    if size_average is None and reduce is None:
        return reduction
    warnings.warn("size_average and reduce are deprecated, use reduction='none'|'mean'|'sum'", stacklevel=3)
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    if not reduce:
        return "none"
    return "mean" if size_average else "sum"


class Loss(nn.Module):
    """Base for losses with a ``reduction`` attribute (mirrors ``torch.nn.modules.loss._Loss``)."""

    def __init__(self, size_average: bool | None = None, reduce: bool | None = None,
                 reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = check_reduction(legacy_reduction(size_average, reduce, reduction),
                                         type(self).__name__)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"


class WeightedLoss(Loss):
    """``Loss`` with an optional per-class ``weight`` buffer (mirrors torch's ``_WeightedLoss``)."""

    def __init__(self, weight: Tensor | None = None, size_average: bool | None = None,
                 reduce: bool | None = None, reduction: str = "mean") -> None:
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", weight)
        self.weight: Tensor | None


def check_same_shape(layer: str, input: Tensor, target: Tensor) -> None:
    """``ValueError`` naming ``layer`` when ``input`` and ``target`` shapes differ."""
    if input.shape != target.shape:
        raise ValueError(
            f"{layer}: input and target must have the same shape, got input {list(input.shape)} "
            f"and target {list(target.shape)}"
        )


def check_tensor(layer: str, name: str, x: object) -> Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{layer}: {name} must be a torch.Tensor, got {type(x).__name__}")
    return x
