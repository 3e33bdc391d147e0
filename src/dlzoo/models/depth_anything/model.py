"""Depth Anything — Yang, Kang, Huang, Xu, Feng, Zhao, "Depth Anything: Unleashing the Power of Large-Scale
Unlabeled Data", CVPR 2024, arXiv:2401.10891: a DINOv2 ViT encoder (Oquab et al. 2023, arXiv:2304.07193)
with the DPT decoder (Ranftl, Bochkovskiy, Koltun, "Vision Transformers for Dense Prediction", ICCV 2021,
arXiv:2103.13413) predicting relative (affine-invariant inverse) depth.

    t^l = Norm(z_l)[:, 1:]                     tokens of 4 encoder blocks, class token dropped   (B, N, D)
    Reassemble_l:  (B, N, D) -> (B, D, H/p, W/p) -> 1x1 conv to D_l -> resample by s_l           DPT eq. 5
                   (s_l = 4, 2: transposed conv; 1: identity; 1/2: 3x3 conv, stride 2)
    r_l = Conv3x3(Reassemble_l)                                     (B, F, h_l, w_l), no bias
    Fusion (coarse to fine):  f_4 = Up(RCU2(r_4)),  f_l = Up(RCU2(f_{l+1} + RCU1(r_l)))          DPT fig. 1
        RCU(x) = x + Conv(ReLU(Conv(ReLU(x))))  (pre-activation residual conv unit);
        Up = bilinear resize (align_corners=True) to the next finer map (x2 after the last), then 1x1 conv
    depth = max_depth * act(Conv1x1(ReLU(Conv3x3(Resize_{H,W}(Conv3x3(f_1))))))   act = ReLU (relative) or
            sigmoid (metric)                                                       (B, H, W)

Module and parameter names of the neck and head follow transformers' ``DepthAnythingForDepthEstimation``
(``neck.reassemble_stage.layers.i.projection/resize``, ``neck.convs.i``, ``neck.fusion_stage.layers.i.
{projection,residual_layer1,residual_layer2}``, ``head.conv1..3``); the encoder is dlzoo's
:class:`~dlzoo.models.vit.VisionTransformer` (timm key names) with layer scale and position embeddings
resized to the input's patch grid. Input (B, C, H, W), H and W divisible by the patch size ->
depth (B, H, W).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from ...nn.activations import ReLU, Sigmoid
from ...nn.conv import Conv2d, ConvTranspose2d
from ...nn.create_act import ActSpec
from ...nn.linear import Identity
from ..vit import VisionTransformer

__all__ = ["DepthAnythingForDepthEstimation", "DepthAnythingNeck", "DepthAnythingDepthEstimationHead",
           "DepthAnythingReassembleLayer", "DepthAnythingReassembleStage", "DepthAnythingPreActResidualLayer",
           "DepthAnythingFeatureFusionLayer", "DepthAnythingFeatureFusionStage", "DEPTH_TYPES"]

DEPTH_TYPES = ("relative", "metric")


class DepthAnythingReassembleLayer(nn.Module):
    """1x1 projection to ``channels`` then resampling by ``factor`` (>1: transposed conv, 1: identity,
    <1: strided 3x3 conv). (B, D, h, w) -> (B, channels, h * factor, w * factor)."""

    def __init__(self, in_channels: int, channels: int, factor: float) -> None:
        super().__init__()
        if factor <= 0:
            raise ValueError(f"DepthAnythingReassembleLayer: factor must be > 0, got {factor}")
        self.projection = Conv2d(in_channels, channels, kernel_size=1)
        if factor > 1:
            self.resize: nn.Module = ConvTranspose2d(channels, channels, kernel_size=int(factor),
                                                     stride=int(factor), padding=0)
        elif factor == 1:
            self.resize = Identity()
        else:
            self.resize = Conv2d(channels, channels, kernel_size=3, stride=int(1 / factor), padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return self.resize(self.projection(x))


class DepthAnythingReassembleStage(nn.Module):
    """Tokens -> image-like maps: drop the prefix tokens, (B, N, D) -> (B, D, gh, gw), then one
    :class:`DepthAnythingReassembleLayer` per tapped block."""

    def __init__(self, in_channels: int, neck_hidden_sizes: Sequence[int],
                 reassemble_factors: Sequence[float], num_prefix_tokens: int = 1) -> None:
        super().__init__()
        self.num_prefix_tokens = num_prefix_tokens
        self.layers = nn.ModuleList(DepthAnythingReassembleLayer(in_channels, c, f)
                                    for c, f in zip(neck_hidden_sizes, reassemble_factors))

    def forward(self, hidden_states: Sequence[Tensor], patch_height: int, patch_width: int) -> list[Tensor]:
        out = []
        for layer, h in zip(self.layers, hidden_states):
            h = h[:, self.num_prefix_tokens:]  # (B, N, D)
            b, _, d = h.shape
            h = h.reshape(b, patch_height, patch_width, d).permute(0, 3, 1, 2).contiguous()  # (B, D, gh, gw)
            out.append(layer(h))
        return out


class DepthAnythingPreActResidualLayer(nn.Module):
    """Residual conv unit: x + Conv3x3(ReLU(Conv3x3(ReLU(x)))). (B, F, h, w) -> (B, F, h, w)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.activation1 = ReLU()
        self.convolution1 = Conv2d(channels, channels, kernel_size=3, stride=1, padding=1, bias=True)
        self.activation2 = ReLU()
        self.convolution2 = Conv2d(channels, channels, kernel_size=3, stride=1, padding=1, bias=True)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.convolution2(self.activation2(self.convolution1(self.activation1(x))))


