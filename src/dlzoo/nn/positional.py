"""Absolute and additive positional encodings: sinusoidal, learned, ALiBi.

Rotary embeddings (RoPE) live in :mod:`dlzoo.nn.rotary`.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

__all__ = [
    "SinusoidalPositionalEncoding",
    "LearnedPositionalEmbedding",
    "ALiBi",
    "alibi_slopes",
]


def _check_positive_int(layer: str, name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{layer}: {name} must be an int, got {type(value).__name__}")
    if value <= 0:
        raise ValueError(f"{layer}: {name} must be positive, got {value}")
    return value


def _positions(layer: str, x: Tensor, position_ids: Tensor | None, max_len: int) -> Tensor:
    """Validate ``x`` (B, T, D) and return integer positions (T,) or (B, T)."""
    if x.dim() != 3:
        raise ValueError(f"{layer}: expected input of shape (B, T, D), got {tuple(x.shape)}")
    if position_ids is None:
        seq_len = x.shape[1]
        if seq_len > max_len:
            raise ValueError(f"{layer}: sequence length {seq_len} exceeds max_len {max_len}")
        return torch.arange(seq_len, device=x.device)
    if position_ids.dtype not in (torch.int32, torch.int64):
        raise TypeError(f"{layer}: position_ids must be an integer tensor, got {position_ids.dtype}")
    if position_ids.numel() and (int(position_ids.max()) >= max_len or int(position_ids.min()) < 0):
        raise ValueError(
            f"{layer}: position_ids must lie in [0, {max_len}), got max {int(position_ids.max())}"
        )
    return position_ids


class SinusoidalPositionalEncoding(nn.Module):
    """Fixed sinusoidal encoding, "Attention Is All You Need" (Vaswani et al., 2017, arXiv:1706.03762),
    Sec. 3.5:

    ``PE(pos, 2i) = sin(pos / 10000^(2i / d_model))``, ``PE(pos, 2i+1) = cos(pos / 10000^(2i / d_model))``.

    ``forward(x)`` with ``x`` of shape (B, T, d_model) returns ``x + PE[:T]`` (or ``x + PE[position_ids]``).
    The table ``pe`` (max_len, d_model) is a non-persistent buffer: it is not in the state_dict.
    """

    def __init__(self, d_model: int, max_len: int = 5000, base: float = 10000.0) -> None:
        super().__init__()
        self.d_model = _check_positive_int(type(self).__name__, "d_model", d_model)
        self.max_len = _check_positive_int(type(self).__name__, "max_len", max_len)
        pos = torch.arange(max_len, dtype=torch.float64)[:, None]  # (L, 1)
        div = torch.pow(base, torch.arange(0, d_model, 2, dtype=torch.float64) / d_model)  # (ceil(D/2),)
        pe = torch.zeros(max_len, d_model, dtype=torch.float64)
        pe[:, 0::2] = torch.sin(pos / div)
        pe[:, 1::2] = torch.cos(pos / div[: d_model // 2])
        self.register_buffer("pe", pe.to(torch.get_default_dtype()), persistent=False)

    def forward(self, x: Tensor, position_ids: Tensor | None = None) -> Tensor:
        name = type(self).__name__
        if x.dim() == 3 and x.shape[-1] != self.d_model:
            raise ValueError(f"{name}: expected last dim {self.d_model}, got {tuple(x.shape)}")
        pos = _positions(name, x, position_ids, self.max_len)
        return x + self.pe[pos].to(x.dtype)

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, max_len={self.max_len}"


class LearnedPositionalEmbedding(nn.Module):
    """Learned absolute position embedding (GPT-2 ``wpe``; BERT, Devlin et al., 2019, arXiv:1810.04805).

    ``weight`` is (num_embeddings, embedding_dim), initialised N(0, init_std^2) like GPT-2.
    ``forward(x)`` with ``x`` (B, T, D) returns ``x + weight[:T]`` (or ``x + weight[position_ids]``).
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, init_std: float = 0.02) -> None:
        super().__init__()
        self.num_embeddings = _check_positive_int(type(self).__name__, "num_embeddings", num_embeddings)
        self.embedding_dim = _check_positive_int(type(self).__name__, "embedding_dim", embedding_dim)
        self.init_std = init_std
        self.weight = nn.Parameter(torch.empty(num_embeddings, embedding_dim))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.normal_(self.weight, std=self.init_std)

    def forward(self, x: Tensor, position_ids: Tensor | None = None) -> Tensor:
        name = type(self).__name__
        if x.dim() == 3 and x.shape[-1] != self.embedding_dim:
            raise ValueError(f"{name}: expected last dim {self.embedding_dim}, got {tuple(x.shape)}")
        pos = _positions(name, x, position_ids, self.num_embeddings)
        return x + self.weight[pos]

    def extra_repr(self) -> str:
        return f"{self.num_embeddings}, {self.embedding_dim}"


