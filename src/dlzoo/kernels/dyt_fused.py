"""Fused Dynamic Tanh: y = weight * tanh(alpha * x) + bias in one pass forward and one pass backward.

Paper: Zhu, Chen, He, LeCun, Liu, "Transformers without Normalization", CVPR 2025, arXiv:2503.10622.

Every layout is viewed as ``(A, C, B)`` with the affine parameters on C: channels-last ``(*, C)`` is
``(prod(*), C, 1)``, channels-first ``(N, C, *spatial)`` is ``(N, C, prod(spatial))``. With t = tanh(a x),
s = 1 - t^2 and an upstream gradient dy, the backward computes in one pass over (dy, x):

    dx      = dy * weight_c * a * s
    d_gamma = sum_{A,B} dy * t                           (per channel)
    d_beta  = sum_{A,B} dy                               (per channel)
    d_alpha = sum_c weight_c * sum_{A,B} dy * x * s      (per-channel partials, then one dot product)

On CPU in float32 the native kernel (:mod:`dlzoo.kernels.dyt_cpu`, C compiled lazily with gcc) does
this in one pass: dx is written and the per-channel sums accumulate in the same loop. The compiled
backward (other dtypes) is one generated kernel with two loops: the three per-channel sums accumulate
together in one loop over (dy, x), blocked K rows at a time (:func:`_blocked`), and dx is written by a
second loop (inductor does not fuse a column reduction with an element-wise output). The Triton backward
is a single pass.

The native, compiled and Triton backends save only x (t is recomputed, cheaper than storing it). Math runs
in float32 for half/bfloat16 inputs, in the input dtype otherwise; the parameter gradients come back in
their dtype.

Backends (:func:`dyt`): ``"auto"`` (the default) picks one by device, dtype and size, by the rules below,
the same everywhere (a test run, a training run, a benchmark: nothing looks at the environment it runs in).
Force one for the process with ``DLZOO_DYT_BACKEND=<name>`` (read at import) or :func:`set_dyt_backend`, or
for a block with ``with dyt_backend("eager"): ...``; tests that need a particular backend do exactly that.

* ``"triton"`` — CUDA tensors when Triton is importable (:mod:`dlzoo.kernels.dyt_triton`).
* ``"native"`` — CPU float32, any size (forced on other dtypes or without a compiler it runs ``"eager"``):
  one-pass C kernels (:mod:`dlzoo.kernels.dyt_cpu`) with the same rational tanh, built with gcc on first use
  (~1 s, once per machine: cached on disk under a lock, so concurrent processes build it once); without a C
  compiler, or if the build fails, one warning and the rules below apply.
* ``"compiled"`` — CPU, other dtypes, large tensors (>= :data:`COMPILE_MIN_NUMEL` elements): the functions
  below under ``torch.compile`` with tanh from :func:`dlzoo.kernels.tanh.tanh_rational` (mul/add/div only,
  so it vectorises; error < 1e-6 vs float64 tanh). Compiled lazily on first use, cached for the process;
  ``DLZOO_NO_COMPILE=1`` or a failed compile (one warning) falls back to ``"eager"``.
* ``"eager"`` — anything else: tanh(z) = 2 sigmoid(2z) - 1 (ATen's sigmoid is ~5x cheaper than its tanh
  here) in three eager passes forward; the sigmoid is kept for backward (as autograd keeps tanh), which
  uses ATen's one-pass ``tanh_backward``.

Inside an outer ``torch.compile`` the plain equation is returned so the outer graph fuses it itself.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from . import dyt_cpu
from .compile import compile_available, lazy_compile
from .tanh import tanh_rational

__all__ = ["BACKENDS", "COMPILE_MIN_NUMEL", "DyTFunction", "dyt", "dyt_backend", "dyt_reference",
           "select_backend", "set_dyt_backend"]

COMPILE_MIN_NUMEL = 1 << 20  # below ~1M elements, eager is as fast and compiling would not pay off
BACKENDS = ("auto", "eager", "native", "compiled", "triton", "reference")
_backend = os.environ.get("DLZOO_DYT_BACKEND", "auto")  # checked on first use: import never fails on it


def _checked(name: str, source: str) -> str:
    if name not in BACKENDS:
        raise ValueError(f"{source} must be one of {BACKENDS}, got {name!r}")
    return name


def set_dyt_backend(name: str) -> str:
    """Force the DyT backend for this process (one of :data:`BACKENDS`; ``"auto"`` restores the automatic
    choice); returns the previous one. ``DLZOO_DYT_BACKEND`` sets the initial value."""
    global _backend
    previous, _backend = _backend, _checked(name, "DyT backend")
    return previous


@contextlib.contextmanager
def dyt_backend(name: str) -> Iterator[None]:
    """``with dyt_backend("eager"): ...`` — :func:`set_dyt_backend` for the block, restored afterwards."""
    previous = set_dyt_backend(name)
    try:
        yield
    finally:
        set_dyt_backend(previous)


def dyt_reference(x: Tensor, alpha: Tensor, weight: Tensor | None, bias: Tensor | None,
                  channels_last: bool = True) -> Tensor:
    """The equation, written plainly (autograd differentiates it): weight * tanh(alpha * x) + bias."""
    y = torch.tanh(alpha * x)
    view = (-1,) if channels_last else (-1, *([1] * (x.dim() - 2)))  # (C,) or (C, 1, ..., 1)
    if weight is not None:
        y = y * weight.view(view)
    if bias is not None:
        y = y + bias.view(view)
    return y


def _compute_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.promote_types(dtype, torch.float32)


# ---- backend math on (A, C, B) views; weight/bias are (C,) or None -------------------------------------

def _tanh(z: Tensor) -> Tensor:
    # float64 keeps the exact tanh (the rational is float32-accurate, ~2e-8 relative)
    return torch.tanh(z) if z.dtype == torch.float64 else tanh_rational(z)


def _forward_rational(x: Tensor, alpha: Tensor, weight: Tensor | None, bias: Tensor | None) -> Tensor:
    ct = _compute_dtype(x.dtype)
    y = _tanh(x.to(ct) * alpha.to(ct))
    if weight is not None:
        y = y * weight.to(ct)[:, None]
    if bias is not None:
        y = y + bias.to(ct)[:, None]
    return y.to(x.dtype)


def _backward_rational(dy: Tensor, x: Tensor, alpha: Tensor, weight: Tensor | None,
                       has_bias: bool) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None]:
    """Backward on (R, K, C, B) views (see :func:`_blocked`): per-(R, C) partial sums, then over R."""
    ct = _compute_dtype(x.dtype)
    xf, dyf, a = x.to(ct), dy.to(ct), alpha.to(ct)
    t = _tanh(xf * a)
    s = 1 - t * t
    g = dyf * weight.to(ct)[:, None] if weight is not None else dyf
    dx = (g * a * s).to(x.dtype)
    dalpha_c = (dyf * xf * s).sum(dim=(1, 3)).sum(0)  # (R, C) partials -> (C,)
    dalpha = (dalpha_c * weight.to(ct)).sum() if weight is not None else dalpha_c.sum()
    dweight = (dyf * t).sum(dim=(1, 3)).sum(0) if weight is not None else None
    dbias = dyf.sum(dim=(1, 3)).sum(0) if has_bias else None
    return dx, dalpha.reshape(1), dweight, dbias


def _blocked(t: Tensor) -> Tensor:
    """(A, C, B) -> (R, K, C, B) with R * K = A, K the largest divisor of A up to 256.

    Column sums over A are then taken block by block (K rows at a time, which stay in cache while
    every channel block is visited) instead of striding over all A rows once per channel block; measured
    ~1.7-3x faster for the channels-last reductions on CPU.
    """
    a_dim = t.shape[0]
    k = next(d for d in range(min(a_dim, 256), 0, -1) if a_dim % d == 0)
    return t.view(a_dim // k, k, t.shape[1], t.shape[2])


_forward_compiled = lazy_compile(_forward_rational)
_backward_compiled = lazy_compile(_backward_rational)


def _forward_eager(x: Tensor, alpha: Tensor, weight: Tensor | None,
                   bias: Tensor | None) -> tuple[Tensor, Tensor]:
    """Returns (y, sigmoid(2 a x)); the sigmoid is kept for backward (as autograd would keep tanh)."""
    ct = _compute_dtype(x.dtype)
    sig = torch.mul(x.to(ct), 2 * alpha.to(ct)).sigmoid_()  # tanh(a x) = 2 sig - 1
    w = weight.to(ct)[:, None] if weight is not None else torch.ones((), dtype=ct)
    shift = -w if bias is None else bias.to(ct)[:, None] - w
    return torch.addcmul(shift, sig, 2 * w).to(x.dtype), sig  # w (2 sig - 1) + b


def _backward_eager(dy: Tensor, x: Tensor, sig: Tensor, alpha: Tensor, weight: Tensor | None,
                    has_bias: bool) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None]:
    ct = _compute_dtype(x.dtype)
    xf, dyf, a = x.to(ct), dy.to(ct), alpha.to(ct)
    t = torch.addcmul(sig.new_full((), -1.0), sig, sig.new_full((), 2.0))  # tanh(a x) = 2 sig - 1
    ds = torch.ops.aten.tanh_backward(dyf, t)  # dy * (1 - t^2), one pass
    dalpha_c = (ds * xf).sum(dim=(0, 2))  # (C,) partials of d_alpha
    if weight is not None:
        w = weight.to(ct)
        dx = ds * (w[:, None] * a)
        dalpha = (dalpha_c * w).sum()
        dweight = (dyf * t).sum(dim=(0, 2))
    else:
        dx, dalpha, dweight = ds * a, dalpha_c.sum(), None
    dbias = dyf.sum(dim=(0, 2)) if has_bias else None
    return dx.to(x.dtype), dalpha.reshape(1), dweight, dbias


# ---- autograd ----------------------------------------------------------------------------------------

def _as_acb(x: Tensor, channels_last: bool) -> Tensor:
    if channels_last:
        return x.reshape(-1, x.shape[-1], 1)  # (prod(*), C, 1)
    return x.reshape(x.shape[0], x.shape[1], -1)  # (N, C, prod(spatial))


def _detached(*tensors: Tensor | None) -> tuple[Tensor | None, ...]:
    return tuple(t.detach() if t is not None else None for t in tensors)


class DyTFunction(torch.autograd.Function):
    """Fused DyT on an (A, C, B) tensor: ``DyTFunction.apply(x3, alpha, weight, bias, backend)``.

    The (A, C, B) <-> input-shape reshapes happen outside, so the output is not a view created inside the
    Function (in-place ops such as ``relu_`` on it stay legal).
    """

    @staticmethod
    def forward(ctx, x: Tensor, alpha: Tensor, weight: Tensor | None, bias: Tensor | None,
                backend: str) -> Tensor:
        if backend == "native":
            x = x.contiguous()
            y, sig = dyt_cpu.dyt_forward(x, alpha, weight, bias), None
        elif backend == "compiled":
            # detached: dynamo guards on requires_grad, which differs between training and inference
            y, sig = _forward_compiled(*_detached(x, alpha, weight, bias)), None
        else:
            y, sig = _forward_eager(x, alpha, weight, bias)
        ctx.save_for_backward(x, alpha, weight, sig)
        ctx.backend, ctx.has_bias = backend, bias is not None
        return y if y._base is None else y.clone()  # never hand autograd a view made in here

    @staticmethod
    @once_differentiable  # double backward: use dlzoo.reference_mode() (plain autograd math)
    def backward(ctx, dy: Tensor):
        x, alpha, weight, sig = ctx.saved_tensors
        dy = dy.contiguous()
        if ctx.backend == "native":
            dx, dalpha, dweight, dbias = dyt_cpu.dyt_backward(dy, x, alpha, weight, ctx.has_bias)
        elif ctx.backend == "compiled":
            inputs = _detached(_blocked(dy), _blocked(x), alpha, weight)
            dx, dalpha, dweight, dbias = _backward_compiled(*inputs, ctx.has_bias)
            dx = dx.view(x.shape)
        else:
            dx, dalpha, dweight, dbias = _backward_eager(dy, x, sig, alpha, weight, ctx.has_bias)
        pdtype = weight.dtype if weight is not None else alpha.dtype
        dweight = dweight.to(pdtype) if dweight is not None else None
        dbias = dbias.to(pdtype) if dbias is not None else None
        return dx, dalpha.to(alpha.dtype), dweight, dbias, None


def select_backend(x: Tensor) -> str:
    """The backend :func:`dyt` would use for ``x`` (``"reference"`` inside an outer torch.compile)."""
    if torch.compiler.is_compiling():
        return "reference"
    if _backend != "auto":
        return _checked(_backend, "DLZOO_DYT_BACKEND / set_dyt_backend")
    if x.is_cuda:
        from .dyt_triton import triton_available

        return "triton" if triton_available() else "reference"
    if x.device.type != "cpu":
        return "reference"
    if x.dtype == torch.float32 and dyt_cpu.available():
        return "native"
    return "compiled" if x.numel() >= COMPILE_MIN_NUMEL and compile_available() else "eager"


def dyt(x: Tensor, alpha: Tensor, weight: Tensor | None = None, bias: Tensor | None = None,
        channels_last: bool = True, backend: str | None = None) -> Tensor:
    """Fused DyT on the best backend for ``x`` (see module docstring); same result as :func:`dyt_reference`.

    Shapes: ``x`` is ``(*, C)`` (channels_last) or ``(N, C, *)``; ``alpha`` (1,); weight/bias (C,) or None.
    """
    if backend is None or _checked(backend, "dyt: backend") == "auto":
        backend = select_backend(x)
    if backend == "reference" or x.numel() == 0:
        return dyt_reference(x, alpha, weight, bias, channels_last)
    if backend == "native" and not (x.dtype == torch.float32 and x.device.type == "cpu"
                                    and dyt_cpu.available()):
        backend = "eager"  # the native kernel is CPU float32 only (and needs a C compiler)
    if backend == "native" and not (torch.is_grad_enabled() and any(
            t is not None and t.requires_grad for t in (x, alpha, weight, bias))):
        # inference: no autograd.Function (its ~10 us per call matter for small inputs)
        return dyt_cpu.dyt_forward(_as_acb(x, channels_last).contiguous(), alpha, weight, bias).view(x.shape)
    if backend == "triton":
        from .dyt_triton import dyt_triton

        return dyt_triton(x, alpha, weight, bias, channels_last)
    y = DyTFunction.apply(_as_acb(x, channels_last), alpha, weight, bias, backend)
    return y.view(x.shape)
