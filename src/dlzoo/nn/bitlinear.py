"""BitLinear of BitNet b1.58: ternary weights, 8-bit per-token activations, straight-through gradients.

Ma et al., "The Era of 1-bit LLMs: All Large Language Models are in 1.58 Bits", 2024, arXiv:2402.17764
(Eq. 1-3; activation quantisation of BitNet, arXiv:2310.11453, Eq. 4-5):

    gamma   = mean |W|,                      W_c = RoundClip(W / (gamma + eps), -1, 1) in {-1, 0, 1}
    s_x     = max_j |x_j| per token,         x_c = RoundClip(x * 127 / s_x, -128, 127) (int8 range)
    y       = (x_c W_c^T) * (s_x / 127) * gamma + b

``RoundClip(v, a, b) = max(a, min(b, round(v)))``. There is no norm inside: the caller's norm (SubLN /
RMSNorm) precedes the layer. Gradients are straight-through: d x_hat / d x = I and d W_hat / d W = I for the
dequantised ``x_hat = x_c s_x / 127``, ``W_hat = W_c gamma`` (the scales are treated as constants).

Inference: :meth:`BitLinear.pack` stores the ternary codes at 2 bits per weight (4 per ``uint8``, code + 1
in {0, 1, 2}) with ``gamma``; in eval mode :meth:`forward` then reads only the packed weights. The integer
products ``x_c W_c^T`` are exact in floating point (|sum| <= 128 K < 2^24 for K < 131072 inputs), so the
packed path equals the training path bit for bit.

Shapes: ``x (*, in_features)`` -> ``(*, out_features)``; ``weight (out_features, in_features)``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .channel_affine import check_positive_int

__all__ = ["BitLinear", "pack_ternary", "unpack_ternary"]


def _ste(value: Tensor, source: Tensor) -> Tensor:
    """``value`` in the forward (bit for bit), the gradient of ``source`` in the backward."""
    return value.detach() + (source - source.detach())


def pack_ternary(codes: Tensor) -> Tensor:
    """``(out, in)`` codes in {-1, 0, 1} -> ``(out, ceil(in / 4))`` uint8, 2 bits per weight (code + 1)."""
    out_f, in_f = codes.shape
    pad = (-in_f) % 4
    c = F.pad((codes + 1).to(torch.uint8), (0, pad)).view(out_f, -1, 4)  # (out, in/4, 4) in {0, 1, 2}
    return c[..., 0] | (c[..., 1] << 2) | (c[..., 2] << 4) | (c[..., 3] << 6)


def unpack_ternary(packed: Tensor, in_features: int) -> Tensor:
    """Inverse of :func:`pack_ternary`: uint8 ``(out, ceil(in / 4))`` -> int8 codes ``(out, in)``."""
    shifts = torch.tensor([0, 2, 4, 6], dtype=torch.uint8, device=packed.device)
    c = (packed.unsqueeze(-1) >> shifts) & 3  # (out, in/4, 4)
    return (c.flatten(1)[:, :in_features].to(torch.int8) - 1)


class BitLinear(nn.Module):
    """Ternary-weight linear layer with 8-bit activations (see module docstring). Mirrors ``nn.Linear``'s
    arguments and ``weight``/``bias`` names, so a trained ``nn.Linear`` state dict loads."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, eps: float = 1e-5,
                 device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> None:
        super().__init__()
        self.in_features = check_positive_int("BitLinear", "in_features", in_features)
        self.out_features = check_positive_int("BitLinear", "out_features", out_features)
        if in_features >= 131072:
            raise ValueError(f"BitLinear: in_features must be < 131072 for exact int sums, got {in_features}")
        self.eps = eps
        fk = {"device": device, "dtype": dtype}
        self.weight = nn.Parameter(torch.empty(out_features, in_features, **fk))
        self.bias = nn.Parameter(torch.empty(out_features, **fk)) if bias else None
        self.register_buffer("packed_weight", None, persistent=False)
        self.register_buffer("weight_scale", None, persistent=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))  # nn.Linear's init
        if self.bias is not None:
            bound = 1 / math.sqrt(self.in_features)
            nn.init.uniform_(self.bias, -bound, bound)

    def weight_codes(self) -> tuple[Tensor, Tensor]:
        """``(W_c, gamma)``: codes in {-1, 0, 1} (straight-through to ``W``) and ``gamma = mean |W|``."""
        gamma = self.weight.abs().mean().detach()
        v = self.weight / (gamma + self.eps)
        return _ste(v.round().clamp(-1, 1), self.weight / gamma.clamp_min(1e-12)), gamma  # W_hat' = I

    def activation_codes(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``(x_c, s_x / 127)``: per-token int8-range codes (straight-through) and the dequant scale."""
        scale = x.abs().amax(dim=-1, keepdim=True).clamp_min(1e-5).detach() / 127.0  # (*, 1)
        v = x / scale
        return _ste(v.round().clamp(-128, 127), v), scale

    def _check(self, x: Tensor) -> None:
        if x.dim() < 1 or x.shape[-1] != self.in_features:
            raise ValueError(f"BitLinear: expected input (*, {self.in_features}), got {list(x.shape)}")

    def forward(self, x: Tensor) -> Tensor:
        self._check(x)
        if self.packed_weight is not None and not self.training:
            return self.forward_packed(x)
        xc, sx = self.activation_codes(x)
        wc, gamma = self.weight_codes()
        y = F.linear(xc, wc) * sx * gamma  # integer products, then the two scales
        return y + self.bias if self.bias is not None else y

    @torch.no_grad()
    def pack(self) -> None:
        """Store the 2-bit packed codes and ``gamma``; eval-mode forwards then use only them."""
        wc, gamma = self.weight_codes()
        self.packed_weight = pack_ternary(wc.to(torch.int8))
        self.weight_scale = gamma.clone()

    def forward_packed(self, x: Tensor) -> Tensor:
        """Inference from the packed ternary weights (call :meth:`pack` first)."""
        if self.packed_weight is None or self.weight_scale is None:
            raise RuntimeError("BitLinear: call pack() before forward_packed()")
        self._check(x)
        xc, sx = self.activation_codes(x)
        w = unpack_ternary(self.packed_weight, self.in_features).to(x.dtype)  # (out, in) in {-1, 0, 1}
        y = F.linear(xc.detach(), w) * sx * self.weight_scale
        return y + self.bias if self.bias is not None else y

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")
