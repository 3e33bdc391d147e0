"""The Transformer for translation (Vaswani et al. 2017); task ``seq2seq``.

Vaswani, Shazeer, Parmar, Uszkoreit, Jones, Gomez, Kaiser, Polosukhin, "Attention Is All You Need", NeurIPS
2017, arXiv:1706.03762. Base model (Table 3): d_model 512, 6 encoder + 6 decoder layers, 8 heads, FFN 2048,
P_drop 0.1, post-norm; big model: d_model 1024, 16 heads, FFN 4096, P_drop 0.3 (EN-DE).

    x = Dropout(sqrt(d_model) * E[src] + PE)            (sec. 3.4, 3.5: scaled embedding + sinusoids)
    y = Dropout(sqrt(d_model) * E[tgt] + PE)
    h = Transformer(x, y, tgt_mask = causal)            (dlzoo.nn.Transformer, equal to torch.nn.Transformer)
    logits = h E^T                                      (sec. 3.4: the pre-softmax projection shares E)

"We share the same weight matrix between the two embedding layers and the pre-softmax linear transformation"
(sec. 3.4; the EN-DE model used a shared source-target BPE vocabulary of about 37000 tokens, sec. 5.1). With
``share_embeddings=False`` source and target get their own tables (vocab sizes may then differ), and with
``tie_word_embeddings=False`` the output projection ``lm_head`` is its own matrix. Embeddings start at
N(0, d_model^-1/2) as in tensor2tensor and fairseq (so the scaled embedding has unit variance).

Contract (as :mod:`dlzoo.models.sequence.seq2seq`): ``forward(src_ids (B, S), tgt_ids (B, T)) -> logits
(B, T, V_tgt)``, ``tgt_ids`` being the decoder inputs (starting with BOS) and ``logits[:, t]`` scoring the
token after ``tgt_ids[:, :t + 1]`` (teacher forcing). Padded sources: pass ``src_lengths`` or
``src_key_padding_mask`` (True = pad), or set ``pad_token_id`` to mask pad tokens automatically.
``generate(src, max_new_tokens, bos_token_id, eos_token_id=None)`` -> ``(B, 1 + n)`` greedy ids starting with
BOS; after EOS a sequence is padded with EOS and decoding stops once every sequence has finished. The encoder
runs once; each step re-runs the decoder over the prefix (no KV cache).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from ...nn import Dropout, Embedding, Linear, SinusoidalPositionalEncoding
from ...nn.factory import NormSpec
from ...nn.recurrent.packed import check_lengths
from ...nn.transformer import Transformer, generate_square_subsequent_mask
from .. import register_model
from ..language.generation import check_token_ids

__all__ = ["TransformerSeq2Seq", "transformer", "transformer_big", "transformer_params"]


class TransformerSeq2Seq(nn.Module):
    """Encoder-decoder Transformer with shared embeddings and a tied output projection (module docstring)."""

    def __init__(
        self,
        src_vocab_size: int = 37000,
        tgt_vocab_size: int | None = None,
        d_model: int = 512,
        nhead: int = 8,
        num_encoder_layers: int = 6,
        num_decoder_layers: int = 6,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        activation: str = "relu",
        layer_norm_eps: float = 1e-5,
        norm_first: bool = False,
        norm_layer: NormSpec = "layernorm",
        max_len: int = 1024,
        share_embeddings: bool = True,
        tie_word_embeddings: bool = True,
        pad_token_id: int | None = None,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        tgt_vocab_size = src_vocab_size if tgt_vocab_size is None else tgt_vocab_size
        for arg, v in (
            ("src_vocab_size", src_vocab_size),
            ("tgt_vocab_size", tgt_vocab_size),
            ("d_model", d_model),
            ("max_len", max_len),
        ):
            if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
                raise ValueError(f"{name}: {arg} must be a positive int, got {v!r}")
        if share_embeddings and src_vocab_size != tgt_vocab_size:
            raise ValueError(
                f"{name}: share_embeddings=True needs one vocabulary, got src_vocab_size "
                f"{src_vocab_size} != tgt_vocab_size {tgt_vocab_size}"
            )
        if pad_token_id is not None and not 0 <= pad_token_id < min(src_vocab_size, tgt_vocab_size):
            raise ValueError(f"{name}: pad_token_id must be an id of both vocabularies, got {pad_token_id}")
        self.src_vocab_size, self.tgt_vocab_size = src_vocab_size, tgt_vocab_size
        self.d_model, self.max_len, self.pad_token_id = d_model, max_len, pad_token_id
        self.embed_scale = math.sqrt(d_model)
        self.src_embed = Embedding(src_vocab_size, d_model, padding_idx=pad_token_id)
        self.tgt_embed = (
            self.src_embed
            if share_embeddings
            else Embedding(tgt_vocab_size, d_model, padding_idx=pad_token_id)
        )
        self.pos_encoding = SinusoidalPositionalEncoding(d_model, max_len)
        self.dropout = Dropout(dropout)
        self.transformer = Transformer(
            d_model,
            nhead,
            num_encoder_layers,
            num_decoder_layers,
            dim_feedforward,
            dropout,
            activation,
            layer_norm_eps=layer_norm_eps,
            batch_first=True,
            norm_first=norm_first,
            norm_layer=norm_layer,
        )
        self.lm_head = Linear(d_model, tgt_vocab_size, bias=False)
        self._init_embeddings()
        if tie_word_embeddings:
            self.lm_head.weight = self.tgt_embed.weight  # logits = h E^T

    def _init_embeddings(self) -> None:
        """N(0, d^-1/2) rows (tensor2tensor / fairseq), padding row zero."""
        for emb in {id(m): m for m in (self.src_embed, self.tgt_embed)}.values():
            with torch.no_grad():
                emb.weight.normal_(0.0, self.d_model**-0.5)
                if emb.padding_idx is not None:
                    emb.weight[emb.padding_idx].fill_(0)

    # ------------------------------------------------------------------ pieces
    def _embed(self, embed: Embedding, ids: Tensor) -> Tensor:
        return self.dropout(self.pos_encoding(embed(ids) * self.embed_scale))  # (B, L, d)

    def _check_ids(self, ids: Tensor, vocab: int) -> None:
        check_token_ids(type(self).__name__, ids, vocab, self.max_len)

    def source_padding_mask(
        self,
        src_ids: Tensor,
        src_lengths: Tensor | Sequence[int] | None = None,
        src_key_padding_mask: Tensor | None = None,
    ) -> Tensor | None:
        """(B, S) bool, True = padding: from lengths, an explicit mask, or ``pad_token_id``; else ``None``."""
        name = type(self).__name__
        if src_lengths is not None and src_key_padding_mask is not None:
            raise ValueError(f"{name}: pass src_lengths or src_key_padding_mask, not both")
        if src_lengths is not None:
            lengths = check_lengths(name, src_lengths, src_ids.shape[0], src_ids.shape[1]).to(src_ids.device)
            return (
                torch.arange(src_ids.shape[1], device=src_ids.device)[None, :] >= lengths[:, None]
            )  # (B, S)
        if src_key_padding_mask is not None:
            if tuple(src_key_padding_mask.shape) != tuple(src_ids.shape):
                raise ValueError(
                    f"{name}: src_key_padding_mask must have the shape of src_ids "
                    f"{list(src_ids.shape)}, got {list(src_key_padding_mask.shape)}"
                )
            return src_key_padding_mask
        return src_ids == self.pad_token_id if self.pad_token_id is not None else None

    def encode(self, src_ids: Tensor, src_key_padding_mask: Tensor | None = None) -> Tensor:
        """memory (B, S, d) of the encoder stack (with its final norm)."""
        self._check_ids(src_ids, self.src_vocab_size)
        x = self._embed(self.src_embed, src_ids)
        return self.transformer.encoder(x, src_key_padding_mask=src_key_padding_mask)

    def decode(
        self,
        tgt_ids: Tensor,
        memory: Tensor,
        memory_key_padding_mask: Tensor | None = None,
        tgt_key_padding_mask: Tensor | None = None,
    ) -> Tensor:
        """logits (B, T, V_tgt) of the causal decoder over ``memory``."""
        self._check_ids(tgt_ids, self.tgt_vocab_size)
        if tgt_key_padding_mask is None and self.pad_token_id is not None:
            tgt_key_padding_mask = tgt_ids == self.pad_token_id
        T = tgt_ids.shape[1]
        y = self._embed(self.tgt_embed, tgt_ids)
        causal = generate_square_subsequent_mask(T, device=y.device, dtype=y.dtype)  # (T, T)
        h = self.transformer.decoder(
            y,
            memory,
            tgt_mask=causal,
            tgt_is_causal=True,
            tgt_key_padding_mask=tgt_key_padding_mask,
            memory_key_padding_mask=memory_key_padding_mask,
        )  # (B, T, d)
        return self.lm_head(h)  # (B, T, V)

    # ------------------------------------------------------------------ contract
    def forward(
        self,
        src_ids: Tensor,
        tgt_ids: Tensor,
        src_lengths: Tensor | Sequence[int] | None = None,
        src_key_padding_mask: Tensor | None = None,
        tgt_key_padding_mask: Tensor | None = None,
    ) -> Tensor:
        """Teacher forcing: ``(B, S), (B, T) -> (B, T, V_tgt)``."""
        self._check_ids(src_ids, self.src_vocab_size)
        self._check_ids(tgt_ids, self.tgt_vocab_size)
        if tgt_ids.shape[0] != src_ids.shape[0]:
            raise ValueError(
                f"{type(self).__name__}: src and tgt batch sizes differ: {src_ids.shape[0]} vs "
                f"{tgt_ids.shape[0]}"
            )
        pad = self.source_padding_mask(src_ids, src_lengths, src_key_padding_mask)
        memory = self.encode(src_ids, pad)
        return self.decode(
            tgt_ids, memory, memory_key_padding_mask=pad, tgt_key_padding_mask=tgt_key_padding_mask
        )

    @torch.no_grad()
    def generate(
        self,
        src: Tensor,
        max_new_tokens: int,
        bos_token_id: int,
        eos_token_id: int | None = None,
        src_lengths: Tensor | Sequence[int] | None = None,
        src_key_padding_mask: Tensor | None = None,
    ) -> Tensor:
        """Greedy decoding: ``(B, 1 + n)`` ids starting with BOS, ``n <= max_new_tokens``."""
        name = f"{type(self).__name__}.generate"
        if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or max_new_tokens < 0:
            raise ValueError(f"{name}: max_new_tokens must be an int >= 0, got {max_new_tokens!r}")
        if 1 + max_new_tokens > self.max_len:
            raise ValueError(
                f"{name}: 1 + max_new_tokens = {1 + max_new_tokens} exceeds max_len {self.max_len}"
            )
        for arg, v in (("bos_token_id", bos_token_id), ("eos_token_id", eos_token_id)):
            if v is not None and (
                isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < self.tgt_vocab_size
            ):
                raise ValueError(f"{name}: {arg} must be an id in [0, {self.tgt_vocab_size}), got {v!r}")
        self._check_ids(src, self.src_vocab_size)
        pad = self.source_padding_mask(src, src_lengths, src_key_padding_mask)
        memory = self.encode(src, pad)  # (B, S, d), once
        out = torch.full((src.shape[0], 1), bos_token_id, dtype=torch.long, device=src.device)
        unfinished = torch.ones(src.shape[0], dtype=torch.bool, device=src.device)
        for _ in range(max_new_tokens):
            token = self.decode(out, memory, memory_key_padding_mask=pad)[:, -1].argmax(-1)  # (B,)
            if eos_token_id is not None:
                token = torch.where(unfinished, token, torch.full_like(token, eos_token_id))
                unfinished &= token != eos_token_id
            out = torch.cat([out, token[:, None]], dim=1)
            if not bool(unfinished.any()):
                break
        return out


def transformer_params(vocab: int = 37000, d: int = 512, ff: int = 2048, enc: int = 6, dec: int = 6) -> int:
    """Closed-form parameter count with shared embeddings and a tied head (biases and LayerNorms included).

    attention 4 d^2 + 4 d; FFN 2 d ff + ff + d; LayerNorm 2 d. Encoder layer: attention + FFN + 2 norms;
    decoder layer: 2 attentions + FFN + 3 norms; plus the two final norms and the V x d embedding.
    """
    attn, ffn, norm = 4 * d * d + 4 * d, 2 * d * ff + ff + d, 2 * d
    return vocab * d + enc * (attn + ffn + 2 * norm) + dec * (2 * attn + ffn + 3 * norm) + 2 * norm


_CARD = dict(
    family="transformer",
    paper="Attention Is All You Need",
    year=2017,
    arxiv="1706.03762",
    input_size=(32, 32),
    test_input_size=(5, 4),
    task="seq2seq",
    test_kwargs={
        "src_vocab_size": 13,
        "d_model": 16,
        "nhead": 2,
        "num_encoder_layers": 2,
        "num_decoder_layers": 2,
        "dim_feedforward": 32,
        "max_len": 64,
    },
)
_SOURCE = (
    "closed form (transformer_params) at the paper's {} sizes (Table 3) and a shared 37000-token BPE "
    "vocabulary (EN-DE, sec. 5.1), tied output projection, torch.nn.Transformer's layout (biases, final "
    "encoder/decoder LayerNorms); the paper quotes {}M"
)


@register_model(**_CARD, reference_params=transformer_params(), source=_SOURCE.format("base", 65))
def transformer(**kwargs: Any) -> TransformerSeq2Seq:
    """Transformer base: d_model 512, 6 + 6 layers, 8 heads, FFN 2048, dropout 0.1, shared vocab 37000."""
    return TransformerSeq2Seq(**kwargs)


@register_model(
    **_CARD, reference_params=transformer_params(d=1024, ff=4096), source=_SOURCE.format("big", 213)
)
def transformer_big(**kwargs: Any) -> TransformerSeq2Seq:
    """Transformer big: d_model 1024, 6 + 6 layers, 16 heads, FFN 4096, dropout 0.3 (EN-DE)."""
    return TransformerSeq2Seq(
        **{"d_model": 1024, "nhead": 16, "dim_feedforward": 4096, "dropout": 0.3, **kwargs}
    )
