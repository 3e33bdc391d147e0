"""ConvNeXt V1 and V2.

* V1 — Liu, Mao, Wu, Feichtenhofer, Darrell, Xie, "A ConvNet for the 2020s", CVPR 2022, arXiv:2201.03545.
* V2 — Woo, Debnath, Hu, Chen, Liu, Kweon, Xie, "ConvNeXt V2: Co-designing and Scaling ConvNets with Masked
  Autoencoders", CVPR 2023, arXiv:2301.00808 (adds Global Response Normalization in the MLP, no layer
  scale).

Architecture (input (N, C_in, H, W)):

    stem:   Conv 4x4 stride 4 -> norm (channels-first)                           -> (N, d0, H/4, W/4)
    stage i (i > 0): norm (channels-first) -> Conv 2x2 stride 2                   -> (N, d_i, H/2^(i+2), ...)
    block:  x + DropPath(gamma * Linear(GELU([GRN] Linear(norm(dwconv7x7(x)))))   (MLP in channels-last)
    head:   global average pool -> norm -> Linear                                 -> (N, num_classes)

Key names follow timm (``stem``, ``stages.i.downsample``, ``stages.i.blocks.j.{conv_dw,norm,mlp,gamma}``,
``head.{norm,fc}``). ``norm_layer`` swaps every norm (``"dyt"`` gives the DyT paper's ConvNeXt: channels-first
DyT in the stem/downsampling, channels-last DyT in the blocks and the head).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from ..nn import Conv2d, Dropout, DropPath, Identity, Linear, Mlp, get_norm_layer
from ..nn.factory import NormSpec
from ..nn.grn import GlobalResponseNorm
from . import register_model

__all__ = ["ConvNeXt", "ConvNeXtBlock", "ConvNeXtStage"]


def _norm_makers(norm_layer: NormSpec, norm_kwargs: dict[str, Any] | None):
    """(channels-first maker, channels-last maker); LayerNorm defaults to ConvNeXt's eps=1e-6."""
    kw = dict(norm_kwargs or {})
    if isinstance(norm_layer, str) and norm_layer.lower().replace("_", "") == "layernorm":
        kw.setdefault("eps", 1e-6)
    return (get_norm_layer(norm_layer, channels_first=True, **kw),
            get_norm_layer(norm_layer, channels_first=False, **kw))


def _drop_path_rates(rate: float, depths: Sequence[int]) -> list[list[float]]:
    """Stochastic-depth rates rising linearly 0 -> ``rate`` over all blocks, split per stage (plain floats,
    so building under ``torch.device("meta")`` works)."""
    total = sum(depths)
    flat = [rate * k / (total - 1) if total > 1 else 0.0 for k in range(total)]
    out, start = [], 0
    for d in depths:
        out.append(flat[start:start + d])
        start += d
    return out


