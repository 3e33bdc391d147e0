"""Triton DyT kernels for CUDA (imported only when Triton is installed; see :func:`triton_available`).

Same math as :mod:`dlzoo.kernels.dyt_fused` (Zhu et al., "Transformers without Normalization",
arXiv:2503.10622), y = weight * tanh(alpha * x) + bias, on an (A, C, B) view of the input:

* forward: one element-wise kernel, math in float32 for any storage dtype (bf16/fp16 in, same out),
  tanh(z) = 2 sigmoid(2z) - 1;
* backward: one kernel that reads (dy, x) once, writes dx and accumulates float32 per-program partial
  sums of dy*x*s (for d_alpha), dy*t (d_gamma) and dy (d_beta), s = 1 - t^2; the partials (a few rows
  per channel) are reduced afterwards with ``torch.sum`` in float32, so no atomics and a deterministic
  result. Channels-last inputs use a column kernel (each program: a block of rows x a block of channels),
  channels-first inputs a row kernel (each program: one (n, c) plane of prod(spatial) values).
"""

from __future__ import annotations

import functools

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

__all__ = ["DyTTritonFunction", "dyt_triton", "triton_available"]


@functools.cache
def triton_available() -> bool:
    """True when Triton imports and a CUDA device is present."""
    if not torch.cuda.is_available():
        return False
    try:
        import triton  # noqa: F401
        import triton.language  # noqa: F401
    except ImportError:
        return False
    return True


