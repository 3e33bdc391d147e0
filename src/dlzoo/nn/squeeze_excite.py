"""Channel / spatial attention for convnets: Squeeze-and-Excitation and CBAM.

* SqueezeExcite — Hu, Shen, Albanie, Sun, Wu, "Squeeze-and-Excitation Networks", CVPR 2018,
  arXiv:1709.01507, eqs. 2-4::

      z_c = 1 / (H W) sum_{i,j} u_c(i, j)                 (squeeze, eq. 2)
      s   = sigmoid(W_2 relu(W_1 z))                      (excitation, eq. 3; W_1: C/r x C, W_2: C x C/r)
      y_c = s_c * u_c                                     (scale, eq. 4)

  W_1, W_2 are 1x1 convolutions with bias (``fc1``, ``fc2``: timm's ``SEModule`` layout, so timm
  ``seresnet*`` state dicts load); the reduced width is ``make_divisible(C / r, divisor)``.
* CBAM — Woo, Park, Lee, Kweon, "CBAM: Convolutional Block Attention Module", ECCV 2018,
  arXiv:1807.06521, eqs. 1-3::

      M_c(F) = sigmoid(MLP(AvgPool(F)) + MLP(MaxPool(F)))           (C x 1 x 1, shared MLP, eq. 2)
      F'     = M_c(F) * F
      M_s(F') = sigmoid(f^{7x7}([AvgPool_c(F'); MaxPool_c(F')]))   (1 x H x W, eq. 3)
      F''    = M_s(F') * F'

Shapes: ``(N, C, H, W)`` -> ``(N, C, H, W)``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .conv import Conv2d
from .create_act import ActSpec, create_act

__all__ = ["SqueezeExcite", "CBAM", "ChannelAttention", "SpatialAttention", "make_divisible"]


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None,
                   round_limit: float = 0.9) -> int:
    """Round ``value`` to a multiple of ``divisor`` not below ``round_limit * value`` (MobileNet rule)."""
    min_value = min_value or divisor
    new = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if new < round_limit * value:
        new += divisor
    return new


def _check(layer: str, x: Tensor, channels: int) -> None:
    if x.dim() != 4 or x.shape[1] != channels:
        raise ValueError(f"{layer}: expected input of shape (N, {channels}, H, W), got {list(x.shape)}")


class SqueezeExcite(nn.Module):
    """Squeeze-and-Excitation block (Hu et al. 2018, arXiv:1709.01507).

    Args:
        channels: C.
        rd_ratio: 1 / r (paper: r = 16).
        rd_channels: reduced width; default ``make_divisible(C * rd_ratio, rd_divisor, round_limit=0)``.
        act_layer: the inner non-linearity (ReLU in the paper); gate_layer: the gate (sigmoid).
    """

    def __init__(self, channels: int, rd_ratio: float = 1 / 16, rd_channels: int | None = None,
                 rd_divisor: int = 8, act_layer: ActSpec = "relu",
                 gate_layer: ActSpec = "sigmoid", bias: bool = True) -> None:
        super().__init__()
        self.channels = channels
        if rd_channels is None:
            rd_channels = make_divisible(channels * rd_ratio, rd_divisor, round_limit=0.0)
        self.fc1 = Conv2d(channels, rd_channels, 1, bias=bias)
        self.act = create_act(act_layer)
        self.fc2 = Conv2d(rd_channels, channels, 1, bias=bias)
        self.gate = create_act(gate_layer)

    def forward(self, x: Tensor) -> Tensor:
        _check("SqueezeExcite", x, self.channels)
        z = x.mean(dim=(2, 3), keepdim=True)  # squeeze: (N, C, 1, 1)
        s = self.gate(self.fc2(self.act(self.fc1(z))))  # excitation: (N, C, 1, 1)
        return x * s  # scale


class ChannelAttention(nn.Module):
    """CBAM channel attention ``M_c`` (eq. 2): shared MLP over avg- and max-pooled descriptors."""

    def __init__(self, channels: int, reduction: int = 16, bias: bool = True) -> None:
        super().__init__()
        hidden = max(channels // reduction, 1)
        self.fc1 = Conv2d(channels, hidden, 1, bias=bias)
        self.act = create_act("relu")
        self.fc2 = Conv2d(hidden, channels, 1, bias=bias)
        self.gate = create_act("sigmoid")

    def mlp(self, z: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(z)))

    def forward(self, x: Tensor) -> Tensor:
        avg = x.mean(dim=(2, 3), keepdim=True)  # (N, C, 1, 1)
        mx = x.amax(dim=(2, 3), keepdim=True)  # (N, C, 1, 1)
        return self.gate(self.mlp(avg) + self.mlp(mx))  # (N, C, 1, 1)


class SpatialAttention(nn.Module):
    """CBAM spatial attention ``M_s`` (eq. 3): a k x k conv over channel-wise [mean; max] maps."""

    def __init__(self, kernel_size: int = 7) -> None:
        super().__init__()
        self.conv = Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)
        self.gate = create_act("sigmoid")

    def forward(self, x: Tensor) -> Tensor:
        pooled = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)  # (N, 2, H, W)
        return self.gate(self.conv(pooled))  # (N, 1, H, W)


class CBAM(nn.Module):
    """Convolutional Block Attention Module (Woo et al. 2018, arXiv:1807.06521): channel then spatial.

    The paper's equations use a plain 7x7 convolution for ``f^{7x7}`` (the authors' code adds a
    BatchNorm after it; we follow the equations).
    """

    def __init__(self, channels: int, reduction: int = 16, kernel_size: int = 7) -> None:
        super().__init__()
        self.channels = channels
        self.channel = ChannelAttention(channels, reduction)
        self.spatial = SpatialAttention(kernel_size)

    def forward(self, x: Tensor) -> Tensor:
        _check("CBAM", x, self.channels)
        x = self.channel(x) * x  # F' = M_c(F) * F
        return self.spatial(x) * x  # F'' = M_s(F') * F'