class DepthAnythingFeatureFusionLayer(nn.Module):
    """f = Conv1x1(Up(RCU2(x + RCU1(residual)))); Up resizes to ``size`` (or x2), bilinear, corners aligned.

    ``has_residual=False`` (the coarsest layer, which never gets a residual) builds no ``residual_layer1``:
    HF builds one there that no forward uses; dlzoo leaves the dead weights out.
    """

    def __init__(self, channels: int, has_residual: bool = True) -> None:
        super().__init__()
        self.projection = Conv2d(channels, channels, kernel_size=1, bias=True)
        self.residual_layer1 = DepthAnythingPreActResidualLayer(channels) if has_residual else None
        self.residual_layer2 = DepthAnythingPreActResidualLayer(channels)

    def forward(self, x: Tensor, residual: Tensor | None = None, size: Sequence[int] | None = None) -> Tensor:
        if residual is not None:
            if self.residual_layer1 is None:
                raise ValueError("DepthAnythingFeatureFusionLayer: built with has_residual=False, "
                                 "got a residual")
            if residual.shape != x.shape:
                residual = F.interpolate(residual, size=tuple(x.shape[2:]), mode="bilinear",
                                         align_corners=False)
            x = x + self.residual_layer1(residual)
        x = self.residual_layer2(x)
        if size is None:
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True)  # (B, F, 2h, 2w)
        else:
            x = F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=True)
        return self.projection(x)


class DepthAnythingFeatureFusionStage(nn.Module):
    """Fuse the maps from coarse to fine; returns every fused map (finest last)."""

    def __init__(self, channels: int, num_layers: int) -> None:
        super().__init__()
        # layers[0] fuses the coarsest map alone: no residual branch
        self.layers = nn.ModuleList(DepthAnythingFeatureFusionLayer(channels, has_residual=i > 0)
                                    for i in range(num_layers))

    def forward(self, hidden_states: Sequence[Tensor]) -> list[Tensor]:
        maps = list(hidden_states)[::-1]  # coarse to fine
        fused: list[Tensor] = []
        f: Tensor | None = None
        for i, (h, layer) in enumerate(zip(maps, self.layers)):
            size = maps[i + 1].shape[2:] if i + 1 < len(maps) else None
            f = layer(h, size=size) if f is None else layer(f, h, size=size)
            fused.append(f)
        return fused


class DepthAnythingNeck(nn.Module):
    """DPT neck: reassemble, 3x3 conv to ``fusion_hidden_size`` (no bias), fusion."""

    def __init__(self, in_channels: int, neck_hidden_sizes: Sequence[int],
                 reassemble_factors: Sequence[float], fusion_hidden_size: int,
                 num_prefix_tokens: int = 1) -> None:
        super().__init__()
        self.num_maps = len(neck_hidden_sizes)
        self.reassemble_stage = DepthAnythingReassembleStage(in_channels, neck_hidden_sizes,
                                                             reassemble_factors, num_prefix_tokens)
        self.convs = nn.ModuleList(Conv2d(c, fusion_hidden_size, kernel_size=3, padding=1, bias=False)
                                   for c in neck_hidden_sizes)
        self.fusion_stage = DepthAnythingFeatureFusionStage(fusion_hidden_size, len(neck_hidden_sizes))

    def forward(self, hidden_states: Sequence[Tensor], patch_height: int, patch_width: int) -> list[Tensor]:
        if len(hidden_states) != self.num_maps:
            raise ValueError(f"DepthAnythingNeck: expected {self.num_maps} hidden states, "
                             f"got {len(hidden_states)}")
        maps = self.reassemble_stage(hidden_states, patch_height, patch_width)
        return self.fusion_stage([conv(m) for conv, m in zip(self.convs, maps)])


