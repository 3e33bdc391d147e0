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

Which points may be pooled depends on the layer. A per-token norm (LayerNorm, RMSNorm) maps each token
linearly, ``y = (x - mu_t) / sigma_t``, with statistics that differ between tokens, so pooling tokens shows
the paper's S-shape; DyT is one element-wise function for every element. A norm with per-channel statistics
(BatchNorm, whose eval map ``y_c = (x - mu_c) / sqrt(var_c + eps)`` is exactly linear per channel; GroupNorm
and InstanceNorm, linear per (sample, group or channel)) gives one line per channel, and pooling channels
with different slopes reads as spurious "squashing". Such layers are collected with a stratified per-channel
subsample (``NormIO.grouping == "channel"``, ``NormIO.channel`` holds each point's channel) and
:func:`layer_stats` summarises them channel by channel (median of the per-channel statistics, the worst
per-channel linear R^2, and the pooled numbers kept as ``pooled_*`` to show the artefact).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

__all__ = [
    "NormIO",
    "norm_layer_types",
    "per_channel_stat_types",
    "find_norm_layers",
    "collect_norm_io",
    "remove_affine",
    "run_with_forward_hooks",
    "tail_stats",
    "linear_fit",
    "layer_stats",
]


@dataclass
class NormIO:
    """Matched, flattened input/output samples of one norm layer.

    ``x``, ``y``: (P,) float32 CPU; ``channel``: (P,) int64 channel (feature) index of each point, or None
    when the layer's channel axis is unknown; ``grouping``: ``"channel"`` for layers with per-channel
    statistics (summarise per channel), ``"token"`` otherwise (points may be pooled).
    """

    x: Tensor
    y: Tensor
    layer_type: str
    affine_removed: bool
    channel: Tensor | None = None
    grouping: str = "token"


@functools.lru_cache(maxsize=1)
def norm_layer_types() -> tuple[type, ...]:
    """Classes counted as norm layers: every ``dlzoo.nn.NORMS`` product, dlzoo/torch norm classes."""
    from .. import nn as dnn

    types: set[type] = {
        nn.LayerNorm,
        nn.GroupNorm,
        nn.LocalResponseNorm,
        nn.RMSNorm,
        nn.modules.batchnorm._BatchNorm,
        nn.modules.instancenorm._InstanceNorm,
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


@functools.lru_cache(maxsize=1)
def per_channel_stat_types() -> tuple[type, ...]:
    """Norm classes whose statistics are per channel (BatchNorm, GroupNorm, InstanceNorm; torch and dlzoo)."""
    from ..nn import batchnorm, groupnorm

    return (nn.modules.batchnorm._NormBase, nn.GroupNorm, batchnorm._BatchNorm, groupnorm.GroupNorm)


def find_norm_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """(qualified name, module) of every norm layer in ``model``, in registration (depth) order."""
    types = norm_layer_types()
    return [(name, m) for name, m in model.named_modules() if isinstance(m, types)]


def _channel_axis(module: nn.Module, y: Tensor) -> tuple[int, ...] | None:
    """Dims the affine parameters live on (as negative or positive dims), or None if unknown."""
    from ..nn import BatchNormChannelsLast, GroupNormChannelsLast, LayerNorm2d

    if hasattr(module, "channels_last"):
        return (-1,) if module.channels_last else (1,)
    if isinstance(module, BatchNormChannelsLast | GroupNormChannelsLast):
        return (-1,)
    if isinstance(module, (LayerNorm2d, *per_channel_stat_types())):
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
    ``modules``; the hooks are removed and every submodule's own train/eval flag restored (a submodule
    kept in eval inside a training model stays in eval) even if it raises."""
    handles = [m.register_forward_hook(functools.partial(hook, n)) for n, m in modules]
    modes = [(m, m.training) for m in model.modules()]
    try:
        model.eval()
        model(inputs)
    finally:
        for h in handles:
            h.remove()
        for m, mode in modes:
            m.training = mode


def _channel_index(shape: torch.Size, dims: tuple[int, ...] | None) -> Tensor | None:
    """(*shape) int64 tensor holding each element's channel (flattened over ``dims``), or None."""
    if dims is None or len(shape) == 0:
        return None
    dims = tuple(d % len(shape) for d in dims)
    sizes = [shape[d] for d in dims]
    view = [1] * len(shape)
    for d in dims:
        view[d] = shape[d]
    idx = torch.arange(math.prod(sizes)).reshape(view)  # row-major over dims: feature index
    return idx.expand(shape)


def _per_channel_sample(
    x: Tensor, y: Tensor, dim: int, max_points: int | None, min_per_channel: int, gen: torch.Generator
) -> tuple[Tensor, Tensor, Tensor]:
    """Stratified subsample: the same k random positions of every channel, k = max(ceil(max_points / C),
    min_per_channel) (all positions when there are fewer). Returns flat (x, y, channel), each (C * k,)."""
    xc = x.movedim(dim, 0).reshape(x.shape[dim], -1)  # (C, M)
    yc = y.movedim(dim, 0).reshape(x.shape[dim], -1)  # (C, M)
    c, m = xc.shape
    if max_points is not None:
        k = min(m, max(math.ceil(max_points / c), min_per_channel))
        if k < m:
            idx = torch.randperm(m, generator=gen)[:k]
            xc, yc = xc[:, idx], yc[:, idx]
    ch = torch.arange(c).repeat_interleave(xc.shape[1])  # (C * k,)
    return xc.reshape(-1), yc.reshape(-1), ch


@torch.no_grad()
def collect_norm_io(
    model: nn.Module,
    inputs: Tensor,
    max_points: int | None = 4000,
    pre_affine: bool = True,
    seed: int = 0,
    layers: list[str] | None = None,
    min_per_channel: int = 32,
) -> dict[str, NormIO]:
    """Run ``model(inputs)`` once in eval mode and return each norm layer's (input, output) samples.

    Args:
        model: any module containing norm layers (see :func:`norm_layer_types`).
        inputs: a batch the model accepts.
        max_points: random matched subsample per layer (None: keep every element). Layers with per-channel
            statistics (:func:`per_channel_stat_types`) keep the same random positions of every channel,
            at least ``min_per_channel`` per channel, so that each channel can be summarised on its own.
        pre_affine: report the output before the per-channel affine, as in the paper's figures.
        seed: seed of the subsampling generator.
        layers: restrict to these qualified names.
        min_per_channel: lower bound of the per-channel sample of per-channel-statistics layers.
    """
    found = [(n, m) for n, m in find_norm_layers(model) if layers is None or n in layers]
    if not found:
        raise ValueError(f"collect_norm_io: {type(model).__name__} has no norm layers")
    captured: dict[str, NormIO] = {}
    gen = torch.Generator().manual_seed(seed)
    per_channel = per_channel_stat_types()

    def hook(name: str, module: nn.Module, args: tuple, output: Tensor) -> None:
        x, y = args[0].detach(), output.detach()
        if x.shape != y.shape:
            raise ValueError(f"collect_norm_io: {name}: input {list(x.shape)} vs output {list(y.shape)}")
        removed = False
        if pre_affine:
            y, removed = remove_affine(module, y)
        x, y = x.float().cpu(), y.float().cpu()
        dims = _channel_axis(module, y)
        by_channel = isinstance(module, per_channel) and dims is not None and len(dims) == 1
        grouping = "channel" if by_channel else "token"
        if grouping == "channel":
            x, y, ch = _per_channel_sample(x, y, dims[0], max_points, min_per_channel, gen)
        else:
            idx = _channel_index(x.shape, dims)
            ch = idx.reshape(-1) if idx is not None else None
            x, y = x.reshape(-1), y.reshape(-1)  # (P,)
        keep = torch.isfinite(y)
        x, y = x[keep], y[keep]
        ch = ch[keep] if ch is not None else None
        if grouping == "token" and max_points is not None and x.numel() > max_points:
            idx = torch.randperm(x.numel(), generator=gen)[:max_points]
            x, y = x[idx], y[idx]
            ch = ch[idx] if ch is not None else None
        captured[name] = NormIO(x, y, type(module).__name__, removed, ch, grouping)

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


def linear_fit(x: Tensor, y: Tensor) -> dict[str, float]:
    """Least-squares line ``y = slope x + intercept`` and its coefficient of determination
    ``r2 = 1 - SSE / SST`` (1 for an exactly linear map; 1 when y is constant and fitted exactly)."""
    k, c = _lstsq(x, y)
    x, y = x.double(), y.double()
    sse = float(((y - (k * x + c)) ** 2).sum())
    sst = float(((y - y.mean()) ** 2).sum())
    return {"slope": k, "intercept": c, "r2": 1.0 - sse / sst if sst > 0 else (1.0 if sse == 0 else 0.0)}


_TAIL_KEYS = ("central_slope", "intercept", "tail_slope", "compression", "squashed_fraction")


def layer_stats(io: NormIO, min_points: int = 20) -> dict[str, float]:
    """S-curve summary of one layer, honest about its grouping (module docstring).

    ``"token"`` layers: :func:`tail_stats` of the pooled points plus ``linear_r2`` of one line through them.
    ``"channel"`` layers: :func:`linear_fit` of every channel with at least 3 points and :func:`tail_stats`
    of those with at least ``min_points`` (nan when none has); ``central_slope``, ``intercept``,
    ``tail_slope`` and ``compression`` are medians over channels, ``squashed_fraction`` the mean,
    ``linear_r2`` the worst (smallest) per-channel R^2 and ``linear_r2_median`` the median;
    ``pooled_compression`` / ``pooled_squashed_fraction`` are what pooling the channels would (wrongly)
    report. ``num_channels`` counts the channels summarised (0: pooled).
    """
    if io.grouping != "channel" or io.channel is None:
        out = tail_stats(io.x, io.y)
        out.update(linear_r2=linear_fit(io.x, io.y)["r2"], num_channels=0.0)
        return out
    per: list[dict[str, float]] = []
    nan = float("nan")
    for c in torch.unique(io.channel).tolist():
        sel = io.channel == c
        if int(sel.sum()) < 3:
            continue
        xs, ys = io.x[sel], io.y[sel]
        st = tail_stats(xs, ys) if xs.numel() >= min_points else dict.fromkeys(_TAIL_KEYS, nan)
        st["linear_r2"] = linear_fit(xs, ys)["r2"]
        per.append(st)
    if not per:
        raise ValueError(f"layer_stats: no channel of this {io.layer_type} has 3 points")

    def med(key: str) -> float:
        vals = torch.tensor([p[key] for p in per], dtype=torch.float64)
        vals = vals[~torch.isnan(vals)]
        return float(vals.median()) if vals.numel() else float("nan")

    pooled = tail_stats(io.x, io.y) if io.x.numel() >= 20 else dict.fromkeys(_TAIL_KEYS, nan)
    squashed = [p["squashed_fraction"] for p in per if not math.isnan(p["squashed_fraction"])]
    return {
        "central_slope": med("central_slope"),
        "intercept": med("intercept"),
        "tail_slope": med("tail_slope"),
        "compression": med("compression"),
        "squashed_fraction": float(sum(squashed) / len(squashed)) if squashed else nan,
        "linear_r2": float(min(p["linear_r2"] for p in per)),
        "linear_r2_median": med("linear_r2"),
        "pooled_compression": pooled["compression"],
        "pooled_squashed_fraction": pooled["squashed_fraction"],
        "num_channels": float(len(per)),
    }
