"""Calibration of a classifier: expected calibration error and reliability-diagram data.

Guo, Pleiss, Sun, Weinberger, "On Calibration of Modern Neural Networks", ICML 2017, arXiv:1706.04599,
Section 2. With confidence ``p_i = max_k softmax(z_i)_k``, prediction ``yhat_i = argmax_k z_i`` and M
equal-width bins ``B_m = {i : p_i in ((m-1)/M, m/M]}``:

    acc(B_m)  = 1/|B_m| sum_{i in B_m} 1[yhat_i = y_i]
    conf(B_m) = 1/|B_m| sum_{i in B_m} p_i
    ECE = sum_m |B_m| / n * |acc(B_m) - conf(B_m)|,     MCE = max_m |acc(B_m) - conf(B_m)|

Shapes: ``probs`` (N, K) rows summing to 1 (or logits with ``from_logits=True``), ``labels`` (N,) ints.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["ReliabilityBins", "reliability_bins", "expected_calibration_error", "max_calibration_error"]


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
