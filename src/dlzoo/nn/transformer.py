"""The Transformer encoder-decoder, mirroring ``torch.nn.Transformer`` and its encoder and decoder stacks.

Vaswani et al., "Attention Is All You Need", NeurIPS 2017, arXiv:1706.03762, sec. 3.1 and fig. 1:

    memory = Norm_enc(EncoderLayer_N(... EncoderLayer_1(src)))          (the encoder stack)
    out    = Norm_dec(DecoderLayer_N(... DecoderLayer_1(tgt, memory)))  (each layer attends to ``memory``)

The final norms are torch's (``encoder_norm``/``decoder_norm``, stored as ``encoder.norm``/``decoder.norm``).
The layers are in :mod:`dlzoo.nn.transformer_layers`. Shapes (``batch_first=False``): ``src (S, N, E)``,
``tgt (T, N, E)`` -> ``(T, N, E)``; ``batch_first=True`` puts N first; unbatched ``(S, E)``, ``(T, E)``.
Masks: ``src_mask (S, S)``, ``tgt_mask (T, T)``, ``memory_mask (T, S)`` (or ``(N * nhead, ., .)``),
``*_key_padding_mask (N, S|T)``; bool True = blocked, float masks are added (see ``torch.nn.Transformer``).

State_dict keys, arguments and the initialisation (layers cloned by deepcopy, then xavier_uniform on every
matrix, in torch's RNG order) are torch's. ``enable_nested_tensor`` and ``mask_check`` are accepted; dlzoo
never converts to nested tensors, so padded positions are computed like the others (torch's inference path
returns 0 there before the final norm). ``norm_layer`` (keyword-only, a dlzoo norm spec) swaps the norms.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import Tensor, nn

from .factory import NormSpec
from .transformer_layers import (
    ActivationSpec,
    TransformerDecoderLayer,
    TransformerEncoderLayer,
    check_sequence,
    make_norm,
)

__all__ = [
    "Transformer",
    "TransformerEncoder",
    "TransformerDecoder",
    "TransformerEncoderLayer",
    "TransformerDecoderLayer",
    "generate_square_subsequent_mask",
]


def generate_square_subsequent_mask(
    sz: int, device: torch.device | str | None = None, dtype: torch.dtype | None = None
) -> Tensor:
    """Causal mask (sz, sz): 0 on and below the diagonal, -inf above (query i sees keys j <= i)."""
    if isinstance(sz, bool) or not isinstance(sz, int) or sz < 0:
        raise ValueError(f"generate_square_subsequent_mask: sz must be a non-negative int, got {sz!r}")
    return torch.triu(torch.full((sz, sz), float("-inf"), dtype=dtype, device=device), diagonal=1)


def _detect_is_causal_mask(mask: Tensor | None, is_causal: bool | None, size: int) -> bool:
    """torch's rule: an explicit hint wins; with ``None``, a mask equal to the causal mask is causal."""
    if is_causal is not None:
        return bool(is_causal)
    if mask is None or tuple(mask.shape) != (size, size):
        return False
    causal = (
        generate_square_subsequent_mask(size, device=mask.device, dtype=mask.dtype)
        if mask.dtype != torch.bool
        else torch.ones(size, size, dtype=torch.bool, device=mask.device).triu(1)
    )
    return bool((mask == causal).all())


def _seq_len(x: Tensor, batch_first: bool) -> int:
    return x.shape[0] if x.dim() == 2 else x.shape[1 if batch_first else 0]


def _clones(module: nn.Module, n: int) -> nn.ModuleList:
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"Transformer stack: num_layers must be a non-negative int, got {n!r}")
    return nn.ModuleList([copy.deepcopy(module) for _ in range(n)])


class TransformerEncoder(nn.Module):
    """A stack of ``num_layers`` deep copies of ``encoder_layer``, then ``norm`` (if given)."""

    def __init__(
        self,
        encoder_layer: nn.Module,
        num_layers: int,
        norm: nn.Module | None = None,
        enable_nested_tensor: bool = True,
        mask_check: bool = True,
    ) -> None:
        super().__init__()
        self.layers = _clones(encoder_layer, num_layers)
        self.num_layers = num_layers
        self.norm = norm
        self.enable_nested_tensor = enable_nested_tensor
        self.use_nested_tensor = False  # dlzoo computes every position (see module docstring)
        self.mask_check = mask_check

    def forward(
        self,
        src: Tensor,
        mask: Tensor | None = None,
        src_key_padding_mask: Tensor | None = None,
        is_causal: bool | None = None,
    ) -> Tensor:
        first = self.layers[0] if len(self.layers) else None
        batch_first = getattr(getattr(first, "self_attn", None), "batch_first", False)
        is_causal = _detect_is_causal_mask(mask, is_causal, _seq_len(src, batch_first))
        output = src
        for layer in self.layers:
            output = layer(
                output, src_mask=mask, src_key_padding_mask=src_key_padding_mask, is_causal=is_causal
            )
        return self.norm(output) if self.norm is not None else output


