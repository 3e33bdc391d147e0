"""Variable-length sequences for the recurrent layers: torch's ``PackedSequence`` layout, written out.

A ``PackedSequence`` (``torch.nn.utils.rnn.pack_padded_sequence``) holds the sequences of a batch sorted by
decreasing length and interleaved by time step: ``data`` ``(sum_t b_t, F)`` is the concatenation over
``t`` of the ``b_t = batch_sizes[t]`` sequences still running at step ``t``; ``sorted_indices[j]`` is the
batch index of the ``j``-th longest sequence and ``unsorted_indices`` its inverse.

The explicit recurrent loop runs on the padded, time-major form ``(T, N, F)`` with a mask
``m[t, n] = t < lengths[n]``: a state is only updated where ``m`` holds, so the forward direction keeps
the state of a sequence's last valid step and the reverse direction starts at it; outputs are zero past
each length. These helpers convert between the two layouts in the sorted order of the packed batch.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from torch.nn.utils.rnn import PackedSequence

__all__ = ["PackedSequence", "check_lengths", "length_mask", "pad_packed", "pack_padded", "lengths_of"]


def check_lengths(name: str, lengths: Tensor | Sequence[int], batch: int, steps: int) -> Tensor:
    """Validate ``lengths`` (one int per sequence, ``1 <= length <= T``); returns an int64 CPU tensor."""
    try:
        t = torch.as_tensor(lengths)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name}: lengths must be a 1-D tensor or sequence of ints, got {lengths!r}") from err
    if t.dim() != 1 or t.shape[0] != batch:
        raise ValueError(
            f"{name}: expected lengths of shape ({batch},) (one per sequence), got {tuple(t.shape)}"
        )
    if t.is_floating_point() or t.is_complex() or t.dtype == torch.bool:
        raise TypeError(f"{name}: lengths must be integers, got dtype {t.dtype}")
    t = t.to("cpu", torch.int64)
    if batch and (int(t.min()) < 1 or int(t.max()) > steps):
        raise ValueError(
            f"{name}: every length must be in [1, {steps}] (the padded time dim), got {t.tolist()}"
        )
    return t


def length_mask(lengths: Tensor, steps: int, device: torch.device) -> Tensor:
    """``m[t, n] = t < lengths[n]``, shape ``(T, N)`` bool."""
    return torch.arange(steps, device=device).unsqueeze(1) < lengths.to(device).unsqueeze(0)


def lengths_of(batch_sizes: Tensor) -> Tensor:
    """Lengths of the sorted sequences of a packed batch: ``len[j] = #{t : batch_sizes[t] > j}``."""
    n = int(batch_sizes[0])
    return (batch_sizes.unsqueeze(0) > torch.arange(n).unsqueeze(1)).sum(1)  # (N,)


def pad_packed(data: Tensor, batch_sizes: Tensor) -> Tensor:
    """Packed ``data`` ``(sum_t b_t, F)`` -> padded ``(T, N, F)`` in sorted order, zeros past each length."""
    n = int(batch_sizes[0])
    steps, offset = [], 0
    for b in batch_sizes.tolist():
        x_t = data[offset : offset + b]  # (b_t, F): the sequences still running at step t
        steps.append(torch.cat([x_t, x_t.new_zeros(n - b, *x_t.shape[1:])]) if b < n else x_t)
        offset += b
    return torch.stack(steps, 0)  # (T, N, F)


def pack_padded(padded: Tensor, batch_sizes: Tensor) -> Tensor:
    """Padded ``(T, N, F)`` in sorted order -> packed data ``(sum_t b_t, F)``."""
    return torch.cat([padded[t, :b] for t, b in enumerate(batch_sizes.tolist())], 0)
