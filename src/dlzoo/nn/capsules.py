"""Capsule layers: squash, primary capsules and dynamic routing by agreement.

Sabour, Frosst, Hinton, "Dynamic Routing Between Capsules", NeurIPS 2017, arXiv:1710.09829:

    squash(s) = ||s||^2 / (1 + ||s||^2) * s / ||s||                                  (Eq. 1)
    u_hat_{j|i} = W_ij u_i,   s_j = sum_i c_ij u_hat_{j|i},   c_ij = softmax_j(b_ij)     (Eq. 2, 3)
    Procedure 1: b = 0; repeat r times: c = softmax_j(b); v = squash(sum_i c u_hat);
                 b += u_hat . v (not after the last iteration)

* :class:`PrimaryCapsules` -- a convolution with ``num_capsules * capsule_dim`` channels whose output is read
  as ``num_capsules`` capsule maps of ``capsule_dim``-vectors, then squashed: ``(B, C, H, W) -> (B, N, D)``
  with ``N = num_capsules * H' * W'`` (the paper: 32 maps of 6x6 8-D capsules = 1152).
* :class:`RoutingCapsules` -- ``(B, N_in, D_in) -> (B, N_out, D_out)`` with one ``W_ij`` per capsule pair
  (``weight (N_in, N_out, D_out, D_in)``, N(0, ``init_std``^2), no bias, as the paper) and
  ``routing_iterations`` (3) rounds.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .channel_affine import check_positive_int
from .conv import Conv2d

__all__ = ["squash", "PrimaryCapsules", "RoutingCapsules"]


def squash(s: Tensor, dim: int = -1, eps: float = 1e-8) -> Tensor:
    """Eq. 1 along ``dim``; ``eps`` keeps the direction finite at ``s = 0``."""
    sq = (s * s).sum(dim=dim, keepdim=True)
    return sq / (1.0 + sq) * s / torch.sqrt(sq + eps)


class PrimaryCapsules(nn.Module):
    """Convolutional capsules: conv -> ``(B, num_capsules * H' * W', capsule_dim)`` -> squash."""

    def __init__(self, in_channels: int, num_capsules: int = 32, capsule_dim: int = 8, kernel_size: int = 9,
                 stride: int = 2, padding: int = 0) -> None:
        super().__init__()
        name = "PrimaryCapsules"
        self.in_channels = check_positive_int(name, "in_channels", in_channels)
        self.num_capsules = check_positive_int(name, "num_capsules", num_capsules)
        self.capsule_dim = check_positive_int(name, "capsule_dim", capsule_dim)
        self.conv = Conv2d(in_channels, num_capsules * capsule_dim, kernel_size, stride=stride,
                           padding=padding)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"PrimaryCapsules: expected (B, {self.in_channels}, H, W), got {list(x.shape)}")
        u = self.conv(x)  # (B, N_maps * D, H', W')
        b, _, h, w = u.shape
        u = u.view(b, self.num_capsules, self.capsule_dim, h, w)  # (B, N_maps, D, H', W')
        u = u.permute(0, 1, 3, 4, 2).reshape(b, self.num_capsules * h * w, self.capsule_dim)  # (B, N, D)
        return squash(u)


class RoutingCapsules(nn.Module):
    """Fully connected capsule layer with dynamic routing by agreement (Procedure 1)."""

    def __init__(self, in_capsules: int, in_dim: int, num_capsules: int, capsule_dim: int,
                 routing_iterations: int = 3, init_std: float = 0.01) -> None:
        super().__init__()
        name = "RoutingCapsules"
        self.in_capsules = check_positive_int(name, "in_capsules", in_capsules)
        self.in_dim = check_positive_int(name, "in_dim", in_dim)
        self.num_capsules = check_positive_int(name, "num_capsules", num_capsules)
        self.capsule_dim = check_positive_int(name, "capsule_dim", capsule_dim)
        r = routing_iterations
        if isinstance(r, bool) or not isinstance(r, int) or r < 1:
            raise ValueError(f"RoutingCapsules: routing_iterations must be an int >= 1, got {r!r}")
        self.routing_iterations = routing_iterations
        self.weight = nn.Parameter(init_std * torch.randn(in_capsules, num_capsules, capsule_dim, in_dim))

    def forward(self, u: Tensor, return_coupling: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        if u.dim() != 3 or u.shape[1:] != (self.in_capsules, self.in_dim):
            raise ValueError(f"RoutingCapsules: expected (B, {self.in_capsules}, {self.in_dim}), got "
                             f"{list(u.shape)}")
        u_hat = torch.einsum("ijdk,bik->bijd", self.weight, u)  # (B, N_in, N_out, D_out): W_ij u_i
        logits = u_hat.new_zeros(u_hat.shape[:3])  # b_ij: (B, N_in, N_out)
        for r in range(self.routing_iterations):
            c = torch.softmax(logits, dim=2)  # coupling over the parent capsules j
            v = squash((c.unsqueeze(-1) * u_hat).sum(dim=1))  # (B, N_out, D_out)
            if r < self.routing_iterations - 1:
                logits = logits + (u_hat * v.unsqueeze(1)).sum(-1)  # agreement u_hat . v
        return (v, c) if return_coupling else v

    def extra_repr(self) -> str:
        return (f"in_capsules={self.in_capsules}, in_dim={self.in_dim}, num_capsules={self.num_capsules}, "
                f"capsule_dim={self.capsule_dim}, routing_iterations={self.routing_iterations}")
