"""Focal loss, multi-class (softmax) and binary (sigmoid).

Lin, Goyal, Girshick, He, Dollar, "Focal Loss for Dense Object Detection", ICCV 2017, arXiv 1708.02002,
Eq. 5:

    FL(p_t) = -alpha_t (1 - p_t)^gamma log(p_t)

* binary/sigmoid form (the paper's): ``p = sigmoid(x)``, ``p_t = p`` if ``y = 1`` else ``1 - p``,
  ``alpha_t = alpha`` if ``y = 1`` else ``1 - alpha`` (``alpha < 0`` disables it). ``gamma = 0`` and no
  alpha is binary cross-entropy with logits. Signature/defaults of ``torchvision.ops.sigmoid_focal_loss``.
* multi-class/softmax form: ``p_t = softmax(x)_y``; ``alpha`` is ``None``, a scalar, or a per-class
  tensor ``(C,)`` (``alpha_t = alpha[y]``). ``gamma = 0`` and ``alpha = None`` is cross-entropy.
  ``'mean'`` averages over non-ignored positions (it does *not* divide by the sum of alphas, unlike a
  weighted cross-entropy).

Shapes: multi-class input ``(N, C)`` or ``(N, C, d_1, ...)``, target ``(N,)``/``(N, d_1, ...)`` int64;
sigmoid input any shape, target the same shape with values in ``[0, 1]``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ._base import Loss, check_reduction, check_tensor, reduce_loss
from .classification import binary_cross_entropy_with_logits, log_softmax
from .factory import register_loss

__all__ = ["focal_loss", "sigmoid_focal_loss", "FocalLoss", "SigmoidFocalLoss"]

_PAPER = dict(paper="Focal Loss for Dense Object Detection", year=2017, arxiv="1708.02002")


def focal_loss(
    input: Tensor,
    target: Tensor,
    gamma: float = 2.0,
    alpha: float | Tensor | None = None,
    reduction: str = "mean",
    ignore_index: int = -100,
) -> Tensor:
    """Softmax focal loss ``-alpha_y (1 - p_y)^gamma log p_y`` (see module docstring)."""
    layer = "focal_loss"
    check_reduction(reduction, layer)
    check_tensor(layer, "input", input)
    check_tensor(layer, "target", target)
    if input.dim() < 2:
        raise ValueError(f"{layer}: input must be (N, C, *), got shape {list(input.shape)}")
    expected = input.shape[:1] + input.shape[2:]
    if target.shape != expected or target.is_floating_point():
        raise ValueError(
            f"{layer}: target must be int64 class indices of shape {list(expected)}, "
            f"got {target.dtype} {list(target.shape)}"
        )
    if gamma < 0:
        raise ValueError(f"{layer}: gamma must be >= 0, got {gamma}")
    n_classes = input.shape[1]
    keep = target != ignore_index  # (N, *)
    safe = target.masked_fill(~keep, 0)
    if bool(((safe < 0) | (safe >= n_classes)).any()):
        raise ValueError(f"{layer}: target class indices must be in [0, {n_classes}) or ignore_index")
    logp_t = log_softmax(input, 1).gather(1, safe.unsqueeze(1)).squeeze(1)  # (N, *)
    p_t = logp_t.exp()
    loss = -((1.0 - p_t) ** gamma) * logp_t
    if alpha is not None:
        if isinstance(alpha, Tensor):
            if alpha.shape != (n_classes,):
                raise ValueError(
                    f"{layer}: alpha tensor must have shape [{n_classes}], got {list(alpha.shape)}"
                )
            loss = loss * alpha.to(loss.dtype)[safe]
        else:
            loss = loss * float(alpha)
    loss = loss * keep
    if reduction == "mean":
        return loss.sum() / keep.sum()
    return reduce_loss(loss, reduction)


def sigmoid_focal_loss(
    inputs: Tensor,
    targets: Tensor,
    alpha: float = 0.25,
    gamma: float = 2.0,
    reduction: str = "none",
) -> Tensor:
    """Binary focal loss on logits (paper Eq. 5 with the alpha-balanced form); torchvision's signature."""
    check_reduction(reduction, "sigmoid_focal_loss")
    if gamma < 0:
        raise ValueError(f"sigmoid_focal_loss: gamma must be >= 0, got {gamma}")
    targets = targets.to(inputs.dtype)
    ce = binary_cross_entropy_with_logits(inputs, targets, reduction="none")  # = -log p_t
    p = inputs.sigmoid()
    p_t = p * targets + (1.0 - p) * (1.0 - targets)
    loss = ce * (1.0 - p_t) ** gamma
    if alpha >= 0:
        loss = (alpha * targets + (1.0 - alpha) * (1.0 - targets)) * loss
    return reduce_loss(loss, reduction)


@register_loss("focal", **_PAPER)
class FocalLoss(Loss):
    """Multi-class focal loss module (``gamma=2``, ``alpha=None`` by default)."""

    def __init__(self, gamma: float = 2.0, alpha: float | list[float] | Tensor | None = None,
                 reduction: str = "mean", ignore_index: int = -100) -> None:
        super().__init__(reduction=reduction)
        self.gamma = gamma
        self.ignore_index = ignore_index
        if isinstance(alpha, (list, tuple)):  # configs are JSON/YAML: a list of per-class alphas
            alpha = torch.tensor(alpha, dtype=torch.float32)
        if isinstance(alpha, Tensor):
            self.register_buffer("alpha", alpha)
        else:
            self.alpha = alpha

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return focal_loss(input, target, self.gamma, self.alpha, self.reduction, self.ignore_index)


@register_loss("sigmoid_focal", **_PAPER)
class SigmoidFocalLoss(Loss):
    """Binary (per-logit sigmoid) focal loss module, ``alpha=0.25, gamma=2`` as in the paper."""

    def __init__(self, alpha: float = 0.25, gamma: float = 2.0, reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)
        self.alpha = alpha
        self.gamma = gamma

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return sigmoid_focal_loss(input, target, self.alpha, self.gamma, self.reduction)
