"""Per-layer activation statistics of a model on one batch (forward hooks, model unchanged).

For the output ``y`` of every selected module (default: the norm layers and the activation functions):

* ``mean``, ``std`` (population), ``abs_max`` over all elements;
* ``frac_zero``: share of exact zeros (dead ReLU units);
* ``frac_outlier``: share of elements more than 3 std from the mean;
* ``frac_saturated`` (DyT only): share of ``tanh(alpha x)`` with magnitude above 0.95, i.e. inputs in the
  flat part of tanh (``|alpha x| > atanh(0.95) ~ 1.83``), where the layer's gradient is below 10% of its
  peak (Zhu et al., "Transformers without Normalization", arXiv:2503.10622).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from .scurve import find_norm_layers, run_with_forward_hooks

__all__ = ["activation_stats", "ACTIVATION_TYPES", "SATURATION_LEVEL"]

SATURATION_LEVEL = 0.95
ACTIVATION_TYPES: tuple[type, ...] = (nn.ReLU, nn.ReLU6, nn.GELU, nn.SiLU, nn.Tanh, nn.Sigmoid, nn.LeakyReLU,
                                      nn.Hardswish, nn.Mish)


def _activation_types() -> tuple[type, ...]:
    from ..nn import activations as acts

    ours = tuple(getattr(acts, n) for n in getattr(acts, "__all__", []) if isinstance(getattr(acts, n), type))
    return ACTIVATION_TYPES + ours


def _stats(module: nn.Module, x: Tensor, y: Tensor) -> dict[str, float]:
    y = y.detach().double()
    mean, std = y.mean(), y.std(unbiased=False)
    out = {
        "mean": float(mean), "std": float(std), "abs_max": float(y.abs().max()),
        "frac_zero": float((y == 0).double().mean()),
        "frac_outlier": float(((y - mean).abs() > 3 * std).double().mean()) if std > 0 else 0.0,
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
