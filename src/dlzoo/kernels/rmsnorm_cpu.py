"""Native CPU kernels for RMSNorm: one pass forward (saving rstd), one pass backward (dx and dweight).

Paper: Zhang, Sennrich, "Root Mean Square Layer Normalization", NeurIPS 2019, arXiv:1910.07467.

On a contiguous ``(N, C)`` tensor (rows = every leading position, C = prod(normalized_shape); see
:mod:`dlzoo.kernels.rmsnorm_fused`), with weight w (C,) and upstream gradient dy:

    forward:   rstd_n = 1 / sqrt(mean_c x_nc^2 + eps),   y_nc = (x_nc rstd_n) w_c
    backward:  xhat = x rstd,  m_n = mean_c (dy_nc w_c xhat_nc)
               dx_nc = rstd_n (dy_nc w_c) - (rstd_n^2 m_n) x_nc,     dw_c = sum_n dy_nc xhat_nc

Each OpenMP thread takes a contiguous range of rows. Forward: one loop sums the squares of a row, a second
loop writes y while the row is still in cache (x is read from memory once). Backward: one loop computes m_n
and adds dy xhat into the thread's private dweight partials, a second writes dx (dy and x are read from
memory once). The partials (compute dtype) are flushed to float64 every :data:`FLUSH_ROWS` rows and the
per-thread totals are reduced in thread order, so dweight is bitwise reproducible run to run.

Dtypes: float32 (float32 math, as torch), float64 (float64 math), bfloat16 (loaded into float32, all math
in float32, the result rounded to bfloat16 once, round-to-nearest-even; rstd and dweight in float32).
The weight is passed in the compute dtype; ``rstd`` is float32 (float64 for float64 inputs).

Why a native kernel: torch's CPU RMSNorm is a composite of pow / mean / rsqrt / mul, and its autograd
backward is several more passes (~5x LayerNorm's fused kernel forward+backward, see
``benchmarks/results/norms.md``). Built, cached and loaded by :mod:`dlzoo.kernels.native`; if gcc is missing
or the build fails :func:`available` is False (one warning) and callers use torch's ``F.rms_norm``.
"""

from __future__ import annotations

import ctypes
import functools
from pathlib import Path

import torch
from torch import Tensor

from . import native

__all__ = ["DTYPES", "FLUSH_ROWS", "available", "compute_dtype", "library_path", "rms_norm_backward",
           "rms_norm_forward"]

FLUSH_ROWS = 64
DTYPES = {torch.float32: "f32", torch.float64: "f64", torch.bfloat16: "bf16"}  # dtype -> C suffix

