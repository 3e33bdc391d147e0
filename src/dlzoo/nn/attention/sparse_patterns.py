"""The Sparse Transformer's factorised attention patterns as boolean masks (True = attend), shape (T, T).

Child, Gray, Radford, Sutskever, "Generating Long Sequences with Sparse Transformers", 2019,
arXiv:1904.10509, Sec. 4. Query i attends the set A_i of keys; a *factorised* pattern splits A_i into
p = 2 components A^(1), A^(2) (one per head or per layer, see :mod:`.sparse`) such that every key j <= i is
reachable from i in two steps: i -> k in A^(2)_i -> j in A^(1)_k. With l the stride (~sqrt(T)):

* ``local``:  A_i = {j : 0 <= i - j < w}  (a band of width w, the query included; GPT-3's "locally banded"
  layers, Mistral's sliding window).
* ``strided``: A^(1)_i = {j : 0 <= i - j < l} (the previous l positions),
  A^(2)_i = {j : (i - j) mod l = 0} (every l-th position). The paper writes A^(1) as {max(0, i - l), .., i},
  l + 1 positions; OpenAI's released ``sparse_attention`` code uses the band of l (i - j < l), as here.
* ``fixed``:  A^(1)_i = {j : floor(j / l) = floor(i / l)} (the query's own block),
  A^(2)_i = {j : j mod l in {l - c, .., l - 1}} (the last c "summary" positions of every block).
* ``diagonal_block`` and ``column_block`` (the "deep learning from scratch" catalog's ``DiagBlockAttention``
  and ``ColumnBlockAttention``, block size b): the block diagonal floor(i / b) = floor(j / b), and the
  columns j mod b = b - 1. They are exactly ``fixed``'s A^(1) and A^(2) with l = b, c = 1.

``causal=True`` (autoregressive) intersects every set with j <= i; ``causal=False`` is the bidirectional
variant (the local band becomes |i - j| < w, strided |i - j| < l and (i - j) mod l = 0, fixed keeps every
summary column). A causal ``column_block`` / fixed A^(2) row with no summary column yet (i < l - c) is
empty: attention gives that query a zero output (see :mod:`.multihead`), it never NaNs.

:func:`pattern_components` (name -> the tuple of component masks) backs
:class:`~.sparse.SparseMultiheadAttention`; the ``*_pattern`` functions return the union.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from ...registry import Registry
from ..channel_affine import check_positive_int

__all__ = ["PATTERNS", "local_pattern", "strided_components", "strided_pattern", "fixed_components",
           "fixed_pattern", "diagonal_block_pattern", "column_block_pattern", "sliding_window_causal_mask",
           "pattern_components"]

Device = torch.device | str | None


def _ij(seq_len: int, device: Device) -> tuple[Tensor, Tensor]:
    """Query index i (T, 1) and key index j (1, T)."""
    seq_len = check_positive_int("sparse attention pattern", "seq_len", seq_len)
    pos = torch.arange(seq_len, device=device)
    return pos[:, None], pos[None, :]


def local_pattern(seq_len: int, window: int, causal: bool = True, device: Device = None) -> Tensor:
    """Band of width ``window``: 0 <= i - j < w (causal) or |i - j| < w (bidirectional). (T, T) bool."""
    window = check_positive_int("local_pattern", "window", window)
    i, j = _ij(seq_len, device)
    band = (i - j).abs() < window
    return band & (j <= i) if causal else band


def strided_components(seq_len: int, stride: int, causal: bool = True, device: Device = None
                       ) -> tuple[Tensor, Tensor]:
    """Strided pattern (A^(1), A^(2)): the previous ``stride`` positions, and every stride-th position."""
    stride = check_positive_int("strided_components", "stride", stride)
    i, j = _ij(seq_len, device)
    a2 = (i - j) % stride == 0  # python-style mod: (i - j) mod l for negative offsets too
    if causal:
        a2 = a2 & (j <= i)
    return local_pattern(seq_len, stride, causal, device), a2


def strided_pattern(seq_len: int, stride: int, causal: bool = True, device: Device = None) -> Tensor:
    """A^(1) | A^(2) of :func:`strided_components`."""
    a1, a2 = strided_components(seq_len, stride, causal, device)
    return a1 | a2


def diagonal_block_pattern(seq_len: int, block_size: int, causal: bool = True, device: Device = None
                           ) -> Tensor:
    """Blocks on the diagonal: floor(i / b) = floor(j / b) (and j <= i if causal). (T, T) bool."""
    block_size = check_positive_int("diagonal_block_pattern", "block_size", block_size)
    i, j = _ij(seq_len, device)
    same = torch.div(i, block_size, rounding_mode="floor") == torch.div(j, block_size, rounding_mode="floor")
    return same & (j <= i) if causal else same


def column_block_pattern(seq_len: int, block_size: int, causal: bool = True, num_columns: int = 1,
                         device: Device = None) -> Tensor:
    """The last ``num_columns`` (c) key columns of every block: j mod b >= b - c (and j <= i if causal)."""
    block_size = check_positive_int("column_block_pattern", "block_size", block_size)
    num_columns = check_positive_int("column_block_pattern", "num_columns", num_columns)
    if num_columns > block_size:
        raise ValueError(f"column_block_pattern: num_columns (c = {num_columns}) must be <= block_size "
                         f"({block_size})")
    i, j = _ij(seq_len, device)
    cols = (j % block_size >= block_size - num_columns).expand(i.shape[0], -1)  # (T, T)
    return cols & (j <= i) if causal else cols


def fixed_components(seq_len: int, stride: int, summary: int = 1, causal: bool = True, device: Device = None
                     ) -> tuple[Tensor, Tensor]:
    """Fixed pattern (A^(1), A^(2)): the query's own block of ``stride`` (l), and the last ``summary`` (c)
    positions of every block."""
    name = "fixed_components"
    stride = check_positive_int(name, "stride", stride)
    summary = check_positive_int(name, "summary", summary)
    if summary > stride:
        raise ValueError(f"{name}: summary (c = {summary}) must be <= stride (l = {stride})")
    return (diagonal_block_pattern(seq_len, stride, causal, device),
            column_block_pattern(seq_len, stride, causal, summary, device))


def fixed_pattern(seq_len: int, stride: int, summary: int = 1, causal: bool = True, device: Device = None
                  ) -> Tensor:
    """A^(1) | A^(2) of :func:`fixed_components`."""
    a1, a2 = fixed_components(seq_len, stride, summary, causal, device)
    return a1 | a2


def sliding_window_causal_mask(seq_len: int, window: int, device: Device = None) -> Tensor:
    """Causal sliding window (Mistral, arXiv:2310.06825; GPT-3's banded layers): query i sees keys
    i - window < j <= i (the causal :func:`local_pattern`). It is :func:`.gqa.causal_mask`,
    the one implementation GroupedQueryAttention uses (it also offsets the rows for cached keys)."""
    from .gqa import causal_mask

    return causal_mask(seq_len, seq_len, window, device)


def _dense(seq_len: int, causal: bool, device: Device) -> Tensor:
    i, j = _ij(seq_len, device)
    return (j <= i) if causal else (j >= 0).expand(i.shape[0], -1)


# name -> (seq_len, stride, window, summary, causal, device) -> component masks
PatternFn = Callable[[int, "int | None", "int | None", int, bool, Device], tuple[Tensor, ...]]
PATTERNS: Registry[PatternFn] = Registry("sparse attention pattern", loose_names=True)
_CARD = {"family": "sparse-attention", "paper": "Generating Long Sequences with Sparse Transformers",
         "year": 2019, "arxiv": "1904.10509"}
PATTERNS.add("dense", lambda t, s, w, c, causal, dev: (_dense(t, causal, dev),), **_CARD)
PATTERNS.add("local", lambda t, s, w, c, causal, dev: (local_pattern(t, w, causal, dev),), **_CARD)
PATTERNS.add("strided", lambda t, s, w, c, causal, dev: strided_components(t, s, causal, dev), **_CARD)
PATTERNS.add("fixed", lambda t, s, w, c, causal, dev: fixed_components(t, s, c, causal, dev), **_CARD)
PATTERNS.add("diagonal_block", lambda t, s, w, c, causal, dev: (diagonal_block_pattern(t, s, causal, dev),),
             **_CARD)
PATTERNS.add("column_block", lambda t, s, w, c, causal, dev: (column_block_pattern(t, s, causal, c, dev),),
             **_CARD)
_NEEDS_STRIDE = {"strided", "fixed", "diagonal_block", "column_block"}


def pattern_components(
    name: str,
    seq_len: int,
    stride: int | None = None,
    window: int | None = None,
    summary: int = 1,
    causal: bool = True,
    device: Device = None,
) -> tuple[Tensor, ...]:
    """The factorised component masks of pattern ``name`` (each (T, T) bool, True = attend).

    ``stride`` is l (strided, fixed) or the block size b (diagonal_block, column_block); ``window`` the local
    band (default ``stride``); ``summary`` is c (fixed; the number of columns for column_block)."""
    key = PATTERNS.resolve(name)
    if key in _NEEDS_STRIDE and stride is None:
        raise ValueError(f"sparse attention pattern {key!r} needs stride (l, the block size), got None")
    if key == "local":
        window = stride if window is None else window
        if window is None:
            raise ValueError("sparse attention pattern 'local' needs window (or stride), got None")
    return PATTERNS.get(key)(seq_len, stride, window, summary, causal, device)
