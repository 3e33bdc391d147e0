"""Complex-valued layers written as real-pair arithmetic (for CoShNet and other complex-valued networks).

Trabelsi et al., "Deep Complex Networks", ICLR 2018, arXiv:1705.09792 (Sec. 3): a complex weight
``W = A + iB`` acting on a complex input ``h = x + iy`` is computed with real operations only,

    W * h = (A * x - B * y) + i (B * x + A * y),

which is the real block matrix ``[[A, -B], [B, A]]`` applied to the stacked ``[x; y]``. Here every layer
keeps its weights as two real parameters (``weight_real``, ``weight_imag``; so optimizers, weight decay
and safetensors see ordinary float tensors) and runs **one** real convolution / matmul with that block
weight. Inputs and outputs are torch complex tensors (``complex64`` for float32 weights, ``complex128``
for float64), split into ``.real`` / ``.imag`` at the layer boundary.

Activations (both keep the phase information that a magnitude-only network would drop):

* :class:`ComplexReLU` -- Trabelsi et al.'s split ReLU (their CReLU, used by CoShNet, Ko et al. 2022,
  arXiv:2208.06882): ``CReLU(z) = ReLU(Re z) + i ReLU(Im z)``;
* :class:`ModReLU` -- Arjovsky, Shah, Bengio, "Unitary Evolution Recurrent Neural Networks", ICML 2016,
  arXiv:1511.06464, Eq. 8: ``modReLU(z) = ReLU(|z| + b) * z / |z|`` with a learnable real bias ``b`` per
  feature (keeps the phase, thresholds the magnitude).

Pooling of a complex signal is linear, so :class:`ComplexAvgPool2d` averages the real and imaginary parts
separately (CoShNet's ``CplxToCplx[avg_pool2d]``). :class:`ComplexToReal` ends a complex network as CoShNet
does: concatenate ``[Re z, Im z]`` along the feature axis, to be read by an ordinary real ``Linear``.

Initialisation (:func:`complex_glorot_`): Trabelsi et al. Sec. 3.6: magnitude ``|W| ~ Rayleigh(sigma)``
with ``sigma = 1 / sqrt(fan_in + fan_out)`` (Glorot criterion, ``Var(W) = 2 sigma^2 = 2 / (fan_in +
fan_out)``) or ``sigma = 1 / sqrt(fan_in)`` (He criterion), phase ``~ U(-pi, pi)``; biases start at 0.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .channel_affine import check_positive_int

__all__ = [
    "complex_glorot_",
    "complex_linear",
    "complex_conv2d",
    "ComplexLinear",
    "ComplexConv2d",
    "ComplexReLU",
    "ModReLU",
    "ComplexAvgPool2d",
    "ComplexToReal",
]


def _check_complex(layer: str, z: Tensor) -> None:
    if not torch.is_tensor(z) or not z.is_complex():
        got = z.dtype if torch.is_tensor(z) else type(z).__name__
        raise TypeError(f"{layer}: expected a complex tensor (torch.complex64/complex128), got {got}")


def _combine(re: Tensor, im: Tensor) -> Tensor:
    return torch.complex(re, im)


def complex_glorot_(
    weight_real: Tensor,
    weight_imag: Tensor,
    criterion: str = "glorot",
    generator: torch.Generator | None = None,
) -> None:
    """In place: ``W = |W| e^{i theta}``, ``|W| ~ Rayleigh(sigma)``, ``theta ~ U(-pi, pi)`` (Trabelsi et al.
    2018, Sec. 3.6). ``sigma = 1/sqrt(fan_in + fan_out)`` ("glorot") or ``1/sqrt(fan_in)`` ("he"); fans of a
    (out, in, *kernel) weight as in torch.nn.init."""
    if weight_real.shape != weight_imag.shape:
        raise ValueError(
            f"complex_glorot_: real and imaginary parts differ in shape, "
            f"{list(weight_real.shape)} vs {list(weight_imag.shape)}"
        )
    if criterion not in ("glorot", "he"):
        raise ValueError(f"complex_glorot_: criterion must be 'glorot' or 'he', got {criterion!r}")
    receptive = math.prod(weight_real.shape[2:]) if weight_real.dim() > 2 else 1
    fan_out, fan_in = weight_real.shape[0] * receptive, weight_real.shape[1] * receptive
    sigma = 1.0 / math.sqrt(fan_in + fan_out if criterion == "glorot" else fan_in)
    with torch.no_grad():
        u = torch.rand(weight_real.shape, generator=generator, dtype=torch.float64).clamp_min(1e-12)
        magnitude = sigma * torch.sqrt(-2.0 * torch.log(u))  # inverse CDF of Rayleigh(sigma)
        phase = (torch.rand(weight_real.shape, generator=generator, dtype=torch.float64) * 2 - 1) * math.pi
        weight_real.copy_(magnitude * torch.cos(phase))
        weight_imag.copy_(magnitude * torch.sin(phase))


def _block(a: Tensor, b: Tensor) -> Tensor:
    """The real block weight ``[[A, -B], [B, A]]`` stacked on dims 0 (outputs) and 1 (inputs)."""
    return torch.cat([torch.cat([a, -b], dim=1), torch.cat([b, a], dim=1)], dim=0)


def complex_linear(
    z: Tensor,
    weight_real: Tensor,
    weight_imag: Tensor,
    bias_real: Tensor | None = None,
    bias_imag: Tensor | None = None,
) -> Tensor:
    """``z W^T + b`` for complex ``z`` (*, in) and ``W = weight_real + i weight_imag`` (out, in), computed as
    one real matmul of ``[Re z, Im z]`` (*, 2 in) with the block weight (2 out, 2 in)."""
    out = weight_real.shape[0]
    x = torch.cat([z.real, z.imag], dim=-1)  # (*, 2 in)
    bias = None if bias_real is None else torch.cat([bias_real, bias_imag])
    y = F.linear(x, _block(weight_real, weight_imag), bias)  # (*, 2 out)
    return _combine(y[..., :out], y[..., out:])


def complex_conv2d(
    z: Tensor,
    weight_real: Tensor,
    weight_imag: Tensor,
    bias_real: Tensor | None = None,
    bias_imag: Tensor | None = None,
    stride: int = 1,
    padding: int = 0,
) -> Tensor:
    """2-D cross-correlation ``W * z + b`` (torch's conv2d convention) of complex ``z`` (N, C, H, W) with a
    complex kernel (O, C, k, k), as one real conv of ``[Re z; Im z]`` (N, 2C, H, W) with the block kernel
    (2O, 2C, k, k)."""
    out = weight_real.shape[0]
    x = torch.cat([z.real, z.imag], dim=1)  # (N, 2C, H, W)
    bias = None if bias_real is None else torch.cat([bias_real, bias_imag])
    y = F.conv2d(x, _block(weight_real, weight_imag), bias, stride=stride, padding=padding)  # (N, 2O, H', W')
    return _combine(y[:, :out], y[:, out:])


class ComplexLinear(nn.Module):
    """Complex affine map ``y = z W^T + b`` (Trabelsi et al. 2018); z (*, in_features) -> (*, out_features).

    Parameters ``weight_real``, ``weight_imag`` (out_features, in_features), ``bias_real``, ``bias_imag``
    (out_features,): ``2 * (in * out + out)`` real numbers.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, init: str = "glorot") -> None:
        super().__init__()
        self.in_features = check_positive_int("ComplexLinear", "in_features", in_features)
        self.out_features = check_positive_int("ComplexLinear", "out_features", out_features)
        self.weight_real = nn.Parameter(torch.empty(out_features, in_features))
        self.weight_imag = nn.Parameter(torch.empty(out_features, in_features))
        self.bias_real = nn.Parameter(torch.zeros(out_features)) if bias else None
        self.bias_imag = nn.Parameter(torch.zeros(out_features)) if bias else None
        if not self.weight_real.is_meta:
            complex_glorot_(self.weight_real, self.weight_imag, init)

    def forward(self, z: Tensor) -> Tensor:
        _check_complex("ComplexLinear", z)
        if z.shape[-1] != self.in_features:
            raise ValueError(f"ComplexLinear: expected last dim {self.in_features}, got {list(z.shape)}")
        return complex_linear(z, self.weight_real, self.weight_imag, self.bias_real, self.bias_imag)

    def extra_repr(self) -> str:
        bias = self.bias_real is not None
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={bias}"


