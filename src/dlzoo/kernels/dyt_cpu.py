"""Native CPU kernels for fused DyT (float32): one pass forward, one pass backward, compiled lazily with gcc.

Paper: Zhu, Chen, He, LeCun, Liu, "Transformers without Normalization", CVPR 2025, arXiv:2503.10622.

On an ``(A, C, B)`` float32 tensor (parameters on C; see :mod:`dlzoo.kernels.dyt_fused`), with the
rational tanh of :mod:`dlzoo.kernels.tanh` (same coefficients, same clamp, same Horner order):

    forward:   t = tanh(a x),  y = w_c t + b_c
    backward:  s = 1 - t^2,  dx = dy w_c a s,  and in the same loop, per channel,
               d_gamma_c += dy t,  d_beta_c += dy,  d_alpha_c += dy x s;   d_alpha = sum_c w_c d_alpha_c

Why a native kernel: inductor cannot write dx and the column sums over A in one loop (it emits two passes
over (dy, x)), so the compiled backward reads the inputs twice. Here each OpenMP thread takes a contiguous
range of rows, writes dx and accumulates the three per-channel sums in private float32 arrays, flushed to
float64 every :data:`FLUSH_ROWS` rows; the per-thread partials are reduced at the end (float64, in thread
order, so the parameter gradients are bitwise reproducible run to run).
Optional (off by default, see :data:`STREAM_MIN_BYTES`): AVX-512 kernels writing y / dx with streaming
stores (same arithmetic, explicit intrinsics).

Measured (``benchmarks/results/norms*.md``, 2-core AMD EPYC VM): the forward runs at ~1.0-1.2x a copy,
the backward is bound by the arithmetic (~0.55 ns per element per core), not by memory.

The C source is built, cached and loaded by :mod:`dlzoo.kernels.native` (once per source / flags / CPU
hash, under a lock, rebuilt if the cached file does not load). If gcc is missing or the build fails,
:func:`available` is False (one warning) and callers fall back; ``DLZOO_NO_NATIVE=1`` turns it off.
"""

from __future__ import annotations

import ctypes
import functools
import os
from pathlib import Path

import torch
from torch import Tensor

try:
    from . import native
except ImportError:  # this file loaded on its own by path (a subprocess that needs only this kernel)
    from dlzoo.kernels import native

__all__ = ["FLUSH_ROWS", "STREAM_MIN_BYTES", "available", "dyt_backward", "dyt_forward", "library_path"]

FLUSH_ROWS = 64
# Outputs at least this large use streaming stores (AVX-512 builds, channels-last, C % 16 == 0). Off by
# default: with preallocated outputs they saved ~10% forward / ~15% backward at (64*197, 384), but through
# nn.DyT (fresh outputs, which the allocator hands back still cached) they were slower (fwd+bwd 3.4 vs 2.9
# ms at 2 threads, 13.2 vs 11.0 ms at 1) and equal at (4096, 4096). Opt in: DLZOO_DYT_STREAM_MIN_BYTES.
STREAM_MIN_BYTES = int(os.environ.get("DLZOO_DYT_STREAM_MIN_BYTES", str(1 << 62)))

