"""Pooling layers mirroring ``torch.nn`` (Max/AvgPool 1d-3d, AdaptiveAvgPool 1d-3d, AdaptiveMaxPool 1d/2d).

Max pooling (Ranzato et al. 2007; used by LeNet-style and every classic CNN) and average pooling take,
per output position ``i`` of each spatial dim, the window ``x[s * i + d * j - p]`` for ``j < k``::

    max:  y[i] = max_j x_pad[s*i + d*j]          (padding is -inf, so it never wins)
    avg:  y[i] = sum_j x_pad[s*i + j] / divisor  (padding is 0)

``L_out = floor_or_ceil((L + 2p - d(k - 1) - 1) / s) + 1``; with ``ceil_mode`` the last window may run
past the padded input, but a window must start inside the input or left padding. ``divisor`` is ``k``
elements (``count_include_pad=True``: padded zeros count, the ceil-mode overhang does not),
the number of real elements (``count_include_pad=False``), or ``divisor_override``.

Adaptive pooling (He et al., "Spatial Pyramid Pooling", 2014, arXiv:1406.4729) splits each dim of
length ``L`` into ``out`` bins ``[floor(i L / out), ceil((i + 1) L / out))``.

Fused torch kernels by default; the explicit window math (``Tensor.unfold``) under
``dlzoo.reference_mode()``. Shapes: ``(N, C, *L)`` or ``(C, *L)`` -> same leading dims, pooled ``*L``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .mode import use_fused

__all__ = [
    "MaxPool1d",
    "MaxPool2d",
    "MaxPool3d",
    "AvgPool1d",
    "AvgPool2d",
    "AvgPool3d",
    "AdaptiveAvgPool1d",
    "AdaptiveAvgPool2d",
    "AdaptiveAvgPool3d",
    "AdaptiveMaxPool1d",
    "AdaptiveMaxPool2d",
]

_IntOrTuple = int | Sequence[int]


def _ntuple(value: _IntOrTuple, n: int) -> tuple[int, ...]:
    return (int(value),) * n if isinstance(value, int) else tuple(int(v) for v in value)


def _pool_out_len(length: int, k: int, s: int, p: int, d: int, ceil_mode: bool) -> int:
    span = length + 2 * p - d * (k - 1) - 1
    out = (-(-span // s) if ceil_mode else span // s) + 1
    if ceil_mode and (out - 1) * s >= length + p:  # last window would start in the right padding
        out -= 1
    return out


def _check(layer: str, x: Tensor, n: int) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{layer}: expected a Tensor, got {type(x).__name__}")
    if x.dim() not in (n + 1, n + 2):
        spatial = ", ".join(f"L{i}" for i in range(n))
        raise ValueError(f"{layer}: expected (N, C, {spatial}) or (C, {spatial}) input, got {list(x.shape)}")


def _windows(x: Tensor, n: int, k, s, d) -> Tensor:
    """``(..., *L_pad)`` -> ``(..., *L_out, prod(k))`` windows taken over the last ``n`` dims."""
    lead = x.dim() - n
    for dim in range(n):
        x = x.unfold(lead + dim, d[dim] * (k[dim] - 1) + 1, s[dim])[..., :: d[dim]]  # window dim appended
    return x.flatten(start_dim=x.dim() - n)  # (..., *L_out, prod(k))


class _PoolNd(nn.Module):
    _dims = 2

    def __init__(self, kernel_size: _IntOrTuple, stride: _IntOrTuple | None = None, padding: _IntOrTuple = 0,
                 dilation: _IntOrTuple = 1, ceil_mode: bool = False) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if (stride is not None and stride != []) else kernel_size
        self.padding = padding
        self.dilation = dilation
        self.ceil_mode = ceil_mode
        n = self._dims
        k, p = _ntuple(kernel_size, n), _ntuple(padding, n)
        if any(pi > ki // 2 for pi, ki in zip(p, k)):
            raise ValueError(f"{type(self).__name__}: padding {padding} must be at most half of kernel_size "
                             f"{kernel_size}")

    def _geometry(self, x: Tensor):
        n = self._dims
        k, s = _ntuple(self.kernel_size, n), _ntuple(self.stride, n)
        p, d = _ntuple(self.padding, n), _ntuple(self.dilation, n)
        spatial = x.shape[-n:]
        out = [_pool_out_len(L, k[i], s[i], p[i], d[i], self.ceil_mode) for i, L in enumerate(spatial)]
        # right padding so that every output window fits: ceil-mode overhang beyond the regular padding
        right = [max(p[i], (out[i] - 1) * s[i] + d[i] * (k[i] - 1) + 1 - spatial[i] - p[i]) for i in range(n)]
        pads = [v for i in reversed(range(n)) for v in (p[i], right[i])]  # F.pad order: last dim first
        return k, s, p, d, pads, right

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class _MaxPoolNd(_PoolNd):
    def __init__(self, kernel_size: _IntOrTuple, stride: _IntOrTuple | None = None, padding: _IntOrTuple = 0,
                 dilation: _IntOrTuple = 1, return_indices: bool = False, ceil_mode: bool = False) -> None:
        super().__init__(kernel_size, stride, padding, dilation, ceil_mode)
        self.return_indices = return_indices

    def forward(self, x: Tensor):
        n = self._dims
        _check(type(self).__name__, x, n)
        if use_fused():
            fused = (F.max_pool1d, F.max_pool2d, F.max_pool3d)[n - 1]
            return fused(x, self.kernel_size, self.stride, self.padding, self.dilation,
                         ceil_mode=self.ceil_mode, return_indices=self.return_indices)
        k, s, p, d, pads, _ = self._geometry(x)
        spatial = x.shape[-n:]
        # flat index of every input element within its (C) plane, padded with -1 like x is with -inf
        index = torch.arange(math.prod(spatial), device=x.device).view(*spatial)
        index = F.pad(index.expand(x.shape), pads, value=-1)
        xp = F.pad(x, pads, value=float("-inf"))
        values, arg = _windows(xp, n, k, s, d).max(dim=-1)  # (..., *L_out)
        if not self.return_indices:
            return values
        indices = _windows(index, n, k, s, d).gather(-1, arg.unsqueeze(-1)).squeeze(-1)
        return values, indices

    def extra_repr(self) -> str:
        return super().extra_repr() + (", return_indices=True" if self.return_indices else "")


class MaxPool1d(_MaxPoolNd):
    """Max over sliding windows of ``(N, C, L)`` (mirrors ``torch.nn.MaxPool1d``)."""

    _dims = 1


class MaxPool2d(_MaxPoolNd):
    """Max over sliding windows of ``(N, C, H, W)`` (mirrors ``torch.nn.MaxPool2d``)."""

    _dims = 2


class MaxPool3d(_MaxPoolNd):
    """Max over sliding windows of ``(N, C, D, H, W)`` (mirrors ``torch.nn.MaxPool3d``)."""

    _dims = 3


class _AvgPoolNd(_PoolNd):
    def __init__(self, kernel_size: _IntOrTuple, stride: _IntOrTuple | None = None, padding: _IntOrTuple = 0,
                 ceil_mode: bool = False, count_include_pad: bool = True,
                 divisor_override: int | None = None) -> None:
        super().__init__(kernel_size, stride, padding, 1, ceil_mode)
        self.count_include_pad = count_include_pad
        self.divisor_override = divisor_override

    def forward(self, x: Tensor) -> Tensor:
        n = self._dims
        _check(type(self).__name__, x, n)
        if use_fused():
            if n == 1:
                if self.divisor_override is not None:
                    raise ValueError("AvgPool1d: divisor_override is not supported")
                return F.avg_pool1d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                                    self.count_include_pad)
            fused = (F.avg_pool2d, F.avg_pool3d)[n - 2]
            return fused(x, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                         self.count_include_pad, self.divisor_override)
        k, s, p, d, pads, right = self._geometry(x)
        sums = _windows(F.pad(x, pads), n, k, s, d).sum(dim=-1)  # (..., *L_out)
        if self.divisor_override is not None:
            return sums / self.divisor_override
        # divisor per window = how many counted positions it covers: real elements (+ regular padding)
        ones = x.new_ones(x.shape[-n:])
        if self.count_include_pad:
            counted = F.pad(ones, [v for i in reversed(range(n)) for v in (p[i], p[i])], value=1.0)
            counted = F.pad(counted, [v for i in reversed(range(n)) for v in (0, right[i] - p[i])])
        else:
            counted = F.pad(ones, pads)
        divisor = _windows(counted, n, k, s, d).sum(dim=-1)  # (*L_out)
        return sums / divisor

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"ceil_mode={self.ceil_mode}, count_include_pad={self.count_include_pad}")


class AvgPool1d(_AvgPoolNd):
    """Mean over sliding windows of ``(N, C, L)`` (mirrors ``torch.nn.AvgPool1d``)."""

    _dims = 1


class AvgPool2d(_AvgPoolNd):
    """Mean over sliding windows of ``(N, C, H, W)`` (mirrors ``torch.nn.AvgPool2d``)."""

    _dims = 2


class AvgPool3d(_AvgPoolNd):
    """Mean over sliding windows of ``(N, C, D, H, W)`` (mirrors ``torch.nn.AvgPool3d``)."""

    _dims = 3


def _bins(length: int, out: int) -> list[tuple[int, int]]:
    """Adaptive bins ``[floor(i L / out), ceil((i + 1) L / out))``."""
    return [((i * length) // out, -(-((i + 1) * length) // out)) for i in range(out)]


class _AdaptivePoolNd(nn.Module):
    _dims = 2

    def __init__(self, output_size: int | None | Sequence[int | None]) -> None:
        super().__init__()
        self.output_size = output_size

    def _sizes(self, x: Tensor) -> list[int]:
        n = self._dims
        out = [self.output_size] * n if not isinstance(self.output_size, Sequence) else list(self.output_size)
        if len(out) != n:
            name = type(self).__name__
            raise ValueError(f"{name}: output_size must have {n} entries, got {self.output_size}")
        return [x.shape[-n + i] if o is None else int(o) for i, o in enumerate(out)]

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class _AdaptiveAvgPoolNd(_AdaptivePoolNd):
    def forward(self, x: Tensor) -> Tensor:
        n = self._dims
        _check(type(self).__name__, x, n)
        sizes = self._sizes(x)
        if use_fused():
            fused = (F.adaptive_avg_pool1d, F.adaptive_avg_pool2d, F.adaptive_avg_pool3d)[n - 1]
            return fused(x, sizes if n > 1 else sizes[0])
        # separable: y = x averaged per dim with a (out, L) bin-averaging matrix
        for i in range(n):
            dim = x.dim() - n + i
            length = x.shape[dim]
            weight = x.new_zeros(sizes[i], length)
            for o, (start, end) in enumerate(_bins(length, sizes[i])):
                weight[o, start:end] = 1.0 / (end - start)
            x = torch.movedim(torch.movedim(x, dim, -1) @ weight.T, -1, dim)  # (..., out_i, ...)
        return x


class AdaptiveAvgPool1d(_AdaptiveAvgPoolNd):
    """Average over adaptive bins of ``(N, C, L)`` (mirrors ``torch.nn.AdaptiveAvgPool1d``)."""

    _dims = 1


class AdaptiveAvgPool2d(_AdaptiveAvgPoolNd):
    """Average over adaptive bins of ``(N, C, H, W)`` (mirrors ``torch.nn.AdaptiveAvgPool2d``)."""

    _dims = 2


class AdaptiveAvgPool3d(_AdaptiveAvgPoolNd):
    """Average over adaptive bins of ``(N, C, D, H, W)`` (mirrors ``torch.nn.AdaptiveAvgPool3d``)."""

    _dims = 3


class _AdaptiveMaxPoolNd(_AdaptivePoolNd):
    def __init__(self, output_size: int | None | Sequence[int | None], return_indices: bool = False) -> None:
        super().__init__(output_size)
        self.return_indices = return_indices

    def forward(self, x: Tensor):
        n = self._dims
        _check(type(self).__name__, x, n)
        sizes = self._sizes(x)
        if use_fused():
            fused = (F.adaptive_max_pool1d, F.adaptive_max_pool2d)[n - 1]
            return fused(x, sizes if n > 1 else sizes[0], self.return_indices)
        spatial = x.shape[-n:]
        index = torch.arange(math.prod(spatial), device=x.device).view(*spatial).expand(x.shape)
        # max over a box is separable: reduce one dim at a time, carrying the flat argmax index along
        for i in range(n):
            dim = x.dim() - n + i
            vals, idxs = [], []
            for start, end in _bins(x.shape[dim], sizes[i]):
                v, a = x.narrow(dim, start, end - start).max(dim=dim, keepdim=True)
                vals.append(v)
                idxs.append(index.narrow(dim, start, end - start).gather(dim, a))
            x, index = torch.cat(vals, dim), torch.cat(idxs, dim)  # (..., out_i, ...)
        return (x, index) if self.return_indices else x


class AdaptiveMaxPool1d(_AdaptiveMaxPoolNd):
    """Max over adaptive bins of ``(N, C, L)`` (mirrors ``torch.nn.AdaptiveMaxPool1d``)."""

    _dims = 1


class AdaptiveMaxPool2d(_AdaptiveMaxPoolNd):
    """Max over adaptive bins of ``(N, C, H, W)`` (mirrors ``torch.nn.AdaptiveMaxPool2d``)."""

    _dims = 2
