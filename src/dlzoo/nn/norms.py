"""Statistics-based normalization layers, mirroring ``torch.nn`` names, arguments and state_dict keys.

* LayerNorm — Ba, Kiros, Hinton, "Layer Normalization", 2016, arXiv:1607.06450.
  y = (x - E[x]) / sqrt(Var[x] + eps) * weight + bias, statistics over the trailing
  ``normalized_shape`` dimensions (biased variance).
* LayerNorm2d — the channels-first LayerNorm used by ConvNeXt (Liu et al. 2022, arXiv:2201.03545):
  statistics over C of an (N, C, H, W) tensor.
* RMSNorm — Zhang, Sennrich, "Root Mean Square Layer Normalization", NeurIPS 2019, arXiv:1910.07467.
  y = x / sqrt(mean(x^2) + eps) * weight. The default path is :func:`dlzoo.kernels.rmsnorm_fused.rms_norm`
  (one-pass native CPU kernels forward and backward, torch's ``F.rms_norm`` elsewhere); the explicit math
  runs under ``dlzoo.reference_mode()``.

Other normalizations live next door: BatchNorm1d/2d/3d in ``batchnorm.py``; GroupNorm, InstanceNorm2d,
LocalResponseNorm in ``groupnorm.py``; PartialRMSNorm, BandRMS, LogitNorm in ``norms_extra.py``; DyT in
``dyt.py`` and Derf in ``derf.py``; the name -> builder registry in ``factory.py`` and ``convert_norm``
in ``convert.py``; the shared ``weight``/``bias`` creation and channel checks in ``channel_affine.py``.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..kernels.rmsnorm_fused import rms_norm as fused_rms_norm
from .channel_affine import check_positive_int, register_affine, upcast
from .mode import use_fused

__all__ = ["LayerNorm", "LayerNorm2d", "RMSNorm"]

_Shape = int | Sequence[int] | torch.Size


def _as_shape(layer: str, normalized_shape: _Shape) -> tuple[int, ...]:
    """``normalized_shape`` as a non-empty tuple of positive ints (an int n means ``(n,)``)."""
    if isinstance(normalized_shape, numbers.Integral):
        normalized_shape = (normalized_shape,)
    elif isinstance(normalized_shape, str) or not isinstance(normalized_shape, Sequence):
        raise TypeError(f"{layer}: normalized_shape must be an int or a sequence of ints, "
                        f"got {normalized_shape!r}")
    if len(normalized_shape) == 0:
        raise ValueError(f"{layer}: normalized_shape must have at least one dim, got "
                         f"{list(normalized_shape)}")
    return tuple(check_positive_int(layer, "normalized_shape", s) for s in normalized_shape)


def _check_trailing(layer: str, x: Tensor, shape: tuple[int, ...]) -> None:
    if tuple(x.shape[-len(shape):]) != shape:
        raise ValueError(
            f"{layer}: expected input with trailing shape {list(shape)}, got shape {list(x.shape)}"
        )


class LayerNorm(nn.Module):
    """Layer normalization over the trailing ``normalized_shape`` dims (mirrors ``torch.nn.LayerNorm``).

    Shapes: input ``(*, *normalized_shape)`` -> output of the same shape.
    """

    def __init__(
        self,
        normalized_shape: _Shape,
        eps: float = 1e-5,
        elementwise_affine: bool = True,
        bias: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.normalized_shape = _as_shape(type(self).__name__, normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        register_affine(self, self.normalized_shape, elementwise_affine, bias, device, dtype)

    def forward(self, x: Tensor) -> Tensor:
        _check_trailing("LayerNorm", x, self.normalized_shape)
        if use_fused():
            return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        dims = tuple(range(-len(self.normalized_shape), 0))
        xf = upcast(x)  # float32 statistics for half inputs, as F.layer_norm
        mean = xf.mean(dim=dims, keepdim=True)
        var = xf.var(dim=dims, unbiased=False, keepdim=True)
        y = (xf - mean) * torch.rsqrt(var + self.eps)
        if self.weight is not None:
            y = y * self.weight
        if self.bias is not None:
            y = y + self.bias
        return y.to(x.dtype)

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"


class LayerNorm2d(LayerNorm):
    """Channels-first LayerNorm: normalizes over C of ``(N, C, *spatial)`` (ConvNeXt's ``LayerNorm2d``)."""

    def __init__(self, num_channels: int, eps: float = 1e-6, **kwargs) -> None:
        super().__init__(num_channels, eps=eps, **kwargs)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() < 2 or x.shape[1] != self.normalized_shape[0]:
            raise ValueError(
                f"LayerNorm2d: expected (N, {self.normalized_shape[0]}, ...) input, got {list(x.shape)}"
            )
        x = x.movedim(1, -1)  # (N, *spatial, C)
        return super().forward(x).movedim(-1, 1)  # (N, C, *spatial)


class RMSNorm(nn.Module):
    """Root-mean-square normalization (mirrors ``torch.nn.RMSNorm``; ``eps=None`` means the machine epsilon
    of the computation dtype: float32's for float16/bfloat16/float32 inputs, float64's for float64).

    Shapes: input ``(*, *normalized_shape)`` -> output of the same shape.
    """

    def __init__(
        self,
        normalized_shape: _Shape,
        eps: float | None = None,
        elementwise_affine: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.normalized_shape = _as_shape("RMSNorm", normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        if elementwise_affine:
            self.weight = nn.Parameter(torch.ones(self.normalized_shape, device=device, dtype=dtype))
        else:
            self.register_parameter("weight", None)

    def forward(self, x: Tensor) -> Tensor:
        _check_trailing("RMSNorm", x, self.normalized_shape)
        if use_fused():  # native one-pass CPU kernel (float32/float64/bfloat16), else F.rms_norm
            return fused_rms_norm(x, self.normalized_shape, self.weight, self.eps)
        xf = upcast(x)  # float32 sum of squares for half inputs (fp16 overflows above ~256), as F.rms_norm
        eps = self.eps if self.eps is not None else torch.finfo(xf.dtype).eps
        dims = tuple(range(-len(self.normalized_shape), 0))
        y = xf * torch.rsqrt(xf.pow(2).mean(dim=dims, keepdim=True) + eps)
        y = y * self.weight if self.weight is not None else y
        return y.to(x.dtype)

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"