_SOURCE = native.PRELUDE + r"""
/* tanh(z) ~= z P(z^2) / Q(z^2), z clamped to [-9, 9]: dlzoo.kernels.tanh (P_COEFFS, Q_COEFFS). */
static inline float tanh_rat(float z) {
    z = z > 9.0f ? 9.0f : (z < -9.0f ? -9.0f : z);
    float u = z * z;
    float p = u * 1.3354040195397828e-08f + 2.0608732521028054e-05f;
    p = p * u + 0.003495572392305635f;
    p = p * u + 0.13381014546075426f;
    p = p * u + 0.9999999797078325f;
    float q = u * 7.776330897043469e-07f + 0.00032856049718721293f;
    q = q * u + 0.02587692887910728f;
    q = q * u + 0.4671433024490088f;
    q = q * u + 1.0f;
    return z * p / q;
}

/* x, y: (A, C, B) contiguous; w, b: (C,). */
void dyt_fwd(const float *x, float *y, const float *alpha, const float *w, const float *b,
             int64_t A, int64_t C, int64_t B, int nthreads) {
    const float a = alpha[0];
    if (B == 1) {
        #pragma omp parallel num_threads(nthreads)
        {
            int64_t lo, hi;
            row_range(A, &lo, &hi);
            for (int64_t r = lo; r < hi; ++r) {
                const float *xr = x + r * C;
                float *yr = y + r * C;
                #pragma omp simd
                for (int64_t c = 0; c < C; ++c) yr[c] = w[c] * tanh_rat(a * xr[c]) + b[c];
            }
        }
    } else {
        #pragma omp parallel num_threads(nthreads)
        {
            int64_t lo, hi;
            row_range(A * C, &lo, &hi);
            for (int64_t r = lo; r < hi; ++r) {
                const float wc = w[r % C], bc = b[r % C];
                const float *xr = x + r * B;
                float *yr = y + r * B;
                #pragma omp simd
                for (int64_t i = 0; i < B; ++i) yr[i] = wc * tanh_rat(a * xr[i]) + bc;
            }
        }
    }
}

/* dy, x, dx: (A, C, B) contiguous; w: (C,); out: 3 C + 1 doubles, zero on entry: per channel d_gamma,
   d_beta, d_alpha partials, then d_alpha = sum_c w_c d_alpha_c. */
void dyt_bwd(const float *dy, const float *x, float *dx, const float *alpha, const float *w,
             int64_t A, int64_t C, int64_t B, int nthreads, int flush_rows, double *out) {
    const float a = alpha[0];
    double *slots = (double *)calloc((size_t)nthreads * 3 * C, sizeof(double));  /* per-thread totals */
    #pragma omp parallel num_threads(nthreads)
    {
        float *acc = (float *)calloc(4 * C, sizeof(float));      /* block sums, then w a */
        double *tot = slots + (int64_t)omp_get_thread_num() * 3 * C;  /* this thread's totals */
        float *sg = acc, *sb = acc + C, *sa = acc + 2 * C;
        if (B == 1) {
            float *wa = acc + 3 * C;  /* weight_c * alpha */
            for (int64_t c = 0; c < C; ++c) wa[c] = w[c] * a;
            int64_t lo, hi;
            row_range(A, &lo, &hi);
            for (int64_t r0 = lo; r0 < hi; r0 += flush_rows) {
                int64_t r1 = r0 + flush_rows < hi ? r0 + flush_rows : hi;
                for (int64_t r = r0; r < r1; ++r) {
                    const float *xr = x + r * C, *gr = dy + r * C;
                    float *dxr = dx + r * C;
                    #pragma omp simd
                    for (int64_t c = 0; c < C; ++c) {
                        float xv = xr[c], g = gr[c];
                        float t = tanh_rat(a * xv);
                        float gs = g * (1.0f - t * t);
                        dxr[c] = gs * wa[c];
                        sg[c] += g * t;
                        sb[c] += g;
                        sa[c] += gs * xv;
                    }
                }
                for (int64_t k = 0; k < 3 * C; ++k) { tot[k] += acc[k]; acc[k] = 0.0f; }
            }
        } else {
            int64_t lo, hi;
            row_range(A * C, &lo, &hi);
            for (int64_t r = lo; r < hi; ++r) {
                const int64_t c = r % C;
                const float wa = w[c] * a;
                const float *xr = x + r * B, *gr = dy + r * B;
                float *dxr = dx + r * B;
                float s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
                #pragma omp simd reduction(+:s1, s2, s3)
                for (int64_t i = 0; i < B; ++i) {
                    float xv = xr[i], g = gr[i];
                    float t = tanh_rat(a * xv);
                    float gs = g * (1.0f - t * t);
                    dxr[i] = gs * wa;
                    s1 += g * t;
                    s2 += g;
                    s3 += gs * xv;
                }
                tot[c] += s1; tot[C + c] += s2; tot[2 * C + c] += s3;
            }
        }
        free(acc);
    }
    reduce_slots(slots, nthreads, 3 * C, out);
    double da = 0.0;
    for (int64_t c = 0; c < C; ++c) da += (double)w[c] * out[2 * C + c];
    out[3 * C] = da;
}

/* ---- AVX-512, channels-last, C % 16 == 0, 64-byte aligned outputs: the same math with streaming
   (non-temporal) stores of y / dx, which skip the read-for-ownership of the output lines (the output is
   then not left in cache: used for tensors larger than the caches). ---- */
#ifdef __AVX512F__
#include <immintrin.h>
int dyt_has_stream(void) { return 1; }

static inline __m512 tanh_rat16(__m512 z) {  /* tanh_rat on 16 lanes, same operations */
    z = _mm512_min_ps(_mm512_set1_ps(9.0f), _mm512_max_ps(_mm512_set1_ps(-9.0f), z));  /* NaN stays */
    __m512 u = _mm512_mul_ps(z, z);
    __m512 p = _mm512_fmadd_ps(u, _mm512_set1_ps(1.3354040195397828e-08f),
                               _mm512_set1_ps(2.0608732521028054e-05f));
    p = _mm512_fmadd_ps(p, u, _mm512_set1_ps(0.003495572392305635f));
    p = _mm512_fmadd_ps(p, u, _mm512_set1_ps(0.13381014546075426f));
    p = _mm512_fmadd_ps(p, u, _mm512_set1_ps(0.9999999797078325f));
    __m512 q = _mm512_fmadd_ps(u, _mm512_set1_ps(7.776330897043469e-07f),
                               _mm512_set1_ps(0.00032856049718721293f));
    q = _mm512_fmadd_ps(q, u, _mm512_set1_ps(0.02587692887910728f));
    q = _mm512_fmadd_ps(q, u, _mm512_set1_ps(0.4671433024490088f));
    q = _mm512_fmadd_ps(q, u, _mm512_set1_ps(1.0f));
    return _mm512_div_ps(_mm512_mul_ps(z, p), q);
}

void dyt_fwd_stream(const float *x, float *y, const float *alpha, const float *w, const float *b,
                    int64_t A, int64_t C, int nthreads) {
    const __m512 va = _mm512_set1_ps(alpha[0]);
    #pragma omp parallel num_threads(nthreads)
    {
        int64_t lo, hi;
        row_range(A, &lo, &hi);
        for (int64_t r = lo; r < hi; ++r) {
            const float *xr = x + r * C;
            float *yr = y + r * C;
            for (int64_t c = 0; c < C; c += 16) {
                __m512 t = tanh_rat16(_mm512_mul_ps(va, _mm512_loadu_ps(xr + c)));
                _mm512_stream_ps(yr + c, _mm512_fmadd_ps(_mm512_loadu_ps(w + c), t, _mm512_loadu_ps(b + c)));
            }
        }
        _mm_sfence();
    }
}

void dyt_bwd_stream(const float *dy, const float *x, float *dx, const float *alpha, const float *w,
                    int64_t A, int64_t C, int nthreads, int flush_rows, double *out) {
    const float a = alpha[0];
    const __m512 va = _mm512_set1_ps(a), one = _mm512_set1_ps(1.0f);
    double *slots = (double *)calloc((size_t)nthreads * 3 * C, sizeof(double));
    #pragma omp parallel num_threads(nthreads)
    {
        float *acc = (float *)calloc(4 * C, sizeof(float));
        double *tot = slots + (int64_t)omp_get_thread_num() * 3 * C;
        float *sg = acc, *sb = acc + C, *sa = acc + 2 * C, *wa = acc + 3 * C;
        for (int64_t c = 0; c < C; ++c) wa[c] = w[c] * a;
        int64_t lo, hi;
        row_range(A, &lo, &hi);
        for (int64_t r0 = lo; r0 < hi; r0 += flush_rows) {
            int64_t r1 = r0 + flush_rows < hi ? r0 + flush_rows : hi;
            for (int64_t r = r0; r < r1; ++r) {
                const float *xr = x + r * C, *gr = dy + r * C;
                float *dxr = dx + r * C;
                for (int64_t c = 0; c < C; c += 16) {
                    __m512 xv = _mm512_loadu_ps(xr + c), g = _mm512_loadu_ps(gr + c);
                    __m512 t = tanh_rat16(_mm512_mul_ps(va, xv));
                    __m512 gs = _mm512_mul_ps(g, _mm512_fnmadd_ps(t, t, one));  /* dy (1 - t^2) */
                    _mm512_stream_ps(dxr + c, _mm512_mul_ps(gs, _mm512_loadu_ps(wa + c)));
                    _mm512_storeu_ps(sg + c, _mm512_fmadd_ps(g, t, _mm512_loadu_ps(sg + c)));
                    _mm512_storeu_ps(sb + c, _mm512_add_ps(g, _mm512_loadu_ps(sb + c)));
                    _mm512_storeu_ps(sa + c, _mm512_fmadd_ps(gs, xv, _mm512_loadu_ps(sa + c)));
                }
            }
            for (int64_t k = 0; k < 3 * C; ++k) { tot[k] += acc[k]; acc[k] = 0.0f; }
        }
        _mm_sfence();
        free(acc);
    }
    reduce_slots(slots, nthreads, 3 * C, out);
    double da = 0.0;
    for (int64_t c = 0; c < C; ++c) da += (double)w[c] * out[2 * C + c];
    out[3 * C] = da;
}
#else
int dyt_has_stream(void) { return 0; }
void dyt_fwd_stream(const float *x, float *y, const float *alpha, const float *w, const float *b,
                    int64_t A, int64_t C, int nthreads) { dyt_fwd(x, y, alpha, w, b, A, C, 1, nthreads); }
void dyt_bwd_stream(const float *dy, const float *x, float *dx, const float *alpha, const float *w,
                    int64_t A, int64_t C, int nthreads, int flush_rows, double *out) {
    dyt_bwd(dy, x, dx, alpha, w, A, C, 1, nthreads, flush_rows, out);
}
#endif
"""


