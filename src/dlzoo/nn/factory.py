"""Norm factory: build any registered norm by name, class or partial (timm's ``get_norm_layer`` idea).

Every norm builder is registered in :data:`NORMS` as ``builder(num_features, *, channels_first=False,
**kw) -> nn.Module``. ``channels_first=True`` asks for the variant that normalizes dim 1 of an
(N, C, *spatial) tensor (what convnets need); builders without one raise ``ValueError``. Builders whose
class depends on the input rank also take ``spatial_dims`` (BatchNorm1d/2d/3d). This is the one norm
resolver of dlzoo: models, ``convert_norm`` and configs all go through :func:`get_norm_layer`.

    create_norm("dyt", 384)                            # DyT(384)
    create_norm("layernorm", 96, channels_first=True)  # LayerNorm2d(96)
    create_norm("batch-norm", 32, channels_first=True, spatial_dims=3)  # BatchNorm3d(32)
    make = get_norm_layer("rmsnorm"); make(64)         # a callable models keep and call per layer
    get_norm_layer(DyT, channels_first=True)(64)       # a dlzoo class routes through its builder too:
                                                       # DyT(64, channels_last=False)

Per-family defaults are data, not code: a model passes e.g. ``defaults={"layernorm": {"eps": 1e-6}}``
(ConvNeXt) and they apply only when that norm is the one resolved, under the caller's own kwargs.
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable
from typing import Any

from torch import nn

from ..registry import Registry
from .batchnorm import BatchNorm1d, BatchNorm2d, BatchNorm3d, BatchNormChannelsLast
from .derf import Derf
from .dyt import DyT
from .groupnorm import GroupNorm, GroupNormChannelsLast, InstanceNorm2d, LocalResponseNorm
from .norms import LayerNorm, LayerNorm2d, RMSNorm
from .norms_extra import BandRMS, LogitNorm, PartialRMSNorm

__all__ = ["NORMS", "create_norm", "get_norm_layer", "NormSpec"]

NormBuilder = Callable[..., nn.Module]
NormSpec = str | type | functools.partial | Callable[..., nn.Module] | None

NORMS: Registry[NormBuilder] = Registry("norm", loose_names=True)


def _no_channels_first(name: str) -> None:
    raise ValueError(f"norm {name!r} has no channels-first variant")


@NORMS.register("layernorm", family="norm", paper="Layer Normalization", year=2016, arxiv="1607.06450")
def _layernorm(num_features: int, *, channels_first: bool = False, **kw: Any) -> nn.Module:
    return LayerNorm2d(num_features, **kw) if channels_first else LayerNorm(num_features, **kw)


@NORMS.register("rmsnorm", family="norm", paper="Root Mean Square Layer Normalization", year=2019,
                arxiv="1910.07467")
def _rmsnorm(num_features: int, *, channels_first: bool = False, **kw: Any) -> nn.Module:
    if channels_first:
        _no_channels_first("rmsnorm")
    return RMSNorm(num_features, **kw)


@NORMS.register("dyt", family="norm", paper="Transformers without Normalization", year=2025,
                arxiv="2503.10622")
def _dyt(num_features: int, *, channels_first: bool = False, **kw: Any) -> nn.Module:
    return DyT(num_features, channels_last=not channels_first, **kw)


@NORMS.register("batchnorm", family="norm", paper="Batch Normalization", year=2015, arxiv="1502.03167")
def _batchnorm(num_features: int, *, channels_first: bool = False, spatial_dims: int = 2,
               **kw: Any) -> nn.Module:
    """BatchNorm1d/2d/3d for (N, C, *spatial) by ``spatial_dims``; channels-last (*, C) token tensors get
    per-channel statistics over every leading dim (:class:`BatchNormChannelsLast`, BatchNorm1d's
    parameters and buffers)."""
    if not channels_first:
        return BatchNormChannelsLast(num_features, **kw)
    classes = {1: BatchNorm1d, 2: BatchNorm2d, 3: BatchNorm3d}
    if spatial_dims not in classes:
        raise ValueError(f"norm 'batchnorm': spatial_dims must be 1, 2 or 3, got {spatial_dims!r}")
    return classes[spatial_dims](num_features, **kw)


@NORMS.register("batchnorm1d", family="norm", paper="Batch Normalization", year=2015, arxiv="1502.03167")
def _batchnorm1d(num_features: int, *, channels_first: bool = False, **kw: Any) -> nn.Module:
    """BatchNorm1d on (N, C) / (N, C, L) when channels_first; channels-last (*, C) as "batchnorm"."""
    return BatchNorm1d(num_features, **kw) if channels_first else BatchNormChannelsLast(num_features, **kw)


def default_num_groups(num_channels: int, max_groups: int = 32) -> int:
    """32 groups (Wu & He's default) when C allows it, else the largest divisor gcd(C, 32)."""
    return math.gcd(num_channels, max_groups)


@NORMS.register("groupnorm", family="norm", paper="Group Normalization", year=2018, arxiv="1803.08494")
def _groupnorm(num_features: int, *, channels_first: bool = False, num_groups: int | None = None,
               **kw: Any) -> nn.Module:
    """GroupNorm, ``num_groups`` default :func:`default_num_groups`; channels-last variant for tokens."""
    groups = default_num_groups(num_features) if num_groups is None else num_groups
    cls = GroupNorm if channels_first else GroupNormChannelsLast
    return cls(groups, num_features, **kw)


@NORMS.register("groupnorm1", family="norm", paper="Group Normalization", year=2018, arxiv="1803.08494")
def _groupnorm1(num_features: int, *, channels_first: bool = False, **kw: Any) -> nn.Module:
    """GroupNorm with a single group (statistics over C and all positions, as timm's GroupNorm1)."""
    return (GroupNorm if channels_first else GroupNormChannelsLast)(1, num_features, **kw)


@NORMS.register("instancenorm", family="norm", paper="Instance Normalization", year=2016,
                arxiv="1607.08022")
def _instancenorm(num_features: int, *, channels_first: bool = False, **kw: Any) -> nn.Module:
    if not channels_first:
        raise ValueError("norm 'instancenorm' works on channels-first (N, C, H, W) tensors only; "
                         "pass channels_first=True")
    return InstanceNorm2d(num_features, **kw)


@NORMS.register("lrn", family="norm", paper="ImageNet Classification with Deep Convolutional Neural Networks",
                year=2012, arxiv="NeurIPS 2012")
def _lrn(num_features: int, *, channels_first: bool = False, size: int = 5, **kw: Any) -> nn.Module:
    """LocalResponseNorm (AlexNet); ``num_features`` is unused (no parameters), channels-first only."""
    if not channels_first:
        raise ValueError("norm 'lrn' works on channels-first (N, C, *) tensors only; "
                         "pass channels_first=True")
    return LocalResponseNorm(size, **kw)


@NORMS.register("prmsnorm", family="norm", paper="Root Mean Square Layer Normalization (partial RMSNorm)",
                year=2019, arxiv="1910.07467")
def _prmsnorm(num_features: int, *, channels_first: bool = False, **kw: Any) -> nn.Module:
    if channels_first:
        _no_channels_first("prmsnorm")
    return PartialRMSNorm(num_features, **kw)


@NORMS.register("derf", family="norm", paper="Stronger Normalization-Free Transformers", year=2025,
                arxiv="2512.10938")
def _derf(num_features: int, *, channels_first: bool = False, **kw: Any) -> nn.Module:
    return Derf(num_features, channels_last=not channels_first, **kw)


@NORMS.register("bandrms", family="norm", paper="BandRMS (dl_techniques), on Root Mean Square Layer "
                "Normalization", year=2019, arxiv="1910.07467")
def _bandrms(num_features: int, *, channels_first: bool = False, **kw: Any) -> nn.Module:
    return BandRMS(num_features, channels_last=not channels_first, **kw)


@NORMS.register("logitnorm", family="norm", paper="Mitigating Neural Network Overconfidence with Logit "
                "Normalization", year=2022, arxiv="2205.09310")
def _logitnorm(num_features: int, *, channels_first: bool = False, **kw: Any) -> nn.Module:
    """LogitNorm over the channel dim; ``num_features`` is unused (no parameters)."""
    return LogitNorm(dim=1 if channels_first else -1, **kw)


# dlzoo norm classes -> their registered builder, so a class or partial given as ``norm_layer`` gets the
# layout the call site asks for (``channels_first``) instead of the class's own default
_BUILDER_OF_CLASS: dict[type, str] = {
    LayerNorm: "layernorm", LayerNorm2d: "layernorm", RMSNorm: "rmsnorm", DyT: "dyt", Derf: "derf",
    BandRMS: "bandrms", BatchNorm2d: "batchnorm", BatchNormChannelsLast: "batchnorm",
    GroupNormChannelsLast: "groupnorm", PartialRMSNorm: "prmsnorm",
}
_LAYOUT_KWARGS = ("channels_last",)


def create_norm(name: NormSpec, num_features: int, *, channels_first: bool = False, spatial_dims: int = 2,
                **kw: Any) -> nn.Module:
    """Build one norm layer for ``num_features`` channels from a name, class or partial."""
    return get_norm_layer(name, channels_first=channels_first, spatial_dims=spatial_dims, **kw)(num_features)


def norm_name(spec: NormSpec) -> str | None:
    """The registered name ``spec`` resolves to (``"Batch-Norm"`` -> ``"batchnorm"``, ``DyT`` -> ``"dyt"``),
    ``"identity"`` for no norm, ``None`` for a class or callable outside the registry."""
    if spec is None or (isinstance(spec, str) and spec.lower() in ("identity", "none")):
        return "identity"
    if isinstance(spec, str):
        return NORMS.resolve(spec)
    func = spec.func if isinstance(spec, functools.partial) else spec
    return _BUILDER_OF_CLASS.get(func) if isinstance(func, type) else None


def get_norm_layer(
    spec: NormSpec,
    *,
    channels_first: bool = False,
    spatial_dims: int = 2,
    defaults: dict[str, dict[str, Any]] | None = None,
    **kw: Any,
) -> Callable[[int], nn.Module]:
    """Resolve ``spec`` to a callable ``make(num_features) -> nn.Module``.

    Args:
        spec: a registered name (case, ``-`` and ``_`` ignored), a class or partial taking the channel
            count first, or ``None`` / ``"identity"`` for no normalization. dlzoo's own norm classes (and
            partials of them) go through their registered builder, so ``channels_first`` is honoured:
            ``get_norm_layer(DyT, channels_first=True)`` builds a channels-first DyT.
        channels_first: normalize dim 1 of (N, C, *spatial) instead of the last dim.
        spatial_dims: number of spatial dims of channels-first inputs (BatchNorm1d/2d/3d).
        defaults: per-norm default kwargs of the calling family, keyed by registered name, e.g.
            ``{"layernorm": {"eps": 1e-6}}``; used only for that norm and under ``kw``.
        **kw: forwarded to the norm's constructor.
    """
    name = norm_name(spec)
    if name == "identity":
        return lambda num_features: nn.Identity()
    kw = {**(defaults or {}).get(name, {}), **kw} if name is not None else kw
    if name is not None:
        if isinstance(spec, functools.partial):
            if spec.args:
                raise TypeError(f"norm_layer partial {spec!r}: give its arguments as keywords")
            kw = {**spec.keywords, **kw}
        for key in _LAYOUT_KWARGS:
            if key in kw and bool(value := kw.pop(key)) == channels_first:
                layout = "channels-first" if channels_first else "channels-last"
                raise ValueError(f"norm_layer {spec!r}: {key}={value} contradicts the {layout} layout "
                                 "needed here")
        builder = NORMS.get(name)
        if "spatial_dims" in inspect.signature(builder).parameters:
            kw["spatial_dims"] = spatial_dims
        return lambda num_features: builder(num_features, channels_first=channels_first, **kw)
    if callable(spec):
        return functools.partial(spec, **kw) if kw else spec
    raise TypeError(f"norm_layer must be a name, class or partial, got {type(spec).__name__}")
