"""Per-layer activation statistics of a model on one batch (forward hooks, model unchanged).

For the output ``y`` of every selected module (default: the norm layers and the activation functions):

* ``mean``, ``std`` (population), ``abs_max`` over all elements;
* ``frac_zero``: share of exact zeros (dead ReLU units);
* ``frac_outlier``: share of elements more than 3 std from the mean;
* ``frac_saturated`` (DyT only): share of ``tanh(alpha x)`` with magnitude above 0.95, i.e. inputs in the
  flat part of tanh (``|alpha x| > atanh(0.95) ~ 1.83``), where the layer's gradient is below 10% of its
  peak (Zhu et al., "Transformers without Normalization", arXiv:2503.10622).
* ``kurtosis``: excess kurtosis ``m4 / m2^2 - 3`` with population moments over all elements
  (``scipy.stats.kurtosis`` with its defaults; 0 for a Gaussian, large for outlier-heavy features).

Per unit, with the feature axis = dim 1 of 4-D/5-D outputs (N, C, ...) and the last dim otherwise, and the
feature matrix ``F`` (S samples = all other positions, C units), centred per unit:

* ``dead_units``: share of units that are exactly 0 on every sample of the batch;
* ``effective_rank``: ``exp(-sum_k p_k ln p_k)``, ``p_k = s_k / sum s`` over the singular values ``s`` of F
  (Roy & Vetterli, "The effective rank: a measure of effective dimensionality", EUSIPCO 2007);
* ``participation_ratio``: ``(sum_k l_k)^2 / sum_k l_k^2`` over the eigenvalues of the covariance F^T F / S
  (Gao et al., "A theory of multineuronal dimensionality, dynamics and measurement", bioRxiv 2017).
Both lie in [1, C]: 1 when one direction carries all the variance, C when all directions are equal.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from .scurve import find_norm_layers, run_with_forward_hooks

__all__ = ["activation_stats", "feature_matrix", "effective_rank", "participation_ratio", "ACTIVATION_TYPES",
           "SATURATION_LEVEL"]

SATURATION_LEVEL = 0.95
ACTIVATION_TYPES: tuple[type, ...] = (nn.ReLU, nn.ReLU6, nn.GELU, nn.SiLU, nn.Tanh, nn.Sigmoid, nn.LeakyReLU,
                                      nn.Hardswish, nn.Mish)


def _activation_types() -> tuple[type, ...]:
    from ..nn import activations as acts

    ours = tuple(getattr(acts, n) for n in getattr(acts, "__all__", []) if isinstance(getattr(acts, n), type))
    return ACTIVATION_TYPES + ours


def feature_matrix(y: Tensor) -> Tensor:
    """(S, C) view of an activation: C = dim 1 of (N, C, ...) outputs with 4+ dims, else the last dim."""
    if y.dim() >= 4:
        y = y.movedim(1, -1)  # (N, ..., C)
    return y.reshape(-1, y.shape[-1]) if y.dim() >= 2 else y.reshape(-1, 1)


def _covariance_eigenvalues(f: Tensor) -> Tensor:
    f = f.double() - f.double().mean(dim=0, keepdim=True)  # (S, C) centred per unit
    return torch.linalg.eigvalsh(f.T @ f / f.shape[0]).clamp_min(0)  # (C,)


def effective_rank(f: Tensor) -> float:
    """Roy & Vetterli (2007): ``exp(entropy of s / sum s)``, s the singular values of centred ``f`` (S, C)."""
    s = _covariance_eigenvalues(f).sqrt()
    if float(s.sum()) == 0:
        return 0.0
    p = s / s.sum()
    p = p[p > 0]
    return float(torch.exp(-(p * p.log()).sum()))


def participation_ratio(f: Tensor) -> float:
    """``(sum l)^2 / sum l^2`` over the covariance eigenvalues of ``f`` (S, C); 0 for constant features."""
    lam = _covariance_eigenvalues(f)
    denom = float((lam**2).sum())
    return float(lam.sum() ** 2 / denom) if denom > 0 else 0.0


def _stats(module: nn.Module, x: Tensor, y: Tensor) -> dict[str, float]:
    y = y.detach().double()
    mean, std = y.mean(), y.std(unbiased=False)
    centred = y - mean
    m2 = (centred**2).mean()
    f = feature_matrix(y)  # (S, C)
    out = {
        "mean": float(mean), "std": float(std), "abs_max": float(y.abs().max()),
        "frac_zero": float((y == 0).double().mean()),
        "frac_outlier": float(((y - mean).abs() > 3 * std).double().mean()) if std > 0 else 0.0,
        "kurtosis": float((centred**4).mean() / m2**2 - 3) if m2 > 0 else float("nan"),
        "dead_units": float((f == 0).all(dim=0).double().mean()),
        "effective_rank": effective_rank(f), "participation_ratio": participation_ratio(f),
        "num_units": float(f.shape[1]),
    }
    alpha = getattr(module, "alpha", None)
    if isinstance(alpha, Tensor) and alpha.numel() == 1:
        u = torch.tanh(alpha.detach().double() * x.detach().double())
        out["frac_saturated"] = float((u.abs() > SATURATION_LEVEL).double().mean())
    return out


@torch.no_grad()
def activation_stats(
    model: nn.Module, inputs: Any, modules: list[str] | None = None
) -> dict[str, dict[str, float]]:
    """``{module name: stats}`` for the selected modules, in forward order, from one eval-mode pass."""
    if modules is None:
        selected = dict(find_norm_layers(model))
        types = _activation_types()
        selected.update({n: m for n, m in model.named_modules() if isinstance(m, types)})
    else:
        named = dict(model.named_modules())
        missing = [n for n in modules if n not in named]
        if missing:
            raise ValueError(f"activation_stats: {type(model).__name__} has no modules {missing}")
        selected = {n: named[n] for n in modules}
    captured: dict[str, dict[str, float]] = {}

    def hook(name: str, module: nn.Module, args: tuple, output: Any) -> None:
        if name not in captured and isinstance(output, Tensor) and args and isinstance(args[0], Tensor):
            captured[name] = _stats(module, args[0], output)

    run_with_forward_hooks(model, inputs, selected.items(), hook)
    return captured
