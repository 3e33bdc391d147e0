"""Figures of norm-layer input-output maps: a grid of panels per model (Figure 2 of Zhu et al., CVPR 2025,
arXiv:2503.10622) with per-channel colouring where the layer is linear per channel, and depth profiles of
the tanh fit (:mod:`dlzoo.analysis.tanh_fit`) and of the squashed fraction (:func:`layer_stats`)."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..report.plots import _save, _short  # noqa: E402
from .scurve import NormIO  # noqa: E402

__all__ = ["plot_norm_maps", "plot_depth_profiles"]


def plot_norm_maps(
    ios: Mapping[str, NormIO],
    path: str | os.PathLike,
    title: str = "",
    fits: Mapping[str, Mapping[str, float]] | None = None,
    stats: Mapping[str, Mapping[str, float]] | None = None,
    max_cols: int = 4,
) -> Path:
    """One scatter panel per layer (input x vs output y), in forward order, numbered and titled by layer.

    Per-channel layers (``grouping == "channel"``) colour each point by its channel (hsv colour wheel over
    the channel index) and print the worst per-channel linear R^2 (``stats[name]["linear_r2"]``, from
    :func:`dlzoo.analysis.scurve.layer_stats`); pooled layers draw ``fits[name]`` (a
    pooled tanh fit, ``num_channels == 0``) as a red curve with its alpha and R^2 in the legend.
    """
    n = max(len(ios), 1)
    cols = min(max_cols, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.3 * cols, 3.1 * rows), squeeze=False)
    for i, (ax, (name, io)) in enumerate(zip(axes.flat, ios.items())):
        x, y = io.x.numpy(), io.y.numpy()
        fit = (fits or {}).get(name)
        if io.grouping == "channel" and io.channel is not None:
            ch = io.channel.numpy()
            num = int(ch.max()) + 1 if ch.size else 1
            ax.scatter(
                x, y, c=ch, cmap="hsv", vmin=0, vmax=max(num, 2), s=1.5, alpha=0.5, lw=0, rasterized=True
            )
            note = f"colour = channel ({num} ch.)"
            st = (stats or {}).get(name)
            if st is not None and "linear_r2" in st:
                note += f"\nper-channel line R$^2$ >= {st['linear_r2']:.4f}"
            ax.text(
                0.03,
                0.97,
                note,
                transform=ax.transAxes,
                va="top",
                fontsize=6.5,
                bbox={"facecolor": "white", "alpha": 0.8, "lw": 0},
            )
        else:
            ax.scatter(x, y, s=1.5, alpha=0.35, lw=0, color="tab:blue", rasterized=True, label="points")
            if fit is not None and fit.get("num_channels", 0) == 0 and x.size:
                grid = np.linspace(float(x.min()), float(x.max()), 200)
                curve = fit["gamma"] * np.tanh(fit["alpha"] * grid) + fit["beta"]
                ax.plot(
                    grid,
                    curve,
                    color="tab:red",
                    lw=1.1,
                    label=f"tanh fit: alpha {fit['alpha']:.3g}, R$^2$ {fit['r2']:.3f}",
                )
                ax.legend(fontsize=6, loc="upper left", markerscale=4, framealpha=0.8)
        ax.set_title(f"{i + 1}. {_short(name)} ({io.layer_type})", fontsize=7.5)
        ax.axhline(0, color="k", lw=0.4)
        ax.axvline(0, color="k", lw=0.4)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(ios) :]:
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.supxlabel("norm input x", fontsize=9)
    fig.supylabel("norm output y (before the affine)", fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.3 / fig.get_figheight()))  # 0.3 in on top for the title
    return _save(fig, path)


def plot_depth_profiles(
    profiles: Mapping[str, Sequence[Mapping[str, float]]], path: str | os.PathLike
) -> Path:
    """Four panels against norm-layer index (forward order), one line per model: tanh-fit alpha (log),
    reach = alpha * q99|x| (log), squashed fraction (%), and the unexplained variance 1 - R^2 of the tanh
    and the linear fit (log). Each entry of ``profiles[model]`` holds those keys for one layer; per-channel
    layers give medians over channels."""
    fig, axes = plt.subplots(2, 2, figsize=(10, 7))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for j, (label, layers) in enumerate(profiles.items()):
        idx = np.arange(1, len(layers) + 1)
        col = colors[j % len(colors)]

        def get(key: str, layers: Sequence[Mapping[str, float]] = layers) -> np.ndarray:
            return np.array([float(s.get(key, float("nan"))) for s in layers])

        axes[0, 0].plot(idx, get("alpha"), "o-", color=col, ms=3, label=label)
        axes[0, 1].plot(idx, get("reach"), "o-", color=col, ms=3, label=label)
        axes[1, 0].plot(idx, 100 * get("squashed_fraction"), "o-", color=col, ms=3, label=label)
        floor = 1e-12
        axes[1, 1].plot(idx, np.maximum(1 - get("r2"), floor), "o-", color=col, ms=3, label=f"{label}: tanh")
        axes[1, 1].plot(
            idx,
            np.maximum(1 - get("linear_r2"), floor),
            "x--",
            color=col,
            ms=4,
            lw=0.8,
            label=f"{label}: line",
        )
    axes[0, 0].set_yscale("log")
    axes[0, 0].set_ylabel("tanh-fit alpha")
    axes[0, 0].set_title("alpha of y ~ gamma tanh(alpha x) + beta", fontsize=9)
    axes[0, 1].set_yscale("log")
    axes[0, 1].axhline(1.0, color="k", ls=":", lw=0.8, label="reach 1 (tanh 24% below line)")
    axes[0, 1].set_ylabel("reach = alpha * q99|x|")
    axes[0, 1].set_title("how far the 99th-percentile input goes into the tanh", fontsize=9)
    axes[1, 0].set_ylabel("squashed points %")
    axes[1, 0].set_title("share of points under half the central linear trend", fontsize=9)
    axes[1, 1].set_yscale("log")
    axes[1, 1].set_ylabel("1 - R$^2$ (unexplained variance)")
    axes[1, 1].set_title("fit quality: tanh (solid) vs straight line (dashed)", fontsize=9)
    for ax in axes.flat:
        ax.set_xlabel("norm layer (forward order)")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6.5)
    fig.suptitle("Norm-layer maps by depth (per-channel layers: median over channels)", fontsize=10)
    fig.tight_layout()
    return _save(fig, path)
