"""3-D U-Net — Cicek, Abdulkadir, Lienkamp, Brox, Ronneberger, "3D U-Net: Learning Dense Volumetric
Segmentation from Sparse Annotation", MICCAI 2016, arXiv:1606.06650.

Analysis path, level i = 0 .. depth-1 (b = ``base_channels``, 32 in the paper):

    two 3x3x3 conv -> norm -> act with b*2^i then b*2^(i+1) channels (doubling *before* pooling),
    then 2x2x2 max pool, stride 2 (not after the bottom level)

Synthesis path, level i = depth-2 .. 0:

    2x2x2 up-convolution, stride 2 (ConvTranspose3d, keeps the b*2^(i+2) channels from below, no bias),
    concatenate the analysis feature map of level i (b*2^(i+1) channels; centre-cropped when padding=0),
    two 3x3x3 conv -> norm -> act with b*2^(i+1) channels

(norm: ``norm_layer``, BatchNorm3d by default, through :func:`dlzoo.nn.get_norm_layer`; act: ``act_layer``,
ReLU by default, through :func:`dlzoo.nn.create_act`.)

Head: 1x1x1 conv to ``out_channels`` (segmentation logits, or regression targets). The paper's network
(depth 4, b = 32, 3 input channels, 3 labels, valid convolutions) has 19,069,955 parameters without
BN affine parameters (Caffe's BatchNorm layer has none), which is ``unet3d()``'s default.
The up-convolutions carry no bias, which is what that count implies.

Shapes: (N, in_channels, D, H, W) -> (N, out_channels, D', H', W'); with ``padding=1`` (default) D' = D etc.
and D, H, W must be divisible by 2^(depth-1); with ``padding=0`` (the paper's valid convolutions) the output
shrinks (132x132x116 -> 44x44x28 for the paper's network). Spatio-temporal data works the same with T as D.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from ..nn import Conv3d, ConvTranspose3d, MaxPool3d, get_norm_layer
from ..nn.create_act import ActSpec, create_act
from ..nn.factory import NormSpec, norm_name
from . import register_model

__all__ = ["UNet3D"]


class DoubleConv3d(nn.Sequential):
    """(conv 3x3x3 -> norm -> act) x 2: (N, C_in, D, H, W) -> (N, C_out, D', H', W')."""

    def __init__(self, in_ch: int, mid_ch: int, out_ch: int, norm, padding: int,
                 act_layer: ActSpec = "relu") -> None:
        super().__init__(
            Conv3d(in_ch, mid_ch, 3, padding=padding), norm(mid_ch), create_act(act_layer),
            Conv3d(mid_ch, out_ch, 3, padding=padding), norm(out_ch), create_act(act_layer),
        )


def _center_crop(x: Tensor, size: torch.Size) -> Tensor:
    """Crop the trailing three dims of x to ``size`` around the centre (the paper's valid-conv skips)."""
    slices = [slice(None), slice(None)]
    for have, want in zip(x.shape[2:], size):
        start = (have - want) // 2
        slices.append(slice(start, start + want))
    return x[tuple(slices)]


class UNet3D(nn.Module):
    """3-D U-Net (see module docstring). ``depth`` counts resolution levels including the bottom one."""

    def __init__(
        self,
        in_channels: int = 1,
        out_channels: int = 1,
        base_channels: int = 32,
        depth: int = 4,
        padding: int = 1,
        norm_layer: NormSpec = "batchnorm",
        norm_kwargs: dict[str, Any] | None = None,
        act_layer: ActSpec = "relu",
    ) -> None:
        super().__init__()
        if depth < 2:
            raise ValueError(f"UNet3D: depth must be >= 2 (one pooling step), got {depth}")
        if padding not in (0, 1):
            raise ValueError(f"UNet3D: padding must be 1 (same) or 0 (valid, as in the paper), got {padding}")
        norm = get_norm_layer(norm_layer, channels_first=True, spatial_dims=3, **(norm_kwargs or {}))
        self.in_channels, self.out_channels = in_channels, out_channels
        self.depth, self.padding = depth, padding
        b = base_channels
        self.encoder = nn.ModuleList()
        prev = in_channels
        for i in range(depth):
            self.encoder.append(DoubleConv3d(prev, b * 2 ** i, b * 2 ** (i + 1), norm, padding, act_layer))
            prev = b * 2 ** (i + 1)
        self.pool = MaxPool3d(2, stride=2)
        self.upconvs = nn.ModuleList()
        self.decoder = nn.ModuleList()
        for i in reversed(range(depth - 1)):
            below, skip = b * 2 ** (i + 2), b * 2 ** (i + 1)
            self.upconvs.append(ConvTranspose3d(below, below, 2, stride=2, bias=False))
            self.decoder.append(DoubleConv3d(below + skip, skip, skip, norm, padding, act_layer))
        self.head = Conv3d(2 * b, out_channels, 1)
        self.num_features = 2 * b

    def _check(self, x: Tensor) -> None:
        if x.dim() != 5 or x.shape[1] != self.in_channels:
            raise ValueError(f"UNet3D: expected (N, {self.in_channels}, D, H, W) input, got {list(x.shape)}")
        if self.padding == 1:
            m = 2 ** (self.depth - 1)
            if any(s % m for s in x.shape[2:]):
                raise ValueError(f"UNet3D: D, H, W must be divisible by {m} (depth {self.depth}), "
                                 f"got {list(x.shape[2:])}")

    def forward_features(self, x: Tensor) -> Tensor:
        """(N, in_channels, D, H, W) -> last synthesis features (N, 2 * base_channels, D', H', W')."""
        self._check(x)
        skips = []
        for i, block in enumerate(self.encoder):
            x = block(x)
            if i < self.depth - 1:
                skips.append(x)
                x = self.pool(x)  # (N, C, D/2, H/2, W/2)
        for up, block, skip in zip(self.upconvs, self.decoder, reversed(skips)):
            x = up(x)  # (N, C, 2D, 2H, 2W)
            if x.shape[2:] != skip.shape[2:]:
                skip = _center_crop(skip, x.shape[2:])
            x = block(torch.cat([skip, x], dim=1))  # concat along channels
        return x

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.forward_features(x))