def library_path() -> Path:
    """Where the shared library for this source, these flags and this CPU lives (built or not)."""
    return native.library_path("dyt_cpu", _SOURCE)


def _build(path: Path) -> None:
    native.build(path, _SOURCE)


@functools.cache
def _library() -> ctypes.CDLL | None:
    # the lambda looks _build up at call time, so a wrapped _build (a test counting builds) is the one used
    lib = native.load(library_path(), lambda path: _build(path), "dlzoo.kernels.dyt_cpu: native DyT kernel")
    if lib is None:
        return None
    p, i64 = ctypes.c_void_p, ctypes.c_int64
    lib.dyt_fwd.argtypes = [p, p, p, p, p, i64, i64, i64, ctypes.c_int]
    lib.dyt_fwd.restype = None
    lib.dyt_bwd.argtypes = [p, p, p, p, p, i64, i64, i64, ctypes.c_int, ctypes.c_int, p]
    lib.dyt_bwd.restype = None
    lib.dyt_fwd_stream.argtypes = [p, p, p, p, p, i64, i64, ctypes.c_int]
    lib.dyt_fwd_stream.restype = None
    lib.dyt_bwd_stream.argtypes = [p, p, p, p, p, i64, i64, ctypes.c_int, ctypes.c_int, p]
    lib.dyt_bwd_stream.restype = None
    lib.dyt_has_stream.restype = ctypes.c_int
    lib.has_stream = bool(lib.dyt_has_stream())
    return lib