class TransformerDecoder(nn.Module):
    """A stack of ``num_layers`` deep copies of ``decoder_layer``, then ``norm`` (if given)."""

    def __init__(self, decoder_layer: nn.Module, num_layers: int, norm: nn.Module | None = None) -> None:
        super().__init__()
        self.layers = _clones(decoder_layer, num_layers)
        self.num_layers = num_layers
        self.norm = norm

    def forward(
        self,
        tgt: Tensor,
        memory: Tensor,
        tgt_mask: Tensor | None = None,
        memory_mask: Tensor | None = None,
        tgt_key_padding_mask: Tensor | None = None,
        memory_key_padding_mask: Tensor | None = None,
        tgt_is_causal: bool | None = None,
        memory_is_causal: bool = False,
    ) -> Tensor:
        first = self.layers[0] if len(self.layers) else None
        batch_first = getattr(getattr(first, "self_attn", None), "batch_first", False)
        tgt_is_causal = _detect_is_causal_mask(tgt_mask, tgt_is_causal, _seq_len(tgt, batch_first))
        output = tgt
        for layer in self.layers:
            output = layer(
                output,
                memory,
                tgt_mask=tgt_mask,
                memory_mask=memory_mask,
                tgt_key_padding_mask=tgt_key_padding_mask,
                memory_key_padding_mask=memory_key_padding_mask,
                tgt_is_causal=tgt_is_causal,
                memory_is_causal=memory_is_causal,
            )
        return self.norm(output) if self.norm is not None else output


class Transformer(nn.Module):
    """Encoder-decoder Transformer (mirrors ``torch.nn.Transformer``; see module docstring).

    Defaults are the paper's base model: d_model 512, 8 heads, 6 + 6 layers, FFN 2048, dropout 0.1, ReLU.
    """

    def __init__(
        self,
        d_model: int = 512,
        nhead: int = 8,
        num_encoder_layers: int = 6,
        num_decoder_layers: int = 6,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        activation: ActivationSpec = "relu",
        custom_encoder: Any | None = None,
        custom_decoder: Any | None = None,
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
        layer_args = (
            d_model,
            nhead,
            dim_feedforward,
            dropout,
            activation,
            layer_norm_eps,
            batch_first,
            norm_first,
            bias,
            device,
            dtype,
        )
        if custom_encoder is not None:
            self.encoder = custom_encoder
        else:
            encoder_layer = TransformerEncoderLayer(*layer_args, norm_layer=norm_layer)
            encoder_norm = make_norm(norm_layer, d_model, layer_norm_eps, bias, device, dtype)
            self.encoder = TransformerEncoder(encoder_layer, num_encoder_layers, encoder_norm)
        if custom_decoder is not None:
            self.decoder = custom_decoder
        else:
            decoder_layer = TransformerDecoderLayer(*layer_args, norm_layer=norm_layer)
            decoder_norm = make_norm(norm_layer, d_model, layer_norm_eps, bias, device, dtype)
            self.decoder = TransformerDecoder(decoder_layer, num_decoder_layers, decoder_norm)
        self._reset_parameters()
        self.d_model = d_model
        self.nhead = nhead
        self.batch_first = batch_first

    def _reset_parameters(self) -> None:
        """xavier_uniform (Glorot & Bengio 2010) on every parameter with more than one dim, as torch."""
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)

    def _check(self, src: Tensor, tgt: Tensor) -> None:
        name = type(self).__name__
        check_sequence(name, "src", src, self.d_model)
        check_sequence(name, "tgt", tgt, self.d_model)
        if src.dim() != tgt.dim():
            raise ValueError(
                f"{name}: src {list(src.shape)} and tgt {list(tgt.shape)} must both be batched (3-d) "
                f"or both unbatched (2-d)"
            )
        batch_dim = 0 if self.batch_first else 1
        if src.dim() == 3 and src.shape[batch_dim] != tgt.shape[batch_dim]:
            layout = "(N, S, E)" if self.batch_first else "(S, N, E)"
            raise ValueError(
                f"{name}: the batch sizes of src {list(src.shape)} and tgt {list(tgt.shape)} differ "
                f"(layout {layout}, batch_first={self.batch_first})"
            )

    def forward(
        self,
        src: Tensor,
        tgt: Tensor,
        src_mask: Tensor | None = None,
        tgt_mask: Tensor | None = None,
        memory_mask: Tensor | None = None,
        src_key_padding_mask: Tensor | None = None,
        tgt_key_padding_mask: Tensor | None = None,
        memory_key_padding_mask: Tensor | None = None,
        src_is_causal: bool | None = None,
        tgt_is_causal: bool | None = None,
        memory_is_causal: bool = False,
    ) -> Tensor:
        self._check(src, tgt)
        memory = self.encoder(
            src, mask=src_mask, src_key_padding_mask=src_key_padding_mask, is_causal=src_is_causal
        )
        return self.decoder(
            tgt,
            memory,
            tgt_mask=tgt_mask,
            memory_mask=memory_mask,
            tgt_key_padding_mask=tgt_key_padding_mask,
            memory_key_padding_mask=memory_key_padding_mask,
            tgt_is_causal=tgt_is_causal,
            memory_is_causal=memory_is_causal,
        )

    @staticmethod
    def generate_square_subsequent_mask(
        sz: int, device: torch.device | str | None = None, dtype: torch.dtype | None = None
    ) -> Tensor:
        """Causal float mask (sz, sz): 0 on and below the diagonal, -inf above."""
        return generate_square_subsequent_mask(sz, device=device, dtype=dtype)
