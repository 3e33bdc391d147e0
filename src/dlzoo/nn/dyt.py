"""Dynamic Tanh — Zhu, Chen, He, LeCun, Liu, "Transformers without Normalization", CVPR 2025,
arXiv:2503.10622.

    DyT(x) = weight * tanh(alpha * x) + bias

``alpha`` is one learnable scalar (init 0.5 by default), ``weight`` (gamma) is ones(C) and ``bias``
(beta) zeros(C). It is element-wise: no statistics, no reduction. ``channels_last=False`` broadcasts
gamma/beta as (C, 1, 1, ...) for channels-first tensors (the paper's ConvNeXt variant).

By default ``forward`` runs the fused kernel :func:`dlzoo.kernels.dyt_fused.dyt` (one pass forward, one
fused backward computing dx, d_alpha, d_gamma, d_beta); under ``dlzoo.reference_mode()`` it runs the equation
above with autograd. ``elementwise_affine=False`` drops gamma and beta (DiT's adaLN use), ``bias=False``
drops beta only. Both paths compute in float32 for float16/bfloat16 inputs and return the input dtype.

LLM alpha init (paper Tables 11/12): :func:`dyt_alpha_init` gives the attention-block and the other
(FFN, final norm) DyT initial alpha by model width.

Shapes: ``(*, C)`` when channels_last, ``(N, C, *spatial)`` otherwise; output has the input's shape.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ..kernels.dyt_fused import dyt as fused_dyt
from .channel_affine import apply_channel_affine, check_channels, check_positive_int, register_affine, upcast
from .mode import use_fused

__all__ = ["DyT", "LLM_ALPHA_INIT", "dyt_alpha_init"]

# paper Tables 11/12 (LLaMA): width -> (alpha init for attention-block DyT, for the other DyT layers).
# Table 12, LLaMA-2: 7B (4096) 0.8 / 0.2, 13B (5120) 0.6 / 0.15, 34B and 70B (both 8192) 0.2 / 0.05;
# the 1024 and 2048 rows are Table 11's width sweep.
LLM_ALPHA_INIT: dict[int, tuple[float, float]] = {
    1024: (1.0, 1.0),
    2048: (1.0, 0.5),
    4096: (0.8, 0.2),
    5120: (0.6, 0.15),
    8192: (0.2, 0.05),
}


def dyt_alpha_init(width: int, attention: bool) -> float:
    """The paper's LLM alpha init for a model of ``width`` (d_model): attention-block DyT vs the rest.

    Widths between table entries take the entry nearest in log2(width); below 1024 the 1024 entry and
    above 8192 the 8192 entry (the paper's table covers 1024..8192).
    """
    if width <= 0:
        raise ValueError(f"dyt_alpha_init: width must be positive, got {width}")
    nearest = min(LLM_ALPHA_INIT, key=lambda w: (abs(math.log2(width) - math.log2(w)), -w))
    attn, other = LLM_ALPHA_INIT[nearest]
    return attn if attention else other


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
        self.num_features = check_positive_int("DyT", "num_features", num_features)
        self.alpha_init = alpha_init
        self.channels_last = channels_last
        self.elementwise_affine = elementwise_affine
        factory = {"device": device, "dtype": dtype}
        self.alpha = nn.Parameter(torch.full((1,), float(alpha_init), **factory))
        register_affine(self, num_features, elementwise_affine, bias, **factory)

    def forward(self, x: Tensor) -> Tensor:
        check_channels("DyT", x, self.num_features, self.channels_last)
        if use_fused():
            return fused_dyt(x, self.alpha, self.weight, self.bias, self.channels_last)
        y = torch.tanh(self.alpha * upcast(x))  # float32 math for half inputs, as the fused kernel
        return apply_channel_affine(y, self.weight, self.bias, self.channels_last).to(x.dtype)

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, alpha_init={self.alpha_init}, channels_last={self.channels_last}, "
            f"elementwise_affine={self.elementwise_affine}, bias={self.bias is not None}"
        )
