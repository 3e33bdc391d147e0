"""Modern Hopfield layer: retrieval from continuous stored patterns by the energy-descent update.

Ramsauer et al., "Hopfield Networks is All You Need", ICLR 2021, arXiv:2008.02217, Eq. 3 and 10
(layer ``Hopfield`` of ml-jku/hopfield-layers). State patterns ``R`` (queries) retrieve from stored patterns
``Y`` (keys); with ``Q = R W_Q``, ``K = Y W_K``, ``V = Y W_V`` (per head) the update rule is

    xi_new = softmax(beta xi K^T) K          (Eq. 3, iterated ``update_steps - 1`` times in key space)
    Z      = softmax(beta xi K^T) V          (the last step reads the value projection)

so one update step is exactly multi-head softmax attention with ``scale = beta`` (default
``1 / sqrt(head_dim)``), computed by dlzoo's :func:`scaled_dot_product_attention`. As in hopfield-layers
the raw stored, state and value patterns are LayerNorm-ed first (``normalize_patterns=True``).

Shapes: ``query (B, T, D)``, ``key``/``value`` ``(B, S, D)`` (default: ``query``, self-association) ->
``(B, T, D)``; ``attn_mask`` broadcastable to ``(B, H, T, S)``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..channel_affine import check_positive_int
from ..linear import Identity, Linear
from ..norms import LayerNorm
from .multihead import scaled_dot_product_attention

__all__ = ["HopfieldAttention"]


class HopfieldAttention(nn.Module):
    """Hopfield association with ``update_steps`` retrieval iterations (see module docstring)."""

    def __init__(self, embed_dim: int, num_heads: int = 1, beta: float | None = None, update_steps: int = 1,
                 normalize_patterns: bool = True, dropout: float = 0.0, bias: bool = True,
                 device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> None:
        super().__init__()
        name = "HopfieldAttention"
        self.embed_dim = check_positive_int(name, "embed_dim", embed_dim)
        self.num_heads = check_positive_int(name, "num_heads", num_heads)
        self.update_steps = check_positive_int(name, "update_steps", update_steps)
        if embed_dim % num_heads:
            raise ValueError(f"{name}: embed_dim {embed_dim} is not divisible by num_heads {num_heads}")
        if beta is not None and beta <= 0:
            raise ValueError(f"{name}: beta must be > 0, got {beta}")
        self.head_dim = embed_dim // num_heads
        self.beta = beta if beta is not None else self.head_dim ** -0.5
        self.dropout = dropout
        fk = {"device": device, "dtype": dtype}
        norm = (lambda: LayerNorm(embed_dim, **fk)) if normalize_patterns else Identity
        self.norm_state, self.norm_stored, self.norm_value = norm(), norm(), norm()
        self.q_proj = Linear(embed_dim, embed_dim, bias=bias, **fk)
        self.k_proj = Linear(embed_dim, embed_dim, bias=bias, **fk)
        self.v_proj = Linear(embed_dim, embed_dim, bias=bias, **fk)
        self.out_proj = Linear(embed_dim, embed_dim, bias=bias, **fk)

    def _heads(self, x: Tensor) -> Tensor:
        b, n, _ = x.shape
        return x.view(b, n, self.num_heads, self.head_dim).transpose(1, 2)  # (B, H, N, d)

    def forward(self, query: Tensor, key: Tensor | None = None, value: Tensor | None = None,
                attn_mask: Tensor | None = None) -> Tensor:
        key = query if key is None else key
        value = key if value is None else value
        for n, t in (("query", query), ("key", key), ("value", value)):
            if t.dim() != 3 or t.shape[-1] != self.embed_dim:
                raise ValueError(f"HopfieldAttention: expected {n} (B, N, {self.embed_dim}), "
                                 f"got {list(t.shape)}")
        if key.shape[:2] != value.shape[:2] or key.shape[0] != query.shape[0]:
            raise ValueError(f"HopfieldAttention: key {list(key.shape)} and value {list(value.shape)} "
                             f"must share "
                             f"(B, S) and the batch of query {list(query.shape)}")
        xi = self._heads(self.q_proj(self.norm_state(query)))  # (B, H, T, d): state patterns
        k = self._heads(self.k_proj(self.norm_stored(key)))  # (B, H, S, d): stored patterns
        v = self._heads(self.v_proj(self.norm_value(value)))  # (B, H, S, d)
        p = self.dropout if self.training else 0.0
        for _ in range(self.update_steps - 1):
            xi = scaled_dot_product_attention(xi, k, k, attn_mask=attn_mask, scale=self.beta)  # Eq. 3
        z = scaled_dot_product_attention(xi, k, v, attn_mask=attn_mask, dropout_p=p, scale=self.beta)
        b, _, t, _ = z.shape
        return self.out_proj(z.transpose(1, 2).reshape(b, t, self.embed_dim))  # (B, T, D)

    def extra_repr(self) -> str:
        return (f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, beta={self.beta:.4g}, "
                f"update_steps={self.update_steps}")
