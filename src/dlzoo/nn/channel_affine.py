"""The per-channel affine map that ends most normalization layers, and the checks and dtype rule they share.

After normalizing (LayerNorm, Ba et al. 2016, arXiv:1607.06450), squashing (DyT, arXiv:2503.10622;
Derf, arXiv:2512.10938) or grouping (GroupNorm, arXiv:1803.08494), the layers apply

    y = y * weight + bias,        weight, bias: (C,) (init ones / zeros, as torch)

with ``weight`` and ``bias`` broadcast over the channel dim: the last dim of a ``(*, C)`` tensor
(channels_last) or dim 1 of an ``(N, C, *spatial)`` tensor (channels-first, viewed as (C, 1, ..., 1)).

Shared by every norm layer here as well:

* :func:`check_positive_int` — constructor sizes (``num_features``, ``num_groups``, ...) must be positive
  integers: a ``ValueError``/``TypeError`` naming the layer and the argument, not a deep torch traceback.
* :func:`check_channels` — the input layout/channel-count check in ``forward``.
* :func:`upcast` — statistics and squashing are computed in float32 for float16/bfloat16 inputs, and the
  result is cast back to the input dtype, as torch's fused norms do (``F.layer_norm``, ``F.rms_norm``,
  ``F.group_norm``, ``F.batch_norm``): a float16 sum of squares overflows above ~256 and a float16
  mean/variance loses most of its digits.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import torch
from torch import Tensor, nn

__all__ = ["register_affine", "apply_channel_affine", "check_channels", "check_positive_int", "upcast"]


def check_positive_int(layer: str, name: str, value: object) -> int:
    """Return ``value`` as an int; ``TypeError`` unless it is an integer (not a bool), ``ValueError`` unless
    it is > 0. Both messages name ``layer`` and the argument ``name`` and show what was received."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{layer}: {name} must be a positive int, got {value!r} ({type(value).__name__})")
    if value <= 0:
        raise ValueError(f"{layer}: {name} must be a positive int, got {value}")
    return int(value)


def upcast(x: Tensor) -> Tensor:
    """``x`` in its computation dtype: float32 for float16/bfloat16, unchanged (no copy) otherwise.

    Norm layers compute on ``upcast(x)`` and return ``.to(x.dtype)``, matching torch's fused kernels.
    """
    return x.to(torch.promote_types(x.dtype, torch.float32))


def register_affine(
    module: nn.Module,
    shape: int | Sequence[int],
    elementwise_affine: bool,
    bias: bool = True,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> None:
    """Give ``module`` torch's norm parameters: ``weight = ones(shape)``, ``bias = zeros(shape)``.

    ``bias=False`` sets ``module.bias = None``; ``elementwise_affine=False`` registers both as ``None``
    (so neither appears in the state_dict, as with torch's norms).
    """
    if elementwise_affine:
        module.weight = nn.Parameter(torch.ones(shape, device=device, dtype=dtype))
        module.bias = nn.Parameter(torch.zeros(shape, device=device, dtype=dtype)) if bias else None
    else:
        module.register_parameter("weight", None)
        module.register_parameter("bias", None)


def check_channels(layer: str, x: Tensor, num_features: int, channels_last: bool = True) -> None:
    """Raise ``ValueError`` naming ``layer`` unless ``x`` is ``(*, C)`` (channels_last) or ``(N, C, ...)``."""
    dim = -1 if channels_last else 1
    if x.dim() < (1 if channels_last else 2) or x.shape[dim] != num_features:
        layout = "(*, C)" if channels_last else "(N, C, ...)"
        raise ValueError(f"{layer}: expected {layout} input with C={num_features}, got shape {list(x.shape)}")


def apply_channel_affine(
    y: Tensor, weight: Tensor | None, bias: Tensor | None, channels_last: bool
) -> Tensor:
    """``y * weight + bias`` per channel (either may be ``None``: skipped); output has ``y``'s shape."""
    view = (-1,) if channels_last else (-1, *([1] * (y.dim() - 2)))  # (C,) or (C, 1, ..., 1)
    if weight is not None:
        y = y * weight.view(view)
    if bias is not None:
        y = y + bias.view(view)
    return y
