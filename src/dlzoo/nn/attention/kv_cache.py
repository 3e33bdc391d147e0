"""A preallocated key/value cache for autoregressive decoding, one per attention layer.

At decoding step ``t`` a causal self-attention layer needs the keys and values of every earlier position.
Recomputing them makes generating ``N`` tokens cost O(N^2) projections; caching them makes each step attend
with one new query (Pope et al., "Efficiently Scaling Transformer Inference", 2022, arXiv:2211.05102, sec. 2).

The cache stores K/V *after* the rotary rotation, with the KV head count of grouped-query attention, in
buffers of shape ``(B, kv_heads, max_seq_len, head_dim)`` allocated once (no concatenation per step):

    update(k_new, v_new):  K[:, :, P:P+T] = k_new;  V[:, :, P:P+T] = v_new;  P += T
                           returns K[:, :, :P], V[:, :, :P]       # views, (B, kv_heads, P, head_dim)

``seq_len`` (= P) is also the position offset of the next step's queries (their rotary positions and their
causal-mask row offset).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..channel_affine import check_positive_int

__all__ = ["KVCache"]


class KVCache(nn.Module):
    """Preallocated K/V buffers ``(batch_size, num_kv_heads, max_seq_len, head_dim)`` (non-persistent)."""

    def __init__(
        self,
        batch_size: int,
        max_seq_len: int,
        num_kv_heads: int,
        head_dim: int,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__()
        for arg, value in (
            ("batch_size", batch_size),
            ("max_seq_len", max_seq_len),
            ("num_kv_heads", num_kv_heads),
            ("head_dim", head_dim),
        ):
            check_positive_int("KVCache", arg, value)
        shape = (batch_size, num_kv_heads, max_seq_len, head_dim)
        dtype = dtype or torch.get_default_dtype()
        self.register_buffer("k_cache", torch.zeros(shape, dtype=dtype, device=device), persistent=False)
        self.register_buffer("v_cache", torch.zeros(shape, dtype=dtype, device=device), persistent=False)
        self.seq_len = 0

    @property
    def max_seq_len(self) -> int:
        return self.k_cache.shape[2]

    def reset(self) -> None:
        """Forget the stored tokens (the buffers are reused)."""
        self.seq_len = 0

    def update(self, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        """Append ``k, v`` (B, kv_heads, T, head_dim); return all keys/values so far (B, kv_heads, P + T,
        head_dim)."""
        expected = (*self.k_cache.shape[:2], self.k_cache.shape[3])
        if k.shape != v.shape or k.dim() != 4 or (k.shape[0], k.shape[1], k.shape[3]) != expected:
            raise ValueError(
                f"KVCache.update: expected k and v of shape (B={expected[0]}, kv_heads={expected[1]}, "
                f"T, head_dim={expected[2]}), got {list(k.shape)} and {list(v.shape)}"
            )
        start, end = self.seq_len, self.seq_len + k.shape[2]
        if end > self.max_seq_len:
            raise ValueError(
                f"KVCache.update: {end} tokens exceed the cache's max_seq_len {self.max_seq_len}"
            )
        self.k_cache[:, :, start:end] = k
        self.v_cache[:, :, start:end] = v
        self.seq_len = end
        return self.k_cache[:, :, :end], self.v_cache[:, :, :end]

    def extra_repr(self) -> str:
        b, h, t, d = self.k_cache.shape
        return f"batch_size={b}, num_kv_heads={h}, max_seq_len={t}, head_dim={d}, seq_len={self.seq_len}"
