"""MobileNetV4-Conv-Small, -Conv-Medium and -Conv-Large.

Qin et al., "MobileNetV4: Universal Models for the Mobile Ecosystem", ECCV 2024, arXiv:2404.10518.
The building block is the Universal Inverted Bottleneck (UIB, Sec. 3.1, Fig. 3): an optional
depthwise conv before the expansion ("start", kernel ``a``), a 1x1 expansion (ratio ``e``, applied
to the input width), an optional depthwise conv after it ("mid", kernel ``k``), a 1x1 projection,
and a residual when shapes match::

    x -> [dw a x a] -> pw 1x1 (C * e) + act -> [dw k x k + act] -> pw 1x1 (C_out) (+ x)

``a`` and ``k`` both present: "ExtraDW"; only ``k``: the classic inverted residual (IR); only ``a``:
"ConvNeXt-like". With both, the stride sits on the mid conv. Conv-Small (paper Table 10 /
timm ``mobilenetv4_conv_small``)::

    stem  conv3x3/2 32
    s0    conv3x3/2 32, conv1x1 32                                    (N, 32, 56, 56) at 224
    s1    conv3x3/2 96, conv1x1 64                                    (N, 64, 28, 28)
    s2    ExtraDW a5 k5 /2 e3 96; 4x IR k3 e2 96; ConvNeXt a3 e4 96   (N, 96, 14, 14)
    s3    ExtraDW a3 k3 /2 e6 128; ExtraDW a5 k5 e4; IR k5 e4; IR k5 e3; 2x IR k3 e4 (N, 128, 7, 7)
    s4    conv1x1 960                                                 (N, 960, 7, 7)
    head  global avg pool -> conv1x1 1280 (no bias) -> norm -> act -> Linear(1280, classes)

Conv-Medium / Conv-Large (paper Tables 11 / 12, timm ``mobilenetv4_conv_medium`` / ``_conv_large``) start
with a FusedIB block ("er", :class:`EdgeResidual`: a full k x k expansion conv + act, then a 1x1 projection;
MobileDet / EfficientNet-V2's FusedMBConv) and add "FFN" UIBs (neither depthwise conv); their tables are
:data:`CONV_MEDIUM` and :data:`CONV_LARGE` (stem 32 / 24, ReLU, head 960 -> 1280 as above).

Hybrid-Medium (paper Table 13, timm ``mobilenetv4_hybrid_medium``) is Conv-Medium with Mobile MQA blocks
("mqa", :class:`MobileAttention`) interleaved in the last two stages, and layer scale (gamma init 1e-5) on
every UIB and attention block (:data:`HYBRID_MEDIUM`). Mobile MQA (Sec. 4): multi-query attention, h query
heads sharing one key/value head, keys and values optionally downsampled by a stride-2 depthwise conv + norm::

    x + gamma * O(MQA(Q(BN(x)), K(BN(x)), V(BN(x))))        Q: 1x1 conv -> (B, h, HW, d)
                                                            K, V: [dw 3x3 /s + BN] -> 1x1 -> (B, 1, HW/s^2, d)

Every conv is followed by a norm (BatchNorm by default, any ``norm_layer``); ``act_layer`` (ReLU).
Keys follow timm (``conv_stem``, ``bn1``, ``blocks.i.j.dw_start.conv``, ``conv_head``, ``norm_head``,
logits ``classifier``), so timm checkpoints load strictly. ``num_features`` is the pre-logits width
(1280, timm's ``head_hidden_size``; the last stage has ``feature_channels`` = 960). Stochastic depth
(``drop_path_rate``) rises linearly over the blocks (:func:`dlzoo.nn.drop_path_rates`; timm's builder
uses ``rate * i / n``, which never reaches the maximum, so the per-block rates differ slightly).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from ..nn import (
    Conv2d,
    Dropout,
    DropPath,
    GlobalPool,
    Identity,
    Linear,
    create_act,
    create_fc,
    drop_path_rates,
    get_norm_layer,
)
from ..nn.attention import scaled_dot_product_attention
from ..nn.create_act import ActSpec
from ..nn.factory import NormSpec
from ..nn.squeeze_excite import make_divisible
from . import register_model
from ._base import ClassifierMixin
from ._cnn import check_image_input

__all__ = ["MobileNetV4", "UniversalInvertedResidual", "EdgeResidual", "ConvNormAct", "CONV_SMALL",
           "CONV_MEDIUM", "CONV_LARGE", "HYBRID_MEDIUM", "MobileAttention", "LayerScale2d"]

# (kind, a_start, k_mid, stride, expand, out) per block; "cn": plain conv-norm-act with kernel k_mid
CONV_SMALL: list[list[tuple[str, int, int, int, float, int]]] = [
    [("cn", 0, 3, 2, 1, 32), ("cn", 0, 1, 1, 1, 32)],
    [("cn", 0, 3, 2, 1, 96), ("cn", 0, 1, 1, 1, 64)],
    [("uir", 5, 5, 2, 3, 96)] + [("uir", 0, 3, 1, 2, 96)] * 4 + [("uir", 3, 0, 1, 4, 96)],
    [
        ("uir", 3, 3, 2, 6, 128),
        ("uir", 5, 5, 1, 4, 128),
        ("uir", 0, 5, 1, 4, 128),
        ("uir", 0, 5, 1, 3, 128),
        ("uir", 0, 3, 1, 4, 128),
        ("uir", 0, 3, 1, 4, 128),
    ],
    [("cn", 0, 1, 1, 1, 960)],
]
# "er": FusedIB / EdgeResidual with a k_mid x k_mid expansion conv; "uir" with a = k = 0: the FFN block
CONV_MEDIUM: list[list[tuple[str, int, int, int, float, int]]] = [
    [("er", 0, 3, 2, 4, 48)],
    [("uir", 3, 5, 2, 4, 80), ("uir", 3, 3, 1, 2, 80)],
    [("uir", 3, 5, 2, 6, 160)] + [("uir", 3, 3, 1, 4, 160)] * 2 + [
        ("uir", 3, 5, 1, 4, 160), ("uir", 3, 3, 1, 4, 160), ("uir", 3, 0, 1, 4, 160),
        ("uir", 0, 0, 1, 2, 160), ("uir", 3, 0, 1, 4, 160)],
    [("uir", 5, 5, 2, 6, 256), ("uir", 5, 5, 1, 4, 256)] + [("uir", 3, 5, 1, 4, 256)] * 2 + [
        ("uir", 0, 0, 1, 4, 256), ("uir", 3, 0, 1, 4, 256), ("uir", 3, 5, 1, 2, 256),
        ("uir", 5, 5, 1, 4, 256)]
    + [("uir", 0, 0, 1, 4, 256)] * 2 + [("uir", 5, 0, 1, 2, 256)],
    [("cn", 0, 1, 1, 1, 960)],
]
# "mqa": Mobile MQA, (kind, kv_stride, dw kernel, stride, heads, out), key/value dim 64
_MQA_S2 = [("mqa", 2, 3, 1, 4, 160)]
_MQA_S3 = [("mqa", 1, 3, 1, 4, 256)]
HYBRID_MEDIUM: list[list[tuple[str, int, int, int, float, int]]] = [
    [("er", 0, 3, 2, 4, 48)],
    [("uir", 3, 5, 2, 4, 80), ("uir", 3, 3, 1, 2, 80)],
    [("uir", 3, 5, 2, 6, 160), ("uir", 0, 0, 1, 2, 160), ("uir", 3, 3, 1, 4, 160), ("uir", 3, 5, 1, 4, 160)]
    + _MQA_S2 + [("uir", 3, 3, 1, 4, 160)] + _MQA_S2 + [("uir", 3, 0, 1, 4, 160)] + _MQA_S2
    + [("uir", 3, 3, 1, 4, 160)] + _MQA_S2 + [("uir", 3, 0, 1, 4, 160)],
    [("uir", 5, 5, 2, 6, 256), ("uir", 5, 5, 1, 4, 256)] + [("uir", 3, 5, 1, 4, 256)] * 2
    + [("uir", 0, 0, 1, 2, 256), ("uir", 3, 5, 1, 2, 256), ("uir", 0, 0, 1, 2, 256), ("uir", 0, 0, 1, 4, 256)]
    + _MQA_S3 + [("uir", 3, 0, 1, 4, 256)] + _MQA_S3 + [("uir", 5, 5, 1, 4, 256)] + _MQA_S3
    + [("uir", 5, 0, 1, 4, 256)] + _MQA_S3 + [("uir", 5, 0, 1, 4, 256)],
    [("cn", 0, 1, 1, 1, 960)],
]
CONV_LARGE: list[list[tuple[str, int, int, int, float, int]]] = [
    [("er", 0, 3, 2, 4, 48)],
    [("uir", 3, 5, 2, 4, 96), ("uir", 3, 3, 1, 4, 96)],
    [("uir", 3, 5, 2, 4, 192)] + [("uir", 3, 3, 1, 4, 192)] * 3 + [("uir", 3, 5, 1, 4, 192)]
    + [("uir", 5, 3, 1, 4, 192)] * 5 + [("uir", 3, 0, 1, 4, 192)],
    [("uir", 5, 5, 2, 4, 512)] + [("uir", 5, 5, 1, 4, 512)] * 3 + [("uir", 5, 0, 1, 4, 512),
        ("uir", 5, 3, 1, 4, 512)] + [("uir", 5, 0, 1, 4, 512)] * 2 + [("uir", 5, 3, 1, 4, 512),
        ("uir", 5, 5, 1, 4, 512)] + [("uir", 5, 0, 1, 4, 512)] * 3,
    [("cn", 0, 1, 1, 1, 960)],
]


class ConvNormAct(nn.Module):
    """conv (no bias, 'same'-style padding k // 2) -> norm -> activation (``act_layer=None``: none)."""

    def __init__(
        self,
        in_chs: int,
        out_chs: int,
        kernel_size: int,
        norm,
        stride: int = 1,
        groups: int = 1,
        act_layer: ActSpec = "relu",
        norm_name: str = "bn",
    ) -> None:
        super().__init__()
        self.conv = Conv2d(
            in_chs, out_chs, kernel_size, stride=stride, padding=kernel_size // 2, groups=groups, bias=False
        )
        self.norm_name = norm_name
        self.add_module(norm_name, norm(out_chs))
        self.act = create_act(act_layer)

    def forward(self, x: Tensor) -> Tensor:
        return self.act(getattr(self, self.norm_name)(self.conv(x)))


class LayerScale2d(nn.Module):
    """Per-channel scaling of an NCHW map, ``x * gamma`` (CaiT's layer scale; timm's ``LayerScale2d``)."""

    def __init__(self, dim: int, init_values: float = 1e-5) -> None:
        super().__init__()
        self.gamma = nn.Parameter(init_values * torch.ones(dim))

    def forward(self, x: Tensor) -> Tensor:
        return x * self.gamma.view(1, -1, 1, 1)  # (B, C, H, W)


class MobileAttention(nn.Module):
    """Mobile MQA block (paper Sec. 4): x + gamma * MQA(BN(x)). Query: 1x1 conv to ``num_heads * key_dim``;
    key and value: [depthwise k x k conv, stride ``kv_stride``, + norm] -> 1x1 conv to ``key_dim`` (one head
    shared by all query heads); output 1x1 conv. Keys follow timm (``norm``, ``attn.query.proj``,
    ``attn.key.down_conv/norm/proj``, ``attn.value...``, ``attn.output.proj``, ``layer_scale.gamma``).
    (B, C, H, W) -> (B, C, H, W)."""

    def __init__(self, chs: int, num_heads: int, key_dim: int, kv_stride: int, dw_kernel_size: int, norm,
                 drop_path: float = 0.0, layer_scale_init_value: float | None = 1e-5) -> None:
        super().__init__()
        self.num_heads, self.key_dim = num_heads, key_dim
        self.norm = norm(chs)
        attn = nn.Module()
        attn.query = nn.Sequential()
        attn.query.add_module("proj", Conv2d(chs, num_heads * key_dim, 1, bias=False))
        for name in ("key", "value"):
            branch = nn.Sequential()
            if kv_stride > 1:
                branch.add_module("down_conv", Conv2d(chs, chs, dw_kernel_size, stride=kv_stride,
                                                      padding=dw_kernel_size // 2, groups=chs, bias=False))
                branch.add_module("norm", norm(chs))
            branch.add_module("proj", Conv2d(chs, key_dim, 1, bias=False))
            setattr(attn, name, branch)
        attn.output = nn.Sequential()
        attn.output.add_module("proj", Conv2d(num_heads * key_dim, chs, 1, bias=False))
        self.attn = attn
        self.layer_scale = LayerScale2d(chs, layer_scale_init_value) if layer_scale_init_value else Identity()
        self.drop_path = DropPath(drop_path) if drop_path > 0 else Identity()

    def _mqa(self, x: Tensor) -> Tensor:
        b, _, h, w = x.shape
        q = self.attn.query(x).reshape(b, self.num_heads, self.key_dim, h * w)  # (B, h, d, L)
        q = q.transpose(-1, -2)  # (B, h, L, d)
        k = self.attn.key(x).flatten(2).transpose(1, 2).unsqueeze(1)  # (B, 1, S, d)
        v = self.attn.value(x).flatten(2).transpose(1, 2).unsqueeze(1)  # (B, 1, S, d)
        o = scaled_dot_product_attention(q, k, v, enable_gqa=True)  # (B, h, L, d)
        o = o.transpose(1, 2).reshape(b, h, w, self.num_heads * self.key_dim)  # (B, H, W, h d)
        return self.attn.output(o.permute(0, 3, 1, 2))  # (B, C, H, W)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.drop_path(self.layer_scale(self._mqa(self.norm(x))))


class UniversalInvertedResidual(nn.Module):
    """UIB block (paper Fig. 3): [dw_start] -> pw_exp -> [dw_mid] -> pw_proj (+ shortcut)."""

    def __init__(
        self,
        in_chs: int,
        out_chs: int,
        dw_start: int,
        dw_mid: int,
        stride: int,
        exp_ratio: float,
        norm,
        drop_path: float = 0.0,
        act_layer: ActSpec = "relu",
        layer_scale_init_value: float | None = None,
    ) -> None:
        super().__init__()
        mid_chs = make_divisible(in_chs * exp_ratio, 8)
        start_stride = stride if not dw_mid else 1
        self.dw_start = (
            ConvNormAct(in_chs, in_chs, dw_start, norm, start_stride, in_chs, act_layer=None)
            if dw_start
            else Identity()
        )
        self.pw_exp = ConvNormAct(in_chs, mid_chs, 1, norm, act_layer=act_layer)
        self.dw_mid = (
            ConvNormAct(mid_chs, mid_chs, dw_mid, norm, stride, mid_chs, act_layer=act_layer)
            if dw_mid
            else Identity()
        )
        self.pw_proj = ConvNormAct(mid_chs, out_chs, 1, norm, act_layer=None)
        self.layer_scale = (LayerScale2d(out_chs, layer_scale_init_value) if layer_scale_init_value
                            else Identity())
        self.has_skip = stride == 1 and in_chs == out_chs
        self.drop_path = DropPath(drop_path) if drop_path > 0 else Identity()

    def forward(self, x: Tensor) -> Tensor:
        out = self.layer_scale(self.pw_proj(self.dw_mid(self.pw_exp(self.dw_start(x)))))
        return x + self.drop_path(out) if self.has_skip else out


class EdgeResidual(nn.Module):
    """FusedIB (paper Sec. 3.1; EfficientNet-EdgeTPU's EdgeResidual / FusedMBConv): full k x k conv to
    ``in_chs * e`` (stride here) -> norm -> act -> 1x1 conv -> norm (+ shortcut). timm keys ``conv_exp``,
    ``bn1``, ``conv_pwl``, ``bn2``. (N, C_in, H, W) -> (N, C_out, H / s, W / s)."""

    def __init__(self, in_chs: int, out_chs: int, exp_kernel_size: int, stride: int, exp_ratio: float, norm,
                 drop_path: float = 0.0, act_layer: ActSpec = "relu") -> None:
        super().__init__()
        mid_chs = make_divisible(in_chs * exp_ratio, 8)
        self.conv_exp = Conv2d(in_chs, mid_chs, exp_kernel_size, stride=stride, padding=exp_kernel_size // 2,
                               bias=False)
        self.bn1 = norm(mid_chs)
        self.act = create_act(act_layer)
        self.conv_pwl = Conv2d(mid_chs, out_chs, 1, bias=False)
        self.bn2 = norm(out_chs)
        self.has_skip = stride == 1 and in_chs == out_chs
        self.drop_path = DropPath(drop_path) if drop_path > 0 else Identity()

    def forward(self, x: Tensor) -> Tensor:
        out = self.bn2(self.conv_pwl(self.act(self.bn1(self.conv_exp(x)))))
        return x + self.drop_path(out) if self.has_skip else out


class MobileNetV4(ClassifierMixin, nn.Module):
    """MobileNetV4 conv model from a block table like :data:`CONV_SMALL` (timm's MobileNetV3 layout).

    ``forward_features``: (N, C_in, H, W) -> (N, 960, H/32, W/32); ``forward_head``: ``global_pool``
    -> ``conv_head`` -> ``norm_head`` -> act -> flatten -> dropout -> ``classifier``.
    """

    classifier_name = "classifier"
    global_pool_name = "global_pool"

    def __init__(
        self,
        arch: list | None = None,
        num_classes: int = 1000,
        in_chans: int = 3,
        img_size: int | None = None,
        stem_size: int = 32,
        num_features: int = 1280,
        norm_layer: NormSpec = "batchnorm",
        norm_kwargs: dict[str, Any] | None = None,
        act_layer: ActSpec = "relu",
        drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
        global_pool: str = "avg",
        layer_scale_init_value: float | None = None,
    ) -> None:
        super().__init__()
        arch = arch or CONV_SMALL
        norm = get_norm_layer(norm_layer, channels_first=True, **(norm_kwargs or {}))
        self.img_size = img_size  # informational: adaptive pooling takes any input size
        self.in_chans, self.num_classes = in_chans, num_classes
        self.conv_stem = Conv2d(in_chans, stem_size, 3, stride=2, padding=1, bias=False)
        self.bn1 = norm(stem_size)
        self.act1 = create_act(act_layer)
        rates = drop_path_rates(drop_path_rate, [len(stage) for stage in arch])
        chs, stages = stem_size, []
        for stage, stage_rates in zip(arch, rates):
            blocks = []
            for (kind, a, k, s, e, out), dpr in zip(stage, stage_rates):
                if kind == "cn":
                    blocks.append(ConvNormAct(chs, out, k, norm, s, act_layer=act_layer, norm_name="bn1"))
                elif kind == "er":
                    blocks.append(EdgeResidual(chs, out, k, s, e, norm, dpr, act_layer))
                elif kind == "mqa":  # a = kv_stride, k = dw kernel, e = heads
                    blocks.append(MobileAttention(chs, int(e), 64, a, k, norm, dpr, layer_scale_init_value))
                else:
                    blocks.append(UniversalInvertedResidual(chs, out, a, k, s, e, norm, dpr, act_layer,
                                                            layer_scale_init_value))
                chs = out
            stages.append(nn.Sequential(*blocks))
        self.blocks = nn.Sequential(*stages)
        self.feature_channels = chs  # timm's num_features (960): what forward_features returns
        # pool before the head conv (MobileNetV3's "efficient head"): (N, 960, 1, 1) -> (N, 1280, 1, 1)
        self.global_pool = GlobalPool(global_pool, flatten=False)
        self.conv_head = Conv2d(chs, num_features, 1, bias=False)
        self.norm_head = norm(num_features)
        self.act2 = create_act(act_layer)
        self.num_features = self.head_hidden_size = num_features
        self.drop = Dropout(drop_rate)
        self.classifier = create_fc(num_features, num_classes)
        for m in self.modules():  # timm/efficientnet init: fan-out normal convs
            if isinstance(m, Conv2d):
                fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels // m.groups
                nn.init.normal_(m.weight, 0.0, (2.0 / fan_out) ** 0.5)
        self.init_classifier(self.classifier)

    def init_classifier(self, fc: nn.Module) -> None:
        """timm's EfficientNet init of the logits layer: ``U(+-1/sqrt(fan_out))``, zero bias."""
        if isinstance(fc, Linear):
            bound = fc.out_features ** -0.5
            nn.init.uniform_(fc.weight, -bound, bound)
            nn.init.zeros_(fc.bias)

    def forward_features(self, x: Tensor) -> Tensor:
        """``(N, C_in, H, W)`` -> ``(N, 960, H/32, W/32)``."""
        check_image_input("MobileNetV4", x, self.in_chans)
        return self.blocks(self.act1(self.bn1(self.conv_stem(x))))

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        x = self.act2(self.norm_head(self.conv_head(self.global_pool(x))))  # (N, 1280, 1, 1)
        if self.global_pool.pool_type:  # timm keeps the map when pooling is off
            x = torch.flatten(x, 1)  # (N, 1280)
        x = self.drop(x)
        return x if pre_logits else self.classifier(x)


@register_model(
    family="mobilenetv4",
    paper="MobileNetV4: Universal Models for the Mobile Ecosystem",
    year=2024,
    arxiv="2404.10518",
    input_size=(3, 224, 224),
    reference_params=3_774_024,
    source="timm mobilenetv4_conv_small (model card: 3.8M; exact count as reported for timm's model)",
    test_input_size=(3, 32, 32),  # 1x1 after the last stride-2 stage
)
def mobilenetv4_conv_small(**kwargs: Any) -> MobileNetV4:
    return MobileNetV4(CONV_SMALL, **kwargs)


_MNV4 = dict(family="mobilenetv4", paper="MobileNetV4: Universal Models for the Mobile Ecosystem", year=2024,
             arxiv="2404.10518", input_size=(3, 224, 224), test_input_size=(3, 32, 32))
_MNV4_SRC = ("timm {} (model card: {}M); exact count = timm.create_model(..., pretrained=False) on the meta "
             "device (tests/models/test_mobilenetv4_variants.py)")


@register_model(**_MNV4, reference_params=9_715_512,
                source=_MNV4_SRC.format("mobilenetv4_conv_medium", 9.7))
def mobilenetv4_conv_medium(**kwargs: Any) -> MobileNetV4:
    """MobileNetV4-Conv-Medium: FusedIB stem stage, 2 / 8 / 11 UIB blocks (80 / 160 / 256 ch), ReLU."""
    return MobileNetV4(CONV_MEDIUM, **{"stem_size": 32, **kwargs})


@register_model(**_MNV4, reference_params=32_590_864,
                source=_MNV4_SRC.format("mobilenetv4_conv_large", 32.6))
def mobilenetv4_conv_large(**kwargs: Any) -> MobileNetV4:
    """MobileNetV4-Conv-Large: stem 24, FusedIB stage, 2 / 11 / 13 UIB blocks (96 / 192 / 512 ch), ReLU."""
    return MobileNetV4(CONV_LARGE, **{"stem_size": 24, **kwargs})


@register_model(**_MNV4, reference_params=11_074_648,
                source=_MNV4_SRC.format("mobilenetv4_hybrid_medium", 11.1))
def mobilenetv4_hybrid_medium(**kwargs: Any) -> MobileNetV4:
    """MobileNetV4-Hybrid-Medium: Conv-Medium-like with 4 + 4 Mobile MQA blocks (KV stride 2 in stage 3),
    layer scale 1e-5 on the UIB and MQA blocks, ReLU."""
    return MobileNetV4(HYBRID_MEDIUM, **{"stem_size": 32, "layer_scale_init_value": 1e-5, **kwargs})