def available() -> bool:
    """True when the native library is built (building it now if needed) and loadable."""
    return _library() is not None


def _check(x: Tensor, name: str) -> None:
    if x.dtype != torch.float32 or x.device.type != "cpu" or not x.is_contiguous():
        raise TypeError(f"dyt_cpu: {name} must be a contiguous float32 CPU tensor, got {x.dtype} on "
                        f"{x.device} (contiguous={x.is_contiguous()})")


def _f32(t: Tensor) -> Tensor:
    """t itself when already contiguous float32 (only its data pointer is used), else a float32 copy."""
    return t if t.dtype == torch.float32 and t.is_contiguous() else t.detach().float().contiguous()


def _params(c: int, weight: Tensor | None, bias: Tensor | None) -> tuple[Tensor, Tensor]:
    w = torch.ones(c) if weight is None else _f32(weight)
    b = torch.zeros(c) if bias is None else _f32(bias)
    return w, b


def _stream(lib: ctypes.CDLL, out: Tensor) -> bool:
    """Streaming stores for channels-last outputs larger than STREAM_MIN_BYTES (aligned rows only)."""
    a_dim, c, b_dim = out.shape
    return (lib.has_stream and b_dim == 1 and c % 16 == 0 and out.data_ptr() % 64 == 0
            and out.numel() * 4 >= STREAM_MIN_BYTES)


