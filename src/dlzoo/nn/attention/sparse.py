"""Multi-head self-attention restricted to a Sparse Transformer pattern.

Child, Gray, Radford, Sutskever, "Generating Long Sequences with Sparse Transformers", 2019,
arXiv:1904.10509, Sec. 5 "Factorized attention heads". With the patterns' components A^(1..p)
(:mod:`.sparse_patterns`) and attend(X, S) = (softmax(q_i K_S^T / sqrt(d)) V_S)_i, the paper offers three
ways to combine them, all selected by ``mode``:

* ``"merged"`` (default): every head attends the union,  attn(X) = W_p attend(X, U_m A^(m))
* ``"heads"``: head h attends component h mod p; the heads are concatenated as usual (the paper's
  multi-head variant, the patterns distributed over the heads).
* ``"interleaved"``: one component per residual block, attn(X) = W_p attend(X, A^(r mod p)) with r the
  block index ``layer_idx``; a stack alternates the components layer by layer.

Each of these is *exactly* dense attention with a boolean mask (the pattern, shape (T, T) or one per head),
and that is how it runs here: projections, heads and out-projection are :class:`.MultiheadAttention`'s
(``torch.nn.MultiheadAttention``'s parameter names ``in_proj_weight``, ``in_proj_bias``, ``out_proj``, so its
weights load as they are), the pattern is the ``attn_mask``. Memory is the dense O(T^2); the paper's speed-up
needs block-sparse kernels, which this reference does not claim. A query with no allowed key (possible only
for the causal summary-column component alone) gets a zero output.

The "deep learning from scratch" catalog's ``SparseMultiHeadAttention`` adds the outputs of two separately
normalised softmaxes (diagonal blocks and columns); that is not one of the paper's combinations, so it is
not reproduced: ``pattern="fixed", summary=1`` with ``mode="merged"`` is the union of the same two patterns
under one softmax.

Shapes (as ``MultiheadAttention``): query ``(T, N, E)``, or ``(N, T, E)`` with ``batch_first=True``; key and
value default to the query (self-attention) and must have its length T. Output ``(T, N, E)`` or
``(N, T, E)``, weights ``(N, T, T)`` (or ``(N, H, T, T)``) when ``need_weights``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..channel_affine import check_positive_int
from .multihead import MultiheadAttention
from .sparse_patterns import PATTERNS, pattern_components

__all__ = ["SparseMultiheadAttention"]

_MODES = ("merged", "heads", "interleaved")


class SparseMultiheadAttention(MultiheadAttention):
    """Multi-head self-attention under a factorised sparse pattern (see the module docstring).

    Args:
        embed_dim, num_heads, dropout, bias, batch_first, device, dtype: as ``torch.nn.MultiheadAttention``.
        pattern: ``"strided"``, ``"fixed"``, ``"local"``, ``"diagonal_block"``, ``"column_block"`` or
            ``"dense"`` (:data:`.sparse_patterns.PATTERNS`).
        stride: l, the stride / block size (strided, fixed, diagonal_block, column_block; also the default
            ``window`` of local).
        window: width of the local band.
        summary: c, the summary positions per block of ``fixed`` (columns per block of ``column_block``).
        causal: autoregressive patterns (j <= i); False gives the bidirectional variants.
        mode: ``"merged"``, ``"heads"`` or ``"interleaved"`` (how the components combine).
        layer_idx: the residual block index r for ``mode="interleaved"`` (component r mod p).
    """

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        pattern: str = "strided",
        stride: int | None = None,
        window: int | None = None,
        summary: int = 1,
        causal: bool = True,
        mode: str = "merged",
        layer_idx: int = 0,
        dropout: float = 0.0,
        bias: bool = True,
        batch_first: bool = False,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        name = type(self).__name__
        if mode not in _MODES:
            raise ValueError(f"{name}: mode must be one of {list(_MODES)}, got {mode!r}")
        if isinstance(layer_idx, bool) or not isinstance(layer_idx, int) or layer_idx < 0:
            raise ValueError(f"{name}: layer_idx must be an int >= 0, got {layer_idx!r}")
        super().__init__(embed_dim, num_heads, dropout=dropout, bias=bias, batch_first=batch_first,
                         device=device, dtype=dtype)
        self.pattern = PATTERNS.resolve(pattern)
        self.stride = None if stride is None else check_positive_int(name, "stride", stride)
        self.window = None if window is None else check_positive_int(name, "window", window)
        self.summary = check_positive_int(name, "summary", summary)
        self.causal = causal
        self.mode = mode
        self.layer_idx = layer_idx
        pattern_components(self.pattern, 1, self.stride, self.window, self.summary, causal)  # validate now

    def pattern_mask(self, seq_len: int, device: torch.device | str | None = None) -> Tensor:
        """The keep-mask (True = attend) this layer applies: (T, T), or (H, T, T) with ``mode="heads"``."""
        comps = pattern_components(self.pattern, seq_len, self.stride, self.window, self.summary, self.causal,
                                   device)
        if self.mode == "merged":
            keep = comps[0]
            for c in comps[1:]:
                keep = keep | c
            return keep  # (T, T): U_m A^(m)
        if self.mode == "interleaved":
            return comps[self.layer_idx % len(comps)]  # (T, T): A^(r mod p)
        return torch.stack([comps[h % len(comps)] for h in range(self.num_heads)])  # (H, T, T)

    def forward(
        self,
        query: Tensor,
        key: Tensor | None = None,
        value: Tensor | None = None,
        key_padding_mask: Tensor | None = None,
        need_weights: bool = True,
        attn_mask: Tensor | None = None,
        average_attn_weights: bool = True,
    ) -> tuple[Tensor, Tensor | None]:
        """``(output, weights)``; ``attn_mask`` (T, T) or (N*H, T, T), bool True = blocked or float, is
        combined with the pattern (MultiheadAttention's convention)."""
        key = query if key is None else key
        value = key if value is None else value
        name = type(self).__name__
        t_dim = 1 if (self.batch_first and query.dim() == 3) else 0
        if query.dim() not in (2, 3) or key.dim() != query.dim() or key.shape[t_dim] != query.shape[t_dim]:
            raise ValueError(f"{name}: self-attention over one sequence: query and key need the same rank "
                             f"(2 or 3) and length, got {list(query.shape)} and {list(key.shape)}")
        seq_len = query.shape[t_dim]
        keep = self.pattern_mask(seq_len, query.device)  # (T, T) or (H, T, T)
        if keep.dim() == 3:
            n = query.shape[1 - t_dim] if query.dim() == 3 else 1
            keep = keep.repeat(n, 1, 1)  # (N*H, T, T), index n*H + h as MultiheadAttention expects
        blocked = ~keep
        if attn_mask is None:
            mask = blocked
        elif attn_mask.dtype == torch.bool:
            mask = blocked | attn_mask
        else:
            mask = torch.where(blocked, float("-inf"), attn_mask)
        return super().forward(query, key, value, key_padding_mask=key_padding_mask,
                               need_weights=need_weights, attn_mask=mask,
                               average_attn_weights=average_attn_weights)

    def extra_repr(self) -> str:
        return (f"{super().extra_repr()}, pattern={self.pattern!r}, stride={self.stride}, "
                f"window={self.window}, summary={self.summary}, causal={self.causal}, mode={self.mode!r}, "
                f"layer_idx={self.layer_idx}")