@functools.cache
def _kernels():
    """Define the kernels on first use (so importing this module never needs Triton)."""
    import triton
    import triton.language as tl

    @triton.jit
    def fwd_kernel(X, Y, ALPHA, W, BIAS, n_elements, C, B,
                   HAS_W: tl.constexpr, HAS_B: tl.constexpr, BLOCK: tl.constexpr):
        offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
        mask = offs < n_elements
        x = tl.load(X + offs, mask=mask, other=0.0).to(tl.float32)
        a = tl.load(ALPHA).to(tl.float32)
        y = 2.0 * tl.sigmoid(2.0 * a * x) - 1.0
        c = (offs // B) % C
        if HAS_W:
            y = y * tl.load(W + c, mask=mask, other=0.0).to(tl.float32)
        if HAS_B:
            y = y + tl.load(BIAS + c, mask=mask, other=0.0).to(tl.float32)
        tl.store(Y + offs, y.to(Y.dtype.element_ty), mask=mask)

    @triton.jit
    def bwd_last_kernel(DY, X, DX, ALPHA, W, P_DA, P_DW, P_DB, M, C, rows_per_prog,
                        HAS_W: tl.constexpr, BLOCK_C: tl.constexpr):
        pid_r, pid_c = tl.program_id(0), tl.program_id(1)
        cols = pid_c * BLOCK_C + tl.arange(0, BLOCK_C)
        cmask = cols < C
        a = tl.load(ALPHA).to(tl.float32)
        if HAS_W:
            w = tl.load(W + cols, mask=cmask, other=0.0).to(tl.float32)
        else:
            w = tl.full((BLOCK_C,), 1.0, tl.float32)
        acc_da = tl.zeros((BLOCK_C,), tl.float32)
        acc_dw = tl.zeros((BLOCK_C,), tl.float32)
        acc_db = tl.zeros((BLOCK_C,), tl.float32)
        row0 = pid_r * rows_per_prog
        for r in range(0, rows_per_prog):
            row = row0 + r
            m = cmask & ((cols * 0 + row) < M)  # vector mask (a scalar bool & vector trips the interpreter)
            offs = row.to(tl.int64) * C + cols
            x = tl.load(X + offs, mask=m, other=0.0).to(tl.float32)
            dy = tl.load(DY + offs, mask=m, other=0.0).to(tl.float32)
            t = 2.0 * tl.sigmoid(2.0 * a * x) - 1.0
            s = 1.0 - t * t
            tl.store(DX + offs, (dy * w * a * s).to(DX.dtype.element_ty), mask=m)
            acc_da += dy * x * s
            acc_dw += dy * t
            acc_db += dy
        out = pid_r * C + cols
        tl.store(P_DA + out, acc_da, mask=cmask)
        tl.store(P_DW + out, acc_dw, mask=cmask)
        tl.store(P_DB + out, acc_db, mask=cmask)

    @triton.jit
    def bwd_first_kernel(DY, X, DX, ALPHA, W, P_DA, P_DW, P_DB, C, S,
                         HAS_W: tl.constexpr, BLOCK_S: tl.constexpr):
        plane = tl.program_id(0)  # n * C + c
        a = tl.load(ALPHA).to(tl.float32)
        if HAS_W:
            w = tl.load(W + plane % C).to(tl.float32)
        else:
            w = 1.0
        acc_da = tl.zeros((BLOCK_S,), tl.float32)
        acc_dw = tl.zeros((BLOCK_S,), tl.float32)
        acc_db = tl.zeros((BLOCK_S,), tl.float32)
        base = plane.to(tl.int64) * S
        for start in range(0, S, BLOCK_S):
            idx = start + tl.arange(0, BLOCK_S)
            m = idx < S
            x = tl.load(X + base + idx, mask=m, other=0.0).to(tl.float32)
            dy = tl.load(DY + base + idx, mask=m, other=0.0).to(tl.float32)
            t = 2.0 * tl.sigmoid(2.0 * a * x) - 1.0
            s = 1.0 - t * t
            tl.store(DX + base + idx, (dy * w * a * s).to(DX.dtype.element_ty), mask=m)
            acc_da += dy * x * s
            acc_dw += dy * t
            acc_db += dy
        tl.store(P_DA + plane, tl.sum(acc_da, axis=0))
        tl.store(P_DW + plane, tl.sum(acc_dw, axis=0))
        tl.store(P_DB + plane, tl.sum(acc_db, axis=0))

    return triton, fwd_kernel, bwd_last_kernel, bwd_first_kernel


def _acb(x: Tensor, channels_last: bool) -> tuple[int, int, int]:
    if channels_last:
        return x.numel() // x.shape[-1], x.shape[-1], 1
    return x.shape[0], x.shape[1], x.numel() // (x.shape[0] * x.shape[1])


class DyTTritonFunction(torch.autograd.Function):
    """Autograd wrapper around the Triton forward and fused backward kernels."""

    @staticmethod
    def forward(ctx, x: Tensor, alpha: Tensor, weight: Tensor | None, bias: Tensor | None,
                channels_last: bool) -> Tensor:
        triton, fwd, _, _ = _kernels()
        x = x.contiguous()
        a_dim, c_dim, b_dim = _acb(x, channels_last)
        y = torch.empty_like(x)
        block = 1024
        grid = (triton.cdiv(x.numel(), block),)
        fwd[grid](x, y, alpha, weight if weight is not None else x, bias if bias is not None else x,
                  x.numel(), c_dim, b_dim, HAS_W=weight is not None, HAS_B=bias is not None, BLOCK=block)
        ctx.save_for_backward(x, alpha, weight)
        ctx.channels_last, ctx.has_bias = channels_last, bias is not None
        return y

    @staticmethod
    @once_differentiable  # double backward: use dlzoo.reference_mode() (plain autograd math)
    def backward(ctx, dy: Tensor):
        triton, _, bwd_last, bwd_first = _kernels()
        x, alpha, weight = ctx.saved_tensors
        dy = dy.contiguous()
        a_dim, c_dim, b_dim = _acb(x, ctx.channels_last)
        dx = torch.empty_like(x)
        w_arg = weight if weight is not None else x
        if ctx.channels_last:
            sms = torch.cuda.get_device_properties(x.device).multi_processor_count
            block_c = min(triton.next_power_of_2(c_dim), 256)
            col_blocks = triton.cdiv(c_dim, block_c)
            row_progs = max(1, min(a_dim, 4 * sms // col_blocks))
            rows_per_prog = triton.cdiv(a_dim, row_progs)
            row_progs = triton.cdiv(a_dim, rows_per_prog)
            parts = torch.empty(3, row_progs, c_dim, device=x.device, dtype=torch.float32)
            bwd_last[(row_progs, col_blocks)](dy, x, dx, alpha, w_arg, parts[0], parts[1], parts[2],
                                              a_dim, c_dim, rows_per_prog, HAS_W=weight is not None,
                                              BLOCK_C=block_c)
            sums = parts.sum(dim=1)  # (3, C) float32
        else:
            parts = torch.empty(3, a_dim, c_dim, device=x.device, dtype=torch.float32)
            block_s = min(triton.next_power_of_2(b_dim), 1024)
            bwd_first[(a_dim * c_dim,)](dy, x, dx, alpha, w_arg, parts[0], parts[1], parts[2], c_dim, b_dim,
                                        HAS_W=weight is not None, BLOCK_S=block_s)
            sums = parts.sum(dim=1)
        dalpha_c, dweight, dbias = sums[0], sums[1], sums[2]
        dalpha = (dalpha_c * weight.float()).sum() if weight is not None else dalpha_c.sum()
        pdtype = weight.dtype if weight is not None else alpha.dtype
        return (dx, dalpha.reshape(1).to(alpha.dtype), dweight.to(pdtype) if weight is not None else None,
                dbias.to(pdtype) if ctx.has_bias else None, None)


def dyt_triton(x: Tensor, alpha: Tensor, weight: Tensor | None, bias: Tensor | None,
               channels_last: bool = True) -> Tensor:
    """Fused DyT on CUDA with Triton; shapes as :func:`dlzoo.kernels.dyt_fused.dyt`."""
    if not triton_available():
        raise RuntimeError("dyt_triton: Triton with a CUDA device is required")
    return DyTTritonFunction.apply(x, alpha, weight, bias, channels_last)