_CARD = dict(family="unet3d", paper="3D U-Net: Learning Dense Volumetric Segmentation from Sparse Annotation",
             year=2016, arxiv="1606.06650", task="segmentation")


# test sizes: the smallest volumes the same-padding nets accept (divisible by 2^(depth-1))
@register_model(**_CARD, input_size=(3, 128, 128, 112), reference_params=19_069_955,
                test_input_size=(3, 8, 8, 8),
                source="paper Sec. 2 (3 input channels, 3 labels, BN without affine params)")
def unet3d(**kwargs: Any) -> UNet3D:
    """The paper's network: depth 4, channels (32,64 / 64,128 / 128,256 / 256,512), 3 -> 3 channels.

    As in the paper (Caffe's BatchNorm layer), the default BN has no affine parameters; pass
    ``norm_kwargs={"affine": True}`` or another ``norm_layer`` to change that."""
    defaults: dict[str, Any] = dict(in_channels=3, out_channels=3, base_channels=32, depth=4)
    if norm_name(kwargs.get("norm_layer", "batchnorm")) == "batchnorm" and kwargs.get("norm_kwargs") is None:
        defaults["norm_kwargs"] = {"affine": False}
    return UNet3D(**{**defaults, **kwargs})


@register_model(**_CARD, input_size=(1, 16, 32, 32), test_input_size=(1, 4, 8, 8), reference_params=72_097,
                source="closed form of the paper's layer list at depth 3, base 4, BN affine "
                       "(sum of k^3 * in * out + bias, up-convs without bias, 2 * C per BN)")
def unet3d_tiny(**kwargs: Any) -> UNet3D:
    """A small 3-level 3-D U-Net for tests and quick runs: channels (4,8 / 8,16 / 16,32)."""
    return UNet3D(**{**dict(in_channels=1, out_channels=1, base_channels=4, depth=3), **kwargs})