def alibi_slopes(num_heads: int) -> Tensor:
    """Per-head ALiBi slopes, "Train Short, Test Long" (Press et al., 2022, arXiv:2108.12409), Sec. 3.

    For ``n`` a power of two the slopes are the geometric sequence ``2^(-8/n * k)``, k = 1..n.
    Otherwise (the paper's rule, as in its reference code and HF BLOOM): take the slopes for the closest
    power of two ``p < n`` and append every other slope of the ``2p`` sequence (odd k) for the remaining
    ``n - p`` heads. Returns float64 (num_heads,).
    """
    _check_positive_int("alibi_slopes", "num_heads", num_heads)

    def geometric(n: int) -> Tensor:
        k = torch.arange(1, n + 1, dtype=torch.float64)
        return torch.pow(2.0, -8.0 * k / n)

    p = 2 ** int(math.floor(math.log2(num_heads)))
    slopes = geometric(p)
    if p != num_heads:
        slopes = torch.cat([slopes, geometric(2 * p)[0::2][: num_heads - p]])
    return slopes


class ALiBi(nn.Module):
    """Attention with Linear Biases (Press et al., 2022, arXiv:2108.12409), Eq. in Sec. 3:

    ``softmax(q_i K^T + m_h * [-(i-1), ..., -2, -1, 0])``: the bias added to head ``h``'s score of query ``i``
    and key ``j`` is ``m_h * (j - i)`` (non-positive for causal attention ``j <= i``).

    ``forward(q_len, k_len)`` returns the bias (num_heads, q_len, k_len); queries are aligned to the end of
    the keys (query ``i`` sits at key position ``k_len - q_len + i``), as during cached decoding.
    ``slopes`` is a non-persistent buffer.
    """

    def __init__(self, num_heads: int) -> None:
        super().__init__()
        self.num_heads = _check_positive_int(type(self).__name__, "num_heads", num_heads)
        self.register_buffer(
            "slopes", alibi_slopes(num_heads).to(torch.get_default_dtype()), persistent=False
        )

    def forward(self, q_len: int, k_len: int | None = None) -> Tensor:
        name = type(self).__name__
        k_len = q_len if k_len is None else k_len
        _check_positive_int(name, "q_len", q_len)
        _check_positive_int(name, "k_len", k_len)
        if q_len > k_len:
            raise ValueError(f"{name}: q_len ({q_len}) must not exceed k_len ({k_len})")
        dev = self.slopes.device
        q_pos = torch.arange(k_len - q_len, k_len, device=dev)[:, None]  # (Tq, 1)
        k_pos = torch.arange(k_len, device=dev)[None, :]  # (1, Tk)
        rel = (k_pos - q_pos).to(self.slopes.dtype)  # (Tq, Tk): j - i
        return self.slopes[:, None, None] * rel  # (H, Tq, Tk)

    def extra_repr(self) -> str:
        return f"num_heads={self.num_heads}"
