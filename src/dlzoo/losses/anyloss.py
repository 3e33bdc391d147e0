"""AnyLoss: confusion-matrix metrics turned into differentiable losses.

Han, Moniz, Chawla, "AnyLoss: Transforming Classification Metrics into Loss Functions", 2024,
arXiv 2405.14745.

1. Approximation function (amplifies probabilities towards 0/1 without reaching them):

       A(p) = 1 / (1 + exp(-L (p - 0.5))),   L > 0  (the authors use L = 73)

2. Differentiable confusion matrix from ``y_hat = A(p)`` and labels ``y`` in {0, 1} (sums over the batch):

       TN = sum (1 - y)(1 - y_hat)   FP = sum (1 - y) y_hat   FN = sum y (1 - y_hat)   TP = sum y y_hat

3. Loss = 1 - metric(TN, FP, FN, TP), with

       accuracy          (TP + TN) / (TP + TN + FP + FN)
       F_beta            (1 + b^2) TP / ((1 + b^2) TP + b^2 FN + FP)          (F1: b = 1)
       geometric mean    sqrt(TP / (TP + FN) * TN / (TN + FP))
       balanced accuracy (TP / (TP + FN) + TN / (TN + FP)) / 2

At hard 0/1 predictions ``A(p)`` is within ``1e-15`` of ``p`` and each loss equals 1 minus the usual metric.

Multi-class (our extension; the paper is binary and lists multi-class as future work): one-vs-rest
confusion matrices per class from ``A(softmax)`` and one-hot labels, then
accuracy = sum_c TP_c / N (the usual multi-class accuracy), F_beta = macro average over the ``C``
classes, balanced accuracy = mean per-class recall, geometric mean = (prod_c recall_c)^(1/C).

Shapes: binary input ``(N,)`` or ``(N, 1)`` probabilities (or logits with ``from_logits=True``) and
target ``(N,)``/``(N, 1)`` in {0, 1}; multi-class input ``(N, C)`` with ``C > 1`` and int64 target ``(N,)``.
Divisions by zero give 0 (scikit-learn's ``zero_division=0``).
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._base import check_tensor
from .factory import LOSSES

__all__ = ["approximation", "soft_confusion_matrix", "confusion_metric", "anyloss", "AnyLoss", "METRICS"]

METRICS = ("accuracy", "f1", "fbeta", "gmean", "balanced_accuracy")
_CARD = dict(family="loss", paper="AnyLoss: Transforming Classification Metrics into Loss Functions",
             year=2024, arxiv="2405.14745")


def approximation(p: Tensor, L: float = 73.0) -> Tensor:
    """The paper's approximation function ``A(p) = 1 / (1 + exp(-L (p - 0.5)))``."""
    return torch.sigmoid(L * (p - 0.5))


def soft_confusion_matrix(y_hat: Tensor, y: Tensor, dim: int = 0) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """``(TN, FP, FN, TP)`` summed over ``dim`` from soft predictions ``y_hat`` and 0/1 labels ``y``."""
    y = y.to(y_hat.dtype)
    tp = (y * y_hat).sum(dim)
    fp = ((1.0 - y) * y_hat).sum(dim)
    fn = (y * (1.0 - y_hat)).sum(dim)
    tn = ((1.0 - y) * (1.0 - y_hat)).sum(dim)
    return tn, fp, fn, tp


def _div(num: Tensor, den: Tensor) -> Tensor:
    """``num / den`` with 0 where ``den == 0`` (gradient-safe)."""
    zero = den == 0
    return torch.where(zero, torch.zeros_like(num), num / torch.where(zero, torch.ones_like(den), den))


