"""ConvNeXt V1 and V2.

* V1 — Liu, Mao, Wu, Feichtenhofer, Darrell, Xie, "A ConvNet for the 2020s", CVPR 2022, arXiv:2201.03545.
* V2 — Woo, Debnath, Hu, Chen, Liu, Kweon, Xie, "ConvNeXt V2: Co-designing and Scaling ConvNets with Masked
  Autoencoders", CVPR 2023, arXiv:2301.00808 (adds Global Response Normalization in the MLP, no layer
  scale).

Architecture (input (N, C_in, H, W)):

    stem:   Conv 4x4 stride 4 -> norm (channels-first)                           -> (N, d0, H/4, W/4)
    stage i (i > 0): norm (channels-first) -> Conv 2x2 stride 2                   -> (N, d_i, H/2^(i+2), ...)
    block:  x + DropPath(gamma * fc2([GRN] GELU(fc1(norm(dwconv7x7(x))))))
    head:   global average pool -> norm -> dropout -> Linear                      -> (N, num_classes)

The block MLP runs channels-last on (N, H, W, C) with Linear layers, or, with ``conv_mlp=True`` (timm's
flag, set for its small V2 models atto/nano), channels-first with 1x1 convolutions and a channels-first
norm: the same function, weights of shape (4C, C, 1, 1) instead of (4C, C).

Key names and layouts are timm's (``stem``, ``stages.i.downsample``, ``stages.i.blocks.j.{conv_dw,norm,
mlp.fc1,mlp.grn,mlp.fc2,gamma}``, ``head.{norm,fc}``), so timm state dicts load strictly. ``norm_layer`` swaps
every norm (``"dyt"`` gives the DyT paper's ConvNeXt: channels-first DyT in the stem/downsampling,
channels-last DyT in the blocks and the head).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from ..nn import ClassifierHead, Conv2d, DropPath, Identity, Linear, get_norm_layer
from ..nn.create_act import ActSpec
from ..nn.factory import NormSpec
from ..nn.ffn import GlobalResponseNormMlp, Mlp
from ..nn.regularization import drop_path_rates
from . import register_model
from ._base import ClassifierMixin

__all__ = ["ConvNeXt", "ConvNeXtBlock", "ConvNeXtStage", "CONFIGS", "NORM_DEFAULTS"]

# ConvNeXt's LayerNorm eps (official code and timm): 1e-6, for every norm of the network
NORM_DEFAULTS: dict[str, dict[str, Any]] = {"layernorm": {"eps": 1e-6}}


def _trunc_normal_(t: Tensor, std: float = 0.02) -> None:
    nn.init.trunc_normal_(t, mean=0.0, std=std, a=-2.0, b=2.0)  # timm's trunc_normal_ bounds (absolute)


class ConvNeXtBlock(nn.Module):
    """dwconv 7x7 -> norm -> MLP(4C, GELU, [GRN]) -> layer scale -> DropPath, residual.

    Shapes: (N, C, H, W) -> (N, C, H, W); the MLP runs channels-last on (N, H, W, C) unless ``conv_mlp``.
    ``norm_layer`` is a maker for the layout the MLP uses (channels-first with ``conv_mlp``).
    """

    def __init__(self, dim: int, mlp_ratio: float = 4.0, ls_init_value: float | None = 1e-6,
                 drop_path: float = 0.0, use_grn: bool = False, conv_mlp: bool = False, norm_layer=None,
                 act_layer: ActSpec = "gelu", kernel_size: int = 7) -> None:
        super().__init__()
        if norm_layer is None:
            norm_layer = get_norm_layer("layernorm", channels_first=conv_mlp, defaults=NORM_DEFAULTS)
        self.dim = dim
        self.use_conv_mlp = conv_mlp
        self.conv_dw = Conv2d(dim, dim, kernel_size, padding=kernel_size // 2, groups=dim)
        self.norm = norm_layer(dim)
        mlp = GlobalResponseNormMlp if use_grn else Mlp  # timm's keys: mlp.{fc1, grn, fc2}
        self.mlp = mlp(dim, int(mlp_ratio * dim), act_layer=act_layer, use_conv=conv_mlp)
        self.gamma = nn.Parameter(torch.full((dim,), float(ls_init_value))) if ls_init_value else None
        self.drop_path = DropPath(drop_path) if drop_path > 0.0 else Identity()

    def forward(self, x: Tensor) -> Tensor:
        shortcut = x
        x = self.conv_dw(x)
        if self.use_conv_mlp:
            x = self.mlp(self.norm(x))  # (N, C, H, W)
        else:
            x = x.permute(0, 2, 3, 1)  # (N, H, W, C)
            x = self.mlp(self.norm(x)).permute(0, 3, 1, 2)  # (N, C, H, W)
        if self.gamma is not None:
            x = x * self.gamma.view(1, -1, 1, 1)
        return shortcut + self.drop_path(x)


class ConvNeXtStage(nn.Module):
    """Optional downsampling (norm + 2x2 stride-2 conv) followed by ``depth`` ConvNeXt blocks."""

    def __init__(self, in_chs: int, out_chs: int, depth: int, stride: int, drop_path_rates: Sequence[float],
                 norm_cf, norm_cl, conv_mlp: bool = False, **block_kw: Any) -> None:
        super().__init__()
        if in_chs != out_chs or stride > 1:
            self.downsample = nn.Sequential(norm_cf(in_chs), Conv2d(in_chs, out_chs, stride, stride=stride))
        else:
            self.downsample = Identity()
        self.blocks = nn.Sequential(*[
            ConvNeXtBlock(out_chs, drop_path=drop_path_rates[j], conv_mlp=conv_mlp,
                          norm_layer=norm_cf if conv_mlp else norm_cl, **block_kw)
            for j in range(depth)
        ])

    def forward(self, x: Tensor) -> Tensor:
        return self.blocks(self.downsample(x))


class ConvNeXt(ClassifierMixin, nn.Module):
    """ConvNeXt V1/V2 classifier (see module docstring). Input (N, in_chans, H, W) -> (N, num_classes).

    Args:
        conv_mlp: 1x1-conv MLPs with channels-first block norms (timm's layout of its small V2 models).
        global_pool: ``"avg"``, ``"max"`` or ``"avgmax"`` (the head norm runs on the pooled (N, C)).
        norm_kwargs: kwargs of every norm (over :data:`NORM_DEFAULTS`); head_norm_kwargs: of the head norm.
        head_init_scale: scale of the initial classifier weights and bias (timm's).
        img_size: accepted for a uniform interface; ConvNeXt works at any input size >= 32.
    """

    classifier_name = "head.fc"
    global_pool_name = "head"

    def __init__(
        self,
        depths: Sequence[int] = (3, 3, 9, 3),
        dims: Sequence[int] = (96, 192, 384, 768),
        num_classes: int = 1000,
        in_chans: int = 3,
        global_pool: str = "avg",
        patch_size: int = 4,
        ls_init_value: float | None = 1e-6,
        use_grn: bool = False,
        conv_mlp: bool = False,
        norm_layer: NormSpec = "layernorm",
        norm_kwargs: dict[str, Any] | None = None,
        head_norm_kwargs: dict[str, Any] | None = None,
        act_layer: ActSpec = "gelu",
        drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
        head_init_scale: float = 1.0,
        img_size: int | None = None,
    ) -> None:
        super().__init__()
        if len(depths) != len(dims):
            raise ValueError(f"ConvNeXt: depths {list(depths)} and dims {list(dims)} differ in length")
        norm_kwargs = dict(norm_kwargs or {})
        norm_cf = get_norm_layer(norm_layer, channels_first=True, defaults=NORM_DEFAULTS, **norm_kwargs)
        norm_cl = get_norm_layer(norm_layer, channels_first=False, defaults=NORM_DEFAULTS, **norm_kwargs)
        self.num_classes = num_classes
        self.in_chans = in_chans
        self.img_size = img_size
        self.stem = nn.Sequential(Conv2d(in_chans, dims[0], patch_size, stride=patch_size), norm_cf(dims[0]))
        rates = drop_path_rates(drop_path_rate, list(depths))
        stages, prev = [], dims[0]
        for i, (depth, dim) in enumerate(zip(depths, dims)):
            stages.append(ConvNeXtStage(prev, dim, depth, 2 if i > 0 else 1, rates[i], norm_cf, norm_cl,
                                        conv_mlp=conv_mlp, ls_init_value=ls_init_value, use_grn=use_grn,
                                        act_layer=act_layer))
            prev = dim
        self.stages = nn.Sequential(*stages)
        self.num_features = dims[-1]
        head_norm = norm_cl
        if head_norm_kwargs:
            head_kw = {**norm_kwargs, **head_norm_kwargs}
            head_norm = get_norm_layer(norm_layer, defaults=NORM_DEFAULTS, **head_kw)
        self.drop_rate = drop_rate
        self._check_pool(global_pool)
        self.head = ClassifierHead(self.num_features, num_classes, pool_type=global_pool, drop_rate=drop_rate,
                                   norm=head_norm(self.num_features))
        self.init_weights(head_init_scale)

    def _check_pool(self, global_pool: str) -> None:
        if global_pool not in ("avg", "max", "avgmax"):
            raise ValueError(f"ConvNeXt: global_pool must be 'avg', 'max' or 'avgmax' (the head norm needs "
                             f"pooled features), got {global_pool!r}")

    def set_global_pool(self, global_pool: str) -> None:
        self._check_pool(global_pool)
        super().set_global_pool(global_pool)

    def init_weights(self, head_init_scale: float = 1.0) -> None:
        """timm's ConvNeXt init: conv and Linear weights ~ trunc-normal(.02), zero biases; the classifier's
        weight and bias scaled by ``head_init_scale``."""
        for m in self.modules():
            if isinstance(m, (Conv2d, Linear)):
                _trunc_normal_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        fc = self.head.fc
        if isinstance(fc, Linear) and head_init_scale != 1.0:
            with torch.no_grad():
                fc.weight.mul_(head_init_scale)
                fc.bias.mul_(head_init_scale)

    def forward_features(self, x: Tensor) -> Tensor:
        """(N, in_chans, H, W) -> (N, num_features, H/32, W/32)."""
        if x.dim() != 4 or x.shape[1] != self.in_chans:
            raise ValueError(f"ConvNeXt: expected input (N, {self.in_chans}, H, W), got {list(x.shape)}")
        return self.stages(self.stem(x))

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        """(N, num_features, h, w) -> logits (N, num_classes), or pooled+normed features if ``pre_logits``."""
        return self.head(x, pre_logits=pre_logits)


_V1 = dict(family="convnext", paper="A ConvNet for the 2020s", year=2022, arxiv="2201.03545",
           input_size=(3, 224, 224), test_input_size=(3, 32, 32))
_V2 = dict(family="convnext", paper="ConvNeXt V2: Co-designing and Scaling ConvNets with Masked Autoencoders",
           year=2023, arxiv="2301.00808", input_size=(3, 224, 224), test_input_size=(3, 32, 32))
_TIMM = "timm model card / HF transformers ConvNext (1000 classes)"
_HF_V2 = "HF transformers ConvNextV2 (1000 classes); paper Table: atto 3.7M, nano 15.6M, tiny 28.6M, base 89M"

# the architecture of every registered name, as timm 1.0 registers it (conv_mlp for atto/nano); the HF
# converter looks sizes up here
_V2_ARGS = dict(ls_init_value=None, use_grn=True)
CONFIGS: dict[str, dict[str, Any]] = {
    "convnext_tiny": dict(depths=(3, 3, 9, 3), dims=(96, 192, 384, 768)),
    "convnext_small": dict(depths=(3, 3, 27, 3), dims=(96, 192, 384, 768)),
    "convnext_base": dict(depths=(3, 3, 27, 3), dims=(128, 256, 512, 1024)),
    "convnextv2_atto": dict(depths=(2, 2, 6, 2), dims=(40, 80, 160, 320), conv_mlp=True, **_V2_ARGS),
    "convnextv2_nano": dict(depths=(2, 2, 8, 2), dims=(80, 160, 320, 640), conv_mlp=True, **_V2_ARGS),
    "convnextv2_tiny": dict(depths=(3, 3, 9, 3), dims=(96, 192, 384, 768), **_V2_ARGS),
    "convnextv2_base": dict(depths=(3, 3, 27, 3), dims=(128, 256, 512, 1024), **_V2_ARGS),
}


def _build(name: str, overrides: dict[str, Any]) -> ConvNeXt:
    return ConvNeXt(**{**CONFIGS[name], **overrides})


@register_model(**_V1, reference_params=28_589_128, source=_TIMM)
def convnext_tiny(**kwargs: Any) -> ConvNeXt:
    """ConvNeXt-T: depths (3, 3, 9, 3), dims (96, 192, 384, 768)."""
    return _build("convnext_tiny", kwargs)


@register_model(**_V1, reference_params=50_223_688, source=_TIMM)
def convnext_small(**kwargs: Any) -> ConvNeXt:
    """ConvNeXt-S: depths (3, 3, 27, 3), dims (96, 192, 384, 768)."""
    return _build("convnext_small", kwargs)


@register_model(**_V1, reference_params=88_591_464, source=_TIMM)
def convnext_base(**kwargs: Any) -> ConvNeXt:
    """ConvNeXt-B: depths (3, 3, 27, 3), dims (128, 256, 512, 1024)."""
    return _build("convnext_base", kwargs)


@register_model(**_V2, reference_params=3_708_400, source=_HF_V2)
def convnextv2_atto(**kwargs: Any) -> ConvNeXt:
    """ConvNeXt-V2-Atto: depths (2, 2, 6, 2), dims (40, 80, 160, 320), GRN, 1x1-conv MLPs (timm)."""
    return _build("convnextv2_atto", kwargs)


@register_model(**_V2, reference_params=15_623_800, source=_HF_V2)
def convnextv2_nano(**kwargs: Any) -> ConvNeXt:
    """ConvNeXt-V2-Nano: depths (2, 2, 8, 2), dims (80, 160, 320, 640), GRN, 1x1-conv MLPs (timm)."""
    return _build("convnextv2_nano", kwargs)


@register_model(**_V2, reference_params=28_635_496, source=_HF_V2)
def convnextv2_tiny(**kwargs: Any) -> ConvNeXt:
    """ConvNeXt-V2-T: depths (3, 3, 9, 3), dims (96, 192, 384, 768), GRN, no layer scale."""
    return _build("convnextv2_tiny", kwargs)


@register_model(**_V2, reference_params=88_717_800, source=_HF_V2)
def convnextv2_base(**kwargs: Any) -> ConvNeXt:
    """ConvNeXt-V2-B: depths (3, 3, 27, 3), dims (128, 256, 512, 1024), GRN, no layer scale."""
    return _build("convnextv2_base", kwargs)