class ComplexConv2d(nn.Module):
    """Complex 2-D convolution (Trabelsi et al. 2018, Sec. 3.2); z (N, C_in, H, W) -> (N, C_out, H', W')
    with ``H' = (H + 2 padding - kernel_size) // stride + 1``.

    Parameters ``weight_real``, ``weight_imag`` (C_out, C_in, k, k) and ``bias_real``, ``bias_imag`` (C_out,).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        bias: bool = True,
        init: str = "glorot",
    ) -> None:
        super().__init__()
        self.in_channels = check_positive_int("ComplexConv2d", "in_channels", in_channels)
        self.out_channels = check_positive_int("ComplexConv2d", "out_channels", out_channels)
        self.kernel_size = check_positive_int("ComplexConv2d", "kernel_size", kernel_size)
        self.stride = check_positive_int("ComplexConv2d", "stride", stride)
        if isinstance(padding, bool) or not isinstance(padding, int) or padding < 0:
            raise ValueError(f"ComplexConv2d: padding must be an int >= 0, got {padding!r}")
        self.padding = padding
        shape = (out_channels, in_channels, kernel_size, kernel_size)
        self.weight_real = nn.Parameter(torch.empty(shape))
        self.weight_imag = nn.Parameter(torch.empty(shape))
        self.bias_real = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.bias_imag = nn.Parameter(torch.zeros(out_channels)) if bias else None
        if not self.weight_real.is_meta:
            complex_glorot_(self.weight_real, self.weight_imag, init)

    def forward(self, z: Tensor) -> Tensor:
        _check_complex("ComplexConv2d", z)
        if z.dim() != 4 or z.shape[1] != self.in_channels:
            raise ValueError(
                f"ComplexConv2d: expected input (N, {self.in_channels}, H, W), got {list(z.shape)}"
            )
        return complex_conv2d(
            z, self.weight_real, self.weight_imag, self.bias_real, self.bias_imag, self.stride, self.padding
        )

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, padding={self.padding}"
        )


class ComplexReLU(nn.Module):
    """Split ReLU (Trabelsi et al.'s CReLU): ``ReLU(Re z) + i ReLU(Im z)``; any shape, complex in and out."""

    def forward(self, z: Tensor) -> Tensor:
        _check_complex("ComplexReLU", z)
        return _combine(torch.relu(z.real), torch.relu(z.imag))


class ModReLU(nn.Module):
    """``modReLU(z) = ReLU(|z| + b) z / |z|`` (Arjovsky et al. 2016, Eq. 8), ``b`` (num_features,) learnable,
    broadcast over the feature axis ``dim`` (1 for (N, C, H, W) maps, -1 for (*, F) vectors).

    ``z / |z|`` is evaluated as ``z / (|z| + eps)``; ``|z|`` as ``sqrt(Re^2 + Im^2 + eps^2)`` so the gradient
    at 0 is finite.
    """

    def __init__(self, num_features: int, dim: int = -1, bias_init: float = 0.0, eps: float = 1e-6) -> None:
        super().__init__()
        self.num_features = check_positive_int("ModReLU", "num_features", num_features)
        self.dim, self.eps = dim, eps
        self.bias = nn.Parameter(torch.full((num_features,), float(bias_init)))

    def forward(self, z: Tensor) -> Tensor:
        _check_complex("ModReLU", z)
        if z.dim() == 0 or z.shape[self.dim] != self.num_features:
            raise ValueError(
                f"ModReLU: expected {self.num_features} features on dim {self.dim}, got {list(z.shape)}"
            )
        shape = [1] * z.dim()
        shape[self.dim] = self.num_features
        re, im = z.real, z.imag
        mag = torch.sqrt(re * re + im * im + self.eps * self.eps)
        scale = torch.relu(mag + self.bias.view(shape)) / (mag + self.eps)
        return _combine(re * scale, im * scale)


class ComplexAvgPool2d(nn.Module):
    """Average pooling of a complex map: ``avg(Re z) + i avg(Im z)`` (pooling is linear)."""

    def __init__(self, kernel_size: int, stride: int | None = None) -> None:
        super().__init__()
        self.kernel_size = check_positive_int("ComplexAvgPool2d", "kernel_size", kernel_size)
        self.stride = (
            kernel_size if stride is None else check_positive_int("ComplexAvgPool2d", "stride", stride)
        )

    def forward(self, z: Tensor) -> Tensor:
        _check_complex("ComplexAvgPool2d", z)
        if z.dim() != 4:
            raise ValueError(f"ComplexAvgPool2d: expected (N, C, H, W), got {list(z.shape)}")
        pool = lambda t: F.avg_pool2d(t, self.kernel_size, self.stride)
        return _combine(pool(z.real), pool(z.imag))

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}"


class ComplexToReal(nn.Module):
    """``[Re z, Im z]`` concatenated along ``dim``: complex (*, F) -> real (*, 2F) (CoShNet's last step)."""

    def __init__(self, dim: int = -1) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, z: Tensor) -> Tensor:
        _check_complex("ComplexToReal", z)
        return torch.cat([z.real, z.imag], dim=self.dim)