def confusion_metric(
    metric: str, tn: Tensor, fp: Tensor, fn: Tensor, tp: Tensor, beta: float = 1.0
) -> Tensor:
    """One of :data:`METRICS` from (soft) confusion-matrix entries (element-wise over classes)."""
    if metric == "accuracy":
        return _div(tp + tn, tp + tn + fp + fn)
    if metric in ("f1", "fbeta"):
        b2 = 1.0 if metric == "f1" else beta * beta
        return _div((1.0 + b2) * tp, (1.0 + b2) * tp + b2 * fn + fp)
    tpr, tnr = _div(tp, tp + fn), _div(tn, tn + fp)
    if metric == "balanced_accuracy":
        return 0.5 * (tpr + tnr)
    if metric == "gmean":
        prod = tpr * tnr
        # sqrt has an infinite slope at 0; clamp inside for the gradient, value unchanged above 1e-30
        return torch.sqrt(prod.clamp_min(1e-30)) * (prod > 0)
    raise ValueError(f"anyloss: metric must be one of {METRICS}, got {metric!r}")


def anyloss(
    input: Tensor,
    target: Tensor,
    metric: str = "f1",
    L: float = 73.0,
    beta: float = 1.0,
    from_logits: bool = False,
) -> Tensor:
    """``1 - metric`` of the soft confusion matrix of ``A(p)`` (binary, or multi-class macro)."""
    layer = f"AnyLoss[{metric}]"
    check_tensor(layer, "input", input)
    check_tensor(layer, "target", target)
    if metric not in METRICS:
        raise ValueError(f"anyloss: metric must be one of {METRICS}, got {metric!r}")
    multiclass = input.dim() == 2 and input.shape[1] > 1
    if multiclass:
        if target.shape != input.shape[:1] or target.is_floating_point():
            raise ValueError(f"{layer}: multi-class target must be int64 of shape [{input.shape[0]}], "
                             f"got {target.dtype} {list(target.shape)}")
        p = input.softmax(1) if from_logits else input
    else:
        if input.dim() == 2:  # (N, 1)
            input = input[:, 0]
            target = target.reshape(-1)
        if input.dim() != 1 or target.shape != input.shape:
            raise ValueError(f"{layer}: binary input/target must be (N,) or (N, 1), got input "
                             f"{list(input.shape)} and target {list(target.shape)}")
        p = input.sigmoid() if from_logits else input
    if not from_logits and bool(((p < 0) | (p > 1)).any()):
        raise ValueError(f"{layer}: input must be probabilities in [0, 1]; pass from_logits=True for logits")
    y_hat = approximation(p, L)
    if not multiclass:
        return 1.0 - confusion_metric(metric, *soft_confusion_matrix(y_hat, target), beta=beta)
    onehot = F.one_hot(target, input.shape[1]).to(y_hat.dtype)  # (N, C)
    tn, fp, fn, tp = soft_confusion_matrix(y_hat, onehot, dim=0)  # each (C,)
    if metric == "accuracy":
        return 1.0 - tp.sum() / input.shape[0]
    recall = _div(tp, tp + fn)  # (C,)
    if metric == "balanced_accuracy":  # macro recall, as scikit-learn's balanced_accuracy_score
        return 1.0 - recall.mean()
    if metric == "gmean":  # (prod_c recall_c)^(1/C)
        return 1.0 - torch.exp(torch.log(recall.clamp_min(1e-30)).mean()) * (recall > 0).all()
    return 1.0 - confusion_metric(metric, tn, fp, fn, tp, beta=beta).mean()

class AnyLoss(nn.Module):
    """Module form of :func:`anyloss`: ``AnyLoss(metric="f1", L=73.0, beta=1.0, from_logits=False)``."""

    def __init__(
        self, metric: str = "f1", L: float = 73.0, beta: float = 1.0, from_logits: bool = False
    ) -> None:
        super().__init__()
        if metric not in METRICS:
            raise ValueError(f"AnyLoss: metric must be one of {METRICS}, got {metric!r}")
        if L <= 0:
            raise ValueError(f"AnyLoss: L must be > 0, got {L}")
        self.metric, self.L, self.beta, self.from_logits = metric, float(L), float(beta), from_logits

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return anyloss(input, target, self.metric, self.L, self.beta, self.from_logits)

    def extra_repr(self) -> str:
        return f"metric={self.metric!r}, L={self.L}, beta={self.beta}, from_logits={self.from_logits}"


LOSSES.add("anyloss", AnyLoss, **_CARD)
for _m in METRICS:
    LOSSES.add(f"anyloss_{_m}", functools.partial(AnyLoss, metric=_m), **_CARD)
