"""Norm factory: build any registered norm by name, class or partial (timm's ``get_norm_layer`` idea).

Every norm builder is registered in :data:`NORMS` as ``builder(num_features, *, channels_first=False,
**kw) -> nn.Module``. ``channels_first=True`` asks for the variant that normalizes dim 1 of an
(N, C, *spatial) tensor (what convnets need); builders without one raise ``ValueError``.

    create_norm("dyt", 384)                       # DyT(384)
    create_norm("layernorm", 96, channels_first=True)  # LayerNorm2d(96)
    make = get_norm_layer("rmsnorm"); make(64)    # a callable models keep and call per layer
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from torch import nn

from ..registry import Registry
from .dyt import DyT
from .norms import LayerNorm, LayerNorm2d, RMSNorm

__all__ = ["NORMS", "create_norm", "get_norm_layer", "NormSpec"]

NormBuilder = Callable[..., nn.Module]
NormSpec = str | type | functools.partial | Callable[..., nn.Module] | None

NORMS: Registry[NormBuilder] = Registry("norm")


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


def create_norm(name: NormSpec, num_features: int, *, channels_first: bool = False, **kw: Any) -> nn.Module:
    """Build one norm layer for ``num_features`` channels from a name, class or partial."""
    return get_norm_layer(name, channels_first=channels_first, **kw)(num_features)


def get_norm_layer(spec: NormSpec, *, channels_first: bool = False, **kw: Any) -> Callable[[int], nn.Module]:
    """Resolve ``spec`` to a callable ``make(num_features) -> nn.Module``.

    ``spec`` is a registered name (case-insensitive, '-'/'_' ignored), a class or partial taking the
    channel count first, or ``None``/``"identity"`` for no normalization.
    """
    if spec is None or (isinstance(spec, str) and spec.lower() in ("identity", "none")):
        return lambda num_features: nn.Identity()
    if isinstance(spec, str):
        key = spec.lower().replace("-", "").replace("_", "")
        builder = NORMS.get(key)
        return lambda num_features: builder(num_features, channels_first=channels_first, **kw)
    if callable(spec):
        return functools.partial(spec, **kw) if kw else spec
    raise TypeError(f"norm_layer must be a name, class or partial, got {type(spec).__name__}")