_SOURCE = native.PRELUDE + r"""
#include <math.h>

static inline float bf16_load(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* float -> bfloat16, round to nearest even (as torch); NaN stays a (quiet) NaN. */
static inline uint16_t bf16_store(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

#define ID(v) (v)

/* T: storage type, F: compute type (also of w, rstd and the dweight partials), LD / ST: T <-> F.
   x, y, dy, dx: (N, C) contiguous; w: (C,) (ones when the layer has no weight); rstd: (N,) or NULL;
   dw: C doubles, zero on entry, or NULL (no weight gradient wanted). */
#define RMS_KERNELS(SUF, T, F, LD, ST, SQRT)                                                              \
void rms_fwd_##SUF(const T *x, const F *w, T *y, F *rstd, int64_t N, int64_t C, double eps,           \
                   int nthreads) {                                                                         \
    const F e = (F)eps, inv_c = (F)1 / (F)C;                                                               \
    _Pragma("omp parallel num_threads(nthreads)")                                                          \
    {                                                                                                      \
        int64_t lo, hi;                                                                                    \
        row_range(N, &lo, &hi);                                                                            \
        for (int64_t r = lo; r < hi; ++r) {                                                                \
            const T *xr = x + r * C;                                                                       \
            T *yr = y + r * C;                                                                             \
            F ss = 0;                                                                                      \
            _Pragma("omp simd reduction(+:ss)")                                                            \
            for (int64_t c = 0; c < C; ++c) { F v = LD(xr[c]); ss += v * v; }                             \
            const F rs = (F)1 / SQRT(ss * inv_c + e);                                                      \
            if (rstd) rstd[r] = rs;                                                                        \
            _Pragma("omp simd")                                                                            \
            for (int64_t c = 0; c < C; ++c) yr[c] = ST((LD(xr[c]) * rs) * w[c]);                           \
        }                                                                                                  \
    }                                                                                                      \
}                                                                                                          \
                                                                                                           \
void rms_bwd_##SUF(const T *dy, const T *x, const F *w, const F *rstd, T *dx, int64_t N, int64_t C,    \
                   int nthreads, int flush_rows, double *dw) {                                             \
    const F inv_c = (F)1 / (F)C;                                                                           \
    double *slots = dw ? (double *)calloc((size_t)nthreads * C, sizeof(double)) : NULL;                   \
    _Pragma("omp parallel num_threads(nthreads)")                                                          \
    {                                                                                                      \
        F *acc = dw ? (F *)calloc(C, sizeof(F)) : NULL;             /* block partials of dw */            \
        double *tot = dw ? slots + (int64_t)omp_get_thread_num() * C : NULL;  /* this thread's totals */  \
        int64_t lo, hi;                                                                                    \
        row_range(N, &lo, &hi);                                                                            \
        for (int64_t r0 = lo; r0 < hi; r0 += flush_rows) {                                                 \
            int64_t r1 = r0 + flush_rows < hi ? r0 + flush_rows : hi;                                      \
            for (int64_t r = r0; r < r1; ++r) {                                                            \
                const T *xr = x + r * C, *gr = dy + r * C;                                                 \
                T *dxr = dx + r * C;                                                                       \
                const F rs = rstd[r];                                                                      \
                F dot = 0;                                                                                 \
                if (acc) {                                                                                 \
                    _Pragma("omp simd reduction(+:dot)")                                                   \
                    for (int64_t c = 0; c < C; ++c) {                                                      \
                        F g = LD(gr[c]), xh = LD(xr[c]) * rs;                                              \
                        dot += g * w[c] * xh;                                                              \
                        acc[c] += g * xh;                                                                  \
                    }                                                                                      \
                } else {                                                                                   \
                    _Pragma("omp simd reduction(+:dot)")                                                   \
                    for (int64_t c = 0; c < C; ++c) dot += LD(gr[c]) * w[c] * (LD(xr[c]) * rs);            \
                }                                                                                          \
                const F k = rs * rs * (dot * inv_c);                                                       \
                _Pragma("omp simd")                                                                        \
                for (int64_t c = 0; c < C; ++c) dxr[c] = ST(rs * (LD(gr[c]) * w[c]) - k * LD(xr[c]));      \
            }                                                                                              \
            if (acc)                                                                                       \
                for (int64_t c = 0; c < C; ++c) { tot[c] += acc[c]; acc[c] = 0; }                          \
        }                                                                                                  \
        free(acc);                                                                                         \
    }                                                                                                      \
    if (dw) reduce_slots(slots, nthreads, C, dw);                                                          \
}

RMS_KERNELS(f32, float, float, ID, ID, sqrtf)
RMS_KERNELS(f64, double, double, ID, ID, sqrt)
RMS_KERNELS(bf16, uint16_t, float, bf16_load, bf16_store, sqrtf)
"""


def library_path() -> Path:
    """Where the shared library for this source, these flags and this CPU lives (built or not)."""
    return native.library_path("rmsnorm_cpu", _SOURCE)


@functools.cache
def _library() -> ctypes.CDLL | None:
    lib = native.load(library_path(), lambda path: native.build(path, _SOURCE),
                      "dlzoo.kernels.rmsnorm_cpu: native RMSNorm kernel")
    if lib is None:
        return None
    p, i64, i32 = ctypes.c_void_p, ctypes.c_int64, ctypes.c_int
    for suffix in DTYPES.values():
        fwd, bwd = getattr(lib, f"rms_fwd_{suffix}"), getattr(lib, f"rms_bwd_{suffix}")
        fwd.argtypes, fwd.restype = [p, p, p, p, i64, i64, ctypes.c_double, i32], None
        bwd.argtypes, bwd.restype = [p, p, p, p, p, i64, i64, i32, i32, p], None
    return lib


