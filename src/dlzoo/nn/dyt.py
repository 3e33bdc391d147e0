"""Dynamic Tanh — Zhu, Chen, He, LeCun, Liu, "Transformers without Normalization", CVPR 2025,
arXiv:2503.10622.

    DyT(x) = weight * tanh(alpha * x) + bias

``alpha`` is one learnable scalar (init 0.5 by default), ``weight`` (gamma) is ones(C) and ``bias``
(beta) zeros(C). It is element-wise: no statistics, no reduction. ``channels_last=False`` broadcasts
gamma/beta as (C, 1, 1, ...) for channels-first tensors (the paper's ConvNeXt variant).

Shapes: ``(*, C)`` when channels_last, ``(N, C, *spatial)`` otherwise; output has the input's shape.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["DyT"]


class DyT(nn.Module):
    """Dynamic Tanh, a drop-in replacement for LayerNorm/RMSNorm (see module docstring)."""

    def __init__(
        self,
        num_features: int,
        alpha_init: float = 0.5,
        channels_last: bool = True,
        elementwise_affine: bool = True,
        bias: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.num_features = num_features
        self.alpha_init = alpha_init
        self.channels_last = channels_last
        self.elementwise_affine = elementwise_affine
        factory = {"device": device, "dtype": dtype}
        self.alpha = nn.Parameter(torch.full((1,), float(alpha_init), **factory))
        if elementwise_affine:
            self.weight = nn.Parameter(torch.ones(num_features, **factory))
            self.bias = nn.Parameter(torch.zeros(num_features, **factory)) if bias else None
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def _affine_view(self, p: Tensor, x: Tensor) -> Tensor:
        # channels-first: (C,) -> (C, 1, ..., 1) so it broadcasts over (N, C, *spatial)
        return p if self.channels_last else p.view(-1, *([1] * (x.dim() - 2)))

    def forward(self, x: Tensor) -> Tensor:
        channel_dim = -1 if self.channels_last else 1
        if x.dim() < (1 if self.channels_last else 2) or x.shape[channel_dim] != self.num_features:
            layout = "(*, C)" if self.channels_last else "(N, C, ...)"
            raise ValueError(
                f"DyT: expected {layout} input with C={self.num_features}, got shape {list(x.shape)}"
            )
        y = torch.tanh(self.alpha * x)
        if self.weight is not None:
            y = y * self._affine_view(self.weight, x)
        if self.bias is not None:
            y = y + self._affine_view(self.bias, x)
        return y

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, alpha_init={self.alpha_init}, channels_last={self.channels_last}, "
            f"elementwise_affine={self.elementwise_affine}"
        )
