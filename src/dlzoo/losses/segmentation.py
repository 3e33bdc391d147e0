"""Overlap losses for segmentation: soft Dice, soft IoU (Jaccard) and Tversky.

With per-class soft counts over the batch and spatial positions (``p`` predicted probabilities,
``y`` one-hot labels): ``TP = sum p y``, ``FP = sum p (1 - y)``, ``FN = sum (1 - p) y``:

* Dice — Milletari, Navab, Ahmadi, "V-Net", 3DV 2016, arXiv 1606.04797 (soft Dice, linear denominator):
  ``D = (2 sum p y + s) / (sum p + sum y + s)``
* IoU / Jaccard — Rahman, Wang, "Optimizing Intersection-Over-Union in Deep Neural Networks for Image
  Segmentation", ISVC 2016: ``J = (sum p y + s) / (sum p + sum y - sum p y + s)``
* Tversky — Salehi, Erdogmus, Gholipour, "Tversky loss function for image segmentation using 3D fully
  convolutional deep networks", MLMI 2017, arXiv 1706.05721:
  ``T = (TP + s) / (TP + alpha FP + beta FN + s)``; ``alpha = beta = 0.5`` is Dice, ``alpha = beta = 1`` IoU.

Loss = 1 - mean over classes of the score. ``s`` = ``smooth`` (default 0); a zero denominator scores 0.
Input logits ``(N, C, *spatial)`` (softmax over C; ``C = 1`` uses a sigmoid), or probabilities with
``from_logits=False``. Target int64 class indices ``(N, *spatial)`` or a float one-hot/soft mask shaped
like the input. ``per_image=True`` computes the scores per sample and averages them too.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .factory import register_loss

__all__ = ["soft_counts", "dice_loss", "iou_loss", "tversky_loss", "DiceLoss", "IoULoss", "TverskyLoss"]


def _probs_and_onehot(layer: str, input: Tensor, target: Tensor, from_logits: bool) -> tuple[Tensor, Tensor]:
    if input.dim() < 2:
        raise ValueError(f"{layer}: input must be (N, C, *spatial), got {list(input.shape)}")
    n_classes = input.shape[1]
    if from_logits:
        probs = input.sigmoid() if n_classes == 1 else input.softmax(1)
    else:
        probs = input
    if target.is_floating_point():
        if target.shape != input.shape:
            raise ValueError(f"{layer}: float target must have the input's shape {list(input.shape)}, "
                             f"got {list(target.shape)}")
        return probs, target.to(probs.dtype)
    expected = input.shape[:1] + input.shape[2:]
    if target.shape != expected:
        raise ValueError(f"{layer}: index target must have shape {list(expected)}, got {list(target.shape)}")
    if n_classes == 1:  # binary mask in {0, 1}
        return probs, target.unsqueeze(1).to(probs.dtype)
    onehot = F.one_hot(target, n_classes).movedim(-1, 1).to(probs.dtype)  # (N, C, *spatial)
    return probs, onehot


def soft_counts(probs: Tensor, onehot: Tensor, per_image: bool = False) -> tuple[Tensor, Tensor, Tensor]:
    """``(TP, FP, FN)`` per class ``(C,)`` (or per sample and class ``(N, C)`` with ``per_image``)."""
    dims = tuple(range(2, probs.dim())) if per_image else (0, *range(2, probs.dim()))
    tp = (probs * onehot).sum(dims)
    fp = (probs * (1.0 - onehot)).sum(dims)
    fn = ((1.0 - probs) * onehot).sum(dims)
    return tp, fp, fn


def _safe_ratio(num: Tensor, den: Tensor) -> Tensor:
    zero = den == 0
    return torch.where(zero, torch.zeros_like(num), num / torch.where(zero, torch.ones_like(den), den))


def dice_loss(input: Tensor, target: Tensor, smooth: float = 0.0, from_logits: bool = True,
              per_image: bool = False) -> Tensor:
    """``1 - mean_c (2 |P ∩ Y| + s) / (|P| + |Y| + s)`` with soft set sizes."""
    probs, y = _probs_and_onehot("dice_loss", input, target, from_logits)
    dims = tuple(range(2, probs.dim())) if per_image else (0, *range(2, probs.dim()))
    inter = (probs * y).sum(dims)
    score = _safe_ratio(2.0 * inter + smooth, probs.sum(dims) + y.sum(dims) + smooth)
    return 1.0 - score.mean()


def iou_loss(input: Tensor, target: Tensor, smooth: float = 0.0, from_logits: bool = True,
             per_image: bool = False) -> Tensor:
    """``1 - mean_c (|P ∩ Y| + s) / (|P ∪ Y| + s)`` with soft intersection and union."""
    probs, y = _probs_and_onehot("iou_loss", input, target, from_logits)
    dims = tuple(range(2, probs.dim())) if per_image else (0, *range(2, probs.dim()))
    inter = (probs * y).sum(dims)
    union = probs.sum(dims) + y.sum(dims) - inter
    return 1.0 - _safe_ratio(inter + smooth, union + smooth).mean()


def tversky_loss(input: Tensor, target: Tensor, alpha: float = 0.5, beta: float = 0.5, smooth: float = 0.0,
                 from_logits: bool = True, per_image: bool = False) -> Tensor:
    """``1 - mean_c (TP + s) / (TP + alpha FP + beta FN + s)``; alpha weighs false positives."""
    if alpha < 0 or beta < 0:
        raise ValueError(f"tversky_loss: alpha and beta must be >= 0, got {alpha}, {beta}")
    probs, y = _probs_and_onehot("tversky_loss", input, target, from_logits)
    tp, fp, fn = soft_counts(probs, y, per_image)
    return 1.0 - _safe_ratio(tp + smooth, tp + alpha * fp + beta * fn + smooth).mean()


class _OverlapLoss(nn.Module):
    def __init__(self, smooth: float = 0.0, from_logits: bool = True, per_image: bool = False) -> None:
        super().__init__()
        self.smooth, self.from_logits, self.per_image = smooth, from_logits, per_image

    def extra_repr(self) -> str:
        return f"smooth={self.smooth}, from_logits={self.from_logits}, per_image={self.per_image}"


@register_loss("dice", paper="V-Net: Fully Convolutional Neural Networks for Volumetric Medical Image "
               "Segmentation", year=2016, arxiv="1606.04797")
class DiceLoss(_OverlapLoss):
    """Soft Dice loss module."""

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return dice_loss(input, target, self.smooth, self.from_logits, self.per_image)


@register_loss("iou", paper="Optimizing Intersection-Over-Union in Deep Neural Networks for Image "
               "Segmentation", year=2016)
class IoULoss(_OverlapLoss):
    """Soft IoU (Jaccard) loss module; also registered as ``jaccard``."""

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return iou_loss(input, target, self.smooth, self.from_logits, self.per_image)


@register_loss("tversky", paper="Tversky loss function for image segmentation using 3D fully "
               "convolutional deep networks", year=2017, arxiv="1706.05721")
class TverskyLoss(_OverlapLoss):
    """Tversky loss module (``alpha`` weighs FP, ``beta`` weighs FN)."""

    def __init__(self, alpha: float = 0.5, beta: float = 0.5, smooth: float = 0.0, from_logits: bool = True,
                 per_image: bool = False) -> None:
        super().__init__(smooth, from_logits, per_image)
        self.alpha, self.beta = alpha, beta

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return tversky_loss(input, target, self.alpha, self.beta, self.smooth, self.from_logits,
                            self.per_image)


register_loss("jaccard", paper="(alias of iou)")(IoULoss)
