"""Dynamic erf — Chen, Lu, Zhu, Sun, Liu, "Stronger Normalization-Free Transformers", 2025, arXiv:2512.10938.

    Derf(x) = weight * erf(alpha * x + shift) + bias

A point-wise drop-in for LayerNorm/RMSNorm like DyT (arXiv:2503.10622), with tanh replaced by the error
function erf(z) = 2/sqrt(pi) * int_0^z exp(-t^2) dt and a learnable scalar ``shift`` s inside it. ``alpha``
(init 0.5) and ``shift`` (init 0) are scalars; ``weight`` (gamma, ones(C)) and ``bias`` (beta, zeros(C))
are per channel. The paper reports ViT-B top-1 82.3 (LN) / 82.5 (DyT) / 82.8 (Derf).

Shapes: ``(*, C)`` when channels_last, ``(N, C, *spatial)`` otherwise; output has the input's shape and
dtype (float16/bfloat16 inputs are computed in float32).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .channel_affine import apply_channel_affine, check_channels, check_positive_int, register_affine, upcast

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
        self.num_features = check_positive_int("Derf", "num_features", num_features)
        self.alpha_init = alpha_init
        self.shift_init = shift_init
        self.channels_last = channels_last
        self.elementwise_affine = elementwise_affine
        self.alpha = nn.Parameter(torch.full((1,), float(alpha_init), **factory))
        self.shift = nn.Parameter(torch.full((1,), float(shift_init), **factory))
        register_affine(self, num_features, elementwise_affine, bias, **factory)

    def forward(self, x: Tensor) -> Tensor:
        check_channels("Derf", x, self.num_features, self.channels_last)
        y = torch.erf(self.alpha * upcast(x) + self.shift)  # float32 math for half inputs, as DyT
        return apply_channel_affine(y, self.weight, self.bias, self.channels_last).to(x.dtype)

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, alpha_init={self.alpha_init}, shift_init={self.shift_init}, "
            f"channels_last={self.channels_last}, elementwise_affine={self.elementwise_affine}"
        )
