"""Build, cache and load the native (C, gcc-built, ctypes-called) CPU kernels of dlzoo.kernels.

Shared by :mod:`dlzoo.kernels.dyt_cpu` and :mod:`dlzoo.kernels.rmsnorm_cpu`: each holds a plain
``extern "C"`` source (no Python headers, no pybind: gcc takes ~0.5 s) and calls :func:`load`.

* The library is built once per (source, compiler flags, CPU flags) hash into ``$DLZOO_CACHE_DIR/kernels``
  (default ``~/.cache/dlzoo/kernels``, file ``<name>_<hash>.so``) and reused by later processes.
* The first process to need it builds it under an exclusive lock file (``fcntl.flock``, released by the
  kernel even if the process is killed), so concurrent processes (DataLoader workers, DDP ranks, parallel
  test workers) build it once and never load a half-written file (the library is written to a temporary
  name and renamed into place).
* A cached library that no longer loads (truncated copy, foreign file) is rebuilt once.
* ``-fopenmp`` links ``libgomp.so.1``, which the loader resolves to the runtime torch already loaded, so
  torch and the kernels share one thread pool.
* If gcc is missing or the build fails, :func:`load` returns None after one warning (callers cache that and
  fall back to other backends); ``DLZOO_NO_NATIVE=1`` turns every native kernel off.

:data:`PRELUDE` is C shared by the kernels: the OpenMP row split and the thread-ordered reduction of
per-thread partial sums (bitwise reproducible parameter gradients for any thread count).
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import torch

__all__ = ["FLAGS", "PRELUDE", "build", "cache_dir", "cpu_signature", "disabled", "library_path", "load",
           "threads_for"]

FLAGS = ("-O3", "-march=native", "-fopenmp", "-fPIC", "-shared", "-fno-math-errno", "-x", "c")

PRELUDE = r"""
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <omp.h>

/* This thread's share [lo, hi) of n rows (contiguous ranges, the first n % nt threads get one more). */
static void row_range(int64_t n, int64_t *lo, int64_t *hi) {
    int nt = omp_get_num_threads(), id = omp_get_thread_num();
    int64_t chunk = n / nt, rem = n % nt;
    *lo = id * chunk + (id < rem ? id : rem);
    *hi = *lo + chunk + (id < rem ? 1 : 0);
}

/* Sum the per-thread partials in thread order (not in whichever order threads finish), so the parameter
   gradients are bitwise reproducible for any thread count; frees slots. */
static void reduce_slots(double *slots, int nthreads, int64_t n, double *out) {
    for (int t = 0; t < nthreads; ++t)
        for (int64_t k = 0; k < n; ++k) out[k] += slots[(int64_t)t * n + k];
    free(slots);
}
"""


def cache_dir() -> Path:
    """``$DLZOO_CACHE_DIR/kernels`` (default ``~/.cache/dlzoo/kernels``), read at every call."""
    return Path(os.environ.get("DLZOO_CACHE_DIR", Path.home() / ".cache" / "dlzoo")) / "kernels"


def disabled() -> bool:
    """True when ``DLZOO_NO_NATIVE=1``."""
    return os.environ.get("DLZOO_NO_NATIVE", "0") == "1"


@functools.cache
def cpu_signature() -> str:
    """The CPU's instruction-set flags: -march=native code must never be loaded on another CPU model
    (a cache directory on a shared home)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.machine() + platform.processor()
    flags = next((line for line in text.splitlines() if line.startswith(("flags", "Features"))), "")
    return platform.machine() + flags


def library_path(name: str, source: str, flags: Sequence[str] = FLAGS) -> Path:
    """Where the shared library ``name`` for this source, these flags and this CPU lives (built or not)."""
    key = hashlib.sha256("\n".join([source, *flags, cpu_signature()]).encode()).hexdigest()[:16]
    return cache_dir() / f"{name}_{key}.so"


@contextlib.contextmanager
def _build_lock(path: Path) -> Iterator[None]:
    """Exclusive lock on ``<library>.lock`` while one process checks for / builds the library."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock; the atomic rename in build() still keeps the file whole
        yield
        return
    with open(path.with_suffix(".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # blocks while another process builds (gcc: ~1 s, 120 s cap)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def build(path: Path, source: str, flags: Sequence[str] = FLAGS) -> None:
    """Compile ``source`` into the shared library ``path`` (temporary name, then an atomic rename)."""
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        raise RuntimeError("no C compiler (gcc/cc) on PATH")
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        src, tmp_lib = Path(tmp) / (path.stem + ".c"), Path(tmp) / path.name
        src.write_text(source)
        proc = subprocess.run([cc, *flags, str(src), "-o", str(tmp_lib)], capture_output=True, text=True,
                              timeout=120)
        if proc.returncode != 0:
            raise RuntimeError(f"{cc} failed: {proc.stderr[-2000:]}")
        os.replace(tmp_lib, path)  # atomic: concurrent builders never see a half-written library


def load(path: Path, builder: Callable[[Path], None], what: str) -> ctypes.CDLL | None:
    """The library at ``path``, built first by ``builder(path)`` if missing (or if it does not load), all
    under the build lock; None (after one RuntimeWarning naming ``what``) if that fails or
    ``DLZOO_NO_NATIVE=1``. Callers cache the result (``functools.cache``) and declare the argtypes."""
    if disabled():
        return None
    try:
        with _build_lock(path):
            if not path.exists():
                builder(path)
            try:
                return ctypes.CDLL(str(path))
            except OSError:  # a cached file that does not load (truncated, foreign): rebuild it once
                builder(path)
                return ctypes.CDLL(str(path))
    except (OSError, RuntimeError, subprocess.SubprocessError) as err:
        warnings.warn(f"{what} unavailable ({err}); using other backends", RuntimeWarning, stacklevel=4)
        return None


def threads_for(numel: int, min_parallel: int = 65536) -> int:
    """OpenMP threads for a kernel over ``numel`` elements: 1 below ``min_parallel`` (a parallel region
    costs a few microseconds), else torch's intra-op thread count."""
    return 1 if numel < min_parallel else torch.get_num_threads()