class ConvNeXtBlock(nn.Module):
    """dwconv 7x7 -> norm -> Linear(4C) -> GELU -> [GRN] -> Linear(C) -> layer scale -> DropPath, residual.

    Shapes: (N, C, H, W) -> (N, C, H, W); the MLP runs channels-last on (N, H, W, C).
    """

    def __init__(self, dim: int, mlp_ratio: float = 4.0, ls_init_value: float | None = 1e-6,
                 drop_path: float = 0.0, use_grn: bool = False, norm_layer=None, act_layer="gelu",
                 kernel_size: int = 7) -> None:
        super().__init__()
        norm_layer = norm_layer or get_norm_layer("layernorm", eps=1e-6)
        self.dim = dim
        self.conv_dw = Conv2d(dim, dim, kernel_size, padding=kernel_size // 2, groups=dim)
        self.norm = norm_layer(dim)
        hidden = int(mlp_ratio * dim)
        self.mlp = Mlp(dim, hidden, act_layer=act_layer,
                       norm_layer=GlobalResponseNorm if use_grn else None)
        self.gamma = nn.Parameter(torch.full((dim,), float(ls_init_value))) if ls_init_value else None
        self.drop_path = DropPath(drop_path) if drop_path > 0.0 else Identity()

    def forward(self, x: Tensor) -> Tensor:
        shortcut = x
        x = self.conv_dw(x)
        x = x.permute(0, 2, 3, 1)  # (N, H, W, C)
        x = self.mlp(self.norm(x))
        if self.gamma is not None:
            x = x * self.gamma
        x = x.permute(0, 3, 1, 2)  # (N, C, H, W)
        return shortcut + self.drop_path(x)


class ConvNeXtStage(nn.Module):
    """Optional downsampling (norm + 2x2 stride-2 conv) followed by ``depth`` ConvNeXt blocks."""

    def __init__(self, in_chs: int, out_chs: int, depth: int, stride: int, drop_path_rates: Sequence[float],
                 norm_cf, norm_cl, **block_kw: Any) -> None:
        super().__init__()
        if in_chs != out_chs or stride > 1:
            self.downsample = nn.Sequential(norm_cf(in_chs), Conv2d(in_chs, out_chs, stride, stride=stride))
        else:
            self.downsample = Identity()
        self.blocks = nn.Sequential(*[
            ConvNeXtBlock(out_chs, drop_path=drop_path_rates[j], norm_layer=norm_cl, **block_kw)
            for j in range(depth)
        ])

    def forward(self, x: Tensor) -> Tensor:
        return self.blocks(self.downsample(x))


class _Head(nn.Module):
    """Global average pool -> norm (channels-last on (N, C)) -> dropout -> Linear."""

    def __init__(self, dim: int, num_classes: int, norm: nn.Module, drop_rate: float) -> None:
        super().__init__()
        self.norm = norm
        self.drop = Dropout(drop_rate)
        self.fc = Linear(dim, num_classes) if num_classes > 0 else Identity()

    def forward(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        x = self.norm(x.mean(dim=(2, 3)))  # (N, C)
        return x if pre_logits else self.fc(self.drop(x))


class ConvNeXt(nn.Module):
    """ConvNeXt V1/V2 classifier (see module docstring). Input (N, in_chans, H, W) -> (N, num_classes)."""

    def __init__(
        self,
        depths: Sequence[int] = (3, 3, 9, 3),
        dims: Sequence[int] = (96, 192, 384, 768),
        num_classes: int = 1000,
        in_chans: int = 3,
        patch_size: int = 4,
        ls_init_value: float | None = 1e-6,
        use_grn: bool = False,
        norm_layer: NormSpec = "layernorm",
        norm_kwargs: dict[str, Any] | None = None,
        head_norm_kwargs: dict[str, Any] | None = None,
        act_layer: str = "gelu",
        drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
        img_size: int | None = None,
    ) -> None:
        super().__init__()
        if len(depths) != len(dims):
            raise ValueError(f"ConvNeXt: depths {list(depths)} and dims {list(dims)} differ in length")
        norm_cf, norm_cl = _norm_makers(norm_layer, norm_kwargs)
        self.num_classes = num_classes
        self.in_chans = in_chans
        self.img_size = img_size
        self.stem = nn.Sequential(Conv2d(in_chans, dims[0], patch_size, stride=patch_size), norm_cf(dims[0]))
        rates = _drop_path_rates(drop_path_rate, depths)
        stages, prev = [], dims[0]
        for i, (depth, dim) in enumerate(zip(depths, dims)):
            stages.append(ConvNeXtStage(prev, dim, depth, 2 if i > 0 else 1, rates[i], norm_cf, norm_cl,
                                        ls_init_value=ls_init_value, use_grn=use_grn, act_layer=act_layer))
            prev = dim
        self.stages = nn.Sequential(*stages)
        self.num_features = dims[-1]
        head_norm = norm_cl
        if head_norm_kwargs:
            _, head_norm = _norm_makers(norm_layer, {**(norm_kwargs or {}), **head_norm_kwargs})
        self.drop_rate = drop_rate
        self.head = _Head(self.num_features, num_classes, head_norm(self.num_features), drop_rate)

    def forward_features(self, x: Tensor) -> Tensor:
        """(N, in_chans, H, W) -> (N, num_features, H/32, W/32)."""
        if x.dim() != 4 or x.shape[1] != self.in_chans:
            raise ValueError(f"ConvNeXt: expected input (N, {self.in_chans}, H, W), got {list(x.shape)}")
        return self.stages(self.stem(x))

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        """(N, num_features, h, w) -> logits (N, num_classes), or pooled+normed features if ``pre_logits``."""
        return self.head(x, pre_logits=pre_logits)

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the classifier with a fresh Linear(num_features, num_classes) (Identity if 0)."""
        self.num_classes = num_classes
        self.head.fc = Linear(self.num_features, num_classes) if num_classes > 0 else Identity()


_V1 = dict(family="convnext", paper="A ConvNet for the 2020s", year=2022, arxiv="2201.03545",
           input_size=(3, 224, 224))
_V2 = dict(family="convnext", paper="ConvNeXt V2: Co-designing and Scaling ConvNets with Masked Autoencoders",
           year=2023, arxiv="2301.00808", input_size=(3, 224, 224))
_TIMM = "timm model card / HF transformers ConvNext (1000 classes)"
_HF_V2 = "HF transformers ConvNextV2 (1000 classes); paper Table: atto 3.7M, nano 15.6M, tiny 28.6M, base 89M"


def _build(defaults: dict[str, Any], overrides: dict[str, Any]) -> ConvNeXt:
    return ConvNeXt(**{**defaults, **overrides})


@register_model(**_V1, reference_params=28_589_128, source=_TIMM)
def convnext_tiny(**kwargs: Any) -> ConvNeXt:
    """ConvNeXt-T: depths (3, 3, 9, 3), dims (96, 192, 384, 768)."""
    return _build(dict(depths=(3, 3, 9, 3), dims=(96, 192, 384, 768)), kwargs)


@register_model(**_V1, reference_params=50_223_688, source=_TIMM)
def convnext_small(**kwargs: Any) -> ConvNeXt:
    """ConvNeXt-S: depths (3, 3, 27, 3), dims (96, 192, 384, 768)."""
    return _build(dict(depths=(3, 3, 27, 3), dims=(96, 192, 384, 768)), kwargs)


@register_model(**_V1, reference_params=88_591_464, source=_TIMM)
def convnext_base(**kwargs: Any) -> ConvNeXt:
    """ConvNeXt-B: depths (3, 3, 27, 3), dims (128, 256, 512, 1024)."""
    return _build(dict(depths=(3, 3, 27, 3), dims=(128, 256, 512, 1024)), kwargs)


def _v2(depths, dims, kwargs):
    return _build(dict(depths=depths, dims=dims, ls_init_value=None, use_grn=True), kwargs)


@register_model(**_V2, reference_params=3_708_400, source=_HF_V2)
def convnextv2_atto(**kwargs: Any) -> ConvNeXt:
    """ConvNeXt-V2-Atto: depths (2, 2, 6, 2), dims (40, 80, 160, 320)."""
    return _v2((2, 2, 6, 2), (40, 80, 160, 320), kwargs)


@register_model(**_V2, reference_params=15_623_800, source=_HF_V2)
def convnextv2_nano(**kwargs: Any) -> ConvNeXt:
    """ConvNeXt-V2-Nano: depths (2, 2, 8, 2), dims (80, 160, 320, 640)."""
    return _v2((2, 2, 8, 2), (80, 160, 320, 640), kwargs)


@register_model(**_V2, reference_params=28_635_496, source=_HF_V2)
def convnextv2_tiny(**kwargs: Any) -> ConvNeXt:
    """ConvNeXt-V2-T: depths (3, 3, 9, 3), dims (96, 192, 384, 768), GRN, no layer scale."""
    return _v2((3, 3, 9, 3), (96, 192, 384, 768), kwargs)


@register_model(**_V2, reference_params=88_717_800, source=_HF_V2)
def convnextv2_base(**kwargs: Any) -> ConvNeXt:
    """ConvNeXt-V2-B: depths (3, 3, 27, 3), dims (128, 256, 512, 1024), GRN, no layer scale."""
    return _v2((3, 3, 27, 3), (128, 256, 512, 1024), kwargs)
