"""Empirical spectral density (ESD) of every Linear/Conv/Embedding weight and its power-law fit.

Martin & Mahoney, "Implicit Self-Regularization in Deep Neural Networks: Evidence from Random Matrix Theory
and Implications for Learning", JMLR 2021, arXiv:1810.01075; "Predicting trends in the quality of
state-of-the-art neural networks without access to training or testing data", Nature Communications 2021,
arXiv:2002.06716. Reproduces ``weightwatcher.WeightWatcher(model).analyze()`` of weightwatcher 0.7.7 with
its defaults, without importing it:

* ESD of a weight matrix ``W`` (N x M, N >= M): ``lambda_k = sigma_k(W)^2`` (no 1/N), k = 1..M.
* Conv2d weight (out, in, kh, kw): the kh*kw matrices ``W[:, :, i, j]`` each scaled by ``sqrt(1/2)``
  (ww's ``conv2d_norm``), eigenvalues pooled into one ESD of M*kh*kw values.
* Conv1d weight (out, in, k): ww passes the 3-D tensor to a batched SVD, i.e. ``out`` matrices of shape
  (in, k), and keeps the largest ``min(out, in, k)`` squared singular values; mirrored as is.
* Layers with fewer than 8 or more than 15000 eigenvalues, or ``N > 50000``, are skipped.
* ``alpha`` from :func:`~dlzoo.analysis.powerlaw_fit.fit_power_law` on ``lambda > 1e-5``;
  ``log_norm = log10 sum lambda``, ``log_spectral_norm = log10 max lambda``,
  ``alpha_weighted = alpha log10 max lambda``, ``log_alpha_norm = log10 sum lambda^alpha``,
  ``stable_rank = sum lambda / max lambda``; warning "over-trained" if alpha < 2, "under-trained" if > 6.

Layer selection follows ww's PyTorch layer typing: ``isinstance`` of nn.Linear / Conv1d / Conv2d /
Embedding, or the substrings "linear", "conv1d", "conv2d", "embedding" in ``str(type(module)).lower()``
(so dlzoo's own ``dlzoo.nn.Linear`` etc. count), with a ``weight`` tensor.

Vectorised: the matrices of one layer are a batch ``(S, n, m)``; the eigenvalues are those of the
batched Gram matrices ``W^T W`` (the smaller side) from one ``torch.linalg.eigvalsh`` call in float64.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from .powerlaw_fit import EVALS_THRESH, fit_power_law

__all__ = ["LayerSpectrum", "weight_spectra", "layer_esd", "layer_kind", "MIN_EVALS", "MAX_EVALS", "MAX_N",
           "OVER_TRAINED_THRESH", "UNDER_TRAINED_THRESH"]

MIN_EVALS = 8
MAX_EVALS = 15000
MAX_N = 50000
OVER_TRAINED_THRESH = 2.0
UNDER_TRAINED_THRESH = 6.0
CONV2D_NORM = math.sqrt(1 / 2)  # ww: W * sqrt(conv2d_count / 2) with conv2d_count = 1


@dataclass
class LayerSpectrum:
    """Spectral metrics of one layer (weightwatcher's ``details`` row); ``evals`` is the sorted ESD."""

    name: str
    type: str  # "dense" | "conv1d" | "conv2d" | "embedding"
    shape: tuple[int, ...]
    num_evals: int
    alpha: float
    alpha_weighted: float
    log_norm: float
    log_spectral_norm: float
    stable_rank: float
    xmin: float
    D: float
    warning: str
    log_alpha_norm: float = float("nan")
    sigma: float = float("nan")
    num_pl_spikes: int = -1
    N: int = 0
    M: int = 0
    rf: int = 1
    evals: Tensor = field(default_factory=lambda: torch.empty(0), repr=False)

    def as_dict(self) -> dict[str, object]:
        """The scalar fields (everything but ``evals``), JSON-ready."""
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items() if k != "evals"}


def layer_kind(module: nn.Module) -> str | None:
    """ww's type of a module: "dense", "conv1d", "conv2d", "embedding" or None (not analysed)."""
    typestr = str(type(module)).lower()
    if isinstance(module, nn.Linear) or "linear" in typestr:
        return "dense"
    if isinstance(module, nn.Conv1d) or "conv1d" in typestr:
        return "conv1d"
    if isinstance(module, nn.Conv2d) or "conv2d" in typestr:
        return "conv2d"
    if isinstance(module, nn.Embedding) or "embedding" in typestr:
        return "embedding"
    return None


_NDIM = {"dense": 2, "embedding": 2, "conv1d": 3, "conv2d": 4}


