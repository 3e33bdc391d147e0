"""Lazy, cached ``torch.compile`` with an eager fallback, for the CPU kernels.

A function is compiled the first time it is needed (never at import), once per process (inductor's
on-disk cache then makes a new process cheap), and if compilation is unavailable or fails (no C++
compiler, an unsupported platform, ``DLZOO_NO_COMPILE=1``) every later call uses the eager function,
after one warning.
"""

from __future__ import annotations

import functools
import os
import shutil
import warnings
from collections.abc import Callable
from typing import Any

import torch

__all__ = ["compile_available", "lazy_compile"]


@functools.cache
def compile_available() -> bool:
    """True when torch.compile can build CPU kernels here (a C++ compiler is present) and is not disabled."""
    if os.environ.get("DLZOO_NO_COMPILE", "0") == "1" or not hasattr(torch, "compile"):
        return False
    return any(shutil.which(cc) for cc in ("g++", "c++", "clang++"))


class lazy_compile:  # noqa: N801 - used like a decorator/function
    """``lazy_compile(fn)(*args)``: run ``torch.compile(fn, dynamic=True)``, compiled on first call."""

    def __init__(self, fn: Callable[..., Any], **compile_kwargs: Any) -> None:
        self.fn = fn
        self.compile_kwargs = {"dynamic": True, "fullgraph": True, **compile_kwargs}
        self._compiled: Callable[..., Any] | None = None
        self.failed = False
        functools.update_wrapper(self, fn)

    def reset(self) -> None:
        """Forget the compiled function and any failure (after ``torch._dynamo.reset()``)."""
        self._compiled, self.failed = None, False

    @property
    def usable(self) -> bool:
        return not self.failed and compile_available()

    def __call__(self, *args: Any) -> Any:
        if not self.usable:
            return self.fn(*args)
        try:
            if self._compiled is None:
                self._compiled = torch.compile(self.fn, **self.compile_kwargs)
            return self._compiled(*args)
        except Exception as err:  # noqa: BLE001 - any compiler failure falls back to eager
            self.failed = True
            warnings.warn(f"dlzoo.kernels: torch.compile of {self.fn.__name__} failed ({type(err).__name__}: "
                          f"{err}); using eager kernels", RuntimeWarning, stacklevel=2)
            return self.fn(*args)