class DepthAnythingDepthEstimationHead(nn.Module):
    """conv3x3 (F -> F/2), bilinear resize to the input size, conv3x3 -> ReLU -> conv1x1 -> act * max_depth.
    (B, F, h, w) -> (B, gh * p, gw * p)."""

    def __init__(self, fusion_hidden_size: int, head_hidden_size: int, patch_size: int,
                 head_in_index: int = -1, depth_estimation_type: str = "relative",
                 max_depth: float = 1.0) -> None:
        super().__init__()
        if depth_estimation_type not in DEPTH_TYPES:
            raise ValueError(f"DepthAnythingDepthEstimationHead: depth_estimation_type must be one of "
                             f"{list(DEPTH_TYPES)}, got {depth_estimation_type!r}")
        self.head_in_index = head_in_index
        self.patch_size = patch_size
        self.max_depth = max_depth
        f = fusion_hidden_size
        self.conv1 = Conv2d(f, f // 2, kernel_size=3, stride=1, padding=1)
        self.conv2 = Conv2d(f // 2, head_hidden_size, kernel_size=3, stride=1, padding=1)
        self.activation1 = ReLU()
        self.conv3 = Conv2d(head_hidden_size, 1, kernel_size=1, stride=1, padding=0)
        self.activation2: nn.Module = ReLU() if depth_estimation_type == "relative" else Sigmoid()

    def forward(self, hidden_states: Sequence[Tensor], patch_height: int, patch_width: int) -> Tensor:
        x = self.conv1(hidden_states[self.head_in_index])
        size = (patch_height * self.patch_size, patch_width * self.patch_size)
        x = F.interpolate(x, size=size, mode="bilinear", align_corners=True)  # (B, F/2, H, W)
        x = self.conv3(self.activation1(self.conv2(x)))  # (B, 1, H, W)
        return (self.activation2(x) * self.max_depth).squeeze(1)  # (B, H, W)


class DepthAnythingForDepthEstimation(nn.Module):
    """DINOv2 ViT encoder + DPT neck + depth head (see module docstring).

    Args:
        img_size / patch_size / in_chans / embed_dim / depth / num_heads / mlp_ratio / qkv_bias /
            init_values (layer scale) / layer_norm_eps / act_layer: the ViT encoder (DINOv2 ViT-S/14
            defaults); any input H, W divisible by ``patch_size`` works (position embeddings are resized).
        out_indices: 0-based encoder blocks whose normalized tokens feed the neck (HF's stage i = block i-1).
        neck_hidden_sizes / reassemble_factors: channels and resampling factor of each reassembled map.
        fusion_hidden_size / head_hidden_size / head_in_index: DPT fusion width, head width, fused map used.
        depth_estimation_type: ``"relative"`` (ReLU) or ``"metric"`` (sigmoid * max_depth).
    """

    def __init__(
        self,
        img_size: int | Sequence[int] = 518,
        patch_size: int = 14,
        in_chans: int = 3,
        embed_dim: int = 384,
        depth: int = 12,
        num_heads: int = 6,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        init_values: float | None = 1.0,
        layer_norm_eps: float = 1e-6,
        act_layer: ActSpec = "gelu",
        out_indices: Sequence[int] = (8, 9, 10, 11),
        neck_hidden_sizes: Sequence[int] = (48, 96, 192, 384),
        reassemble_factors: Sequence[float] = (4, 2, 1, 0.5),
        fusion_hidden_size: int = 64,
        head_hidden_size: int = 32,
        head_in_index: int = -1,
        depth_estimation_type: str = "relative",
        max_depth: float = 1.0,
        drop_rate: float = 0.0,
        attn_drop_rate: float = 0.0,
    ) -> None:
        super().__init__()
        n = len(out_indices)
        if n == 0 or len(neck_hidden_sizes) != n or len(reassemble_factors) != n:
            raise ValueError(f"DepthAnythingForDepthEstimation: out_indices, neck_hidden_sizes and "
                             f"reassemble_factors need the same non-zero length, got {list(out_indices)}, "
                             f"{list(neck_hidden_sizes)}, {list(reassemble_factors)}")
        if any(not -depth <= i < depth for i in out_indices):
            raise ValueError(f"DepthAnythingForDepthEstimation: out_indices must lie in [-{depth}, {depth}), "
                             f"got {list(out_indices)}")
        self.patch_size = patch_size
        self.out_indices = tuple(int(i) for i in out_indices)
        self.backbone = VisionTransformer(
            img_size=img_size, patch_size=patch_size, in_chans=in_chans, num_classes=0, global_pool="token",
            embed_dim=embed_dim, depth=depth, num_heads=num_heads, mlp_ratio=mlp_ratio, qkv_bias=qkv_bias,
            init_values=init_values, norm_layer="layernorm", norm_kwargs={"eps": layer_norm_eps},
            act_layer=act_layer, pos_drop_rate=drop_rate, proj_drop_rate=drop_rate,
            attn_drop_rate=attn_drop_rate, dynamic_img_size=True)
        self.neck = DepthAnythingNeck(embed_dim, neck_hidden_sizes, reassemble_factors, fusion_hidden_size,
                                      self.backbone.num_prefix_tokens)
        self.head = DepthAnythingDepthEstimationHead(fusion_hidden_size, head_hidden_size, patch_size,
                                                     head_in_index, depth_estimation_type, max_depth)

    def forward(self, pixel_values: Tensor) -> Tensor:
        """(B, C, H, W) -> predicted depth (B, H, W) (H, W divisible by the patch size)."""
        feats = self.backbone.forward_intermediates(pixel_values, self.out_indices)  # 4 x (B, 1 + N, D)
        gh, gw = pixel_values.shape[2] // self.patch_size, pixel_values.shape[3] // self.patch_size
        return self.head(self.neck(feats, gh, gw), gh, gw)


def build(defaults: dict[str, Any], overrides: dict[str, Any]) -> DepthAnythingForDepthEstimation:
    return DepthAnythingForDepthEstimation(**{**defaults, **overrides})
