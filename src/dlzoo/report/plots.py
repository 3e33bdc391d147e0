"""Report figures (matplotlib, Agg backend, PNG): curves with seed bands, alpha traces, S-curve grids.

All functions take plain Python/numpy data (no models), write one PNG and return its path, so they
can be tested with synthetic histories.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

__all__ = ["mean_band", "plot_curves", "plot_alpha_traces", "plot_scurves", "plot_reliability"]

History = Sequence[Mapping[str, float]]


def mean_band(
    histories: Sequence[History], key: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(epochs, mean, low, high) of ``key`` across seed histories (band = min..max over seeds).

    Histories may have different lengths; only epochs present in every history are used.
    """
    series = [[(float(row.get("epoch", i + 1)), float(row[key])) for i, row in enumerate(h)
               if row.get(key) is not None] for h in histories]
    series = [s for s in series if s]
    if not series:
        raise ValueError(f"mean_band: no history has key {key!r}")
    n = min(len(s) for s in series)
    values = np.array([[v for _, v in s[:n]] for s in series], dtype=np.float64)  # (seeds, epochs)
    epochs = np.array([e for e, _ in series[0][:n]], dtype=np.float64)  # (epochs,)
    return epochs, values.mean(0), values.min(0), values.max(0)


def plot_curves(
    groups: Mapping[str, Sequence[History]],
    keys: Sequence[tuple[str, str]],
    path: str | os.PathLike,
    title: str = "",
) -> Path:
    """One panel per ``(history_key, axis_label)``; per group a mean line and a min..max band over seeds."""
    n = len(keys)
    cols = 2 if n > 1 else 1
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(6.0 * cols, 3.6 * rows), squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, (key, label) in zip(axes.flat, keys):
        for i, (name, histories) in enumerate(groups.items()):
            try:
                epochs, mean, low, high = mean_band(histories, key)
            except ValueError:
                continue
            c = colors[i % len(colors)]
            ax.plot(epochs, mean, color=c, label=f"{name} (n={len(histories)})", lw=1.6)
            if len(histories) > 1:
                ax.fill_between(epochs, low, high, color=c, alpha=0.2, lw=0)
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
        if "loss" in key:
            ax.set_yscale("log")
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=8)
    if title:
        fig.suptitle(f"{title} (line: mean over seeds; band: min..max)")
    fig.tight_layout()
    return _save(fig, path)


def plot_alpha_traces(
    traces: Mapping[str, Mapping[str, Sequence[float]]],
    path: str | os.PathLike,
    init: Mapping[str, float] | None = None,
) -> Path:
    """DyT alpha of every layer over training: one panel per group, one line per layer.

    ``traces[group][layer_name]`` is the alpha after each epoch (mean over seeds); ``init[group]`` is
    drawn as a dashed line and as the value at epoch 0.
    """
    n = max(len(traces), 1)
    fig, axes = plt.subplots(1, n, figsize=(6.0 * n, 4.2), squeeze=False)
    for ax, (group, layers) in zip(axes.flat, traces.items()):
        cmap = plt.get_cmap("viridis")
        names = list(layers)
        start = init.get(group) if init else None
        for j, name in enumerate(names):
            ys = np.asarray(layers[name], dtype=np.float64)
            xs = np.arange(1, len(ys) + 1)
            if start is not None:  # epoch 0 = the initial value
                xs, ys = np.concatenate([[0], xs]), np.concatenate([[start], ys])
            ax.plot(xs, ys, color=cmap(j / max(len(names) - 1, 1)), lw=1.2,
                    label=_short(name.removesuffix(".alpha")))
        ax.xaxis.get_major_locator().set_params(integer=True)
        if init and group in init:
            ax.axhline(init[group], color="k", ls="--", lw=0.8, label=f"init {init[group]:g}")
        ax.set_title(group)
        ax.set_xlabel("epoch")
        ax.set_ylabel("alpha")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6, ncol=2)
    fig.suptitle("DyT alpha per layer (mean over seeds; colour = depth)")
    fig.tight_layout()
    return _save(fig, path)


def plot_scurves(
    points: Mapping[str, tuple[np.ndarray, np.ndarray]],
    path: str | os.PathLike,
    title: str = "",
    max_cols: int = 4,
) -> Path:
    """Grid of input-vs-output scatters, one panel per norm layer (Figure 2 of arXiv 2503.10622)."""
    n = max(len(points), 1)
    cols = min(max_cols, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.0 * rows), squeeze=False)
    for ax, (name, (x, y)) in zip(axes.flat, points.items()):
        ax.scatter(np.asarray(x), np.asarray(y), s=1.5, alpha=0.35, rasterized=True, lw=0)
        ax.set_title(_short(name), fontsize=8)
        ax.axhline(0, color="k", lw=0.4)
        ax.axvline(0, color="k", lw=0.4)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(points):]:
        ax.axis("off")
    if title:
        fig.suptitle(title)
    fig.supxlabel("input x", fontsize=9)
    fig.supylabel("output y", fontsize=9)
    fig.tight_layout()
    return _save(fig, path)


def _short(name: str, limit: int = 28) -> str:
    return name if len(name) <= limit else "..." + name[-(limit - 3):]


def _save(fig: plt.Figure, path: str | os.PathLike) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_reliability(
    confidence: Sequence[float], accuracy: Sequence[float], count: Sequence[int], path: str | os.PathLike,
    title: str = "",
) -> Path:
    """Reliability diagram (Guo et al. 2017, Fig. 1): accuracy per confidence bin vs the diagonal."""
    conf, acc, cnt = (np.asarray(a, dtype=np.float64) for a in (confidence, accuracy, count))
    m = len(cnt)
    edges = np.linspace(0, 1, m + 1)
    fig, (ax, axc) = plt.subplots(2, 1, figsize=(4.8, 5.6), sharex=True,
                                  gridspec_kw={"height_ratios": [3, 1]})
    ok = cnt > 0
    ax.bar(edges[:-1][ok], acc[ok], width=1 / m, align="edge", edgecolor="k", lw=0.5, label="accuracy")
    ax.plot(conf[ok], conf[ok], "r.", ms=5, label="mean confidence")
    ax.plot([0, 1], [0, 1], "k--", lw=0.8)
    ax.set_ylabel("accuracy")
    ax.legend(fontsize=8, loc="upper left")
    axc.bar(edges[:-1], cnt, width=1 / m, align="edge", color="0.6")
    axc.set_xlabel("confidence")
    axc.set_ylabel("count")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return _save(fig, path)
