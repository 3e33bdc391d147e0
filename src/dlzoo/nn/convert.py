"""``convert_norm``: recursively swap the normalization layers of a model for another norm.

The DyT paper (Zhu et al., "Transformers without Normalization", CVPR 2025, arXiv:2503.10622) converts a
trained-from-scratch architecture by replacing every LayerNorm with a fresh DyT (its
``convert_ln_to_dyt``); channels-first LayerNorm2d becomes a channels-first DyT. This generalises that to
any registered norm on either side:

    report = convert_norm(model, "dyt")                       # every norm -> DyT (paper's conversion)
    report = convert_norm(model, "dyt", source="batchnorm")   # BatchNorm only -> channels-first DyT
    report = convert_norm(model, "rmsnorm", source="layernorm", copy_affine=True)
    model = report.module; print(report)

For each source layer the channel count and layout are read off the layer (LayerNorm/RMSNorm/
BatchNormChannelsLast: channels-last ``(*, C)``; BatchNorm/GroupNorm/InstanceNorm/LayerNorm2d:
channels-first ``(N, C, *)``), the target is built with ``get_norm_layer(to, channels_first=...)``, put
on the source's device and dtype and in its train/eval mode. Layers the target cannot replace (a
LayerNorm over several trailing dims, a target without the needed layout) are left alone and listed in
``report.skipped`` with the reason. With ``copy_affine=True`` the per-channel ``weight``/``bias`` are
copied where both layers have them with equal shapes; otherwise the target starts from its own init.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..registry import canonical_name
from . import batchnorm as bn
from . import groupnorm as gn
from .derf import Derf
from .dyt import DyT
from .factory import NormSpec, get_norm_layer, norm_name
from .norms import LayerNorm, LayerNorm2d, RMSNorm
from .norms_extra import BandRMS, PartialRMSNorm

__all__ = ["NORM_SOURCES", "NormConversionReport", "Replacement", "convert_norm"]

# source name -> classes it matches (torch's own layers included, so torch models convert too)
NORM_SOURCES: dict[str, tuple[type, ...]] = {
    "layernorm": (nn.LayerNorm, LayerNorm),  # LayerNorm2d is a LayerNorm subclass
    "rmsnorm": (nn.RMSNorm, RMSNorm),
    "batchnorm": (nn.modules.batchnorm._BatchNorm, bn.BatchNorm1d, bn.BatchNorm2d, bn.BatchNorm3d,
                  bn.BatchNormChannelsLast),
    "groupnorm": (nn.GroupNorm, gn.GroupNorm),
    "instancenorm": (nn.modules.instancenorm._InstanceNorm, gn.InstanceNorm2d),
    "dyt": (DyT,),
    "derf": (Derf,),
    "prmsnorm": (PartialRMSNorm,),
    "bandrms": (BandRMS,),
}


@dataclass(frozen=True)
class Replacement:
    """One swapped layer: qualified name, old and new class names, channels, layout, what was copied."""

    name: str
    source: str
    target: str
    num_features: int
    channels_first: bool
    copied: tuple[str, ...] = ()


@dataclass
class NormConversionReport:
    """What :func:`convert_norm` did. ``module`` is the converted model (a new object only when the root
    module itself was a norm); ``replaced`` and ``skipped`` list the layers touched / left alone."""

    module: nn.Module
    replaced: list[Replacement] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.replaced)

    def counts(self) -> dict[str, int]:
        """``"Source -> Target"`` -> number of layers."""
        out: dict[str, int] = {}
        for r in self.replaced:
            key = f"{r.source} -> {r.target}"
            out[key] = out.get(key, 0) + 1
        return out

    def __str__(self) -> str:
        lines = [f"convert_norm: replaced {len(self.replaced)} layer(s), skipped {len(self.skipped)}"]
        lines += [f"  {key}: {n}" for key, n in self.counts().items()]
        lines += [f"  skipped {name or '<root>'}: {why}" for name, why in self.skipped]
        return "\n".join(lines)


def _source_classes(source: str | type | tuple[type, ...] | None) -> tuple[type, ...]:
    if source is None:
        return tuple(cls for classes in NORM_SOURCES.values() for cls in classes)
    if isinstance(source, str):
        key = canonical_name(source)
        if key not in NORM_SOURCES:
            raise KeyError(f"convert_norm: unknown source {source!r}; known: {sorted(NORM_SOURCES)}")
        return NORM_SOURCES[key]
    if isinstance(source, type):
        return (source,)
    if isinstance(source, tuple) and all(isinstance(s, type) for s in source):
        return source
    raise TypeError(f"convert_norm: source must be a name, class or tuple of classes, got {source!r}")


def _layout(module: nn.Module) -> tuple[int, bool]:
    """(num_features, channels_first) of a norm layer; ValueError when it has no single channel dim."""
    if isinstance(module, (nn.LayerNorm, LayerNorm, nn.RMSNorm, RMSNorm)):
        shape = tuple(module.normalized_shape)
        if len(shape) != 1:
            raise ValueError(f"normalizes over {len(shape)} trailing dims {list(shape)}, not one channel dim")
        return shape[0], isinstance(module, LayerNorm2d)
    if isinstance(module, bn.BatchNormChannelsLast):
        return module.num_features, False
    if isinstance(module, (nn.modules.batchnorm._BatchNorm, nn.modules.instancenorm._InstanceNorm,
                           bn._BatchNorm)):  # dlzoo's InstanceNorm2d is a bn._BatchNorm
        return module.num_features, True
    if isinstance(module, (nn.GroupNorm, gn.GroupNorm)):
        return module.num_channels, not isinstance(module, gn.GroupNormChannelsLast)
    if isinstance(module, (DyT, Derf, BandRMS)):
        return module.num_features, not module.channels_last
    if isinstance(module, PartialRMSNorm):
        return module.num_features, False
    raise ValueError(f"{type(module).__name__} has no known channel layout")


def _spatial_dims(module: nn.Module) -> int:
    """Spatial rank a channels-first source layer works on (BatchNorm1d/3d -> 1/3, otherwise 2), so that a
    "batchnorm" target matches it."""
    if isinstance(module, (nn.BatchNorm1d, bn.BatchNorm1d)):
        return 1
    if isinstance(module, (nn.BatchNorm3d, bn.BatchNorm3d, nn.InstanceNorm3d)):
        return 3
    return 2


def _copy_affine(src: nn.Module, dst: nn.Module) -> tuple[str, ...]:
    copied = []
    for name in ("weight", "bias"):
        a, b = getattr(src, name, None), getattr(dst, name, None)
        if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.shape == b.shape:
            with torch.no_grad():
                b.copy_(a)
            copied.append(name)
    return tuple(copied)


def _placement(module: nn.Module) -> dict[str, Any]:
    tensors = list(module.parameters()) + [b for b in module.buffers() if b.is_floating_point()]
    return {"device": tensors[0].device, "dtype": tensors[0].dtype} if tensors else {}


def convert_norm(
    module: nn.Module,
    to: NormSpec,
    source: str | type | tuple[type, ...] | None = None,
    *,
    copy_affine: bool = False,
    include: Callable[[str, nn.Module], bool] | str | None = None,
    **kw: Any,
) -> NormConversionReport:
    """Replace every norm layer of ``module`` matching ``source`` with a ``to`` norm, in place.

    Args:
        module: model (or a single norm layer) to convert; children are replaced in place.
        to: target norm: a registered name (``"dyt"``, ``"rmsnorm"``, ...), a class or a partial taking
            the channel count first (resolved with :func:`get_norm_layer`).
        source: which layers to replace: a name from :data:`NORM_SOURCES`, a class or a tuple of
            classes; ``None`` replaces every known norm (torch's and dlzoo's).
        copy_affine: copy ``weight``/``bias`` from the old layer when shapes match (default: fresh init,
            as the DyT paper's ``convert_ln_to_dyt``).
        include: optional filter on the qualified name: an fnmatch pattern or ``fn(name, layer) -> bool``.
        **kw: forwarded to the target builder (e.g. ``alpha_init=1.0``).

    Returns:
        A :class:`NormConversionReport`; ``report.module`` is the converted model.
    """
    classes = _source_classes(source)
    norm_name(to)  # an unknown target name fails here, not as a skipped layer
    if isinstance(include, str):
        pattern = include
        include = lambda name, _layer: fnmatch.fnmatch(name, pattern)  # noqa: E731
    report = NormConversionReport(module=module)

    def convert_one(name: str, layer: nn.Module) -> nn.Module:
        try:
            num_features, channels_first = _layout(layer)
            new = get_norm_layer(to, channels_first=channels_first, spatial_dims=_spatial_dims(layer),
                                 **kw)(num_features)
        except (ValueError, TypeError) as err:
            report.skipped.append((name, str(err)))
            return layer
        if source is None and type(new) is type(layer):
            report.skipped.append((name, f"already a {type(layer).__name__}"))
            return layer
        new = new.to(**_placement(layer)).train(layer.training)
        copied = _copy_affine(layer, new) if copy_affine else ()
        report.replaced.append(Replacement(name, type(layer).__name__, type(new).__name__, num_features,
                                           channels_first, copied))
        return new

    def visit(prefix: str, parent: nn.Module) -> None:
        for child_name, child in list(parent.named_children()):
            name = f"{prefix}.{child_name}" if prefix else child_name
            if isinstance(child, classes) and (include is None or include(name, child)):
                setattr(parent, child_name, convert_one(name, child))
            else:
                visit(name, child)

    if isinstance(module, classes) and (include is None or include("", module)):
        report.module = convert_one("", module)
    else:
        visit("", module)
    return report
