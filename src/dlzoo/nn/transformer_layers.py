"""Transformer encoder and decoder layers, mirroring ``torch.nn.TransformerEncoderLayer`` / ``DecoderLayer``.

Vaswani, Shazeer, Parmar, Uszkoreit, Jones, Gomez, Kaiser, Polosukhin, "Attention Is All You Need",
NeurIPS 2017, arXiv:1706.03762, sec. 3.1-3.3. Each sub-layer is wrapped in a residual connection and a norm:

    post-norm (the paper, ``norm_first=False``):  x = Norm(x + Dropout(Sublayer(x)))
    pre-norm (Xiong et al. 2020, arXiv:2002.04745, ``norm_first=True``):  x = x + Dropout(Sublayer(Norm(x)))

    encoder layer: Sublayer_1 = self-attention MultiHead(x, x, x), Sublayer_2 = FFN
    decoder layer: self-attention (usually causal), cross-attention MultiHead(x, memory, memory), FFN
    FFN(x) = W_2 Dropout(act(W_1 x + b_1)) + b_2        (eq. 2, act = ReLU in the paper)

Shapes: ``src``/``tgt`` ``(S, N, E)`` (``batch_first=False``), ``(N, S, E)`` (``batch_first=True``) or
``(S, E)`` unbatched -> same shape. Masks follow ``torch.nn.MultiheadAttention``: bool True = blocked, float
masks are added to the scores; ``attn_mask`` ``(L, S)`` or ``(N * nhead, L, S)``, ``key_padding_mask``
``(N, S)`` (``(S,)`` unbatched).

Arguments, defaults, parameter names (``self_attn.in_proj_weight``, ``linear1``, ``norm1``, ...) and the RNG
order of the initialisation are torch's, so ``ours.load_state_dict(torch_layer.state_dict())`` works and
``torch.manual_seed`` gives both the same weights. Additions: ``activation`` may be any name of dlzoo's
activation registry (torch knows "relu" and "gelu"), and ``norm_layer`` (keyword-only; a dlzoo norm name,
class or partial, default LayerNorm with ``layer_norm_eps`` and ``bias``) swaps in e.g. DyT. Unlike torch, an
``is_causal=True`` hint without a mask builds the causal mask instead of raising.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch
from torch import Tensor, nn

from .attention import MultiheadAttention
from .create_act import get_act_layer
from .factory import NormSpec, get_norm_layer
from .linear import Linear
from .regularization import Dropout

__all__ = ["TransformerEncoderLayer", "TransformerDecoderLayer", "ActivationSpec"]

ActivationSpec = str | Callable[..., Tensor] | type[nn.Module] | functools.partial


def resolve_activation(activation: ActivationSpec) -> Callable[[Tensor], Tensor]:
    """A registered name, a layer class or a partial of one -> a module; a unary callable stays as it is."""
    if isinstance(activation, str):
        return get_act_layer(activation)()
    func = activation.func if isinstance(activation, functools.partial) else activation
    if isinstance(func, type) and issubclass(func, nn.Module):  # a layer class or a partial of one
        return activation()
    if callable(activation):
        return activation
    raise TypeError(
        f"Transformer layer: activation must be a name, an nn.Module class or a unary callable, "
        f"got {type(activation).__name__} {activation!r}"
    )


def make_norm(
    norm_layer: NormSpec,
    d_model: int,
    eps: float,
    bias: bool,
    device: torch.device | str | None,
    dtype: torch.dtype | None,
) -> nn.Module:
    """One norm over ``d_model`` features; LayerNorm gets torch's ``eps`` and ``bias``, RMSNorm ``eps``."""
    defaults = {"layernorm": {"eps": eps, "bias": bias}, "rmsnorm": {"eps": eps}}
    norm = get_norm_layer(norm_layer, defaults=defaults)(d_model)
    if device is not None or dtype is not None:
        norm = norm.to(device=device, dtype=dtype)
    return norm


