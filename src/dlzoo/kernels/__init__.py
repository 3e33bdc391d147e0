"""dlzoo.kernels: fused kernels for the novel layers (DyT first). Depends on torch only.

* :func:`dyt` — fused Dynamic Tanh forward/backward (``autograd.Function``): Triton on CUDA, compiled
  rational-tanh kernels for large CPU tensors, a sigmoid-form eager kernel otherwise.
* :func:`tanh_rational` — the vectorisable tanh the CPU kernels use (error < 1e-6 vs float64 tanh).
"""

from .dyt_fused import COMPILE_MIN_NUMEL, DyTFunction, dyt, dyt_reference, select_backend, set_dyt_backend
from .tanh import tanh_rational

__all__ = [
    "COMPILE_MIN_NUMEL",
    "DyTFunction",
    "dyt",
    "dyt_reference",
    "select_backend",
    "set_dyt_backend",
    "tanh_rational",
]
