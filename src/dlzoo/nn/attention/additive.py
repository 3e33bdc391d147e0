"""Additive (Bahdanau) attention.

Bahdanau, Cho, Bengio, "Neural Machine Translation by Jointly Learning to Align and Translate", ICLR 2015,
arXiv:1409.0473 (eqs. 5-6 and appendix A.1.2). For a decoder state ``s`` (the query) and annotations
``h_j`` (the keys, one per source position):

    e_j = v^T tanh(W_q s + W_k h_j)          (score; W_q, W_k: attn_dim x dim, v: attn_dim)
    alpha_j = exp(e_j) / sum_k exp(e_k)       (softmax over the unmasked source positions)
    c = sum_j alpha_j h_j                     (context; with ``value`` given, sum_j alpha_j value_j)

``bias=True`` adds a learned bias inside the tanh (``W_q s + b``); the paper has none.

Shapes: query ``(B, Dq)`` (one decoder step) or ``(B, Tq, Dq)``; key ``(B, Tk, Dk)``; value ``(B, Tk, Dv)``
(default: the key); ``key_padding_mask`` ``(B, Tk)`` bool, ``True`` = padding (ignored), as in
``torch.nn.MultiheadAttention``. Returns ``(context, weights)``: ``(B, Dv)`` and ``(B, Tk)``, or
``(B, Tq, Dv)`` and ``(B, Tq, Tk)``. A query whose keys are all padding gets zero weights and a zero context.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..channel_affine import check_positive_int
from ..linear import Linear
from .multihead import masked_softmax

__all__ = ["AdditiveAttention"]


class AdditiveAttention(nn.Module):
    """Bahdanau attention ``score(s, h) = v^T tanh(W_q s + W_k h)`` (see module docstring).

    Args:
        query_dim: width of the query (decoder state) ``Dq``.
        key_dim: width of the keys (encoder annotations) ``Dk``; default ``query_dim``.
        attn_dim: width of the tanh layer (the paper's ``n'``); default ``query_dim``.
        bias: learned bias inside the tanh (not in the paper).
    """

    def __init__(
        self,
        query_dim: int,
        key_dim: int | None = None,
        attn_dim: int | None = None,
        bias: bool = False,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__()
        key_dim = query_dim if key_dim is None else key_dim
        attn_dim = query_dim if attn_dim is None else attn_dim
        for arg, v in (("query_dim", query_dim), ("key_dim", key_dim), ("attn_dim", attn_dim)):
            check_positive_int("AdditiveAttention", arg, v)
        kw = {"device": device, "dtype": dtype}
        self.query_dim, self.key_dim, self.attn_dim = query_dim, key_dim, attn_dim
        self.query_proj = Linear(query_dim, attn_dim, bias=bias, **kw)  # W_q (+ b)
        self.key_proj = Linear(key_dim, attn_dim, bias=False, **kw)  # W_k
        self.v = Linear(attn_dim, 1, bias=False, **kw)  # v^T

    def project_keys(self, key: Tensor) -> Tensor:
        """``W_k h_j`` for every key ``(B, Tk, Dk) -> (B, Tk, A)``; decoders compute it once per source."""
        return self.key_proj(key)

    def forward(
        self,
        query: Tensor,
        key: Tensor,
        value: Tensor | None = None,
        key_padding_mask: Tensor | None = None,
        projected_key: Tensor | None = None,
    ) -> tuple[Tensor, Tensor]:
        """``(context, weights)``; ``projected_key`` = :meth:`project_keys` ``(key)`` reuses that work."""
        value = key if value is None else value
        self._check(query, key, value, key_padding_mask)
        single = query.dim() == 2
        q = query.unsqueeze(1) if single else query  # (B, Tq, Dq)
        wk = self.project_keys(key) if projected_key is None else projected_key  # (B, Tk, A)
        wq = self.query_proj(q)  # (B, Tq, A)
        scores = self.v(torch.tanh(wq.unsqueeze(2) + wk.unsqueeze(1))).squeeze(
            -1
        )  # (B, Tq, Tk, A) -> (B, Tq, Tk)
        if key_padding_mask is not None:
            scores = scores.masked_fill(key_padding_mask.unsqueeze(1), float("-inf"))
            weights = masked_softmax(scores, dim=-1)
        else:
            weights = scores.softmax(dim=-1)
        context = weights @ value  # (B, Tq, Tk) @ (B, Tk, Dv) -> (B, Tq, Dv)
        return (context.squeeze(1), weights.squeeze(1)) if single else (context, weights)

    def _check(self, query: Tensor, key: Tensor, value: Tensor, mask: Tensor | None) -> None:
        name = "AdditiveAttention"
        if query.dim() not in (2, 3) or query.shape[-1] != self.query_dim:
            raise ValueError(
                f"{name}: expected query (B, {self.query_dim}) or (B, Tq, {self.query_dim}), "
                f"got {tuple(query.shape)}"
            )
        b = query.shape[0]
        if key.dim() != 3 or key.shape[0] != b or key.shape[-1] != self.key_dim:
            raise ValueError(f"{name}: expected key ({b}, Tk, {self.key_dim}), got {tuple(key.shape)}")
        if value.dim() != 3 or value.shape[:2] != key.shape[:2]:
            raise ValueError(f"{name}: expected value ({b}, {key.shape[1]}, Dv), got {tuple(value.shape)}")
        if mask is not None:
            if mask.dtype != torch.bool:
                raise TypeError(f"{name}: key_padding_mask must be bool (True = padding), got {mask.dtype}")
            if tuple(mask.shape) != tuple(key.shape[:2]):
                raise ValueError(
                    f"{name}: expected key_padding_mask of shape {tuple(key.shape[:2])}, "
                    f"got {tuple(mask.shape)}"
                )

    def extra_repr(self) -> str:
        return f"query_dim={self.query_dim}, key_dim={self.key_dim}, attn_dim={self.attn_dim}"
