"""The per-channel affine map that ends most normalization layers, and its channel-layout checks.

After normalizing (LayerNorm, Ba et al. 2016, arXiv:1607.06450), squashing (DyT, arXiv:2503.10622;
Derf, arXiv:2512.10938) or grouping (GroupNorm, arXiv:1803.08494), the layers apply

    y = y * weight + bias,        weight, bias: (C,) (init ones / zeros, as torch)

with ``weight`` and ``bias`` broadcast over the channel dim: the last dim of a ``(*, C)`` tensor
(channels_last) or dim 1 of an ``(N, C, *spatial)`` tensor (channels-first, viewed as (C, 1, ..., 1)).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

__all__ = ["register_affine", "apply_channel_affine", "check_channels"]


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
