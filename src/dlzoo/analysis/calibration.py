"""Calibration of a classifier: expected calibration error and reliability-diagram data.

Guo, Pleiss, Sun, Weinberger, "On Calibration of Modern Neural Networks", ICML 2017, arXiv:1706.04599,
Section 2. With confidence ``p_i = max_k softmax(z_i)_k``, prediction ``yhat_i = argmax_k z_i`` and M
equal-width bins ``B_m = {i : p_i in ((m-1)/M, m/M]}``:

    acc(B_m)  = 1/|B_m| sum_{i in B_m} 1[yhat_i = y_i]
    conf(B_m) = 1/|B_m| sum_{i in B_m} p_i
    ECE = sum_m |B_m| / n * |acc(B_m) - conf(B_m)|,     MCE = max_m |acc(B_m) - conf(B_m)|

Brier score (Brier, "Verification of forecasts expressed in terms of probability", Monthly Weather Review
1950, Eq. 1): ``BS = 1/n sum_i sum_k (p_ik - 1[y_i = k])^2`` over all K classes; for K = 2 it is twice
scikit-learn's ``brier_score_loss`` (which scores the positive class only).

Bins are right-closed as in Guo et al. and scikit-learn's ``calibration_curve``; torchmetrics'
``multiclass_calibration_error`` uses left-closed bins plus one bin for confidence exactly 1, so the two agree
except for confidences lying exactly on a bin edge.

Shapes: ``probs`` (N, K) rows summing to 1 (or logits with ``from_logits=True``), ``labels`` (N,) ints.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["ReliabilityBins", "reliability_bins", "expected_calibration_error", "max_calibration_error",
           "brier_score", "confidences", "CalibrationSummary", "calibration_summary"]


@dataclass
class ReliabilityBins:
    """Per-bin data of a reliability diagram; empty bins have count 0 and nan accuracy/confidence."""

    lower: Tensor  # (M,)
    upper: Tensor  # (M,)
    count: Tensor  # (M,) int64
    accuracy: Tensor  # (M,)
    confidence: Tensor  # (M,)

    @property
    def gap(self) -> Tensor:
        return (self.accuracy - self.confidence).abs()


def _confidence_and_correct(probs: Tensor, labels: Tensor, from_logits: bool) -> tuple[Tensor, Tensor]:
    if probs.dim() != 2:
        raise ValueError(f"calibration: expected probs of shape (N, K), got {list(probs.shape)}")
    if labels.shape != probs.shape[:1]:
        raise ValueError(
            f"calibration: expected labels of shape ({probs.shape[0]},), got {list(labels.shape)}"
        )
    p = probs.double().softmax(-1) if from_logits else probs.double()
    conf, pred = p.max(dim=-1)  # (N,), (N,)
    return conf, (pred == labels).double()


def reliability_bins(
    probs: Tensor, labels: Tensor, n_bins: int = 15, from_logits: bool = False
) -> ReliabilityBins:
    """Bin the predictions by confidence into ``n_bins`` equal-width bins ((m-1)/M, m/M]."""
    if n_bins < 1:
        raise ValueError(f"calibration: n_bins must be >= 1, got {n_bins}")
    conf, correct = _confidence_and_correct(probs, labels, from_logits)
    edges = torch.linspace(0, 1, n_bins + 1, dtype=torch.float64)
    # bin m holds (edges[m], edges[m+1]]: index = ceil(conf * M) - 1, conf = 0 goes to the first bin
    idx = (torch.bucketize(conf, edges, right=False) - 1).clamp(0, n_bins - 1)
    count = torch.bincount(idx, minlength=n_bins)
    acc_sum = torch.bincount(idx, weights=correct, minlength=n_bins)
    conf_sum = torch.bincount(idx, weights=conf, minlength=n_bins)
    denom = count.double()
    nan = torch.full_like(denom, float("nan"))
    accuracy = torch.where(count > 0, acc_sum / denom.clamp_min(1), nan)
    confidence = torch.where(count > 0, conf_sum / denom.clamp_min(1), nan)
    return ReliabilityBins(edges[:-1], edges[1:], count, accuracy, confidence)


def expected_calibration_error(
    probs: Tensor, labels: Tensor, n_bins: int = 15, from_logits: bool = False
) -> float:
    """ECE = sum_m |B_m|/n |acc(B_m) - conf(B_m)| (Guo et al. 2017, Eq. 3)."""
    bins = reliability_bins(probs, labels, n_bins, from_logits)
    n = int(bins.count.sum())
    nonempty = bins.count > 0
    return float((bins.count[nonempty].double() / n * bins.gap[nonempty]).sum())


def max_calibration_error(
    probs: Tensor, labels: Tensor, n_bins: int = 15, from_logits: bool = False
) -> float:
    """MCE = max over non-empty bins of |acc(B_m) - conf(B_m)| (Guo et al. 2017, Eq. 5)."""
    bins = reliability_bins(probs, labels, n_bins, from_logits)
    return float(bins.gap[bins.count > 0].max())


def brier_score(probs: Tensor, labels: Tensor, from_logits: bool = False) -> float:
    """Multiclass Brier score ``1/n sum_i sum_k (p_ik - 1[y_i = k])^2`` (Brier 1950), in [0, 2]."""
    _confidence_and_correct(probs, labels, from_logits)  # shape checks
    p = probs.double().softmax(-1) if from_logits else probs.double()
    if labels.min() < 0 or labels.max() >= p.shape[1]:
        raise ValueError(f"brier_score: labels must lie in [0, {p.shape[1]}), got [{int(labels.min())}, "
                         f"{int(labels.max())}]")
    onehot = torch.nn.functional.one_hot(labels.long(), p.shape[1]).double()  # (N, K)
    return float(((p - onehot) ** 2).sum(dim=1).mean())


def confidences(probs: Tensor, labels: Tensor, from_logits: bool = False) -> tuple[Tensor, Tensor]:
    """(confidence ``max_k p_ik``, correct ``1[argmax = y]``), both (N,) float64: the confidence histogram."""
    return _confidence_and_correct(probs, labels, from_logits)


@dataclass
class CalibrationSummary:
    """ECE, MCE with the bin that attains it and how many predictions it holds, Brier score, the bins."""

    ece: float
    mce: float
    mce_bin: int  # index of the bin with the largest gap
    mce_count: int  # predictions in that bin (an MCE from a handful of points is noise)
    brier: float
    accuracy: float
    mean_confidence: float
    num_samples: int
    bins: ReliabilityBins


def calibration_summary(
    probs: Tensor, labels: Tensor, n_bins: int = 15, from_logits: bool = False
) -> CalibrationSummary:
    """All calibration numbers of one set of predictions (one binning pass)."""
    bins = reliability_bins(probs, labels, n_bins, from_logits)
    conf, correct = _confidence_and_correct(probs, labels, from_logits)
    n = int(bins.count.sum())
    nonempty = bins.count > 0
    gaps = torch.where(nonempty, bins.gap, torch.full_like(bins.gap, -1.0))
    mce_bin = int(torch.argmax(gaps))
    return CalibrationSummary(
        ece=float((bins.count[nonempty].double() / n * bins.gap[nonempty]).sum()), mce=float(gaps[mce_bin]),
        mce_bin=mce_bin, mce_count=int(bins.count[mce_bin]), brier=brier_score(probs, labels, from_logits),
        accuracy=float(correct.mean()), mean_confidence=float(conf.mean()), num_samples=n, bins=bins)
