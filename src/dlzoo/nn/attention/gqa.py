"""Grouped-query causal self-attention (MHA, GQA and MQA in one module), with RoPE, sliding window, KV cache.

Ainslie et al., "GQA: Training Generalized Multi-Query Transformer Models from Multi-Head Checkpoints",
EMNLP 2023, arXiv:2305.13245; Shazeer, "Fast Transformer Decoding: One Write-Head is All You Need", 2019,
arXiv:1911.02150 (MQA).
``H`` query heads share ``Hk`` key/value heads; query head ``h`` reads KV head ``h // (H / Hk)``:

    q_h = x W^Q_h,   k_g = x W^K_g,   v_g = x W^V_g            g = h // (H / Hk)
    head_h = softmax(q_h k_g^T / sqrt(d) + M) v_g,   out = Concat(head_1..head_H) W^O

``Hk = H`` is multi-head attention (GPT-2), ``Hk = 1`` multi-query attention. With rotary embeddings
(Su et al. 2021, arXiv:2104.09864) q and k are rotated by their absolute positions before the product.
``M`` is causal: query ``i`` (absolute position ``P + i`` after ``P`` cached tokens) sees keys
``j <= P + i``; with ``sliding_window = w`` only ``P + i - w < j <= P + i`` (the locally banded attention of
GPT-3, Brown et al. 2020, arXiv:2005.14165, after Child et al. 2019, arXiv:1904.10509; Mistral's sliding
window, arXiv:2310.06825).

Parameter names are Hugging Face LLaMA's (``q_proj``, ``k_proj``, ``v_proj``, ``o_proj``): weights transplant.
The fused path is torch's SDPA (``enable_gqa``, ``is_causal`` when no offset or window applies); under
:func:`dlzoo.reference_mode` the explicit softmax with repeated KV heads runs (:mod:`.multihead`).
Shapes: ``x (B, T, C)`` -> ``(B, T, C)``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..channel_affine import check_positive_int
from ..linear import Linear
from ..rotary import apply_rotary_pos_emb
from .kv_cache import KVCache
from .multihead import scaled_dot_product_attention

__all__ = ["GroupedQueryAttention", "causal_mask"]


def causal_mask(
    q_len: int, kv_len: int, window: int | None = None, device: torch.device | str | None = None
) -> Tensor:
    """Boolean (q_len, kv_len) mask, True = attend: the last ``q_len`` of ``kv_len`` positions, causally.

    Query ``i`` sits at absolute position ``kv_len - q_len + i`` and sees keys ``j`` with
    ``pos - window < j <= pos`` (no lower bound when ``window`` is None)."""
    pos = torch.arange(kv_len - q_len, kv_len, device=device)[:, None]  # (q_len, 1) absolute query positions
    keys = torch.arange(kv_len, device=device)[None, :]  # (1, kv_len)
    keep = keys <= pos
    if window is not None:
        keep &= keys > pos - window
    return keep


class GroupedQueryAttention(nn.Module):
    """Causal self-attention with ``num_kv_heads`` shared K/V heads (see the module docstring).

    Args:
        embed_dim: model width ``C``.
        num_heads: query heads ``H``.
        num_kv_heads: key/value heads ``Hk`` (divides ``H``); None -> ``H`` (MHA), 1 -> MQA.
        head_dim: per-head width ``d`` (default ``C // H``).
        bias: bias on the q/k/v projections (GPT-2: True, LLaMA: False).
        out_bias: bias on ``o_proj`` (default ``bias``).
        dropout: dropout on the attention probabilities while training.
        is_causal: causal mask (False: every query sees every key, e.g. an encoder).
        sliding_window: if set, a query sees only the last ``sliding_window`` keys up to itself.
    """

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        num_kv_heads: int | None = None,
        head_dim: int | None = None,
        bias: bool = False,
        out_bias: bool | None = None,
        dropout: float = 0.0,
        is_causal: bool = True,
        sliding_window: int | None = None,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        check_positive_int(name, "embed_dim", embed_dim)
        check_positive_int(name, "num_heads", num_heads)
        num_kv_heads = (
            num_heads if num_kv_heads is None else check_positive_int(name, "num_kv_heads", num_kv_heads)
        )
        if num_heads % num_kv_heads:
            raise ValueError(
                f"{name}: num_heads ({num_heads}) must be a multiple of num_kv_heads ({num_kv_heads})"
            )
        if head_dim is None:
            if embed_dim % num_heads:
                raise ValueError(
                    f"{name}: embed_dim ({embed_dim}) must be divisible by num_heads ({num_heads}) "
                    f"unless head_dim is given"
                )
            head_dim = embed_dim // num_heads
        check_positive_int(name, "head_dim", head_dim)
        if sliding_window is not None:
            check_positive_int(name, "sliding_window", sliding_window)
            if not is_causal:
                raise ValueError(f"{name}: sliding_window needs is_causal=True")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"{name}: dropout must be in [0, 1), got {dropout}")
        self.embed_dim, self.num_heads, self.num_kv_heads, self.head_dim = (
            embed_dim,
            num_heads,
            num_kv_heads,
            head_dim,
        )
        self.dropout, self.is_causal, self.sliding_window = dropout, is_causal, sliding_window
        self.q_proj = Linear(embed_dim, num_heads * head_dim, bias=bias)
        self.k_proj = Linear(embed_dim, num_kv_heads * head_dim, bias=bias)
        self.v_proj = Linear(embed_dim, num_kv_heads * head_dim, bias=bias)
        self.o_proj = Linear(num_heads * head_dim, embed_dim, bias=bias if out_bias is None else out_bias)

    def forward(
        self,
        x: Tensor,
        rope: tuple[Tensor, Tensor] | None = None,
        attn_mask: Tensor | None = None,
        kv_cache: KVCache | None = None,
    ) -> Tensor:
        """``x`` (B, T, C); ``rope`` (cos, sin) each (B or 1, T, d); ``attn_mask`` bool (True = attend) or
        additive float, broadcastable to (B, H, T, S) with S = cached + T; ``kv_cache`` gets the new K/V."""
        if x.dim() != 3 or x.shape[-1] != self.embed_dim:
            raise ValueError(
                f"{type(self).__name__}: expected x of shape (B, T, {self.embed_dim}), got {list(x.shape)}"
            )
        B, T, _ = x.shape
        q = self.q_proj(x).view(B, T, self.num_heads, self.head_dim).transpose(1, 2)  # (B, H, T, d)
        k = self.k_proj(x).view(B, T, self.num_kv_heads, self.head_dim).transpose(1, 2)  # (B, Hk, T, d)
        v = self.v_proj(x).view(B, T, self.num_kv_heads, self.head_dim).transpose(1, 2)  # (B, Hk, T, d)
        if rope is not None:
            q, k = apply_rotary_pos_emb(q, k, *rope)
        if kv_cache is not None:
            k, v = kv_cache.update(k, v)  # (B, Hk, S, d), S = cached + T
        mask, is_causal = self._mask(attn_mask, T, k.shape[2], x.device)
        out = scaled_dot_product_attention(
            q,
            k,
            v,
            attn_mask=mask,
            is_causal=is_causal,
            dropout_p=self.dropout if self.training else 0.0,
            enable_gqa=self.num_kv_heads != self.num_heads,
        )  # (B, H, T, d)
        return self.o_proj(out.transpose(1, 2).reshape(B, T, self.num_heads * self.head_dim))

    def _mask(
        self, attn_mask: Tensor | None, q_len: int, kv_len: int, device: torch.device
    ) -> tuple[Tensor | None, bool]:
        """The SDPA mask argument and is_causal flag combining causality, the window and ``attn_mask``."""
        if not self.is_causal:
            return attn_mask, False
        plain = self.sliding_window is None or kv_len <= self.sliding_window
        if attn_mask is None and plain and q_len == kv_len:
            return None, True  # SDPA's own causal mask (top-left aligned: right when nothing is cached)
        if attn_mask is None and plain and q_len == 1:
            return None, False  # one new query sees every cached key
        keep = causal_mask(q_len, kv_len, self.sliding_window, device)  # (T, S)
        if attn_mask is None:
            return keep, False
        if attn_mask.dtype == torch.bool:
            return keep & attn_mask, False
        return torch.where(keep, attn_mask, float("-inf")), False

    def extra_repr(self) -> str:
        window = f", sliding_window={self.sliding_window}" if self.sliding_window else ""
        return (
            f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, num_kv_heads={self.num_kv_heads}, "
            f"head_dim={self.head_dim}, is_causal={self.is_causal}{window}"
        )
