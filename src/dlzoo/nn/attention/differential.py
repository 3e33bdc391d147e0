"""Differential attention: the difference of two softmax maps cancels common-mode attention noise.

Ye, Dong, Xia, Sun, Zhu, Huang, Wei, "Differential Transformer", 2024, arXiv:2410.05258 (Eq. 1-3 and the
official unilm ``multihead_diffattn.py``). With ``H`` heads of width ``d = D / H / 2``:

    [Q1; Q2] = X W_q,   [K1; K2] = X W_k,   V = X W_v            (Q_i, K_i: (T, d) per head, V: (T, 2d))
    lambda   = exp(lq1 . lk1) - exp(lq2 . lk2) + lambda_init       (lq*, lk*: (d,), N(0, 0.1))
    lambda_init(l) = 0.8 - 0.6 exp(-0.3 (l - 1))                    (l = 1-based layer index)
    head     = (softmax(Q1 K1^T / sqrt(d)) - lambda softmax(Q2 K2^T / sqrt(d))) V
    out      = W_o concat_h( (1 - lambda_init) RMSNorm_{2d}(head_h) )  (RMSNorm eps 1e-5, per head)

Because ``(A1 - lambda A2) V = A1 V - lambda A2 V`` the two maps go through dlzoo's one
:func:`scaled_dot_product_attention` (fused by default, explicit under :func:`dlzoo.reference_mode`) as
``2H`` ordinary heads sharing ``V``. ``dropout`` drops each softmax map (the official code drops the
difference; equal at ``dropout=0``).

Shapes: ``x (B, T, D)`` -> ``(B, T, D)``; ``attn_mask`` broadcastable to ``(B, 2H, T, T)`` (bool: True =
attend, or additive float) or ``is_causal=True``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ..channel_affine import check_positive_int
from ..linear import Linear
from ..norms import RMSNorm
from .multihead import scaled_dot_product_attention

__all__ = ["DifferentialMultiheadAttention", "lambda_init_fn"]


def lambda_init_fn(layer_idx: int) -> float:
    """``0.8 - 0.6 exp(-0.3 (l - 1))`` for the 1-based layer index ``l`` (paper, Sec. 2.1)."""
    return 0.8 - 0.6 * math.exp(-0.3 * (layer_idx - 1))


class DifferentialMultiheadAttention(nn.Module):
    """Multi-head differential self-attention (see module docstring)."""

    def __init__(self, embed_dim: int, num_heads: int, layer_idx: int = 1, dropout: float = 0.0,
                 bias: bool = False, norm_eps: float = 1e-5, device: torch.device | str | None = None,
                 dtype: torch.dtype | None = None) -> None:
        super().__init__()
        name = "DifferentialMultiheadAttention"
        self.embed_dim = check_positive_int(name, "embed_dim", embed_dim)
        self.num_heads = check_positive_int(name, "num_heads", num_heads)
        self.layer_idx = check_positive_int(name, "layer_idx (1-based)", layer_idx)
        if embed_dim % (2 * num_heads):
            raise ValueError(f"{name}: embed_dim must be divisible by 2 * num_heads = {2 * num_heads}, "
                             f"got embed_dim={embed_dim}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"{name}: dropout must be in [0, 1), got {dropout}")
        self.head_dim = embed_dim // num_heads // 2
        self.dropout = dropout
        self.scaling = self.head_dim ** -0.5
        self.lambda_init = lambda_init_fn(layer_idx)
        fk = {"device": device, "dtype": dtype}
        self.q_proj = Linear(embed_dim, embed_dim, bias=bias, **fk)
        self.k_proj = Linear(embed_dim, embed_dim, bias=bias, **fk)
        self.v_proj = Linear(embed_dim, embed_dim, bias=bias, **fk)
        self.out_proj = Linear(embed_dim, embed_dim, bias=bias, **fk)
        self.lambda_q1 = nn.Parameter(torch.empty(self.head_dim, **fk))
        self.lambda_k1 = nn.Parameter(torch.empty(self.head_dim, **fk))
        self.lambda_q2 = nn.Parameter(torch.empty(self.head_dim, **fk))
        self.lambda_k2 = nn.Parameter(torch.empty(self.head_dim, **fk))
        self.subln = RMSNorm(2 * self.head_dim, eps=norm_eps, **fk)
        self.reset_lambda()

    def reset_lambda(self) -> None:
        for p in (self.lambda_q1, self.lambda_k1, self.lambda_q2, self.lambda_k2):
            nn.init.normal_(p, mean=0.0, std=0.1)

    def lambda_full(self) -> Tensor:
        """Scalar ``exp(lq1 . lk1) - exp(lq2 . lk2) + lambda_init``."""
        l1 = torch.exp(torch.sum(self.lambda_q1 * self.lambda_k1))
        l2 = torch.exp(torch.sum(self.lambda_q2 * self.lambda_k2))
        return l1 - l2 + self.lambda_init

    def forward(self, x: Tensor, attn_mask: Tensor | None = None, is_causal: bool = False) -> Tensor:
        if x.dim() != 3 or x.shape[-1] != self.embed_dim:
            raise ValueError(f"DifferentialMultiheadAttention: expected x (B, T, {self.embed_dim}), got "
                             f"{list(x.shape)}")
        b, t, _ = x.shape
        h, d = self.num_heads, self.head_dim
        q = self.q_proj(x).view(b, t, 2 * h, d).transpose(1, 2)  # (B, 2H, T, d): Q1, Q2 of each head
        k = self.k_proj(x).view(b, t, 2 * h, d).transpose(1, 2)  # (B, 2H, T, d)
        v = self.v_proj(x).view(b, t, h, 2 * d).transpose(1, 2)  # (B, H, T, 2d)
        v = v.repeat_interleave(2, dim=1)  # (B, 2H, T, 2d): map 2h and 2h+1 both read head h's V
        p = self.dropout if self.training else 0.0
        o = scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=p, is_causal=is_causal,
                                         scale=self.scaling)  # (B, 2H, T, 2d) = A_i V
        o = o.view(b, h, 2, t, 2 * d)  # (B, H, 2, T, 2d)
        o = o[:, :, 0] - self.lambda_full() * o[:, :, 1]  # (A1 - lambda A2) V: (B, H, T, 2d)
        o = self.subln(o) * (1.0 - self.lambda_init)
        o = o.transpose(1, 2).reshape(b, t, h * 2 * d)  # (B, T, D)
        return self.out_proj(o)

    def extra_repr(self) -> str:
        return (f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, head_dim={self.head_dim}, "
                f"layer_idx={self.layer_idx}, lambda_init={self.lambda_init:.4f}")
