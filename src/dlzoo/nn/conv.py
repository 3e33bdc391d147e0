"""Convolution layers mirroring ``torch.nn.Conv{1,2,3}d`` and ``torch.nn.ConvTranspose{1,2,3}d``.

Cross-correlation (LeCun et al., "Gradient-based learning applied to document recognition", Proc. IEEE
1998; the layer every CNN in the zoo is built from). For input ``x`` of shape ``(N, C_in, *L)``, weight
``w`` of shape ``(C_out, C_in / groups, *k)``, stride ``s``, dilation ``d`` and zero padding ``p``::

    y[n, o, i] = b[o] + sum_{c in group(o)} sum_{j} w[o, c, j] * x_pad[n, c, s * i + d * j]

with output length ``L_out = floor((L + p_left + p_right - d * (k - 1) - 1) / s) + 1`` per spatial dim.

The transposed convolution (Zeiler et al. 2010; Dumoulin & Visin, "A guide to convolution arithmetic
for deep learning", 2016, arXiv:1603.07285, relationship 14) is the gradient of a convolution w.r.t.
its input. Its explicit form here: insert ``s - 1`` zeros between input elements, pad each side by
``d * (k - 1) - p`` (plus ``output_padding`` on the right), and convolve with stride 1 with the weight
flipped in space and transposed in channels, giving
``L_out = (L - 1) * s - 2 * p + d * (k - 1) + output_padding + 1``.

By default the layers call torch's fused ``F.conv*`` kernels (identical math). Inside
``dlzoo.reference_mode()`` they run the explicit version: windows extracted with ``Tensor.unfold``
(im2col) and contracted with the weight by ``einsum``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .mode import use_fused

__all__ = [
    "Conv1d",
    "Conv2d",
    "Conv3d",
    "ConvTranspose1d",
    "ConvTranspose2d",
    "ConvTranspose3d",
    "conv_reference",
    "conv_transpose_reference",
]

_IntOrTuple = int | Sequence[int]
_LETTERS_L = "uvw"  # output spatial dims in einsum strings
_LETTERS_K = "xyz"  # kernel dims in einsum strings


def _ntuple(value: _IntOrTuple, n: int, name: str, layer: str) -> tuple[int, ...]:
    if isinstance(value, int):
        return (value,) * n
    value = tuple(int(v) for v in value)
    if len(value) != n:
        raise ValueError(f"{layer}: {name} must be an int or a {n}-tuple, got {value}")
    return value


def conv_reference(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    stride: Sequence[int],
    pads: Sequence[tuple[int, int]],
    dilation: Sequence[int],
    groups: int,
    pad_mode: str = "constant",
) -> Tensor:
    """N-d cross-correlation from tensor ops: pad, im2col via ``Tensor.unfold``, grouped einsum.

    Args:
        x: ``(N, C_in, *L)``.
        weight: ``(C_out, C_in / groups, *k)``.
        pads: ``(left, right)`` per spatial dim; negative values crop (used by the transposed conv).
        pad_mode: ``F.pad`` mode: ``constant`` (zeros), ``reflect``, ``replicate`` or ``circular``.
    Returns:
        ``(N, C_out, *L_out)``.
    """
    n = weight.dim() - 2
    flat = [p for pair in reversed(list(pads)) for p in pair]  # F.pad wants last dim first
    if any(flat):
        x = F.pad(x, flat, mode=pad_mode)
    kernel = weight.shape[2:]
    for dim in range(n):
        span = dilation[dim] * (kernel[dim] - 1) + 1
        x = x.unfold(2 + dim, span, stride[dim])  # appends a window dim of size `span` at the end
        x = x[..., :: dilation[dim]]  # keep every d-th tap: window dim now has size k
    # x: (N, C_in, *L_out, *k)
    batch, c_in = x.shape[:2]
    out_len = x.shape[2 : 2 + n]
    c_out = weight.shape[0]
    x = x.reshape(batch, groups, c_in // groups, *out_len, *kernel)  # (N, G, C_in/G, *L_out, *k)
    w = weight.reshape(groups, c_out // groups, *weight.shape[1:])  # (G, C_out/G, C_in/G, *k)
    ls, ks = _LETTERS_L[:n], _LETTERS_K[:n]
    y = torch.einsum(f"ngc{ls}{ks},goc{ks}->ngo{ls}", x, w)  # (N, G, C_out/G, *L_out)
    y = y.reshape(batch, c_out, *out_len)  # (N, C_out, *L_out)
    if bias is not None:
        y = y + bias.view(1, c_out, *([1] * n))
    return y


def conv_transpose_reference(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    stride: Sequence[int],
    padding: Sequence[int],
    output_padding: Sequence[int],
    dilation: Sequence[int],
    groups: int,
) -> Tensor:
    """Transposed convolution as zero insertion + stride-1 conv with the flipped, transposed weight.

    Args:
        x: ``(N, C_in, *L)``.
        weight: ``(C_in, C_out / groups, *k)`` (torch's ConvTranspose layout).
    Returns:
        ``(N, C_out, *L_out)`` with ``L_out = (L - 1) * s - 2 * p + d * (k - 1) + output_padding + 1``.
    """
    n = weight.dim() - 2
    batch, c_in = x.shape[:2]
    spatial = x.shape[2:]
    if any(s > 1 for s in stride):
        up_shape = [(length - 1) * s + 1 for length, s in zip(spatial, stride)]
        up = x.new_zeros(batch, c_in, *up_shape)
        index = (slice(None), slice(None), *(slice(None, None, s) for s in stride))
        up[index] = x  # zeros between input elements: (N, C_in, (L - 1) * s + 1)
        x = up
    kernel = weight.shape[2:]
    c_out_g = weight.shape[1]
    w = weight.reshape(groups, c_in // groups, c_out_g, *kernel)  # (G, C_in/G, C_out/G, *k)
    w = w.transpose(1, 2).reshape(groups * c_out_g, c_in // groups, *kernel)  # (C_out, C_in/G, *k)
    w = w.flip(dims=tuple(range(2, 2 + n)))
    pads = []
    for dim in range(n):
        full = dilation[dim] * (kernel[dim] - 1) - padding[dim]
        pads.append((full, full + output_padding[dim]))
    return conv_reference(x, w, bias, (1,) * n, pads, dilation, groups)


class _ConvNd(nn.Module):
    """Shared parameters, init and checks of the (transposed) convolutions."""

    _dims: int = 2
    _transposed: bool = False

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: _IntOrTuple,
        stride: _IntOrTuple = 1,
        padding: _IntOrTuple | str = 0,
        dilation: _IntOrTuple = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        output_padding: _IntOrTuple = 0,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        name, n = type(self).__name__, self._dims
        if groups <= 0 or in_channels % groups or out_channels % groups:
            raise ValueError(
                f"{name}: in_channels ({in_channels}) and out_channels ({out_channels}) must be divisible "
                f"by groups ({groups})"
            )
        if padding_mode not in ("zeros", "reflect", "replicate", "circular"):
            raise ValueError(
                f"{name}: padding_mode must be zeros/reflect/replicate/circular, got {padding_mode!r}"
            )
        if self._transposed and padding_mode != "zeros":
            raise ValueError(f"{name}: only padding_mode='zeros' is supported, got {padding_mode!r}")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = _ntuple(kernel_size, n, "kernel_size", name)
        self.stride = _ntuple(stride, n, "stride", name)
        self.dilation = _ntuple(dilation, n, "dilation", name)
        self.transposed = self._transposed
        self.output_padding = _ntuple(output_padding, n, "output_padding", name)
        self.groups = groups
        self.padding_mode = padding_mode
        if isinstance(padding, str):
            if self._transposed or padding not in ("same", "valid"):
                raise ValueError(f"{name}: string padding must be 'same' or 'valid', got {padding!r}")
            if padding == "same" and any(s != 1 for s in self.stride):
                raise ValueError(f"{name}: padding='same' is not supported for strided convolutions")
            self.padding: tuple[int, ...] | str = padding
        else:
            self.padding = _ntuple(padding, n, "padding", name)
        factory = {"device": device, "dtype": dtype}
        if self._transposed:
            shape = (in_channels, out_channels // groups, *self.kernel_size)
        else:
            shape = (out_channels, in_channels // groups, *self.kernel_size)
        self.weight = nn.Parameter(torch.empty(shape, **factory))
        if bias:
            self.bias = nn.Parameter(torch.empty(out_channels, **factory))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """torch's default: kaiming-uniform with a=sqrt(5) -> U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.weight.shape[1] * math.prod(self.kernel_size)
            if fan_in:
                bound = 1 / math.sqrt(fan_in)
                nn.init.uniform_(self.bias, -bound, bound)

    def _pad_pairs(self) -> list[tuple[int, int]]:
        """Explicit ``(left, right)`` padding per spatial dim (torch puts the odd extra of 'same' right)."""
        if self.padding == "valid":
            return [(0, 0)] * self._dims
        if self.padding == "same":
            pairs = []
            for d, k in zip(self.dilation, self.kernel_size):
                total = d * (k - 1)
                pairs.append((total // 2, total - total // 2))
            return pairs
        return [(p, p) for p in self.padding]

    def _check_input(self, x: Tensor) -> tuple[Tensor, bool]:
        n, name = self._dims, type(self).__name__
        if not isinstance(x, Tensor):
            raise TypeError(f"{name}: expected a Tensor, got {type(x).__name__}")
        if x.dim() not in (n + 1, n + 2) or x.shape[-n - 1] != self.in_channels:
            dims = ", ".join(["N", str(self.in_channels)] + [f"L{i}" for i in range(n)])
            raise ValueError(f"{name}: expected input of shape ({dims}), got {list(x.shape)}")
        unbatched = x.dim() == n + 1
        return (x.unsqueeze(0) if unbatched else x), unbatched

    def extra_repr(self) -> str:
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0,) * self._dims:
            s += f", padding={self.padding}"
        if self.dilation != (1,) * self._dims:
            s += f", dilation={self.dilation}"
        if self.output_padding != (0,) * self._dims:
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


class _Conv(_ConvNd):
    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: _IntOrTuple,
        stride: _IntOrTuple = 1,
        padding: _IntOrTuple | str = 0,
        dilation: _IntOrTuple = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         padding_mode, 0, device, dtype)

    def forward(self, x: Tensor) -> Tensor:
        x, unbatched = self._check_input(x)
        pads = self._pad_pairs()
        mode = {"zeros": "constant"}.get(self.padding_mode, self.padding_mode)
        if use_fused():
            fused = (F.conv1d, F.conv2d, F.conv3d)[self._dims - 1]
            if self.padding_mode == "zeros":
                y = fused(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)
            else:
                flat = [p for pair in reversed(pads) for p in pair]
                y = fused(F.pad(x, flat, mode=mode), self.weight, self.bias, self.stride, 0, self.dilation,
                          self.groups)
        else:
            y = conv_reference(x, self.weight, self.bias, self.stride, pads, self.dilation, self.groups, mode)
        return y.squeeze(0) if unbatched else y


class Conv1d(_Conv):
    """1-d convolution over ``(N, C_in, L)`` -> ``(N, C_out, L_out)`` (mirrors ``torch.nn.Conv1d``)."""

    _dims = 1


class Conv2d(_Conv):
    """2-d convolution (mirrors ``torch.nn.Conv2d``): ``(N, C_in, H, W)`` -> ``(N, C_out, H', W')``."""

    _dims = 2


class Conv3d(_Conv):
    """3-d convolution (mirrors ``torch.nn.Conv3d``): ``(N, C_in, D, H, W)`` -> ``(N, C_out, D', H', W')``."""

    _dims = 3


class _ConvTranspose(_ConvNd):
    _transposed = True

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: _IntOrTuple,
        stride: _IntOrTuple = 1,
        padding: _IntOrTuple = 0,
        output_padding: _IntOrTuple = 0,
        groups: int = 1,
        bias: bool = True,
        dilation: _IntOrTuple = 1,
        padding_mode: str = "zeros",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         padding_mode, output_padding, device, dtype)
        name = type(self).__name__
        for op, s, d in zip(self.output_padding, self.stride, self.dilation):
            if op >= max(s, d):
                raise ValueError(f"{name}: output_padding must be smaller than stride or dilation, "
                                 f"got output_padding={self.output_padding}, stride={self.stride}")

    def _resolve_output_padding(self, x: Tensor, output_size: Sequence[int] | None) -> tuple[int, ...]:
        if output_size is None:
            return self.output_padding
        n, name = self._dims, type(self).__name__
        size = list(output_size)[-n:]
        result = []
        for i in range(n):
            smallest = ((x.shape[2 + i] - 1) * self.stride[i] - 2 * self.padding[i]
                        + self.dilation[i] * (self.kernel_size[i] - 1) + 1)
            extra = size[i] - smallest
            if not 0 <= extra < max(self.stride[i], self.dilation[i]):
                raise ValueError(f"{name}: requested output_size {list(output_size)} is not reachable "
                                 f"from input {list(x.shape)}")
            result.append(extra)
        return tuple(result)

    def forward(self, x: Tensor, output_size: Sequence[int] | None = None) -> Tensor:
        x, unbatched = self._check_input(x)
        output_padding = self._resolve_output_padding(x, output_size)
        if use_fused():
            fused = (F.conv_transpose1d, F.conv_transpose2d, F.conv_transpose3d)[self._dims - 1]
            y = fused(x, self.weight, self.bias, self.stride, self.padding, output_padding, self.groups,
                      self.dilation)
        else:
            y = conv_transpose_reference(x, self.weight, self.bias, self.stride, self.padding, output_padding,
                                         self.dilation, self.groups)
        return y.squeeze(0) if unbatched else y


class ConvTranspose1d(_ConvTranspose):
    """Transposed 1-d convolution (mirrors ``torch.nn.ConvTranspose1d``): (N, C_in, L) -> (N, C_out, L')."""

    _dims = 1


class ConvTranspose2d(_ConvTranspose):
    """Transposed 2-d convolution (mirrors ``torch.nn.ConvTranspose2d``).

    Shapes: ``(N, C_in, H, W) -> (N, C_out, H', W')``.
    """

    _dims = 2


class ConvTranspose3d(_ConvTranspose):
    """Transposed 3-d convolution (mirrors ``torch.nn.ConvTranspose3d``).

    Shapes: ``(N, C_in, D, H, W) -> (N, C_out, D', H', W')``.
    """

    _dims = 3
