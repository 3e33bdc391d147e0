"""Weight-spectrum figures: the ESD of each layer with its power-law fit, and alpha by depth.

The fitted density on the tail ``x >= xmin`` is ``p(x) = (alpha - 1) / xmin * (x / xmin)^-alpha``
(Clauset et al. 2009, Eq. 2.2), drawn scaled by the tail's share of the eigenvalues so that it overlays the
density histogram of the whole ESD. Alpha by depth shades weightwatcher's bands: alpha < 2 "over-trained",
alpha > 6 "under-trained" (Martin & Mahoney 2021, arXiv:1810.01075).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .weight_spectra import OVER_TRAINED_THRESH, UNDER_TRAINED_THRESH, LayerSpectrum  # noqa: E402

__all__ = ["draw_esd", "plot_esd_grid", "draw_alpha_by_depth", "plot_alpha_by_depth", "fitted_density"]


def fitted_density(x: np.ndarray, alpha: float, xmin: float, tail_share: float = 1.0) -> np.ndarray:
    """``tail_share * (alpha - 1) / xmin * (x / xmin)^-alpha`` for ``x >= xmin`` (nan below)."""
    x = np.asarray(x, dtype=np.float64)
    pdf = tail_share * (alpha - 1) / xmin * (x / xmin) ** (-alpha)
    return np.where(x >= xmin, pdf, np.nan)


def draw_esd(ax: plt.Axes, spectrum: LayerSpectrum, bins: int = 60) -> plt.Axes:
    """Log-log density histogram of one layer's eigenvalues, the fitted power law and its xmin."""
    ev = spectrum.evals.double().numpy()
    ev = ev[ev > 1e-5]
    if ev.size == 0:
        ax.text(0.5, 0.5, "no eigenvalues > 1e-5", ha="center", va="center", transform=ax.transAxes)
        return ax
    lo, hi = ev.min(), ev.max()
    if hi > lo:
        edges = np.logspace(math.log10(lo), math.log10(hi) + 1e-9, bins + 1)
    else:
        edges = np.array([lo, lo * 1.01])
    ax.hist(ev, bins=edges, density=True, color="tab:blue", alpha=0.6, label="ESD")
    if spectrum.alpha > 1 and spectrum.xmin > 0:
        share = float((ev >= spectrum.xmin).mean())
        xs = np.logspace(math.log10(spectrum.xmin), math.log10(hi), 50)
        ax.plot(xs, fitted_density(xs, spectrum.alpha, spectrum.xmin, share), "r-", lw=1.5,
                label=f"PL fit, alpha={spectrum.alpha:.2f}")
        ax.axvline(spectrum.xmin, color="tab:red", ls=":", lw=1, label="xmin")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())  # no crowded minor labels
    ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel("eigenvalue of W^T W")
    ax.set_ylabel("density")
    ax.set_title(f"{spectrum.name} ({spectrum.type}, {spectrum.num_evals} evals)", fontsize=7)
    ax.legend(fontsize=6, loc="lower left")
    return ax


def _save(fig: plt.Figure, path: str | os.PathLike) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_esd_grid(spectra: Sequence[LayerSpectrum], path: str | os.PathLike, max_layers: int = 12,
                  cols: int = 4) -> Path:
    """ESD + fit of up to ``max_layers`` layers spread evenly over depth, in a grid; returns the path."""
    if not spectra:
        raise ValueError("plot_esd_grid: no layer spectra to plot")
    idx = np.unique(np.linspace(0, len(spectra) - 1, min(max_layers, len(spectra))).round().astype(int))
    rows = math.ceil(len(idx) / cols)
    fig, axes = plt.subplots(rows, min(cols, len(idx)), figsize=(3.2 * min(cols, len(idx)), 2.7 * rows),
                             squeeze=False)
    for ax in axes.flat[len(idx):]:
        ax.set_visible(False)
    for ax, i in zip(axes.flat, idx):
        draw_esd(ax, spectra[i])
    return _save(fig, path)


def draw_alpha_by_depth(ax: plt.Axes, runs: Mapping[str, Sequence[LayerSpectrum]]) -> plt.Axes:
    """Alpha of every layer against its depth index, one line per run; failed fits (alpha < 0) left out."""
    top = UNDER_TRAINED_THRESH + 1
    for label, spectra in runs.items():
        depth = np.array([i for i, s in enumerate(spectra) if s.alpha > 0])
        alpha = np.array([s.alpha for s in spectra if s.alpha > 0])
        name = f"{label} (mean {alpha.mean():.2f})" if alpha.size else label
        ax.plot(depth, alpha, "o-", ms=3, lw=1, label=name)
        if alpha.size:
            top = max(top, float(alpha.max()) * 1.05)
    ax.axhspan(0, OVER_TRAINED_THRESH, color="tab:orange", alpha=0.12, label="alpha < 2 (over-trained)")
    ax.axhspan(UNDER_TRAINED_THRESH, top, color="0.5", alpha=0.12, label="alpha > 6 (under-trained)")
    ax.set_ylim(0, top)
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    names = [s.name for s in next(iter(runs.values()), [])]
    if 0 < len(names) <= 30:
        ax.set_xticks(range(len(names)), [n[-16:] for n in names], rotation=90, fontsize=6)
    ax.set_xlabel("layer (depth order)")
    ax.set_ylabel("power-law exponent alpha")
    ax.legend(fontsize=7)
    return ax


def plot_alpha_by_depth(runs: Mapping[str, Sequence[LayerSpectrum]] | Sequence[LayerSpectrum],
                        path: str | os.PathLike, title: str = "") -> Path:
    """Save :func:`draw_alpha_by_depth` (a list of spectra is one unnamed run); returns the path."""
    if not isinstance(runs, Mapping):
        runs = {"model": runs}
    fig, ax = plt.subplots(figsize=(6.0, 3.6))
    draw_alpha_by_depth(ax, runs)
    if title:
        ax.set_title(title, fontsize=9)
    return _save(fig, path)
