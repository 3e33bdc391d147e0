"""dlzoo.kernels: fused kernels for the novel layers (DyT first). Depends on torch only.

* :func:`dyt` — fused Dynamic Tanh forward/backward (``autograd.Function``): Triton on CUDA, a native
  (gcc-built) one-pass kernel for CPU float32, compiled rational-tanh kernels for other large CPU tensors,
  a sigmoid-form eager kernel otherwise. The automatic choice is the same in tests and in production;
  force one with ``DLZOO_DYT_BACKEND=<name>``, :func:`set_dyt_backend` or ``with dyt_backend(name):``.
* :func:`rms_norm` — fused RMSNorm forward/backward: a native (gcc-built) one-pass kernel for CPU
  float32/float64/bfloat16, ``F.rms_norm`` otherwise; force one with ``DLZOO_RMSNORM_BACKEND=<name>``,
  :func:`set_rmsnorm_backend` or ``with rmsnorm_backend(name):``.
* :func:`tanh_rational` — the vectorisable tanh the CPU kernels use (error < 1e-6 vs float64 tanh).
"""

from .dyt_fused import (
    BACKENDS,
    COMPILE_MIN_NUMEL,
    DyTFunction,
    dyt,
    dyt_backend,
    dyt_reference,
    select_backend,
    set_dyt_backend,
)
from .rmsnorm_fused import (
    RMSNORM_BACKENDS,
    RMSNormFunction,
    rms_norm,
    rms_norm_reference,
    rmsnorm_backend,
    select_rmsnorm_backend,
    set_rmsnorm_backend,
)
from .tanh import tanh_rational

__all__ = [
    "BACKENDS",
    "COMPILE_MIN_NUMEL",
    "DyTFunction",
    "RMSNORM_BACKENDS",
    "RMSNormFunction",
    "dyt",
    "dyt_backend",
    "dyt_reference",
    "rms_norm",
    "rms_norm_reference",
    "rmsnorm_backend",
    "select_backend",
    "select_rmsnorm_backend",
    "set_dyt_backend",
    "set_rmsnorm_backend",
    "tanh_rational",
]
