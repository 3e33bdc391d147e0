"""Non-local block: every position attends to every other position of a 1-D, 2-D or 3-D feature map.

Wang, Girshick, Gupta, He, "Non-local Neural Networks", CVPR 2018, arXiv:1711.07971, Eq. 1-6 and Fig. 2:

    y_i = 1/C(x) sum_j f(x_i, x_j) g(x_j),    z_i = W_z y_i + x_i      (Eq. 1, 6)

with ``theta``, ``phi``, ``g`` 1x1 convolutions to ``inter_channels = C / 2`` and the pairwise function
``mode``:

* ``"embedded_gaussian"``: ``f / C = softmax_j(theta_i^T phi_j)`` (Eq. 3; no 1/sqrt(d)) -- softmax attention,
  computed by dlzoo's :func:`scaled_dot_product_attention` with ``scale=1``;
* ``"dot_product"``: ``f = theta_i^T phi_j``, ``C = N`` (Eq. 4, N = number of positions of ``phi``);
* ``"concatenation"``: ``f = ReLU(w_f^T [theta_i; phi_j])``, ``C = N`` (Eq. 5; ``w_f^T [a; b]`` is
  evaluated as ``w_a^T a + w_b^T b`` on the two halves of ``w_f``).

``W_z`` is a 1x1 conv followed by BatchNorm whose weight and bias start at 0 (``bn_layer=False``: the conv
weight and bias start at 0), so a new block is the identity. ``sub_sample=True`` max-pools ``phi`` and ``g``
by 2 in every spatial dim (the paper's cheaper variant).

Shapes: ``(B, C, *spatial)`` with ``len(spatial) == dimension`` -> same shape.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..batchnorm import BatchNorm1d, BatchNorm2d, BatchNorm3d
from ..channel_affine import check_positive_int
from ..conv import Conv1d, Conv2d, Conv3d
from ..pooling import MaxPool1d, MaxPool2d, MaxPool3d
from .multihead import scaled_dot_product_attention

__all__ = ["NonLocalAttention"]

_MODES = ("embedded_gaussian", "dot_product", "concatenation")
_CONV = {1: Conv1d, 2: Conv2d, 3: Conv3d}
_BN = {1: BatchNorm1d, 2: BatchNorm2d, 3: BatchNorm3d}
_POOL = {1: MaxPool1d, 2: MaxPool2d, 3: MaxPool3d}


class NonLocalAttention(nn.Module):
    """Residual non-local block ``z = W_z y + x`` (see module docstring)."""

    def __init__(self, in_channels: int, inter_channels: int | None = None, mode: str = "embedded_gaussian",
                 dimension: int = 2, sub_sample: bool = False, bn_layer: bool = True) -> None:
        super().__init__()
        name = "NonLocalAttention"
        self.in_channels = check_positive_int(name, "in_channels", in_channels)
        if mode not in _MODES:
            raise ValueError(f"{name}: mode must be one of {_MODES}, got {mode!r}")
        if dimension not in _CONV:
            raise ValueError(f"{name}: dimension must be 1, 2 or 3, got {dimension!r}")
        inter = max(in_channels // 2, 1) if inter_channels is None else inter_channels
        self.inter_channels = check_positive_int(name, "inter_channels", inter)
        self.mode, self.dimension, self.sub_sample = mode, dimension, sub_sample
        conv = _CONV[dimension]
        self.theta = conv(in_channels, inter, 1)
        self.phi = conv(in_channels, inter, 1)
        self.g = conv(in_channels, inter, 1)
        self.pool = _POOL[dimension](2) if sub_sample else None
        if mode == "concatenation":
            self.concat_project = conv(2 * inter, 1, 1, bias=False)  # w_f: [theta; phi] -> 1
        if bn_layer:
            self.W_z = nn.Sequential(conv(inter, in_channels, 1), _BN[dimension](in_channels))
            nn.init.zeros_(self.W_z[1].weight)
            nn.init.zeros_(self.W_z[1].bias)
        else:
            self.W_z = conv(inter, in_channels, 1)
            nn.init.zeros_(self.W_z.weight)
            nn.init.zeros_(self.W_z.bias)

    def pairwise(self, theta: Tensor, phi: Tensor) -> Tensor:
        """Normalised affinities ``f(x_i, x_j) / C(x)``: ``theta (B, N, d)``, ``phi (B, M, d)`` ->
        ``(B, N, M)`` (explicit form of every mode; :meth:`forward` sends the softmax mode through SDPA)."""
        if self.mode == "embedded_gaussian":
            return torch.softmax(theta @ phi.transpose(1, 2), dim=-1)
        if self.mode == "dot_product":
            return theta @ phi.transpose(1, 2) / phi.shape[1]
        w = self.concat_project.weight.flatten()  # (2d,): w_f = [w_theta; w_phi]
        d = self.inter_channels
        a = theta @ w[:d]  # (B, N)
        b = phi @ w[d:]  # (B, M)
        return torch.relu(a[:, :, None] + b[:, None, :]) / phi.shape[1]  # (B, N, M)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != self.dimension + 2 or x.shape[1] != self.in_channels:
            raise ValueError(f"NonLocalAttention: expected ({'B, C' + ', *' * self.dimension}) with C = "
                             f"{self.in_channels} ({self.dimension}-D), got {list(x.shape)}")
        b, spatial = x.shape[0], x.shape[2:]
        theta = self.theta(x).flatten(2).transpose(1, 2)  # (B, N, d)
        phi_in, g_in = self.phi(x), self.g(x)
        if self.pool is not None:
            phi_in, g_in = self.pool(phi_in), self.pool(g_in)
        phi = phi_in.flatten(2).transpose(1, 2)  # (B, M, d)
        g = g_in.flatten(2).transpose(1, 2)  # (B, M, d)
        if self.mode == "embedded_gaussian":
            y = scaled_dot_product_attention(theta, phi, g, scale=1.0)  # (B, N, d)
        else:
            y = self.pairwise(theta, phi) @ g  # (B, N, M) @ (B, M, d) -> (B, N, d)
        y = y.transpose(1, 2).reshape(b, self.inter_channels, *spatial)  # (B, d, *spatial)
        return self.W_z(y) + x

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, inter_channels={self.inter_channels}, mode={self.mode!r}, "
                f"dimension={self.dimension}, sub_sample={self.sub_sample}")
