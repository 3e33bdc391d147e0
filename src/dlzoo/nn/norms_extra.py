"""Further RMS-style normalizations: partial RMSNorm, BandRMS, LogitNorm.

* PartialRMSNorm (pRMSNorm) — Zhang, Sennrich, "Root Mean Square Layer Normalization", NeurIPS 2019,
  arXiv:1910.07467, section 4: the RMS is estimated from the first k = ceil(p * n) features only,
      pRMS(x) = sqrt(1/k * sum_{i<=k} x_i^2),   y = x / sqrt(pRMS(x)^2 + eps) * weight
  (p = 6.25% in the paper; p = 1 is RMSNorm). eps sits inside the sqrt, as torch.nn.RMSNorm.
* BandRMS — the dl_techniques library's bounded RMS norm (N. Markou, github.com/NikolasMarkou/dl_techniques,
  building on RMSNorm, arXiv:1910.07467): normalise to unit RMS, then scale by one learnable scalar kept
  inside the band [1 - a, 1], a = ``max_band_width``:
      rms = max(sqrt(mean(x^2) + eps), eps),  s = (1 - a) + a * sigmoid(5 * band_param),  y = s * x / rms
  ``band_param`` starts at 0, i.e. output RMS 1 - a/2. (The original adds an L2(1e-5) penalty on
  ``band_param``; here that belongs to the optimizer's weight decay.)
* LogitNorm — Wei, Xie, Cheng, Feng, An, Li, "Mitigating Neural Network Overconfidence with Logit
  Normalization", ICML 2022, arXiv:2205.09310: logits divided by their L2 norm and a temperature,
      y = x / (T * sqrt(max(||x||_2^2, eps)))   (T = 0.04 for CIFAR-10 in the paper; no parameters).

Shapes: input ``(*, C)`` (or ``(N, C, *)`` with ``channels_last=False`` for BandRMS); output same shape and
dtype (float16/bfloat16 inputs are computed in float32, as torch's fused norms).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from .channel_affine import check_channels, check_positive_int, upcast

__all__ = ["BandLogitNorm", "BandRMS", "LogitNorm", "PartialRMSNorm"]


class PartialRMSNorm(nn.Module):
    """pRMSNorm over the last dim: RMS from the first ``ceil(p * C)`` features (see module docstring)."""

    def __init__(
        self,
        num_features: int,
        p: float = 0.0625,
        eps: float | None = None,
        elementwise_affine: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        if not 0.0 < p <= 1.0:
            raise ValueError(f"PartialRMSNorm: p must be in (0, 1], got {p}")
        self.num_features = check_positive_int("PartialRMSNorm", "num_features", num_features)
        self.p = p
        self.partial_size = max(1, math.ceil(p * num_features))
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        if elementwise_affine:
            self.weight = nn.Parameter(torch.ones(num_features, device=device, dtype=dtype))
        else:
            self.register_parameter("weight", None)

    def forward(self, x: Tensor) -> Tensor:
        check_channels("PartialRMSNorm", x, self.num_features)
        xf = upcast(x)  # float32 for half inputs, as RMSNorm
        eps = self.eps if self.eps is not None else torch.finfo(xf.dtype).eps
        head = xf[..., : self.partial_size]  # (*, k): the features the statistic is estimated from
        y = xf * torch.rsqrt(head.pow(2).mean(dim=-1, keepdim=True) + eps)
        y = y * self.weight if self.weight is not None else y
        return y.to(x.dtype)

    def extra_repr(self) -> str:
        return f"{self.num_features}, p={self.p} (k={self.partial_size}), eps={self.eps}"


class BandRMS(nn.Module):
    """RMS normalization, then a learnable scalar scale in [1 - max_band_width, 1] (see module docstring)."""

    def __init__(
        self,
        num_features: int,
        max_band_width: float = 0.1,
        eps: float = 1e-7,
        channels_last: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        if not 0.0 < max_band_width < 1.0:
            raise ValueError(f"BandRMS: max_band_width must be in (0, 1), got {max_band_width}")
        if eps <= 0:
            raise ValueError(f"BandRMS: eps must be positive, got {eps}")
        self.num_features = check_positive_int("BandRMS", "num_features", num_features)
        self.max_band_width = max_band_width
        self.eps = eps
        self.channels_last = channels_last
        self.band_param = nn.Parameter(torch.zeros((), device=device, dtype=dtype))

    def band_scale(self) -> Tensor:
        """s = (1 - a) + a * sigmoid(5 * band_param), always inside [1 - a, 1]."""
        a = self.max_band_width
        return (1 - a) + a * torch.sigmoid(5.0 * self.band_param)

    def forward(self, x: Tensor) -> Tensor:
        check_channels("BandRMS", x, self.num_features, self.channels_last)
        dim = -1 if self.channels_last else 1
        xf = upcast(x)  # float32 for half inputs, as RMSNorm
        rms = torch.sqrt(xf.pow(2).mean(dim=dim, keepdim=True) + self.eps).clamp_min(self.eps)
        return (xf / rms * self.band_scale()).to(x.dtype)

    def extra_repr(self) -> str:
        return f"{self.num_features}, max_band_width={self.max_band_width}, eps={self.eps}"


class LogitNorm(nn.Module):
    """Logit normalization: ``x / (T * ||x||_2)`` over ``dim`` (see module docstring). No parameters."""

    def __init__(self, temperature: float = 0.04, eps: float = 1e-7, dim: int = -1) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"LogitNorm: temperature must be positive, got {temperature}")
        self.temperature = temperature
        self.eps = eps
        self.dim = dim

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() == 0:
            raise ValueError("LogitNorm: expected a tensor with at least one dim, got a scalar")
        xf = upcast(x)  # float32 for half inputs: a float16 sum of squares overflows above ~256
        norm = torch.sqrt(xf.pow(2).sum(dim=self.dim, keepdim=True).clamp_min(self.eps))
        return (xf / (norm * self.temperature)).to(x.dtype)

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}, eps={self.eps}, dim={self.dim}"


class BandLogitNorm(nn.Module):
    """dl_techniques' band-constrained logit norm: unit L2 norm over the last dim, then one scale inside
    ``[1 - a, 1]``, ``a = max_band_width``:

        y = x / sqrt(max(||x||^2, eps)) * s,   s = (1 - a) + a (tanh(4 beta) + 1) / 2

    The original computes ``beta`` as a LayerNorm of the length ``||x||`` over its size-1 axis, which is
    always that LayerNorm's bias; here ``beta`` is that one scalar parameter (``band_param``, init 0, so
    ``s = 1 - a/2``). Output L2 norm lies in ``[1 - a, 1]``. Shapes: ``(*, C)`` -> ``(*, C)``.
    """

    def __init__(self, num_features: int, max_band_width: float = 0.01, eps: float = 1e-7,
                 device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> None:
        super().__init__()
        if not 0.0 < max_band_width < 1.0:
            raise ValueError(f"BandLogitNorm: max_band_width must be in (0, 1), got {max_band_width}")
        if eps <= 0:
            raise ValueError(f"BandLogitNorm: eps must be positive, got {eps}")
        self.num_features = check_positive_int("BandLogitNorm", "num_features", num_features)
        self.max_band_width, self.eps = max_band_width, eps
        self.band_param = nn.Parameter(torch.zeros((), device=device, dtype=dtype))

    def band_scale(self) -> Tensor:
        a = self.max_band_width
        return (1 - a) + a * (torch.tanh(4.0 * self.band_param) + 1.0) / 2.0

    def forward(self, x: Tensor) -> Tensor:
        check_channels("BandLogitNorm", x, self.num_features)
        xf = upcast(x)
        length = torch.sqrt(xf.pow(2).sum(dim=-1, keepdim=True).clamp_min(self.eps))
        return (xf / length * self.band_scale()).to(x.dtype)

    def extra_repr(self) -> str:
        return f"{self.num_features}, max_band_width={self.max_band_width}, eps={self.eps}"
