"""Dynamic erf — Chen, Lu, Zhu, Sun, Liu, "Stronger Normalization-Free Transformers", 2025, arXiv:2512.10938.

    Derf(x) = weight * erf(alpha * x + shift) + bias

A point-wise drop-in for LayerNorm/RMSNorm like DyT (arXiv:2503.10622), with tanh replaced by the error
function erf(z) = 2/sqrt(pi) * int_0^z exp(-t^2) dt and a learnable scalar ``shift`` s inside it. ``alpha``
(init 0.5) and ``shift`` (init 0) are scalars; ``weight`` (gamma, ones(C)) and ``bias`` (beta, zeros(C))
are per channel. The paper reports ViT-B top-1 82.3 (LN) / 82.5 (DyT) / 82.8 (Derf).

Shapes: ``(*, C)`` when channels_last, ``(N, C, *spatial)`` otherwise; output has the input's shape.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["Derf"]


class Derf(nn.Module):
    """Dynamic erf normalization replacement (see module docstring); constructor mirrors :class:`DyT`."""

    def __init__(
        self,
        num_features: int,
        alpha_init: float = 0.5,
        shift_init: float = 0.0,
        channels_last: bool = True,
        elementwise_affine: bool = True,
        bias: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        self.num_features = num_features
        self.alpha_init = alpha_init
        self.shift_init = shift_init
        self.channels_last = channels_last
        self.elementwise_affine = elementwise_affine
        self.alpha = nn.Parameter(torch.full((1,), float(alpha_init), **factory))
        self.shift = nn.Parameter(torch.full((1,), float(shift_init), **factory))
        if elementwise_affine:
            self.weight = nn.Parameter(torch.ones(num_features, **factory))
            self.bias = nn.Parameter(torch.zeros(num_features, **factory)) if bias else None
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, x: Tensor) -> Tensor:
        channel_dim = -1 if self.channels_last else 1
        if x.dim() < (1 if self.channels_last else 2) or x.shape[channel_dim] != self.num_features:
            layout = "(*, C)" if self.channels_last else "(N, C, ...)"
            raise ValueError(
                f"Derf: expected {layout} input with C={self.num_features}, got shape {list(x.shape)}"
            )
        view = (-1,) if self.channels_last else (-1, *([1] * (x.dim() - 2)))  # (C,) or (C, 1, ..., 1)
        y = torch.erf(self.alpha * x + self.shift)
        if self.weight is not None:
            y = y * self.weight.view(view)
        if self.bias is not None:
            y = y + self.bias.view(view)
        return y

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, alpha_init={self.alpha_init}, shift_init={self.shift_init}, "
            f"channels_last={self.channels_last}, elementwise_affine={self.elementwise_affine}"
        )