def available() -> bool:
    """True when the native library is built (building it now if needed) and loadable."""
    return _library() is not None


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """float64 for float64 inputs, float32 otherwise (the dtype of the math, of rstd and of w here)."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def _check(t: Tensor, name: str, dtype: torch.dtype | None = None) -> None:
    if t.dtype not in DTYPES or t.device.type != "cpu" or not t.is_contiguous() or t.dim() != 2:
        raise TypeError(f"rmsnorm_cpu: {name} must be a contiguous 2-d (N, C) CPU tensor of dtype "
                        f"{'/'.join(str(d) for d in DTYPES)}, got {t.dtype} on {t.device}, shape "
                        f"{list(t.shape)} (contiguous={t.is_contiguous()})")
    if dtype is not None and t.dtype != dtype:
        raise TypeError(f"rmsnorm_cpu: {name} must have dtype {dtype}, got {t.dtype}")


def _weight(c: int, weight: Tensor | None, dtype: torch.dtype) -> Tensor:
    """The weight as a contiguous (C,) tensor in the compute dtype (ones when there is none)."""
    if weight is None:
        return torch.ones(c, dtype=dtype)
    if weight.numel() != c:
        raise ValueError(f"rmsnorm_cpu: weight has {weight.numel()} elements, expected C = {c}")
    return weight.detach().reshape(c).to(dtype).contiguous()


def _lib() -> ctypes.CDLL:
    lib = _library()
    if lib is None:
        raise RuntimeError("rmsnorm_cpu: the native RMSNorm library is unavailable (check available())")
    return lib


def rms_norm_forward(x: Tensor, weight: Tensor | None, eps: float,
                     save_rstd: bool = True) -> tuple[Tensor, Tensor | None]:
    """y = x / sqrt(mean(x^2, -1) + eps) * weight on a contiguous ``(N, C)`` tensor, in one pass.

    Returns (y (N, C) in x's dtype, rstd (N,) in the compute dtype, or None when ``save_rstd`` is False).
    """
    lib = _lib()
    _check(x, "x")
    n, c = x.shape
    ct = compute_dtype(x.dtype)
    w = _weight(c, weight, ct)
    y = torch.empty_like(x)
    rstd = torch.empty(n, dtype=ct) if save_rstd else None
    getattr(lib, f"rms_fwd_{DTYPES[x.dtype]}")(
        x.data_ptr(), w.data_ptr(), y.data_ptr(), rstd.data_ptr() if rstd is not None else None, n, c,
        float(eps), native.threads_for(x.numel()))
    return y, rstd


def rms_norm_backward(dy: Tensor, x: Tensor, weight: Tensor | None, rstd: Tensor,
                      need_dweight: bool = True) -> tuple[Tensor, Tensor | None]:
    """One pass over (dy, x): returns (dx (N, C) in x's dtype, dweight (C,) in the compute dtype or None).

    dweight is summed in float64 across row blocks and threads; None when ``weight`` is None or
    ``need_dweight`` is False.
    """
    lib = _lib()
    _check(x, "x")
    _check(dy, "dy", x.dtype)
    if dy.shape != x.shape:
        raise ValueError(f"rmsnorm_cpu: dy shape {list(dy.shape)} != x shape {list(x.shape)}")
    n, c = x.shape
    ct = compute_dtype(x.dtype)
    if rstd.dtype != ct or rstd.shape != (n,) or not rstd.is_contiguous():
        raise ValueError(f"rmsnorm_cpu: rstd must be a contiguous ({n},) {ct} tensor, got {rstd.dtype} "
                         f"{list(rstd.shape)}")
    w = _weight(c, weight, ct)
    dx = torch.empty_like(x)
    dw = torch.zeros(c, dtype=torch.float64) if weight is not None and need_dweight else None
    getattr(lib, f"rms_bwd_{DTYPES[x.dtype]}")(
        dy.data_ptr(), x.data_ptr(), w.data_ptr(), rstd.data_ptr(), dx.data_ptr(), n, c,
        native.threads_for(x.numel()), FLUSH_ROWS, dw.data_ptr() if dw is not None else None)
    return dx, dw.to(ct) if dw is not None else None
