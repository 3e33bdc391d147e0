"""Dot-product attention without projections: the parameter-free kernel of every attention layer.

Luong, Pham, Manning, "Effective Approaches to Attention-based Neural Machine Translation", EMNLP 2015,
arXiv:1508.04025 (the "dot" score q . k); Vaswani et al., "Attention Is All You Need", NeurIPS 2017,
arXiv:1706.03762, eq. 1 (the scaled form); as in d2l's and "deep learning from scratch"'s
``DotProductAttention``:

    a(q, k) = q . k / sqrt(d)          (scaled=True; q . k with scaled=False)
    alpha   = softmax over the keys that are not masked
    out     = dropout(alpha) V

Shapes: queries ``(B, Lq, d)``, keys ``(B, S, d)``, values ``(B, S, dv)`` (any number of leading batch dims
``*``) -> output ``(B, Lq, dv)`` and weights ``(B, Lq, S)`` (softmax probabilities, before dropout, as d2l
keeps them). Masks, all optional and combined:

* ``valid_lens`` (d2l): ``(B,)`` -- query rows of example b see keys ``0 .. valid_lens[b] - 1`` -- or
  ``(B, Lq)``, one length per query.
* ``key_padding_mask`` ``(B, S)`` bool, True = padding (ignored), as ``torch.nn.MultiheadAttention``.
* ``is_causal``: query i sees keys j <= i.

A query that sees no key (``valid_lens`` 0, all padding) gets zero weights and a zero output with zero
gradients, as torch's SDPA returns (not d2l's uniform weights over -1e6 scores, nor a plain softmax's NaN).
The weights are computed explicitly (they are returned); with ``need_weights=False`` the fused torch SDPA
kernel runs instead (outside :func:`dlzoo.reference_mode`).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..mode import use_fused
from ..regularization import Dropout
from .multihead import masked_softmax

__all__ = ["DotProductAttention", "valid_lens_mask"]


def valid_lens_mask(valid_lens: Tensor, num_queries: int, num_keys: int) -> Tensor:
    """Bool keep-mask (True = attend) of shape ``(B, Lq, S)`` from d2l's ``valid_lens`` (B,) or (B, Lq)."""
    if valid_lens.dim() == 1:
        valid_lens = valid_lens[:, None].expand(-1, num_queries)  # (B,) -> (B, Lq)
    keys = torch.arange(num_keys, device=valid_lens.device)  # (S,)
    return keys[None, None, :] < valid_lens[:, :, None]  # (B, Lq, S)


class DotProductAttention(nn.Module):
    """(Scaled) dot-product attention over given queries, keys and values (see the module docstring).

    Args:
        dropout: dropout probability on the attention weights while training.
        scaled: divide the scores by sqrt(d) (Vaswani et al.); False is Luong's plain dot score.
    """

    def __init__(self, dropout: float = 0.0, scaled: bool = True) -> None:
        super().__init__()
        self.dropout = Dropout(dropout)  # validates p in [0, 1]
        self.scaled = scaled

    def forward(
        self,
        queries: Tensor,
        keys: Tensor,
        values: Tensor,
        valid_lens: Tensor | None = None,
        key_padding_mask: Tensor | None = None,
        is_causal: bool = False,
        need_weights: bool = True,
    ) -> tuple[Tensor, Tensor | None]:
        """``(output, weights)``: ``(*, Lq, dv)`` and ``(*, Lq, S)`` (None with ``need_weights=False``)."""
        keep = self._keep_mask(queries, keys, values, valid_lens, key_padding_mask, is_causal)
        d = queries.shape[-1]
        scale = 1.0 / math.sqrt(d) if self.scaled else 1.0
        if not need_weights and use_fused():
            p = self.dropout.p if self.training else 0.0
            out = F.scaled_dot_product_attention(queries, keys, values, attn_mask=keep, dropout_p=p,
                                                 scale=scale)
            return out, None
        scores = (queries @ keys.transpose(-2, -1)) * scale  # (*, Lq, d) @ (*, d, S) -> (*, Lq, S)
        if keep is None:
            weights = scores.softmax(dim=-1)
        else:
            weights = masked_softmax(scores.masked_fill(~keep, float("-inf")), dim=-1)  # blocked rows -> 0
        out = self.dropout(weights) @ values  # (*, Lq, S) @ (*, S, dv) -> (*, Lq, dv)
        return out, (weights if need_weights else None)

    def _keep_mask(
        self,
        q: Tensor,
        k: Tensor,
        v: Tensor,
        valid_lens: Tensor | None,
        key_padding_mask: Tensor | None,
        is_causal: bool,
    ) -> Tensor | None:
        """Validate the inputs; the combined bool keep-mask broadcastable to ``(*, Lq, S)`` or None."""
        name = "DotProductAttention"
        if q.dim() < 2 or k.dim() != q.dim() or v.dim() != q.dim():
            raise ValueError(f"{name}: expected queries (*, Lq, d), keys (*, S, d), values (*, S, dv) of "
                             f"equal rank, got {list(q.shape)}, {list(k.shape)}, {list(v.shape)}")
        if q.shape[-1] != k.shape[-1]:
            raise ValueError(f"{name}: queries and keys need the same width d, got {list(q.shape)} and "
                             f"{list(k.shape)}")
        if k.shape[:-1] != v.shape[:-1] or q.shape[:-2] != k.shape[:-2]:
            raise ValueError(f"{name}: batch dims and key/value lengths must match, got queries "
                             f"{list(q.shape)}, keys {list(k.shape)}, values {list(v.shape)}")
        lq, s = q.shape[-2], k.shape[-2]
        keep = None
        if valid_lens is not None:
            if q.dim() != 3:
                raise ValueError(f"{name}: valid_lens needs 3-d inputs (B, Lq, d), got queries "
                                 f"{list(q.shape)}")
            b = q.shape[0]
            if valid_lens.shape not in ((b,), (b, lq)) or valid_lens.is_floating_point():
                raise ValueError(f"{name}: valid_lens must be an integer tensor of shape ({b},) or "
                                 f"({b}, {lq}), got {valid_lens.dtype} {list(valid_lens.shape)}")
            keep = valid_lens_mask(valid_lens.to(q.device), lq, s)  # (B, Lq, S)
        if key_padding_mask is not None:
            if key_padding_mask.dtype != torch.bool:
                raise TypeError(f"{name}: key_padding_mask must be bool (True = padding), got "
                                f"{key_padding_mask.dtype}")
            if tuple(key_padding_mask.shape) != (*q.shape[:-2], s):
                raise ValueError(f"{name}: key_padding_mask must have shape {[*q.shape[:-2], s]}, got "
                                 f"{list(key_padding_mask.shape)}")
            pad = ~key_padding_mask.unsqueeze(-2)  # (*, 1, S)
            keep = pad if keep is None else keep & pad
        if is_causal:
            causal = torch.ones(lq, s, dtype=torch.bool, device=q.device).tril()  # (Lq, S): j <= i
            keep = causal if keep is None else keep & causal
        return keep

    def extra_repr(self) -> str:
        return f"dropout={self.dropout.p}, scaled={self.scaled}"
