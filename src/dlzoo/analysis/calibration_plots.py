"""Calibration figures: reliability diagram with gap bars and per-bin counts, confidence histogram.

Guo, Pleiss, Sun, Weinberger, "On Calibration of Modern Neural Networks", ICML 2017, arXiv:1706.04599,
Fig. 1: top, the distribution of confidences with the mean accuracy and mean confidence marked; bottom, the
accuracy of each confidence bin with the gap to the bin's mean confidence drawn as a second bar.
"""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .calibration import ReliabilityBins  # noqa: E402

__all__ = ["draw_reliability", "plot_reliability_diagram", "draw_confidence_histogram",
           "plot_confidence_histogram"]


def draw_reliability(ax: plt.Axes, bins: ReliabilityBins, title: str = "") -> plt.Axes:
    """Accuracy bars per bin, red gap bars from accuracy to mean confidence, the count above each bin."""
    lower = bins.lower.numpy()
    width = float(bins.upper[0] - bins.lower[0])
    count = bins.count.numpy()
    ok = count > 0
    acc = np.nan_to_num(bins.accuracy.numpy())
    conf = np.nan_to_num(bins.confidence.numpy())
    ax.bar(lower[ok], acc[ok], width=width, align="edge", color="tab:blue", edgecolor="k", lw=0.5,
           label="accuracy", gid="accuracy")
    # gap bar: from the accuracy up (or down) to the mean confidence of the bin
    ax.bar(lower[ok], (conf - acc)[ok], bottom=acc[ok], width=width, align="edge", color="tab:red",
           alpha=0.35, edgecolor="tab:red", hatch="//", lw=0.5, label="gap to mean confidence", gid="gap")
    ax.plot([0, 1], [0, 1], "k--", lw=0.8, label="perfect calibration")
    # per-bin counts on a strip above the plot area, clear of the bars
    for x, n in zip(lower[ok], count[ok]):
        ax.text(x + width / 2, 1.02, str(int(n)), ha="center", va="bottom", fontsize=6, rotation=90,
                transform=ax.get_xaxis_transform())
    ax.text(1.01, 1.02, "n per bin", ha="left", va="bottom", fontsize=6, transform=ax.transAxes)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("confidence (max softmax probability)")
    ax.set_ylabel("accuracy")
    ax.legend(fontsize=7, loc="best", framealpha=0.85)
    if title:
        ax.set_title(title, fontsize=9, pad=24)
    return ax


def draw_confidence_histogram(ax: plt.Axes, confidence: np.ndarray, correct: np.ndarray, n_bins: int = 15,
                              title: str = "") -> plt.Axes:
    """Share of predictions per confidence bin, with the mean accuracy and mean confidence as lines."""
    confidence, correct = np.asarray(confidence, dtype=np.float64), np.asarray(correct, dtype=np.float64)
    weights = np.full(len(confidence), 1.0 / max(len(confidence), 1))
    ax.hist(confidence, bins=np.linspace(0, 1, n_bins + 1), weights=weights, color="tab:blue",
            edgecolor="k", lw=0.5)
    ax.axvline(correct.mean(), color="tab:green", ls="--", label=f"accuracy {100 * correct.mean():.1f}%")
    ax.axvline(confidence.mean(), color="tab:red", ls=":",
               label=f"mean confidence {100 * confidence.mean():.1f}%")
    ax.set_xlim(0, 1)
    ax.set_xlabel("confidence (max softmax probability)")
    ax.set_ylabel(f"share of {len(confidence)} predictions")
    ax.legend(fontsize=7, loc="best", framealpha=0.85)
    if title:
        ax.set_title(title, fontsize=9)
    return ax


def _save(fig: plt.Figure, path: str | os.PathLike) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path


def plot_reliability_diagram(bins: ReliabilityBins, path: str | os.PathLike, title: str = "") -> Path:
    """Save :func:`draw_reliability` as a PNG; returns the path."""
    fig, ax = plt.subplots(figsize=(5.0, 4.8))
    draw_reliability(ax, bins, title)
    return _save(fig, path)


def plot_confidence_histogram(confidence: np.ndarray, correct: np.ndarray, path: str | os.PathLike,
                              n_bins: int = 15, title: str = "") -> Path:
    """Save :func:`draw_confidence_histogram` as a PNG; returns the path."""
    fig, ax = plt.subplots(figsize=(4.8, 3.4))
    draw_confidence_histogram(ax, confidence, correct, n_bins, title)
    return _save(fig, path)
