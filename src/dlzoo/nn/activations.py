"""Elementwise activations mirroring ``torch.nn`` (ReLU, ReLU6, LeakyReLU, GELU, SiLU, Hardswish, ...).

Each ``forward`` calls torch's fused op by default; under ``dlzoo.reference_mode()`` it evaluates the
paper's formula written from tensor ops:

* ReLU (Nair & Hinton, ICML 2010): ``max(0, x)``; ReLU6 (Krizhevsky 2010): ``min(max(0, x), 6)``.
* LeakyReLU (Maas et al., ICML 2013): ``x if x >= 0 else slope * x``.
* GELU (Hendrycks & Gimpel, "Gaussian Error Linear Units", 2016, arXiv:1606.08415):
  ``x * Phi(x) = x / 2 * (1 + erf(x / sqrt 2))``; ``approximate="tanh"``:
  ``x / 2 * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 x^3)))``.
* QuickGELU (the GELU approximation of Hendrycks & Gimpel 2016, Sec. 2, used by OpenAI's CLIP, Radford et
  al. 2021, arXiv:2103.00020): ``x * sigmoid(1.702 x)``.
* SiLU / Swish (Elfwing et al. 2017, arXiv:1702.03118; Ramachandran et al. 2017, arXiv:1710.05941):
  ``x * sigmoid(x)``.
* Hardsigmoid / Hardswish (Howard et al., "Searching for MobileNetV3", 2019, arXiv:1905.02244):
  ``relu6(x + 3) / 6`` and ``x * relu6(x + 3) / 6``.
* Sigmoid ``1 / (1 + exp(-x))`` and Tanh.
* Mish (Misra, "Mish: A Self Regularized Non-Monotonic Activation Function", BMVC 2020, arXiv:1908.08681):
  ``x * tanh(softplus(x))``, softplus written stably as ``max(x, 0) + log1p(exp(-|x|))``.
* GLU (Dauphin, Fan, Auli, Grangier, "Language Modeling with Gated Convolutional Networks", ICML 2017,
  arXiv:1612.08083, eq. 1): split the input in halves ``a, b`` along ``dim``, ``a * sigmoid(b)``; shape
  ``(*, 2n, *)`` -> ``(*, n, *)`` (the only activation here that changes the shape).

Shapes: any ``(*)`` -> same shape. Names (``act_layer="gelu"``) resolve through the one registry in
:mod:`dlzoo.nn.create_act`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .mode import use_fused

__all__ = [
    "ReLU",
    "ReLU6",
    "LeakyReLU",
    "GELU",
    "QuickGELU",
    "SiLU",
    "Hardswish",
    "Hardsigmoid",
    "Sigmoid",
    "Tanh",
    "Mish",
    "GLU",
]


class _Act(nn.Module):
    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class ReLU(_Act):
    """``max(0, x)`` (mirrors ``torch.nn.ReLU``)."""

    def forward(self, x: Tensor) -> Tensor:
        if use_fused():
            return F.relu(x, inplace=self.inplace)
        return torch.where(x > 0, x, torch.zeros_like(x))


class ReLU6(_Act):
    """``min(max(0, x), 6)`` (mirrors ``torch.nn.ReLU6``)."""

    def forward(self, x: Tensor) -> Tensor:
        if use_fused():
            return F.relu6(x, inplace=self.inplace)
        return x.clamp(min=0.0, max=6.0)


class LeakyReLU(_Act):
    """``x`` for ``x >= 0`` else ``negative_slope * x`` (mirrors ``torch.nn.LeakyReLU``)."""

    def __init__(self, negative_slope: float = 1e-2, inplace: bool = False) -> None:
        super().__init__(inplace)
        self.negative_slope = negative_slope

    def forward(self, x: Tensor) -> Tensor:
        if use_fused():
            return F.leaky_relu(x, self.negative_slope, inplace=self.inplace)
        return torch.where(x > 0, x, x * self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}" + (", inplace=True" if self.inplace else "")


class GELU(nn.Module):
    """``x * Phi(x)`` with the exact erf form or ``approximate="tanh"`` (mirrors ``torch.nn.GELU``)."""

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x: Tensor) -> Tensor:
        if use_fused():
            return F.gelu(x, approximate=self.approximate)
        if self.approximate == "tanh":
            return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x.pow(3))))
        return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class QuickGELU(nn.Module):
    """``x * sigmoid(1.702 x)`` (CLIP's activation; transformers' ``QuickGELUActivation``)."""

    def forward(self, x: Tensor) -> Tensor:
        if use_fused():
            return x * torch.sigmoid(1.702 * x)
        return x / (1.0 + torch.exp(-1.702 * x))


class Sigmoid(nn.Module):
    """``1 / (1 + exp(-x))`` (mirrors ``torch.nn.Sigmoid``)."""

    def forward(self, x: Tensor) -> Tensor:
        if use_fused():
            return torch.sigmoid(x)
        return 1.0 / (1.0 + torch.exp(-x))


class Tanh(nn.Module):
    """``(e^x - e^-x) / (e^x + e^-x)`` (mirrors ``torch.nn.Tanh``)."""

    def forward(self, x: Tensor) -> Tensor:
        if use_fused():
            return torch.tanh(x)
        return 2.0 / (1.0 + torch.exp(-2.0 * x)) - 1.0


class SiLU(_Act):
    """``x * sigmoid(x)`` (Swish with beta=1; mirrors ``torch.nn.SiLU``)."""

    def forward(self, x: Tensor) -> Tensor:
        if use_fused():
            return F.silu(x, inplace=self.inplace)
        return x / (1.0 + torch.exp(-x))


class Hardsigmoid(_Act):
    """``relu6(x + 3) / 6`` (MobileNetV3; mirrors ``torch.nn.Hardsigmoid``)."""

    def forward(self, x: Tensor) -> Tensor:
        if use_fused():
            return F.hardsigmoid(x, inplace=self.inplace)
        return (x + 3.0).clamp(0.0, 6.0) / 6.0


class Hardswish(_Act):
    """``x * relu6(x + 3) / 6`` (MobileNetV3; mirrors ``torch.nn.Hardswish``)."""

    def forward(self, x: Tensor) -> Tensor:
        if use_fused():
            return F.hardswish(x, inplace=self.inplace)
        return x * (x + 3.0).clamp(0.0, 6.0) / 6.0


class Mish(_Act):
    """``x * tanh(softplus(x))`` (mirrors ``torch.nn.Mish``)."""

    def forward(self, x: Tensor) -> Tensor:
        if use_fused():
            return F.mish(x, inplace=self.inplace)
        softplus = x.clamp(min=0.0) + torch.log1p(torch.exp(-x.abs()))  # log(1 + e^x) without overflow
        return x * torch.tanh(softplus)


class GLU(nn.Module):
    """Gated linear unit ``a * sigmoid(b)`` with ``a, b`` the halves of ``dim`` (mirrors ``torch.nn.GLU``)."""

    def __init__(self, dim: int = -1) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() == 0 or not -x.dim() <= self.dim < x.dim() or x.shape[self.dim] % 2:
            raise ValueError(f"GLU: dim {self.dim} of the input must exist and have an even size, "
                             f"got shape {list(x.shape)}")
        if use_fused():
            return F.glu(x, self.dim)
        a, b = x.chunk(2, dim=self.dim)  # (*, n, *) each
        return a * torch.sigmoid(b)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"
