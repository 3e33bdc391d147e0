"""Learned 2-D relative position bias for attention inside a window of tokens (Swin's B of Eq. 4).

Liu, Lin, Cao, Hu, Wei, Zhang, Lin, Guo, "Swin Transformer: Hierarchical Vision Transformer using Shifted
Windows", ICCV 2021, arXiv:2103.14030, Sec. 3.2 "Relative position bias":

    Attention(Q, K, V) = SoftMax(Q K^T / sqrt(d) + B) V,    B[h, i, j] = B_hat[h, dy(i, j), dx(i, j)]

For a Wh x Ww window the offsets between two tokens lie in dy in [-Wh+1, Wh-1], dx in [-Ww+1, Ww-1], so the
learnable table ``B_hat`` (``relative_position_bias_table``, shape ((2Wh-1)(2Ww-1), num_heads)) has one row
per offset and ``relative_position_index`` (N, N), N = Wh*Ww, a non-persistent long buffer, says which row
every token pair (i, j) reads:

    index[i, j] = (y_i - y_j + Wh - 1) * (2Ww - 1) + (x_i - x_j + Ww - 1)      tokens in row-major order

:class:`RelativePositionBias2d` mirrors Hugging Face's ``SwinRelativePositionBias(num_heads, window_size)``
(same parameter and buffer names; ``forward()`` returns B as (1, num_heads, N, N)). Swin's
:class:`~dlzoo.nn.attention.WindowAttention` *is a* ``RelativePositionBias2d`` (it inherits it rather than
holding it as a child) so that its state_dict keys stay timm's and the official code's flat
``attn.relative_position_bias_table``: a child module would have renamed them to
``attn.<child>.relative_position_bias_table`` and broken timm/HF weight loading.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..channel_affine import check_positive_int

__all__ = ["RelativePositionBias2d", "relative_position_index"]


def _window_hw(layer: str, window_size: int | tuple[int, int]) -> tuple[int, int]:
    if isinstance(window_size, (tuple, list)):
        if len(window_size) != 2:
            raise ValueError(f"{layer}: window_size must be an int or a pair (Wh, Ww), got {window_size!r}")
        wh, ww = window_size
    else:
        wh = ww = window_size
    return check_positive_int(layer, "window_size", wh), check_positive_int(layer, "window_size", ww)


def relative_position_index(window_size: int | tuple[int, int]) -> Tensor:
    """(N, N) long index into the ((2Wh-1)(2Ww-1)) bias table, N = Wh*Ww, tokens row-major:
    ``(dy + Wh - 1) * (2Ww - 1) + (dx + Ww - 1)`` with (dy, dx) the offset of token i relative to token j."""
    wh, ww = _window_hw("relative_position_index", window_size)
    coords = torch.stack(torch.meshgrid(torch.arange(wh), torch.arange(ww), indexing="ij"))  # (2, Wh, Ww)
    coords = coords.flatten(1)  # (2, N): (y, x) of each token, row-major
    rel = coords[:, :, None] - coords[:, None, :]  # (2, N, N): offsets of token i relative to token j
    dy, dx = rel[0] + (wh - 1), rel[1] + (ww - 1)  # shift to [0, 2Wh-2] and [0, 2Ww-2]
    return dy * (2 * ww - 1) + dx  # (N, N)


class RelativePositionBias2d(nn.Module):
    """Swin's learned relative position bias B (see module docstring; HF ``SwinRelativePositionBias``).

    Args:
        num_heads: one bias per head.
        window_size: M (square M x M window) or (Wh, Ww).

    ``forward()`` -> (1, num_heads, N, N); :meth:`relative_position_bias` -> (num_heads, N, N), N = Wh*Ww.
    The table is initialised trunc-normal(std=0.02) as in the official code and timm (HF starts at zero and
    re-initialises with the same trunc-normal in ``_init_weights``).
    """

    def __init__(self, num_heads: int, window_size: int | tuple[int, int]) -> None:
        super().__init__()
        name = type(self).__name__
        num_heads = check_positive_int(name, "num_heads", num_heads)
        wh, ww = _window_hw(name, window_size)
        self.num_heads = num_heads
        self.window_hw = (wh, ww)
        self.window_area = wh * ww
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * wh - 1) * (2 * ww - 1), num_heads))
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)
        self.register_buffer("relative_position_index", relative_position_index((wh, ww)), persistent=False)

    def relative_position_bias(self) -> Tensor:
        """B of Swin Eq. 4: (num_heads, N, N) gathered from the table."""
        n = self.window_area
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)]  # (N*N, heads)
        return bias.view(n, n, -1).permute(2, 0, 1)  # (heads, N, N)

    def forward(self) -> Tensor:
        """B as (1, num_heads, N, N), ready to add to attention scores (B', heads, N, N)."""
        return self.relative_position_bias().unsqueeze(0)

    def extra_repr(self) -> str:
        return f"num_heads={self.num_heads}, window_size={self.window_hw}"
