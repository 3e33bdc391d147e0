"""Fused RMSNorm: y = x / sqrt(mean(x^2) + eps) * weight in one pass forward and one pass backward.

Paper: Zhang, Sennrich, "Root Mean Square Layer Normalization", NeurIPS 2019, arXiv:1910.07467.

Statistics over the trailing ``normalized_shape`` dims, so every input is viewed as ``(N, C)`` with
C = prod(normalized_shape) (rows = all leading positions). With rstd = 1 / sqrt(mean_c x^2 + eps),
xhat = x rstd and an upstream gradient dy, the backward computes in one pass over (dy, x):

    dx      = rstd * (dy * weight - xhat * mean_c(dy * weight * xhat))      (per row)
    d_weight = sum_rows dy * xhat                                            (per channel)

``eps=None`` is the machine epsilon of the computation dtype (float32's for float32 / bfloat16 inputs,
float64's for float64), as ``torch.nn.functional.rms_norm``. Math runs in float32 for bfloat16 inputs
(rounded to bfloat16 once), in the input dtype otherwise; the weight gradient comes back in the weight's
dtype, the output in the input's.

Backends (:func:`rms_norm`): ``"auto"`` (the default) picks one by device and dtype, the same everywhere
(nothing looks at the environment it runs in). Force one for the process with ``DLZOO_RMSNORM_BACKEND=<name>``
(read at import) or :func:`set_rmsnorm_backend`, or for a block with ``with rmsnorm_backend("torch"): ...``.

* ``"native"`` — CPU float32 / float64 / bfloat16 input (weight on the CPU, any of those dtypes, or None):
  the one-pass C kernels of :mod:`dlzoo.kernels.rmsnorm_cpu` in an autograd.Function that saves x and
  rstd (N values). Built with gcc on first use (~1 s, once per machine, cached on disk under a lock); without
  a compiler, or if the build fails, one warning and ``"torch"`` is used. Forced on anything else, it runs
  ``"torch"``.
* ``"torch"`` — ``torch.nn.functional.rms_norm`` (CUDA, float16, other devices; also inside an outer
  ``torch.compile``, so the outer graph fuses it itself, and under ``torch.func`` transforms).
* ``"reference"`` — :func:`rms_norm_reference`, the equation in plain tensor ops (autograd differentiates it).
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from . import rmsnorm_cpu

__all__ = ["RMSNORM_BACKENDS", "RMSNormFunction", "rms_norm", "rms_norm_reference", "rmsnorm_backend",
           "select_rmsnorm_backend", "set_rmsnorm_backend"]

RMSNORM_BACKENDS = ("auto", "native", "torch", "reference")
_backend = os.environ.get("DLZOO_RMSNORM_BACKEND", "auto")  # checked on first use: import never fails on it


def _checked(name: str, source: str) -> str:
    if name not in RMSNORM_BACKENDS:
        raise ValueError(f"{source} must be one of {RMSNORM_BACKENDS}, got {name!r}")
    return name


def set_rmsnorm_backend(name: str) -> str:
    """Force the RMSNorm backend for this process (one of :data:`RMSNORM_BACKENDS`; ``"auto"`` restores the
    automatic choice); returns the previous one. ``DLZOO_RMSNORM_BACKEND`` sets the initial value."""
    global _backend
    previous, _backend = _backend, _checked(name, "RMSNorm backend")
    return previous


@contextlib.contextmanager
def rmsnorm_backend(name: str) -> Iterator[None]:
    """``with rmsnorm_backend("torch"): ...`` — :func:`set_rmsnorm_backend` for the block, then restored."""
    previous = set_rmsnorm_backend(name)
    try:
        yield
    finally:
        set_rmsnorm_backend(previous)


def _shape(normalized_shape: int | Sequence[int]) -> tuple[int, ...]:
    return (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)


def _eps(eps: float | None, dtype: torch.dtype) -> float:
    return eps if eps is not None else torch.finfo(rmsnorm_cpu.compute_dtype(dtype)).eps


def rms_norm_reference(x: Tensor, normalized_shape: int | Sequence[int], weight: Tensor | None = None,
                       eps: float | None = None) -> Tensor:
    """The equation in plain tensor ops: x / sqrt(mean(x^2) + eps) * weight over the trailing dims.

    Shapes: ``x`` ``(*, *normalized_shape)``, ``weight`` ``normalized_shape`` or None -> ``x``'s shape.
    """
    dims = tuple(range(-len(_shape(normalized_shape)), 0))
    xf = x.to(rmsnorm_cpu.compute_dtype(x.dtype)) if x.is_floating_point() else x  # float32 for half inputs
    y = xf * torch.rsqrt(xf.pow(2).mean(dim=dims, keepdim=True) + _eps(eps, x.dtype))
    if weight is not None:
        y = y * weight
    return y.to(x.dtype)


class RMSNormFunction(torch.autograd.Function):
    """Native RMSNorm on an (N, C) tensor: ``RMSNormFunction.apply(x2, weight_c, eps)``.

    ``weight_c`` is the (C,) weight or None; the (N, C) <-> input-shape reshapes happen outside, so the
    output is not a view created inside the Function (in-place ops on it stay legal). Backward runs the
    native kernel; under ``create_graph=True`` (double backward) it differentiates
    :func:`rms_norm_reference` instead, so higher-order gradients stay available.
    """

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor | None, eps: float) -> Tensor:
        y, rstd = rmsnorm_cpu.rms_norm_forward(x.contiguous(), weight, eps)
        ctx.save_for_backward(x, weight, rstd)
        ctx.eps = eps
        return y

    @staticmethod
    def backward(ctx, dy: Tensor):
        x, weight, rstd = ctx.saved_tensors
        need_dw = weight is not None and ctx.needs_input_grad[1]
        if torch.is_grad_enabled():  # create_graph=True: a differentiable backward from the equation
            inputs = [x] + ([weight] if need_dw else [])
            with torch.enable_grad():
                y = rms_norm_reference(x, (x.shape[-1],), weight, ctx.eps)
            grads = torch.autograd.grad(y, inputs, dy, create_graph=True)
            return grads[0], grads[1] if need_dw else None, None
        dx, dweight = rmsnorm_cpu.rms_norm_backward(dy.to(x.dtype).contiguous(), x.contiguous(), weight, rstd,
                                                    need_dweight=need_dw)
        return dx, dweight.to(weight.dtype) if dweight is not None else None, None


def _native_ok(x: Tensor, weight: Tensor | None) -> bool:
    if torch.compiler.is_compiling() or torch._C._are_functorch_transforms_active():
        return False  # the outer graph / torch.func transform needs torch's op (it cannot see a ctypes call)
    return (x.device.type == "cpu" and x.dtype in rmsnorm_cpu.DTYPES
            and (weight is None or (weight.device.type == "cpu" and weight.dtype in rmsnorm_cpu.DTYPES))
            and rmsnorm_cpu.available())


def select_rmsnorm_backend(x: Tensor, weight: Tensor | None = None) -> str:
    """The backend :func:`rms_norm` would use for ``x`` and ``weight`` (``"torch"`` inside torch.compile and
    torch.func transforms)."""
    if torch.compiler.is_compiling() or torch._C._are_functorch_transforms_active():
        return "torch"
    name = _checked(_backend, "DLZOO_RMSNORM_BACKEND / set_rmsnorm_backend")
    name = "native" if name == "auto" else name
    return "torch" if name == "native" and not _native_ok(x, weight) else name


def rms_norm(x: Tensor, normalized_shape: int | Sequence[int], weight: Tensor | None = None,
             eps: float | None = None, backend: str | None = None) -> Tensor:
    """RMSNorm over the trailing ``normalized_shape`` dims on the best backend for ``x`` (module docstring);
    the same result as ``torch.nn.functional.rms_norm`` and :func:`rms_norm_reference`.

    Shapes: ``x`` ``(*, *normalized_shape)``, ``weight`` ``normalized_shape`` or None -> ``x``'s shape.
    """
    shape = _shape(normalized_shape)
    if backend is None or _checked(backend, "rms_norm: backend") == "auto":
        backend = select_rmsnorm_backend(x, weight)
    elif backend == "native" and not _native_ok(x, weight):
        backend = "torch"  # the native kernel is CPU float32/float64/bfloat16 only (and needs a C compiler)
    if backend == "reference":
        return rms_norm_reference(x, shape, weight, eps)
    if (backend == "torch" or x.numel() == 0 or tuple(x.shape[x.dim() - len(shape):]) != shape
            or (weight is not None and tuple(weight.shape) != shape)):
        return F.rms_norm(x, shape, weight, eps)  # (torch raises the shape error)
    c = math.prod(shape)
    x2 = x.reshape(-1, c)  # (N, C); a copy when x's trailing dims are not contiguous
    w = weight.reshape(c) if weight is not None else None  # (C,)
    e = _eps(eps, x.dtype)
    if not (torch.is_grad_enabled() and (x.requires_grad or (w is not None and w.requires_grad))):
        # inference: no autograd.Function (its ~10 us per call matter for small inputs), no rstd
        return rmsnorm_cpu.rms_norm_forward(x2.contiguous(), w, e, save_rstd=False)[0].view(x.shape)
    return RMSNormFunction.apply(x2, w, e).view(x.shape)
