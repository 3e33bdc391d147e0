"""Input/output mapping of normalization layers ("S-curves").

Zhu, Chen, He, LeCun, Liu, "Transformers without Normalization", CVPR 2025, arXiv:2503.10622,
Figures 1-2: plotting each LayerNorm's input x against its output y (before the affine
transform) on a batch of real data shows, in deeper layers, tanh-like S-shaped curves: most points
follow a line, but the extreme inputs are squashed. DyT(x) = gamma * tanh(alpha * x) + beta builds that
shape in explicitly.

:func:`collect_norm_io` records (x, y) of every norm layer with forward hooks (one forward pass, no
change to the model), optionally undoing the per-channel affine (``y -> (y - beta) / gamma``) and
subsampling matched points. :func:`tail_stats` quantifies the squashing:

* ``central_slope`` k and intercept c: least squares ``y = k x + c`` over the central half of the points
  (``|x| <= median |x|``), the linear regime;
* ``tail_slope``: least squares slope over the extreme 5% (``|x| >= q95 |x|``);
* ``compression = tail_slope / central_slope``: 1 for a linear map, below 1 when extremes are squashed
  (about 0 for a saturated tanh);
* ``squashed_fraction``: share of all points with ``|x| > median |x|`` whose output is under half of
  what the central line predicts, ``|y - c| < 0.5 |k x|`` (the "saturated tail").
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

__all__ = [
    "NormIO",
    "norm_layer_types",
    "find_norm_layers",
    "collect_norm_io",
    "remove_affine",
    "run_with_forward_hooks",
    "tail_stats",
]


@dataclass
class NormIO:
    """Matched, flattened input/output samples of one norm layer. ``x``, ``y``: (P,) float32 CPU."""

    x: Tensor
    y: Tensor
    layer_type: str
    affine_removed: bool


@functools.lru_cache(maxsize=1)
def norm_layer_types() -> tuple[type, ...]:
    """Classes counted as norm layers: every ``dlzoo.nn.NORMS`` product, dlzoo/torch norm classes."""
    from .. import nn as dnn

    types: set[type] = {
        nn.LayerNorm, nn.GroupNorm, nn.LocalResponseNorm, nn.RMSNorm,
        nn.modules.batchnorm._BatchNorm, nn.modules.instancenorm._InstanceNorm,
    }
    for name in dnn.__all__:
        obj = getattr(dnn, name, None)
        is_norm = "Norm" in name or name in ("DyT", "Derf")
        if isinstance(obj, type) and issubclass(obj, nn.Module) and is_norm:
            types.add(obj)
    for key in dnn.NORMS.names():
        for channels_first in (False, True):
            try:
                types.add(type(dnn.NORMS.get(key)(4, channels_first=channels_first)))
            except Exception:  # builder without this variant or needing extra args: skip it
                continue
    types.discard(nn.Identity)
    return tuple(sorted(types, key=lambda t: t.__qualname__))


def find_norm_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """(qualified name, module) of every norm layer in ``model``, in registration (depth) order."""
    types = norm_layer_types()
    return [(name, m) for name, m in model.named_modules() if isinstance(m, types)]


def _channel_axis(module: nn.Module, y: Tensor) -> tuple[int, ...] | None:
    """Dims the affine parameters live on (as negative or positive dims), or None if unknown."""
    from ..nn import LayerNorm2d

    if hasattr(module, "channels_last"):
        return (-1,) if module.channels_last else (1,)
    if isinstance(module, LayerNorm2d | nn.GroupNorm | nn.modules.batchnorm._NormBase):
        return (1,)
    shape = getattr(module, "normalized_shape", None)
    if isinstance(shape, tuple | list | torch.Size):
        return tuple(range(-len(shape), 0))
    return None


def remove_affine(module: nn.Module, y: Tensor) -> tuple[Tensor, bool]:
    """Undo ``y = gamma * u + beta`` per channel; returns (u, done). Channels with |gamma| < 1e-6 -> nan."""
    weight, bias = getattr(module, "weight", None), getattr(module, "bias", None)
    if not isinstance(weight, Tensor) and not isinstance(bias, Tensor):
        return y, True  # no affine: the output is already the normalized value
    dims = _channel_axis(module, y)
    if dims is None:
        return y, False
    ref = weight if isinstance(weight, Tensor) else bias
    if len(dims) == 1 and dims[0] >= 0:
        view = [1] * y.dim()
        view[dims[0]] = ref.numel()  # (1, C, 1, ...) for channels-first
    else:
        view = list(ref.shape)  # trailing dims broadcast as they are
    u = y
    if isinstance(bias, Tensor):
        u = u - bias.detach().reshape(view)
    if isinstance(weight, Tensor):
        w = weight.detach().reshape(view)
        u = torch.where(w.abs() > 1e-6, u / w, torch.full_like(u, float("nan")))
    return u, True


def run_with_forward_hooks(
    model: nn.Module,
    inputs: Any,
    modules: Iterable[tuple[str, nn.Module]],
    hook: Callable[[str, nn.Module, tuple, Any], None],
) -> None:
    """Call ``model(inputs)`` once in eval mode with ``hook(name, module, args, output)`` on each of
    ``modules``; the hooks are removed and the model's train/eval mode restored even if it raises."""
    handles = [m.register_forward_hook(functools.partial(hook, n)) for n, m in modules]
    was_training = model.training
    try:
        model.eval()
        model(inputs)
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)


