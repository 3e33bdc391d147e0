"""Figures of ``dlzoo compare``: metrics with intervals, calibration and confidence side by side,
alpha by depth of several models, and 2-D embeddings of the penultimate features.

Per-model panels reuse the single-model drawing functions of :mod:`dlzoo.analysis.calibration_plots` and
:mod:`dlzoo.analysis.spectra_plots`, so a comparison looks like several ``dlzoo analyze`` reports in a row.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .calibration import ReliabilityBins  # noqa: E402
from .calibration_plots import draw_confidence_histogram, draw_reliability  # noqa: E402
from .spectra_plots import draw_alpha_by_depth  # noqa: E402
from .weight_spectra import LayerSpectrum  # noqa: E402

__all__ = [
    "plot_metric_intervals",
    "plot_reliability_row",
    "plot_confidence_row",
    "plot_alpha_compare",
    "plot_embeddings",
]


def _save(fig: plt.Figure, path: str | os.PathLike) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _grid(n: int, max_cols: int = 4, w: float = 4.2, h: float = 3.8) -> tuple[plt.Figure, np.ndarray]:
    cols = min(n, max_cols)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(w * cols, h * rows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, axes


def plot_metric_intervals(
    runs: Sequence[Mapping[str, Any]], path: str | os.PathLike, confidence: float = 0.95
) -> Path:
    """Three panels, one row per model: test accuracy (Wilson interval), test error rate on a log axis
    (the same interval, so 93% vs 97% is readable) and mean cross-entropy (bootstrap interval)."""
    labels = [r["label"] for r in runs]
    ys = np.arange(len(runs))[::-1]
    acc = np.array([100 * r["test_acc"] for r in runs])
    acc_lo, acc_hi = (
        np.array([100 * r["acc_low"] for r in runs]),
        np.array([100 * r["acc_high"] for r in runs]),
    )
    loss = np.array([r["test_loss"] for r in runs])
    loss_lo, loss_hi = np.array([r["loss_low"] for r in runs]), np.array([r["loss_high"] for r in runs])
    fig, axes = plt.subplots(1, 3, figsize=(13.0, 0.6 * len(runs) + 2.0), sharey=True)
    level = f"{100 * confidence:g}%"
    axes[0].errorbar(acc, ys, xerr=[acc - acc_lo, acc_hi - acc], fmt="o", capsize=4, color="tab:blue")
    axes[0].set_xlabel(f"test accuracy % ({level} Wilson interval)")
    err, err_lo, err_hi = 100 - acc, 100 - acc_hi, 100 - acc_lo
    floor = 100.0 / max(r["num_test"] for r in runs) / 2  # half an example: where a 0% error is drawn
    err_d, lo_d = np.maximum(err, floor), np.maximum(err_lo, floor)
    axes[1].errorbar(
        err_d, ys, xerr=[err_d - lo_d, np.maximum(err_hi, floor) - err_d], fmt="o", capsize=4, color="tab:red"
    )
    axes[1].set_xscale("log")
    plain = matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}" if f"{v:g}"[0] in "1235" else "")
    axes[1].xaxis.set_major_formatter(plain)  # 1, 2, 3, 5, 10, 20, ... not 2 x 10^0
    axes[1].xaxis.set_minor_formatter(plain)
    axes[1].set_xlabel(f"test error % (log scale, {level} Wilson interval)")
    axes[2].errorbar(loss, ys, xerr=[loss - loss_lo, loss_hi - loss], fmt="o", capsize=4, color="tab:green")
    axes[2].set_xlabel(f"test cross-entropy ({level} bootstrap interval)")
    axes[0].set_yticks(ys, labels)
    for ax in axes:
        ax.grid(alpha=0.3, which="both", axis="x")
    n_test = sorted({r["num_test"] for r in runs})
    fig.suptitle(
        f"Test metrics on {'/'.join(map(str, n_test))} test examples (one example = "
        f"{100 / n_test[0]:.2f} accuracy points)",
        fontsize=10,
    )
    return _save(fig, path)


def plot_reliability_row(
    bins: Mapping[str, ReliabilityBins], eces: Mapping[str, float], path: str | os.PathLike
) -> Path:
    """One reliability diagram (gap bars, counts per bin) per model, side by side."""
    fig, axes = _grid(len(bins), w=4.4, h=4.4)
    for ax, (label, b) in zip(axes.flat, bins.items()):
        draw_reliability(ax, b, title=f"{label}: ECE {100 * eces[label]:.2f}%")
    return _save(fig, path)


def plot_confidence_row(
    conf: Mapping[str, tuple[np.ndarray, np.ndarray]], path: str | os.PathLike, n_bins: int = 15
) -> Path:
    """Confidence histogram per model (shared y axis) and, last, the confidence CDF of correct (solid)
    and wrong (dashed) predictions of every model in one panel."""
    fig, axes = _grid(len(conf) + 1, w=4.2, h=3.4)
    flat = list(axes.flat)
    for ax, (label, (c, ok)) in zip(flat, conf.items()):
        draw_confidence_histogram(ax, c, ok, n_bins, title=label)
    top = max(ax.get_ylim()[1] for ax in flat[: len(conf)])
    for ax in flat[: len(conf)]:
        ax.set_ylim(0, top)
    ax = flat[len(conf)]
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (label, (c, ok)) in enumerate(conf.items()):
        ok = np.asarray(ok, dtype=bool)
        for sel, ls, kind in ((ok, "-", "correct"), (~ok, "--", "wrong")):
            v = np.sort(np.asarray(c)[sel])
            if v.size:
                ax.step(
                    v,
                    np.arange(1, v.size + 1) / v.size,
                    ls=ls,
                    color=colors[i % len(colors)],
                    where="post",
                    label=f"{label} {kind} (n={v.size})",
                )
    ax.set_xlim(0, 1)
    ax.set_xlabel("confidence (max softmax probability)")
    ax.set_ylabel("share of predictions <= x")
    ax.set_title("confidence CDF: correct vs wrong", fontsize=9)
    ax.legend(fontsize=6)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def plot_alpha_compare(spectra: Mapping[str, Sequence[LayerSpectrum]], path: str | os.PathLike) -> Path:
    """Alpha by depth of every model on one axis; layer names on the x axis only when all models share
    them."""
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    draw_alpha_by_depth(ax, spectra)
    names = [[s.name for s in v] for v in spectra.values()]
    if any(n != names[0] for n in names[1:]):  # different architectures: depth index only
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        ax.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
        ax.tick_params(axis="x", labelrotation=0, labelsize=8)
    ax.set_title("weight-spectrum power-law alpha by depth, per model", fontsize=9)
    return _save(fig, path)


def plot_embeddings(emb: Mapping[str, Mapping[str, Any]], path: str | os.PathLike) -> Path:
    """Rows: PCA, then t-SNE (when computed); one column per model; points coloured by true class, wrong
    predictions drawn as black crosses on top."""
    methods = [("pca", "PCA")] + ([("tsne", "t-SNE")] if all("tsne" in v for v in emb.values()) else [])
    cols = len(emb)
    fig, axes = plt.subplots(
        len(methods), cols, figsize=(4.0 * cols + 1.2, 3.8 * len(methods)), squeeze=False
    )
    classes = np.unique(np.concatenate([np.asarray(v["labels"]) for v in emb.values()]))
    cmap = plt.get_cmap("tab10" if len(classes) <= 10 else "tab20")
    handles = []
    for j, (label, v) in enumerate(emb.items()):
        lab, ok = np.asarray(v["labels"]), np.asarray(v["correct"], dtype=bool)
        for i, (key, name) in enumerate(methods):
            ax, z = axes[i, j], np.asarray(v[key])
            for ci, c in enumerate(classes):
                sel = lab == c
                h = ax.scatter(
                    z[sel, 0], z[sel, 1], s=7, color=cmap(ci % cmap.N), alpha=0.75, lw=0, label=str(c)
                )
                if i == 0 and j == 0:
                    handles.append(h)
            wrong = ax.scatter(
                z[~ok, 0], z[~ok, 1], s=18, marker="x", color="k", lw=0.8, label="wrong prediction"
            )
            if key == "pca":
                r = v["pca_ratio"] + [0.0] * (2 - len(v["pca_ratio"]))
                ax.set_xlabel(f"PC1 ({100 * r[0]:.1f}% var.)")
                ax.set_ylabel(f"PC2 ({100 * r[1]:.1f}% var.)")
            else:
                ax.set_xlabel("t-SNE 1")
                ax.set_ylabel("t-SNE 2")
            ax.set_title(f"{label}: {name} of {v['dim']}-d features ({len(lab)} test ex.)", fontsize=8)
            ax.tick_params(labelsize=7)
    fig.legend(
        handles + [wrong],
        [h.get_label() for h in handles] + ["wrong prediction"],
        title="class",
        loc="center right",
        fontsize=7,
        title_fontsize=8,
        markerscale=2,
    )
    fig.tight_layout(rect=(0, 0, 1 - 1.1 / (4.0 * cols + 1.2), 1))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