def dyt_forward(x: Tensor, alpha: Tensor, weight: Tensor | None, bias: Tensor | None) -> Tensor:
    """y = weight * tanh(alpha x) + bias on a contiguous float32 ``(A, C, B)`` tensor, one pass."""
    lib = _library()
    assert lib is not None, "dyt_cpu.dyt_forward called without the native library (check available())"
    _check(x, "x")
    a_dim, c, b_dim = x.shape
    w, b = _params(c, weight, bias)
    a = _f32(alpha)
    y = torch.empty_like(x)
    if _stream(lib, y):
        lib.dyt_fwd_stream(x.data_ptr(), y.data_ptr(), a.data_ptr(), w.data_ptr(), b.data_ptr(), a_dim, c,
                           native.threads_for(x.numel()))
    else:
        lib.dyt_fwd(x.data_ptr(), y.data_ptr(), a.data_ptr(), w.data_ptr(), b.data_ptr(), a_dim, c, b_dim,
                    native.threads_for(x.numel()))
    return y


def dyt_backward(dy: Tensor, x: Tensor, alpha: Tensor, weight: Tensor | None,
                 has_bias: bool) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None]:
    """One pass over (dy, x): returns (dx, d_alpha (1,), d_gamma (C,) or None, d_beta (C,) or None).

    The parameter gradients come back in float32 (summed in float64 across blocks and threads).
    """
    lib = _library()
    assert lib is not None, "dyt_cpu.dyt_backward called without the native library (check available())"
    _check(x, "x")
    _check(dy, "dy")
    if dy.shape != x.shape:
        raise ValueError(f"dyt_cpu: dy shape {tuple(dy.shape)} != x shape {tuple(x.shape)}")
    a_dim, c, b_dim = x.shape
    w, _ = _params(c, weight, None)
    a = _f32(alpha)
    dx = torch.empty_like(x)
    sums = torch.zeros(3 * c + 1, dtype=torch.float64)  # d_gamma (C), d_beta (C), d_alpha_c (C), d_alpha
    if _stream(lib, dx):
        lib.dyt_bwd_stream(dy.data_ptr(), x.data_ptr(), dx.data_ptr(), a.data_ptr(), w.data_ptr(), a_dim, c,
                           native.threads_for(x.numel()), FLUSH_ROWS, sums.data_ptr())
    else:
        lib.dyt_bwd(dy.data_ptr(), x.data_ptr(), dx.data_ptr(), a.data_ptr(), w.data_ptr(), a_dim, c, b_dim,
                    native.threads_for(x.numel()), FLUSH_ROWS, sums.data_ptr())
    sums = sums.float()
    dweight = sums[:c] if weight is not None else None
    dbias = sums[c:2 * c] if has_bias else None
    return dx, sums[3 * c:], dweight, dbias
