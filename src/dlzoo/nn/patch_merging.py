"""Patch merging (2x downsampling of a token grid) — Liu et al., "Swin Transformer: Hierarchical Vision
Transformer using Shifted Windows", ICCV 2021, arXiv:2103.14030, Sec. 3.1.

Each 2x2 group of neighbouring tokens is concatenated (4C features, order (0,0), (1,0), (0,1), (1,1) as
(row, col) offsets, as in the official code), normalized, and linearly reduced to 2C without bias:

    y = W_red * norm([x_{2i,2j}; x_{2i+1,2j}; x_{2i,2j+1}; x_{2i+1,2j+1}]),   W_red in R^{2C x 4C}

An odd H or W is zero-padded at the bottom / right first (as timm and HF do).

Shapes: (B, H, W, C) -> (B, ceil(H/2), ceil(W/2), out_dim) with out_dim = 2C by default.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from .factory import NormSpec, get_norm_layer
from .linear import Linear

__all__ = ["PatchMerging"]


class PatchMerging(nn.Module):
    """Concatenate 2x2 neighbours, norm, Linear(4C -> 2C, bias=False) (timm keys ``norm``, ``reduction``)."""

    def __init__(self, dim: int, out_dim: int | None = None, norm_layer: NormSpec = "layernorm",
                 norm_kwargs: dict | None = None) -> None:
        super().__init__()
        self.dim = dim
        self.out_dim = out_dim or 2 * dim
        self.norm = get_norm_layer(norm_layer, **(norm_kwargs or {}))(4 * dim)
        self.reduction = Linear(4 * dim, self.out_dim, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4 or x.shape[-1] != self.dim:
            raise ValueError(f"PatchMerging: expected (B, H, W, {self.dim}), got {list(x.shape)}")
        if x.shape[1] % 2 or x.shape[2] % 2:
            x = F.pad(x, (0, 0, 0, x.shape[2] % 2, 0, x.shape[1] % 2))  # (B, H + H%2, W + W%2, C)
        b, h, w, c = x.shape
        x = x.reshape(b, h // 2, 2, w // 2, 2, c)  # (B, H/2, dy, W/2, dx, C)
        x = x.permute(0, 1, 3, 4, 2, 5).flatten(3)  # (B, H/2, W/2, dx, dy, C) -> (B, H/2, W/2, 4C)
        return self.reduction(self.norm(x))  # (B, H/2, W/2, out_dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, out_dim={self.out_dim}"
