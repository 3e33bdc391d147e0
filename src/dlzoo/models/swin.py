"""Swin Transformer — Liu, Lin, Cao, Hu, Wei, Zhang, Lin, Guo, "Swin Transformer: Hierarchical Vision
Transformer using Shifted Windows", ICCV 2021, arXiv:2103.14030.

    patch_embed: Conv P x P stride P -> norm                        (B, 3, H, W) -> (B, H/P, W/P, C)
    stage i:     [PatchMerging (i > 0)] -> depth_i blocks, alternating W-MSA and SW-MSA (shift M/2)   (Eq. 3)
        z'  = x + DropPath(W-MSA(LN(x)))      z = z' + DropPath(MLP(LN(z')))
    head:        norm -> mean over tokens -> Linear                 (B, H/32, W/32, 8C) -> (B, num_classes)

Activations stay channels-last (B, H, W, C) throughout. As in the official code and timm, the window is
shrunk to the feature map and the shift disabled where a stage's resolution is <= the window, a map that is
not a multiple of the window is zero-padded at the bottom/right for the attention (and cropped after), so
any ``img_size`` divisible by ``patch_size * 2^(stages - 1)`` works (e.g. ``img_size=32`` with window 7).
Key names follow timm (``patch_embed.{proj,norm}``, ``layers.i.downsample``,
``layers.i.blocks.j.{norm1,attn,norm2,mlp}``, ``norm``, ``head.fc``), so timm state dicts load strictly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..nn import ClassifierHead, DropPath, Identity, Linear, Mlp, PatchEmbed, get_norm_layer
from ..nn.attention.window import WindowAttention, shifted_window_mask, window_partition, window_reverse
from ..nn.create_act import ActSpec
from ..nn.factory import NormSpec
from ..nn.patch_merging import PatchMerging
from ..nn.regularization import drop_path_rates
from . import register_model
from ._base import ClassifierMixin

__all__ = ["SwinTransformer", "SwinTransformerBlock", "SwinTransformerStage"]


class SwinTransformerBlock(nn.Module):
    """One (shifted-)window attention block on a fixed (H, W) grid. Shapes: (B, H, W, C) -> same."""

    def __init__(self, dim: int, input_resolution: tuple[int, int], num_heads: int, window_size: int = 7,
                 shift_size: int = 0, mlp_ratio: float = 4.0, qkv_bias: bool = True, proj_drop: float = 0.0,
                 attn_drop: float = 0.0, drop_path: float = 0.0, norm_layer=None,
                 act_layer: ActSpec = "gelu") -> None:
        super().__init__()
        norm_layer = norm_layer or get_norm_layer("layernorm")
        self.dim = dim
        self.input_resolution = tuple(input_resolution)
        if min(self.input_resolution) <= window_size:  # one window covers the map: no shift needed
            window_size, shift_size = min(self.input_resolution), 0
        self.window_size, self.shift_size = window_size, shift_size
        self.norm1 = norm_layer(dim)
        self.attn = WindowAttention(dim, num_heads, window_size, qkv_bias, attn_drop, proj_drop)
        self.drop_path1 = DropPath(drop_path) if drop_path > 0.0 else Identity()
        self.norm2 = norm_layer(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), act_layer=act_layer, drop=proj_drop)
        self.drop_path2 = DropPath(drop_path) if drop_path > 0.0 else Identity()
        h, w = (math.ceil(r / window_size) * window_size for r in self.input_resolution)  # padded map
        mask = shifted_window_mask(h, w, window_size, shift_size) if shift_size > 0 else None
        self.register_buffer("attn_mask", mask, persistent=False)

    def _attn(self, x: Tensor) -> Tensor:
        b, h, w, c = x.shape
        s, m = self.shift_size, self.window_size
        if s > 0:
            x = torch.roll(x, shifts=(-s, -s), dims=(1, 2))  # cyclic shift towards the top-left
        pad_h, pad_w = (m - h % m) % m, (m - w % m) % m
        x = F.pad(x, (0, 0, 0, pad_w, 0, pad_h))  # (B, Hp, Wp, C): zeros at the bottom/right
        hp, wp = h + pad_h, w + pad_w
        windows = window_partition(x, m).view(-1, m * m, c)  # (B*nW, N, C)
        windows = self.attn(windows, mask=self.attn_mask)
        x = window_reverse(windows.view(-1, m, m, c), m, hp, wp)[:, :h, :w]  # (B, H, W, C)
        if s > 0:
            x = torch.roll(x, shifts=(s, s), dims=(1, 2))
        return x

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4 or tuple(x.shape[1:3]) != self.input_resolution or x.shape[3] != self.dim:
            h, w = self.input_resolution
            raise ValueError(f"SwinTransformerBlock: expected (B, {h}, {w}, {self.dim}), got {list(x.shape)}")
        x = x + self.drop_path1(self._attn(self.norm1(x)))
        return x + self.drop_path2(self.mlp(self.norm2(x)))


class SwinTransformerStage(nn.Module):
    """[PatchMerging] + ``depth`` blocks; odd blocks use shifted windows."""

    def __init__(self, dim: int, out_dim: int, input_resolution: tuple[int, int], depth: int, num_heads: int,
                 window_size: int, downsample: bool, drop_path: Sequence[float], norm_layer, merge_norm,
                 **block_kw: Any) -> None:
        super().__init__()
        res = (input_resolution[0] // 2, input_resolution[1] // 2) if downsample else tuple(input_resolution)
        self.downsample = PatchMerging(dim, out_dim, norm_layer=merge_norm) if downsample else Identity()
        self.blocks = nn.Sequential(*[
            SwinTransformerBlock(out_dim, res, num_heads, window_size, 0 if j % 2 == 0 else window_size // 2,
                                 drop_path=drop_path[j], norm_layer=norm_layer, **block_kw)
            for j in range(depth)
        ])
        self.output_resolution = res

    def forward(self, x: Tensor) -> Tensor:
        return self.blocks(self.downsample(x))


class SwinTransformer(ClassifierMixin, nn.Module):
    """Swin Transformer classifier (see module docstring). Input (B, in_chans, img_size, img_size).

    ``global_pool``: pooling over the token grid before the head (``"avg"`` as timm; ``"max"``, ``"avgmax"``,
    ``""`` none), switchable with ``reset_classifier(k, global_pool=...)``.
    """

    classifier_name = "head.fc"
    global_pool_name = "head"

    def __init__(
        self,
        img_size: int = 224,
        patch_size: int = 4,
        in_chans: int = 3,
        num_classes: int = 1000,
        global_pool: str = "avg",
        embed_dim: int = 96,
        depths: Sequence[int] = (2, 2, 6, 2),
        num_heads: Sequence[int] = (3, 6, 12, 24),
        window_size: int = 7,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        drop_rate: float = 0.0,
        proj_drop_rate: float = 0.0,
        attn_drop_rate: float = 0.0,
        drop_path_rate: float = 0.1,
        norm_layer: NormSpec = "layernorm",
        norm_kwargs: dict[str, Any] | None = None,
        act_layer: ActSpec = "gelu",
    ) -> None:
        super().__init__()
        if len(depths) != len(num_heads):
            raise ValueError(f"SwinTransformer: depths {list(depths)} and num_heads {list(num_heads)} differ")
        if img_size % patch_size or (img_size // patch_size) % (2 ** (len(depths) - 1)):
            raise ValueError(f"SwinTransformer: img_size {img_size} must be divisible by patch_size "
                             f"{patch_size} times 2^{len(depths) - 1}")
        norm = get_norm_layer(norm_layer, **(norm_kwargs or {}))
        self.num_classes, self.in_chans, self.img_size = num_classes, in_chans, img_size
        self.patch_embed = PatchEmbed(img_size, patch_size, in_chans, embed_dim, norm_layer=norm,
                                      output_fmt="NHWC")  # (B, H/P, W/P, D)
        res = (img_size // patch_size, img_size // patch_size)
        rates = drop_path_rates(drop_path_rate, list(depths))
        layers, dim = [], embed_dim
        for i, (depth, heads) in enumerate(zip(depths, num_heads)):
            out_dim = embed_dim * 2 ** i
            stage = SwinTransformerStage(dim, out_dim, res, depth, heads, window_size, downsample=i > 0,
                                         drop_path=rates[i], norm_layer=norm, merge_norm=norm,
                                         mlp_ratio=mlp_ratio, qkv_bias=qkv_bias, proj_drop=proj_drop_rate,
                                         attn_drop=attn_drop_rate, act_layer=act_layer)
            layers.append(stage)
            res, dim = stage.output_resolution, out_dim
        self.layers = nn.Sequential(*layers)
        self.num_features = dim
        self.norm = norm(dim)
        self.drop_rate = drop_rate
        self.head = ClassifierHead(dim, num_classes, pool_type=global_pool, drop_rate=drop_rate,
                                   input_fmt="NHWC")
        self.init_weights()

    def init_weights(self) -> None:
        """timm's Swin init: Linear weights ~ trunc-normal(.02), zero biases (the bias tables are initialised
        by WindowAttention)."""
        for m in self.modules():
            if isinstance(m, Linear):
                nn.init.trunc_normal_(m.weight, std=0.02, a=-2.0, b=2.0)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def no_weight_decay(self) -> set[str]:
        """The relative position bias tables (timm's ``no_weight_decay``)."""
        return {n for n, _ in self.named_parameters() if "relative_position_bias_table" in n}

    def forward_features(self, x: Tensor) -> Tensor:
        """(B, in_chans, H, W) -> normalized tokens (B, H/32, W/32, num_features), channels-last."""
        size = (self.img_size, self.img_size)
        if x.dim() != 4 or x.shape[1] != self.in_chans or tuple(x.shape[2:]) != size:
            raise ValueError(f"SwinTransformer: expected input (B, {self.in_chans}, {self.img_size}, "
                             f"{self.img_size}), got {list(x.shape)}")
        return self.norm(self.layers(self.patch_embed(x)))

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        """(B, h, w, C) -> logits (B, num_classes), or the pooled features if ``pre_logits``."""
        return self.head(x, pre_logits=pre_logits)


_CARD = dict(family="swin", paper="Swin Transformer: Hierarchical Vision Transformer using Shifted Windows",
             year=2021, arxiv="2103.14030", input_size=(3, 224, 224),
             # 8x8 -> 4x4 -> 2x2 -> 1x1 token grids: a shifted, masked window (4) in the first stage
             test_input_size=(3, 32, 32), test_kwargs={"img_size": 32, "window_size": 4})


@register_model(**_CARD, reference_params=28_288_354, source="timm swin_tiny_patch4_window7_224 / paper 28M")
def swin_tiny_patch4_window7_224(**kwargs: Any) -> SwinTransformer:
    """Swin-T: C=96, depths (2, 2, 6, 2), heads (3, 6, 12, 24), window 7, 224x224."""
    return SwinTransformer(**{**dict(embed_dim=96, depths=(2, 2, 6, 2), num_heads=(3, 6, 12, 24)), **kwargs})


@register_model(**_CARD, reference_params=49_606_258, source="timm swin_small_patch4_window7_224 / paper 50M")
def swin_small_patch4_window7_224(**kwargs: Any) -> SwinTransformer:
    """Swin-S: C=96, depths (2, 2, 18, 2), heads (3, 6, 12, 24), window 7, 224x224."""
    return SwinTransformer(**{**dict(embed_dim=96, depths=(2, 2, 18, 2), num_heads=(3, 6, 12, 24)), **kwargs})


@register_model(**_CARD, reference_params=87_768_224, source="timm swin_base_patch4_window7_224 / paper 88M")
def swin_base_patch4_window7_224(**kwargs: Any) -> SwinTransformer:
    """Swin-B: C=128, depths (2, 2, 18, 2), heads (4, 8, 16, 32), window 7, 224x224."""
    defaults = dict(embed_dim=128, depths=(2, 2, 18, 2), num_heads=(4, 8, 16, 32))
    return SwinTransformer(**{**defaults, **kwargs})