@torch.no_grad()
def collect_norm_io(
    model: nn.Module,
    inputs: Tensor,
    max_points: int | None = 4000,
    pre_affine: bool = True,
    seed: int = 0,
    layers: list[str] | None = None,
) -> dict[str, NormIO]:
    """Run ``model(inputs)`` once in eval mode and return each norm layer's (input, output) samples.

    Args:
        model: any module containing norm layers (see :func:`norm_layer_types`).
        inputs: a batch the model accepts.
        max_points: random matched subsample per layer (None: keep every element).
        pre_affine: report the output before the per-channel affine, as in the paper's figures.
        seed: seed of the subsampling generator.
        layers: restrict to these qualified names.
    """
    found = [(n, m) for n, m in find_norm_layers(model) if layers is None or n in layers]
    if not found:
        raise ValueError(f"collect_norm_io: {type(model).__name__} has no norm layers")
    captured: dict[str, NormIO] = {}
    gen = torch.Generator().manual_seed(seed)

    def hook(name: str, module: nn.Module, args: tuple, output: Tensor) -> None:
        x, y = args[0].detach(), output.detach()
        if x.shape != y.shape:
            raise ValueError(f"collect_norm_io: {name}: input {list(x.shape)} vs output {list(y.shape)}")
        removed = False
        if pre_affine:
            y, removed = remove_affine(module, y)
        x, y = x.reshape(-1).float().cpu(), y.reshape(-1).float().cpu()  # (P,)
        keep = torch.isfinite(y)
        x, y = x[keep], y[keep]
        if max_points is not None and x.numel() > max_points:
            idx = torch.randperm(x.numel(), generator=gen)[:max_points]
            x, y = x[idx], y[idx]
        captured[name] = NormIO(x, y, type(module).__name__, removed)

    run_with_forward_hooks(model, inputs, found, hook)
    return {n: captured[n] for n, _ in found if n in captured}


def _lstsq(x: Tensor, y: Tensor) -> tuple[float, float]:
    """Slope and intercept of the least-squares line y = k x + c (float64)."""
    x, y = x.double(), y.double()
    xm, ym = x.mean(), y.mean()
    var = ((x - xm) ** 2).sum()
    k = float(((x - xm) * (y - ym)).sum() / var) if var > 0 else 0.0
    return k, float(ym - k * xm)


def tail_stats(x: Tensor, y: Tensor) -> dict[str, float]:
    """Central slope, tail slope, compression and squashed fraction of a scatter (module docstring)."""
    if x.numel() < 20:
        raise ValueError(f"tail_stats: need at least 20 points, got {x.numel()}")
    x, y = x.double().reshape(-1), y.double().reshape(-1)
    ax = x.abs()
    med, q95 = torch.quantile(ax, 0.5), torch.quantile(ax, 0.95)
    central = ax <= med
    k, c = _lstsq(x[central], y[central])
    tail = ax >= q95
    k_tail, _ = _lstsq(x[tail], y[tail])
    squashed = (ax > med) & ((y - c).abs() < 0.5 * abs(k) * ax)
    return {
        "central_slope": k,
        "intercept": c,
        "tail_slope": k_tail,
        "compression": k_tail / k if k != 0 else float("nan"),
        "squashed_fraction": float(squashed.double().mean()),
    }