def _matrices(kind: str, w: Tensor) -> tuple[Tensor, int, int, int, int]:
    """(batch of matrices (S, n, m), N, M, rf, n_comp) as ww slices the weight of a layer of ``kind``."""
    if kind in ("dense", "embedding"):
        return w[None], max(w.shape), min(w.shape), 1, min(w.shape)
    if kind == "conv1d":  # (out, in, k): ww's batched SVD over out -> (out, in, k) matrices
        return w, max(w.shape), min(w.shape), 1, min(w.shape)
    out_c, in_c, kh, kw = w.shape
    rf = kh * kw
    mats = w.double().permute(2, 3, 0, 1).reshape(rf, out_c, in_c) * CONV2D_NORM  # (kh*kw, out, in)
    if out_c + in_c >= kh + kw:
        # ww swaps (N, M) once per slice when out < in, so the pair ends swapped iff kh*kw is odd
        swapped = out_c < in_c and rf % 2 == 1
        N, M = (in_c, out_c) if swapped else (out_c, in_c)
    else:  # ww's "channels first detected" branch keeps (out, in)
        N, M = out_c, in_c
    return mats, N, M, rf, M * rf


def layer_esd(mats: Tensor, n_comp: int | None = None) -> Tensor:
    """Pooled squared singular values of a batch of matrices (S, n, m), ascending, float64.

    Eigenvalues of the Gram matrices of the smaller side, clamped at 0; with ``n_comp`` only the largest
    ``n_comp`` values are kept (ww's top-``n_comp`` selection).
    """
    mats = mats.detach().double()
    if mats.shape[-2] >= mats.shape[-1]:
        gram = mats.transpose(-2, -1) @ mats  # (S, m, m)
    else:
        gram = mats @ mats.transpose(-2, -1)  # (S, n, n)
    evals = torch.linalg.eigvalsh(gram).clamp_min(0).reshape(-1)  # (S * min(n, m),)
    evals = torch.sort(evals).values
    return evals if n_comp is None else evals[-n_comp:]


def _warning(alpha: float) -> str:
    if alpha < OVER_TRAINED_THRESH:
        return "over-trained"
    if alpha > UNDER_TRAINED_THRESH:
        return "under-trained"
    return ""


def _spectrum(name: str, kind: str, w: Tensor, evals_thresh: float, n: int, m: int, rf: int,
              mats: Tensor, n_comp: int) -> LayerSpectrum:
    # ww keeps all singular values except for conv1d, where it keeps the top n_comp of the batch
    evals = layer_esd(mats, n_comp if kind == "conv1d" else None)
    fit = fit_power_law(evals, evals_thresh)
    total, top = float(evals.sum()), float(evals.max())
    log_spec = math.log10(top) if top > 0 else -math.inf
    alpha = fit.alpha
    with torch.no_grad():
        alpha_norm = float(torch.pow(evals, alpha).sum())
    return LayerSpectrum(
        name=name, type=kind, shape=tuple(w.shape), num_evals=evals.numel(), alpha=alpha,
        alpha_weighted=alpha * log_spec, log_norm=math.log10(total) if total > 0 else -math.inf,
        log_spectral_norm=log_spec, stable_rank=total / top if top > 0 else math.nan, xmin=fit.xmin,
        D=fit.D, warning=_warning(alpha),
        log_alpha_norm=math.log10(alpha_norm) if alpha_norm > 0 else -math.inf,
        sigma=fit.sigma, num_pl_spikes=fit.num_pl_spikes, N=n, M=m, rf=rf, evals=evals.cpu())


@torch.no_grad()
def weight_spectra(model: nn.Module, min_evals: int = MIN_EVALS, max_evals: int = MAX_EVALS,
                   max_N: int = MAX_N, evals_thresh: float = EVALS_THRESH) -> list[LayerSpectrum]:
    """ESD and power-law fit of every analysable layer of ``model``, in ``named_modules`` order.

    Args:
        model: any ``nn.Module``; its weights are read, never changed.
        min_evals / max_evals: skip layers whose pooled ESD (M * kh * kw values) is outside this range.
        max_N: skip layers whose larger side exceeds this.
        evals_thresh: eigenvalues at or below are left out of the power-law fit (not out of the norms).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"weight_spectra: expected an nn.Module, got {type(model).__name__}")
    out: list[LayerSpectrum] = []
    for name, module in model.named_modules():
        kind = layer_kind(module)
        w = getattr(module, "weight", None)
        if kind is None or not isinstance(w, Tensor) or w.dim() != _NDIM[kind] or w.numel() == 0:
            continue
        mats, n, m, rf, n_comp = _matrices(kind, w)
        if m * rf < min_evals or (max_evals and m * rf > max_evals) or n > max_N:
            continue
        out.append(_spectrum(name, kind, w, evals_thresh, n, m, rf, mats, n_comp))
    return out
