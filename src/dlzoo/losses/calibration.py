"""Calibration losses: Brier score, a differentiable (soft-binned) ECE, and CE + calibration penalties.

* Brier score — Brier, "Verification of Forecasts Expressed in Terms of Probability", Monthly Weather
  Review 1950:  ``BS = 1/N sum_n sum_c (p_{n,c} - y_{n,c})^2`` over one-hot labels ``y`` (range [0, 2]);
  for a single positive-class probability ``BS = 1/N sum_n (p_n - y_n)^2`` (range [0, 1]). This is
  scikit-learn's ``brier_score_loss`` with ``scale_by_half="auto"``.
* ECE — Guo, Pleiss, Sun, Weinberger, "On Calibration of Modern Neural Networks", ICML 2017,
  arXiv 1706.04599, Eq. 3: ``ECE = sum_b |B_b|/N |acc(B_b) - conf(B_b)|`` with equal-width confidence bins.
* Soft-binned ECE — Karandikar et al., "Soft Calibration Objectives for Neural Networks", NeurIPS 2021,
  arXiv 2108.00106: the hard bin indicator is replaced by a softmax over bins of
  ``-(conf - centre_b)^2 / T``, so ``ECE_T`` is differentiable in the confidences; ``T -> 0`` recovers the
  hard ECE. Accuracy (``argmax == y``) is a constant w.r.t. the logits; the gradient acts on confidences.
* :class:`CalibratedCrossEntropy`: ``CE + brier_weight * Brier + ece_weight * ECE_T``.

Shapes: logits/probabilities ``(N, C)``, target int64 ``(N,)``; binary Brier also accepts ``(N,)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._base import check_reduction, check_tensor, reduce_loss
from .classification import cross_entropy
from .factory import register_loss

__all__ = ["brier_score", "BrierScoreLoss", "expected_calibration_error", "soft_binned_ece",
           "CalibratedCrossEntropy"]


def brier_score(probs: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """Brier score of probabilities ``(N, C)`` (summed over classes) or positive-class ``(N,)`` ones."""
    layer = "brier_score"
    check_reduction(reduction, layer)
    check_tensor(layer, "probs", probs)
    if probs.dim() == 1:
        if target.shape != probs.shape:
            raise ValueError(
                f"{layer}: binary target must have shape {list(probs.shape)}, got {list(target.shape)}"
            )
        per_sample = (probs - target.to(probs.dtype)) ** 2
    elif probs.dim() == 2:
        if target.shape != probs.shape[:1] or target.is_floating_point():
            raise ValueError(f"{layer}: target must be int64 of shape [{probs.shape[0]}], "
                             f"got {target.dtype} {list(target.shape)}")
        onehot = F.one_hot(target, probs.shape[1]).to(probs.dtype)  # (N, C)
        per_sample = ((probs - onehot) ** 2).sum(1)
    else:
        raise ValueError(f"{layer}: probs must be (N,) or (N, C), got {list(probs.shape)}")
    return reduce_loss(per_sample, reduction)


@register_loss("brier", paper="Verification of Forecasts Expressed in Terms of Probability", year=1950)
class BrierScoreLoss(nn.Module):
    """Brier score on logits (softmax over dim 1; sigmoid for ``(N,)`` input) or probabilities."""

    def __init__(self, from_logits: bool = True, reduction: str = "mean") -> None:
        super().__init__()
        self.from_logits = from_logits
        self.reduction = check_reduction(reduction, "BrierScoreLoss")

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        if self.from_logits:
            input = input.sigmoid() if input.dim() == 1 else input.softmax(1)
        return brier_score(input, target, self.reduction)


def _confidence_and_correct(probs: Tensor, target: Tensor, layer: str) -> tuple[Tensor, Tensor]:
    check_tensor(layer, "probs", probs)
    if probs.dim() != 2 or target.shape != probs.shape[:1]:
        raise ValueError(f"{layer}: expected probs (N, C) and target (N,), got {list(probs.shape)} "
                         f"and {list(target.shape)}")
    conf, pred = probs.max(1)  # (N,), (N,)
    return conf, (pred == target).to(probs.dtype)


def expected_calibration_error(probs: Tensor, target: Tensor, n_bins: int = 15) -> Tensor:
    """Hard-binned ECE (Guo et al. 2017, Eq. 3) with bins ``(k/n_bins, (k+1)/n_bins]``; not differentiable."""
    conf, correct = _confidence_and_correct(probs, target, "expected_calibration_error")
    # bin k holds conf in (k/B, (k+1)/B]; conf == 0 goes to bin 0
    idx = (torch.ceil(conf * n_bins).long() - 1).clamp(0, n_bins - 1)
    sum_conf = torch.zeros(n_bins, dtype=conf.dtype, device=conf.device).index_add_(0, idx, conf)
    sum_acc = torch.zeros_like(sum_conf).index_add_(0, idx, correct)
    return (sum_acc - sum_conf).abs().sum() / conf.shape[0]  # sum_b |B_b|/N |acc_b - conf_b|


def soft_binned_ece(probs: Tensor, target: Tensor, n_bins: int = 15, temperature: float = 0.01) -> Tensor:
    """Differentiable ECE: soft bin memberships ``softmax_b(-(conf - centre_b)^2 / T)`` (Karandikar 2021)."""
    if temperature <= 0:
        raise ValueError(f"soft_binned_ece: temperature must be > 0, got {temperature}")
    conf, correct = _confidence_and_correct(probs, target, "soft_binned_ece")
    centres = (torch.arange(n_bins, dtype=conf.dtype, device=conf.device) + 0.5) / n_bins  # (B,)
    u = torch.softmax(-((conf[:, None] - centres[None, :]) ** 2) / temperature, dim=1)  # (N, B)
    gap = (u * (correct - conf)[:, None]).sum(0)  # |B_b| (acc_b - conf_b)
    return gap.abs().sum() / conf.shape[0]


@register_loss("calibrated_cross_entropy", paper="On Calibration of Modern Neural Networks (ECE); "
               "Soft Calibration Objectives for Neural Networks (soft ECE)", year=2021, arxiv="2108.00106")
class CalibratedCrossEntropy(nn.Module):
    """``CE(label_smoothing) + brier_weight * Brier(softmax) + ece_weight * softECE(softmax)`` on logits."""

    def __init__(self, brier_weight: float = 0.1, ece_weight: float = 0.0, n_bins: int = 15,
                 temperature: float = 0.01, label_smoothing: float = 0.0) -> None:
        super().__init__()
        if brier_weight < 0 or ece_weight < 0:
            raise ValueError("CalibratedCrossEntropy: brier_weight and ece_weight must be >= 0")
        self.brier_weight, self.ece_weight = brier_weight, ece_weight
        self.n_bins, self.temperature, self.label_smoothing = n_bins, temperature, label_smoothing

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        loss = cross_entropy(input, target, label_smoothing=self.label_smoothing)
        if self.brier_weight == 0 and self.ece_weight == 0:
            return loss
        probs = input.softmax(1)
        if self.brier_weight:
            loss = loss + self.brier_weight * brier_score(probs, target)
        if self.ece_weight:
            loss = loss + self.ece_weight * soft_binned_ece(probs, target, self.n_bins, self.temperature)
        return loss

    def extra_repr(self) -> str:
        return (f"brier_weight={self.brier_weight}, ece_weight={self.ece_weight}, n_bins={self.n_bins}, "
                f"temperature={self.temperature}, label_smoothing={self.label_smoothing}")
