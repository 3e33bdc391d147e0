"""Activation statistics by depth: one panel per statistic, modules in forward order on the x axis."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

__all__ = ["plot_activation_stats", "DEFAULT_KEYS"]

DEFAULT_KEYS = ("std", "kurtosis", "frac_zero", "dead_units", "effective_rank", "participation_ratio")
_LABELS = {"std": "std", "kurtosis": "excess kurtosis", "frac_zero": "zeros (sparsity)",
           "dead_units": "dead units (share)", "effective_rank": "effective rank",
           "participation_ratio": "participation ratio", "mean": "mean", "abs_max": "|max|",
           "frac_outlier": "outliers > 3 std", "frac_saturated": "tanh saturated"}


def plot_activation_stats(stats: Mapping[str, Mapping[str, float]], path: str | os.PathLike,
                          keys: Sequence[str] = DEFAULT_KEYS, title: str = "") -> Path:
    """``stats`` from :func:`~dlzoo.analysis.activations.activation_stats`; one panel per key, by depth."""
    if not stats:
        raise ValueError("plot_activation_stats: no modules in stats")
    keys = [k for k in keys if any(k in s for s in stats.values())]
    if not keys:
        raise ValueError(f"plot_activation_stats: none of the keys {list(keys)} are in the stats")
    names = list(stats)
    cols = min(3, len(keys))
    rows = math.ceil(len(keys) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 2.8 * rows), squeeze=False)
    for ax in axes.flat[len(keys):]:
        ax.set_visible(False)
    for ax, key in zip(axes.flat, keys):
        xs = [i for i, n in enumerate(names) if key in stats[n]]
        ax.plot(xs, [stats[names[i]][key] for i in xs], "o-", ms=3, lw=1)
        ax.set_ylabel(_LABELS.get(key, key))
        ax.set_xlabel("module (forward order)")
        if len(names) <= 24:
            ax.set_xticks(range(len(names)), [n[-14:] for n in names], rotation=90, fontsize=6)
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title, fontsize=10)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
