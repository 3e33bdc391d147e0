"""Cross-entropy and binary cross-entropy with logits, mirroring ``torch.nn`` exactly.

Cross-entropy (categorical log-loss) over ``C`` classes, written as in ``torch.nn.CrossEntropyLoss``'s
documentation:

* class-index targets ``y_n``:   ``l_n = -w_{y_n} log softmax(x_n)_{y_n}``, 0 where ``y_n == ignore_index``;
  ``'mean'`` divides by ``sum_n w_{y_n}`` over non-ignored ``n``.
* label smoothing ``eps`` (Szegedy et al., "Rethinking the Inception Architecture for Computer Vision",
  2016, arXiv 1512.00567): the target becomes ``(1 - eps) onehot(y) + eps / C``, i.e.
  ``l_n = (1 - eps) nll_n + (eps / C) * (-sum_c w_c log p_{n,c})`` (same normalisation as the nll part).
* probability ("soft") targets ``t_{n,c}`` (mixup/cutmix): ``l_n = -sum_c w_c t_{n,c} log p_{n,c}``;
  ``'mean'`` divides by the number of samples ``N * d_1 * ...`` (not by the weights), as torch does.

Shapes: input ``(C,)``, ``(N, C)`` or ``(N, C, d_1, ..., d_K)``; index target ``()``, ``(N,)`` or
``(N, d_1, ..., d_K)`` (int64); probability target the shape of the input (float).

BCE with logits: ``l = -w [p y log sigma(x) + (1 - y) log(1 - sigma(x))]`` with ``pos_weight = p``,
computed stably as ``(1 - y) x + (1 + (p - 1) y) softplus(-x)``.

Under ``dlzoo.reference_mode()`` the log-softmax is written out as ``x - m - log sum exp(x - m)``;
by default torch's fused ``log_softmax`` kernel computes the identical quantity.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..nn.mode import use_fused
from ._base import Loss, WeightedLoss, check_reduction, check_tensor, legacy_reduction, reduce_loss
from .factory import register_loss

__all__ = [
    "log_softmax",
    "cross_entropy",
    "CrossEntropyLoss",
    "binary_cross_entropy_with_logits",
    "BCEWithLogitsLoss",
    "softplus",
]


def log_softmax(x: Tensor, dim: int) -> Tensor:
    """``log softmax(x)`` along ``dim``: ``x - max - log(sum(exp(x - max)))`` (fused kernel by default)."""
    if use_fused():
        return torch.log_softmax(x, dim)
    m = x.amax(dim, keepdim=True).detach()  # the shift cancels exactly, so no gradient flows through it
    z = x - m
    return z - z.exp().sum(dim, keepdim=True).log()


def softplus(x: Tensor) -> Tensor:
    """``log(1 + exp(x))`` computed stably (``logaddexp(x, 0)``), exact gradient ``sigmoid(x)`` everywhere."""
    return torch.logaddexp(x, torch.zeros((), dtype=x.dtype, device=x.device))


def _class_view(t: Tensor, ndim: int, class_dim: int) -> Tensor:
    """View a ``(C,)`` tensor so it broadcasts along ``class_dim`` of an ``ndim``-dim tensor."""
    shape = [1] * ndim
    shape[class_dim] = t.shape[0]
    return t.view(shape)


def _check_ce_inputs(input: Tensor, target: Tensor, weight: Tensor | None, label_smoothing: float) -> int:
    layer = "cross_entropy"
    check_tensor(layer, "input", input)
    check_tensor(layer, "target", target)
    if input.dim() == 0:
        raise ValueError(f"{layer}: input must have a class dimension, got a 0-dim tensor")
    if not input.is_floating_point():
        raise TypeError(f"{layer}: input must be floating point (logits), got {input.dtype}")
    class_dim = 0 if input.dim() == 1 else 1
    n_classes = input.shape[class_dim]
    if target.is_floating_point():
        if target.shape != input.shape:
            raise ValueError(
                f"{layer}: probability targets must have the input's shape {list(input.shape)}, "
                f"got {list(target.shape)}"
            )
    else:
        expected = input.shape[:class_dim] + input.shape[class_dim + 1:]
        if target.shape != expected:
            raise ValueError(
                f"{layer}: class-index target must have shape {list(expected)} for input "
                f"{list(input.shape)}, got {list(target.shape)}"
            )
    if weight is not None and (weight.dim() != 1 or weight.shape[0] != n_classes):
        raise ValueError(f"{layer}: weight must have shape [{n_classes}], got {list(weight.shape)}")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{layer}: label_smoothing must be in [0, 1], got {label_smoothing}")
    return class_dim


def cross_entropy(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    size_average: bool | None = None,
    ignore_index: int = -100,
    reduce: bool | None = None,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Tensor:
    """Cross-entropy between logits ``input`` and class-index or probability ``target`` (see module doc)."""
    reduction = check_reduction(legacy_reduction(size_average, reduce, reduction), "cross_entropy")
    class_dim = _check_ce_inputs(input, target, weight, label_smoothing)
    n_classes = input.shape[class_dim]
    eps = float(label_smoothing)
    logp = log_softmax(input, class_dim)  # same shape as input
    w_b = None if weight is None else _class_view(weight.to(logp.dtype), input.dim(), class_dim)

    if target.is_floating_point():  # probability targets
        t = target * (1.0 - eps) + eps / n_classes if eps > 0 else target
        prod = logp * t if w_b is None else logp * t * w_b
        if reduction == "none":
            return -prod.sum(class_dim)
        if reduction == "sum":
            return -prod.sum()
        return -prod.sum() / (input.numel() / n_classes)

    keep = target != ignore_index  # (N, d1, ...)
    safe = target.masked_fill(~keep, 0)
    bad = safe[(safe < 0) | (safe >= n_classes)]
    if bad.numel():
        raise ValueError(
            f"cross_entropy: target class indices must be in [0, {n_classes}) or "
            f"ignore_index={ignore_index}, got {bad[0].item()}"
        )
    picked = logp.gather(class_dim, safe.unsqueeze(class_dim)).squeeze(class_dim)  # (N, d1, ...)
    w_n = keep.to(logp.dtype) if weight is None else weight.to(logp.dtype)[safe] * keep
    nll = -picked * w_n
    smooth = None
    if eps > 0:
        smooth = -(logp.sum(class_dim) if w_b is None else (logp * w_b).sum(class_dim))
        smooth = smooth * keep
    if reduction == "none":
        return nll if smooth is None else (1.0 - eps) * nll + (eps / n_classes) * smooth
    if reduction == "sum":
        return nll.sum() if smooth is None else (1.0 - eps) * nll.sum() + (eps / n_classes) * smooth.sum()
    denom = w_n.sum()
    loss = nll.sum() / denom
    if smooth is not None:
        loss = (1.0 - eps) * loss + (eps / n_classes) * (smooth.sum() / denom)
    return loss


@register_loss("cross_entropy", paper="(categorical cross-entropy; label smoothing: Szegedy et al.)",
               year=2016, arxiv="1512.00567")
class CrossEntropyLoss(WeightedLoss):
    """Cross-entropy module; constructor, attributes and buffers as ``torch.nn.CrossEntropyLoss``."""

    def __init__(
        self,
        weight: Tensor | None = None,
        size_average: bool | None = None,
        ignore_index: int = -100,
        reduce: bool | None = None,
        reduction: str = "mean",
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return cross_entropy(input, target, weight=self.weight, ignore_index=self.ignore_index,
                             reduction=self.reduction, label_smoothing=self.label_smoothing)


def binary_cross_entropy_with_logits(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    pos_weight: Tensor | None = None,
) -> Tensor:
    """Sigmoid + binary cross-entropy in one stable expression; ``pos_weight`` broadcasts (last dim)."""
    layer = "binary_cross_entropy_with_logits"
    reduction = check_reduction(legacy_reduction(size_average, reduce, reduction), layer)
    check_tensor(layer, "input", input)
    check_tensor(layer, "target", target)
    if target.shape != input.shape:
        raise ValueError(
            f"{layer}: target shape {list(target.shape)} must equal input shape {list(input.shape)}"
        )
    target = target.to(input.dtype)
    sp_neg = softplus(-input)  # = -log sigmoid(x)
    if pos_weight is None:
        loss = (1.0 - target) * input + sp_neg
    else:
        loss = (1.0 - target) * input + (1.0 + (pos_weight - 1.0) * target) * sp_neg
    if weight is not None:
        loss = loss * weight
    return reduce_loss(loss, reduction)


@register_loss("bce_with_logits", paper="(binary cross-entropy on logits)")
class BCEWithLogitsLoss(Loss):
    """Module form; buffers ``weight`` and ``pos_weight`` as in ``torch.nn.BCEWithLogitsLoss``."""

    def __init__(
        self,
        weight: Tensor | None = None,
        size_average: bool | None = None,
        reduce: bool | None = None,
        reduction: str = "mean",
        pos_weight: Tensor | None = None,
    ) -> None:
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", weight)
        self.register_buffer("pos_weight", pos_weight)
        self.weight: Tensor | None
        self.pos_weight: Tensor | None

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return binary_cross_entropy_with_logits(input, target, self.weight, reduction=self.reduction,
                                                pos_weight=self.pos_weight)
