"""``reference_mode``: run the explicit tensor-op math instead of fused kernels.

Layers whose math torch also ships as a fused kernel (conv, layer_norm, sdpa, rnn) or that dlzoo
fuses itself (DyT) check :func:`use_fused` in ``forward``. Inside ``with dlzoo.reference_mode():``
they take the readable, paper-equation path instead, so tests can assert both paths agree.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

_state = threading.local()


def use_fused() -> bool:
    """True unless a :func:`reference_mode` block is active in this thread."""
    return not getattr(_state, "reference", False)


@contextlib.contextmanager
def reference_mode(enabled: bool = True) -> Iterator[None]:
    """Context manager: layers use their explicit reference math while active."""
    previous = getattr(_state, "reference", False)
    _state.reference = enabled
    try:
        yield
    finally:
        _state.reference = previous
