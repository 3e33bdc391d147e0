"""Scaled dot-product attention and multi-head attention.

Vaswani et al., "Attention Is All You Need", NeurIPS 2017, arXiv:1706.03762, eq. 1 and sec. 3.2.2:

    Attention(Q, K, V) = softmax(Q K^T / sqrt(d_k) + M) V
    MultiHead(Q, K, V) = Concat(head_1, ..., head_h) W^O,  head_i = Attention(Q W_i^Q, K W_i^K, V W_i^V)

``M`` is an additive mask (0 = attend, -inf = blocked). Boolean masks follow torch: for
:func:`scaled_dot_product_attention` True means *take part*; for :class:`MultiheadAttention`'s
``attn_mask``/``key_padding_mask`` True means *blocked*. A query whose keys are all blocked gets all-zero
attention weights and a zero output (and zero gradients), as torch's SDPA kernels return on CPU, not the
NaN of a plain softmax over -inf (:func:`masked_softmax`). torch's ``nn.MultiheadAttention`` still returns
NaN for such rows when ``need_weights=True``; ours returns zeros on every path.

* :func:`scaled_dot_product_attention` mirrors ``torch.nn.functional.scaled_dot_product_attention``;
  shapes ``q (*, L, E)``, ``k (*, S, E)``, ``v (*, S, Ev)`` -> ``(*, L, Ev)``.
* :class:`MultiheadAttention` mirrors ``torch.nn.MultiheadAttention`` (arguments, parameter names,
  init and RNG order, return values).
* :class:`Attention` is the ViT self-attention block (Dosovitskiy et al. 2021, arXiv:2010.11929) with
  timm's key names ``qkv`` (fused Q/K/V projection) and ``proj``; shapes ``(B, N, C)`` -> ``(B, N, C)``.

The fused torch kernel runs by default where the math is the same; under :func:`dlzoo.reference_mode`
the explicit softmax(QK^T/sqrt(d) + M)V does.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..factory import NormSpec, get_norm_layer
from ..linear import Identity, Linear
from ..mode import use_fused
from ..regularization import Dropout

__all__ = ["scaled_dot_product_attention", "attention_weights", "masked_softmax", "MultiheadAttention",
           "Attention"]


def _additive_bias(
    attn_mask: Tensor | None, is_causal: bool, L: int, S: int, dtype: torch.dtype, device: torch.device
) -> Tensor | None:
    """The additive mask M of eq. 1: bool masks (True = attend) become 0 / -inf; float masks are added."""
    bias = None
    if is_causal:
        if attn_mask is not None:
            raise ValueError("scaled_dot_product_attention: pass attn_mask or is_causal=True, not both")
        keep = torch.ones(L, S, dtype=torch.bool, device=device).tril()  # (L, S), query i sees keys <= i
        bias = torch.zeros(L, S, dtype=dtype, device=device).masked_fill(~keep, float("-inf"))
    elif attn_mask is not None:
        if attn_mask.dtype == torch.bool:
            bias = torch.zeros(attn_mask.shape, dtype=dtype, device=device)
            bias = bias.masked_fill(~attn_mask, float("-inf"))
        else:
            bias = attn_mask.to(dtype)
    return bias


def masked_softmax(scores: Tensor, dim: int = -1) -> Tensor:
    """softmax over ``dim``, with rows that are entirely -inf (every key blocked) set to zero.

    The blocked rows' scores are replaced by 0 *before* the softmax, so neither the forward nor the backward
    ever sees NaN (a plain softmax gives NaN there, and masking its output afterwards still sends NaN into
    the gradient). torch's SDPA kernels (math, flash) return 0 for such rows as well (``aten._safe_softmax``).
    """
    blocked = (scores == float("-inf")).all(dim=dim, keepdim=True)  # no data-dependent branch (compile)
    probs = scores.masked_fill(blocked, 0.0).softmax(dim=dim)
    return probs.masked_fill(blocked, 0.0)


def attention_weights(
    query: Tensor,
    key: Tensor,
    attn_mask: Tensor | None = None,
    is_causal: bool = False,
    scale: float | None = None,
) -> Tensor:
    """softmax(Q K^T * scale + M) of shape ``(*, L, S)`` (the attention probabilities, no dropout).

    A query with every key blocked gets a row of zeros (:func:`masked_softmax`)."""
    L, S = query.shape[-2], key.shape[-2]
    scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else scale
    scores = (query @ key.transpose(-2, -1)) * scale  # (*, L, E) @ (*, E, S) -> (*, L, S)
    bias = _additive_bias(attn_mask, is_causal, L, S, query.dtype, query.device)
    if bias is None:
        return scores.softmax(dim=-1)
    return masked_softmax(scores + bias, dim=-1)


def _check_qkv(query: Tensor, key: Tensor, value: Tensor, enable_gqa: bool, attn_mask: Tensor | None = None,
               dropout_p: float = 0.0) -> None:
    name = "scaled_dot_product_attention"
    if not 0.0 <= dropout_p <= 1.0:
        raise ValueError(f"{name}: dropout_p must be in [0, 1], got {dropout_p}")
    if query.dim() < 2 or key.dim() != query.dim() or value.dim() != query.dim():
        raise ValueError(f"{name}: expected q (*, L, E), k (*, S, E), v (*, S, Ev) of equal rank, got "
                         f"{list(query.shape)}, {list(key.shape)}, {list(value.shape)}")
    if query.shape[-1] != key.shape[-1] or key.shape[-2] != value.shape[-2]:
        raise ValueError(f"{name}: q/k feature sizes or k/v lengths differ: q {list(query.shape)}, "
                         f"k {list(key.shape)}, v {list(value.shape)}")
    if not enable_gqa and (query.shape[:-2] != key.shape[:-2] or key.shape[:-2] != value.shape[:-2]):
        raise ValueError(f"{name}: batch/head dims differ: q {list(query.shape)}, k {list(key.shape)}, "
                         f"v {list(value.shape)} (pass enable_gqa=True for grouped-query attention)")
    if attn_mask is not None:
        if attn_mask.dtype != torch.bool and not torch.is_floating_point(attn_mask):
            raise TypeError(f"{name}: attn_mask must be bool (True = attend) or float (added to the scores), "
                            f"got {attn_mask.dtype}")
        scores_shape = (*query.shape[:-1], key.shape[-2])  # (*, L, S)
        try:
            broadcast = torch.broadcast_shapes(attn_mask.shape, scores_shape)
        except RuntimeError:
            broadcast = None
        if broadcast != torch.Size(scores_shape):
            raise ValueError(f"{name}: attn_mask of shape {list(attn_mask.shape)} does not broadcast to the "
                             f"scores' shape {list(scores_shape)} (*, L, S)")


def scaled_dot_product_attention(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    attn_mask: Tensor | None = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
    enable_gqa: bool = False,
) -> Tensor:
    """softmax(Q K^T / sqrt(E) + M) V, mirroring ``torch.nn.functional.scaled_dot_product_attention``.

    ``attn_mask`` broadcasts to ``(*, L, S)``: bool (True = attend) or float (added to the scores).
    ``is_causal`` applies a lower-triangular mask. ``dropout_p`` drops attention probabilities (always,
    as in torch: pass 0.0 in eval). ``enable_gqa`` repeats K/V heads (dim -3) to match Q's heads.
    """
    _check_qkv(query, key, value, enable_gqa, attn_mask, dropout_p)
    if use_fused():
        return F.scaled_dot_product_attention(query, key, value, attn_mask=attn_mask, dropout_p=dropout_p,
                                              is_causal=is_causal, scale=scale, enable_gqa=enable_gqa)
    if enable_gqa and key.shape[-3] != query.shape[-3]:
        groups = query.shape[-3] // key.shape[-3]
        key = key.repeat_interleave(groups, dim=-3)  # (*, Hk, S, E) -> (*, Hq, S, E)
        value = value.repeat_interleave(groups, dim=-3)
    attn = attention_weights(query, key, attn_mask, is_causal, scale)  # (*, L, S)
    if dropout_p > 0.0:
        attn = F.dropout(attn, dropout_p, training=True)
    return attn @ value  # (*, L, S) @ (*, S, Ev) -> (*, L, Ev)


def _xavier_uniform_(t: Tensor) -> None:
    # Glorot & Bengio 2010: U(-a, a), a = sqrt(6 / (fan_in + fan_out)); same float ops as torch.nn.init
    fan_in, fan_out = t.shape[1] * t[0][0].numel(), t.shape[0] * t[0][0].numel()
    std = math.sqrt(2.0 / float(fan_in + fan_out))
    a = math.sqrt(3.0) * std
    t.uniform_(-a, a)


def _xavier_normal_(t: Tensor) -> None:
    fan_in, fan_out = t.shape[1] * t[0][0].numel(), t.shape[0] * t[0][0].numel()
    t.normal_(0.0, math.sqrt(2.0 / float(fan_in + fan_out)))


def _float_mask(mask: Tensor | None, dtype: torch.dtype, name: str) -> Tensor | None:
    """MHA convention: bool True = blocked -> -inf; float masks are added as they are."""
    if mask is None:
        return None
    if mask.dtype == torch.bool:
        return torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill(mask, float("-inf"))
    if not torch.is_floating_point(mask):
        raise TypeError(f"MultiheadAttention: {name} must be bool or float, got {mask.dtype}")
    return mask.to(dtype)


class MultiheadAttention(nn.Module):
    """Multi-head attention (mirrors ``torch.nn.MultiheadAttention``; see module docstring).

    Shapes (``batch_first=False``): query ``(L, N, E)``, key ``(S, N, kdim)``, value ``(S, N, vdim)``
    -> output ``(L, N, E)`` and weights ``(N, L, S)`` (or ``(N, H, L, S)`` with
    ``average_attn_weights=False``). Unbatched inputs drop the N dim. ``batch_first=True`` puts N first.
    """

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        dropout: float = 0.0,
        bias: bool = True,
        add_bias_kv: bool = False,
        add_zero_attn: bool = False,
        kdim: int | None = None,
        vdim: int | None = None,
        batch_first: bool = False,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        if embed_dim <= 0 or num_heads <= 0 or embed_dim % num_heads:
            raise ValueError(f"MultiheadAttention: embed_dim ({embed_dim}) must be a positive multiple of "
                             f"num_heads ({num_heads})")
        factory = {"device": device, "dtype": dtype}
        self.embed_dim = embed_dim
        self.kdim = kdim if kdim is not None else embed_dim
        self.vdim = vdim if vdim is not None else embed_dim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.num_heads = num_heads
        self.dropout = dropout
        self.batch_first = batch_first
        self.head_dim = embed_dim // num_heads
        if self._qkv_same_embed_dim:
            self.in_proj_weight = nn.Parameter(torch.empty((3 * embed_dim, embed_dim), **factory))
            for name in ("q_proj_weight", "k_proj_weight", "v_proj_weight"):
                self.register_parameter(name, None)
        else:
            self.q_proj_weight = nn.Parameter(torch.empty((embed_dim, embed_dim), **factory))
            self.k_proj_weight = nn.Parameter(torch.empty((embed_dim, self.kdim), **factory))
            self.v_proj_weight = nn.Parameter(torch.empty((embed_dim, self.vdim), **factory))
            self.register_parameter("in_proj_weight", None)
        if bias:
            self.in_proj_bias = nn.Parameter(torch.empty(3 * embed_dim, **factory))
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = Linear(embed_dim, embed_dim, bias=bias, **factory)
        if add_bias_kv:
            self.bias_k = nn.Parameter(torch.empty((1, 1, embed_dim), **factory))
            self.bias_v = nn.Parameter(torch.empty((1, 1, embed_dim), **factory))
        else:
            self.bias_k = self.bias_v = None
        self.add_zero_attn = add_zero_attn
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        """torch's init, in torch's RNG order: xavier_uniform on projections, zero biases."""
        with torch.no_grad():
            if self._qkv_same_embed_dim:
                _xavier_uniform_(self.in_proj_weight)
            else:
                for w in (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight):
                    _xavier_uniform_(w)
            if self.in_proj_bias is not None:
                self.in_proj_bias.zero_()
                self.out_proj.bias.zero_()
            if self.bias_k is not None:
                _xavier_normal_(self.bias_k)
                _xavier_normal_(self.bias_v)

    def _projection_weights(self) -> tuple[Tensor, Tensor, Tensor]:
        if self._qkv_same_embed_dim:
            return self.in_proj_weight.chunk(3)  # 3 x (E, E): W^Q, W^K, W^V stacked
        return self.q_proj_weight, self.k_proj_weight, self.v_proj_weight

    def _check(self, query: Tensor, key: Tensor, value: Tensor) -> bool:
        batched = query.dim() == 3
        if query.dim() not in (2, 3) or key.dim() != query.dim() or value.dim() != query.dim():
            raise ValueError(f"MultiheadAttention: expected 3-d (batched) or 2-d query/key/value, "
                             f"got {list(query.shape)}, {list(key.shape)}, {list(value.shape)}")
        sizes = (("query", query, self.embed_dim), ("key", key, self.kdim), ("value", value, self.vdim))
        for name, t, d in sizes:
            if t.shape[-1] != d:
                raise ValueError(f"MultiheadAttention: expected {name} feature size {d}, "
                                 f"got shape {list(t.shape)}")
        if key.shape[:-1] != value.shape[:-1]:
            raise ValueError(f"MultiheadAttention: key {list(key.shape)} and value {list(value.shape)} "
                             f"must have the same sequence/batch dims")
        return batched

    def forward(
        self,
        query: Tensor,
        key: Tensor,
        value: Tensor,
        key_padding_mask: Tensor | None = None,
        need_weights: bool = True,
        attn_mask: Tensor | None = None,
        average_attn_weights: bool = True,
        is_causal: bool = False,
    ) -> tuple[Tensor, Tensor | None]:
        batched = self._check(query, key, value)
        is_self_attention = query is key and key is value  # checked before the views below
        if not batched:  # (L, E) -> (L, 1, E) in the (L, N, E) layout
            query, key, value = query.unsqueeze(1), key.unsqueeze(1), value.unsqueeze(1)
            if key_padding_mask is not None:
                key_padding_mask = key_padding_mask.unsqueeze(0)
        elif self.batch_first:  # (N, L, E) -> (L, N, E)
            query, key, value = query.transpose(0, 1), key.transpose(0, 1), value.transpose(0, 1)
        L, N, E = query.shape
        S, H, D = key.shape[0], self.num_heads, self.head_dim
        dtype = query.dtype
        if is_causal and attn_mask is None:  # torch requires the mask with the hint; we build it
            attn_mask = torch.ones(L, S, dtype=torch.bool, device=query.device).triu(1)
        mask = _float_mask(attn_mask, dtype, "attn_mask")
        kpm = _float_mask(key_padding_mask, dtype, "key_padding_mask")
        if mask is not None:
            expected = [(L, S), (N * H, L, S)]
            if tuple(mask.shape) not in expected:
                raise ValueError(f"MultiheadAttention: attn_mask must have shape {expected}, "
                                 f"got {list(mask.shape)}")
            mask = mask.view(1, 1, L, S) if mask.dim() == 2 else mask.view(N, H, L, S)
        if kpm is not None and tuple(kpm.shape) != (N, S):
            raise ValueError(f"MultiheadAttention: key_padding_mask must have shape {[N, S]}, "
                             f"got {list(kpm.shape)}")

        # input projections Q W^Q + b_q, K W^K + b_k, V W^V + b_v
        w_q, w_k, w_v = self._projection_weights()
        b_q, b_k, b_v = self.in_proj_bias.chunk(3) if self.in_proj_bias is not None else (None, None, None)
        if use_fused() and self._qkv_same_embed_dim and is_self_attention:
            # self-attention: one (L, N, E) x (E, 3E) product, as torch does, then split
            q, k, v = F.linear(query, self.in_proj_weight, self.in_proj_bias).chunk(3, dim=-1)
        else:
            q = F.linear(query, w_q, b_q) if use_fused() else query @ w_q.t() + (0 if b_q is None else b_q)
            k = F.linear(key, w_k, b_k) if use_fused() else key @ w_k.t() + (0 if b_k is None else b_k)
            v = F.linear(value, w_v, b_v) if use_fused() else value @ w_v.t() + (0 if b_v is None else b_v)

        if self.bias_k is not None:  # one learned extra key/value position: S -> S + 1
            k = torch.cat([k, self.bias_k.expand(1, N, E)], dim=0)
            v = torch.cat([v, self.bias_v.expand(1, N, E)], dim=0)
            mask = F.pad(mask, (0, 1)) if mask is not None else None
            kpm = F.pad(kpm, (0, 1)) if kpm is not None else None
        q = q.reshape(L, N, H, D).permute(1, 2, 0, 3)  # (L, N, E) -> (N, H, L, D)
        k = k.reshape(k.shape[0], N, H, D).permute(1, 2, 0, 3)  # (N, H, S', D)
        v = v.reshape(v.shape[0], N, H, D).permute(1, 2, 0, 3)
        if self.add_zero_attn:  # one all-zero key/value position
            k = torch.cat([k, k.new_zeros(N, H, 1, D)], dim=2)
            v = torch.cat([v, v.new_zeros(N, H, 1, D)], dim=2)
            mask = F.pad(mask, (0, 1)) if mask is not None else None
            kpm = F.pad(kpm, (0, 1)) if kpm is not None else None
        if kpm is not None:
            kpm = kpm.view(N, 1, 1, kpm.shape[-1])  # (N, S') -> (N, 1, 1, S'), broadcast over heads/queries
            mask = kpm if mask is None else mask + kpm
        dropout_p = self.dropout if self.training else 0.0

        if need_weights or not use_fused():
            attn = attention_weights(q, k, mask)  # (N, H, L, S')
            if dropout_p > 0.0:
                attn = F.dropout(attn, dropout_p, training=True)
            out = attn @ v  # (N, H, L, D)
        else:
            attn = None
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p)
        out = out.permute(2, 0, 1, 3).reshape(L, N, E)  # (N, H, L, D) -> (L, N, E): Concat(heads)
        out = self.out_proj(out)  # Concat(heads) W^O + b_o

        if not batched:
            out = out.squeeze(1)
        elif self.batch_first:
            out = out.transpose(0, 1)  # (L, N, E) -> (N, L, E)
        if not need_weights:
            return out, None
        if average_attn_weights:
            attn = attn.mean(dim=1)  # (N, L, S')
        return out, (attn.squeeze(0) if not batched else attn)

    def extra_repr(self) -> str:
        return f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, batch_first={self.batch_first}"


class Attention(nn.Module):
    """ViT multi-head self-attention with a fused ``qkv`` projection (timm's ``Attention`` key names).

    x (B, N, C) -> qkv (B, N, 3C) -> q, k, v (B, H, N, C/H) -> softmax(q k^T / sqrt(C/H)) v -> proj.
    ``qk_norm`` optionally normalizes q and k per head (Dehghani et al. 2023, arXiv:2302.05442).
    """

    def __init__(
        self,
        dim: int,
        num_heads: int = 8,
        qkv_bias: bool = True,
        qk_norm: bool = False,
        proj_bias: bool = True,
        attn_drop: float = 0.0,
        proj_drop: float = 0.0,
        norm_layer: NormSpec = "layernorm",
    ) -> None:
        super().__init__()
        if dim <= 0 or num_heads <= 0 or dim % num_heads:
            raise ValueError(f"Attention: dim ({dim}) must be a positive multiple of num_heads ({num_heads})")
        self.dim = dim
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = self.head_dim**-0.5
        self.qkv = Linear(dim, dim * 3, bias=qkv_bias)
        make_norm = get_norm_layer(norm_layer)
        self.q_norm = make_norm(self.head_dim) if qk_norm else Identity()
        self.k_norm = make_norm(self.head_dim) if qk_norm else Identity()
        self.attn_drop = Dropout(attn_drop)
        self.proj = Linear(dim, dim, bias=proj_bias)
        self.proj_drop = Dropout(proj_drop)

    def forward(self, x: Tensor, attn_mask: Tensor | None = None) -> Tensor:
        if x.dim() != 3 or x.shape[-1] != self.dim:
            raise ValueError(f"Attention: expected input (B, N, {self.dim}), got shape {list(x.shape)}")
        B, N, C = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.num_heads, self.head_dim)  # (B, N, 3, H, D)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # 3 x (B, H, N, D)
        q, k = self.q_norm(q), self.k_norm(k)
        if use_fused():
            p = self.attn_drop.p if self.training else 0.0
            x = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=p)
        else:
            attn = attention_weights(q, k, attn_mask, scale=self.scale)  # (B, H, N, N)
            x = self.attn_drop(attn) @ v  # (B, H, N, D)
        x = x.transpose(1, 2).reshape(B, N, C)  # (B, H, N, D) -> (B, N, C)
        return self.proj_drop(self.proj(x))