def check_sequence(layer: str, name: str, x: Tensor, d_model: int) -> None:
    """``x`` must be (S, E) or 3-d with E == d_model."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{layer}: {name} must be a Tensor, got {type(x).__name__}")
    if x.dim() not in (2, 3) or x.shape[-1] != d_model:
        raise ValueError(
            f"{layer}: expected {name} of shape (S, N, {d_model}), (N, S, {d_model}) or "
            f"(S, {d_model}), got {list(x.shape)}"
        )


class _FeedForwardMixin:
    """FFN(x) = linear2(dropout(act(linear1(x)))) (eq. 2), shared by both layers."""

    def _ff_block(self, x: Tensor) -> Tensor:
        x = self.linear2(self.dropout(self.activation(self.linear1(x))))  # (*, E) -> (*, F) -> (*, E)
        return self.ff_dropout(x)


class TransformerEncoderLayer(_FeedForwardMixin, nn.Module):
    """Self-attention + feed-forward, each with residual and norm (see module docstring)."""

    def __init__(
        self,
        d_model: int,
        nhead: int,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        activation: ActivationSpec = "relu",
        layer_norm_eps: float = 1e-5,
        batch_first: bool = False,
        norm_first: bool = False,
        bias: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        *,
        norm_layer: NormSpec = "layernorm",
    ) -> None:
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        self.self_attn = MultiheadAttention(
            d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first, **factory
        )
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, **factory)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, **factory)
        self.norm_first = norm_first
        self.norm1 = make_norm(norm_layer, d_model, layer_norm_eps, bias, device, dtype)
        self.norm2 = make_norm(norm_layer, d_model, layer_norm_eps, bias, device, dtype)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.activation = resolve_activation(activation)

    @property
    def ff_dropout(self) -> nn.Module:
        return self.dropout2

    def forward(
        self,
        src: Tensor,
        src_mask: Tensor | None = None,
        src_key_padding_mask: Tensor | None = None,
        is_causal: bool = False,
    ) -> Tensor:
        check_sequence(type(self).__name__, "src", src, self.self_attn.embed_dim)
        x = src
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            x = x + self._ff_block(self.norm2(x))
        else:
            x = self.norm1(x + self._sa_block(x, src_mask, src_key_padding_mask, is_causal))
            x = self.norm2(x + self._ff_block(x))
        return x

    def _sa_block(
        self, x: Tensor, attn_mask: Tensor | None, key_padding_mask: Tensor | None, is_causal: bool
    ) -> Tensor:
        x = self.self_attn(
            x,
            x,
            x,
            attn_mask=attn_mask,
            key_padding_mask=key_padding_mask,
            need_weights=False,
            is_causal=is_causal,
        )[0]
        return self.dropout1(x)


class TransformerDecoderLayer(_FeedForwardMixin, nn.Module):
    """Self-attention, cross-attention over ``memory``, feed-forward; residual + norm each."""

    def __init__(
        self,
        d_model: int,
        nhead: int,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        activation: ActivationSpec = "relu",
        layer_norm_eps: float = 1e-5,
        batch_first: bool = False,
        norm_first: bool = False,
        bias: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        *,
        norm_layer: NormSpec = "layernorm",
    ) -> None:
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        self.self_attn = MultiheadAttention(
            d_model, nhead, dropout=dropout, batch_first=batch_first, bias=bias, **factory
        )
        self.multihead_attn = MultiheadAttention(
            d_model, nhead, dropout=dropout, batch_first=batch_first, bias=bias, **factory
        )
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, **factory)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, **factory)
        self.norm_first = norm_first
        self.norm1 = make_norm(norm_layer, d_model, layer_norm_eps, bias, device, dtype)
        self.norm2 = make_norm(norm_layer, d_model, layer_norm_eps, bias, device, dtype)
        self.norm3 = make_norm(norm_layer, d_model, layer_norm_eps, bias, device, dtype)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.dropout3 = Dropout(dropout)
        self.activation = resolve_activation(activation)

    @property
    def ff_dropout(self) -> nn.Module:
        return self.dropout3

    def forward(
        self,
        tgt: Tensor,
        memory: Tensor,
        tgt_mask: Tensor | None = None,
        memory_mask: Tensor | None = None,
        tgt_key_padding_mask: Tensor | None = None,
        memory_key_padding_mask: Tensor | None = None,
        tgt_is_causal: bool = False,
        memory_is_causal: bool = False,
    ) -> Tensor:
        name, d_model = type(self).__name__, self.self_attn.embed_dim
        check_sequence(name, "tgt", tgt, d_model)
        check_sequence(name, "memory", memory, d_model)
        if memory.dim() != tgt.dim():
            raise ValueError(
                f"{name}: tgt {list(tgt.shape)} and memory {list(memory.shape)} must both be "
                f"batched (3-d) or both unbatched (2-d)"
            )
        x = tgt
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), tgt_mask, tgt_key_padding_mask, tgt_is_causal)
            x = x + self._mha_block(
                self.norm2(x), memory, memory_mask, memory_key_padding_mask, memory_is_causal
            )
            x = x + self._ff_block(self.norm3(x))
        else:
            x = self.norm1(x + self._sa_block(x, tgt_mask, tgt_key_padding_mask, tgt_is_causal))
            x = self.norm2(
                x + self._mha_block(x, memory, memory_mask, memory_key_padding_mask, memory_is_causal)
            )
            x = self.norm3(x + self._ff_block(x))
        return x

    def _sa_block(
        self, x: Tensor, attn_mask: Tensor | None, key_padding_mask: Tensor | None, is_causal: bool
    ) -> Tensor:
        x = self.self_attn(
            x,
            x,
            x,
            attn_mask=attn_mask,
            key_padding_mask=key_padding_mask,
            is_causal=is_causal,
            need_weights=False,
        )[0]
        return self.dropout1(x)

    def _mha_block(
        self,
        x: Tensor,
        mem: Tensor,
        attn_mask: Tensor | None,
        key_padding_mask: Tensor | None,
        is_causal: bool,
    ) -> Tensor:
        x = self.multihead_attn(
            x,
            mem,
            mem,
            attn_mask=attn_mask,
            key_padding_mask=key_padding_mask,
            is_causal=is_causal,
            need_weights=False,
        )[0]
        return self.dropout2(x)
