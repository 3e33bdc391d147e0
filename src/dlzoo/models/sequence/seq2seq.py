"""Recurrent encoder-decoders with teacher forcing, greedy and beam-search decoding; task ``seq2seq``.

* :class:`Seq2Seq` -- Sutskever, Vinyals, Le, "Sequence to Sequence Learning with Neural Networks", NeurIPS
  2014, arXiv:1409.3215: a deep LSTM reads the *reversed* source; its final ``(h, c)`` of every layer starts
  a deep LSTM decoder, ``p(y_t | y_<t, x) = softmax(W h_t + b)``.
* :class:`Seq2SeqAttention` -- Bahdanau, Cho, Bengio, "Neural Machine Translation by Jointly Learning to
  Align and Translate", ICLR 2015, arXiv:1409.0473: bidirectional GRU annotations ``h_j = [fwd_j; bwd_j]``;
  decoder ``s_0 = tanh(W_s bwd_1)``, and per step

      c_i = sum_j alpha_ij h_j,  alpha_i = softmax_j(v^T tanh(W_q s_{i-1} + W_k h_j))   (AdditiveAttention)
      s_i = GRU([E y_{i-1}; c_i], s_{i-1}),   logits_i = W_o [s_i; c_i; E y_{i-1}] + b_o

  (the paper's deep output has a maxout layer; here it is one linear layer over the same three inputs).

Contract: ``forward(src_ids (B, S), tgt_ids (B, T), src_lengths=None) -> logits (B, T, V_tgt)``, where
``tgt_ids`` are the decoder inputs (starting with BOS) and ``logits[:, t]`` scores the token after
``tgt_ids[:, :t + 1]`` (teacher forcing). ``src_lengths`` (one int per sequence) marks padded sources: the
encoder runs with ``lengths=`` and attention ignores the padding. ``generate(src, max_new_tokens,
bos_token_id, eos_token_id=None, num_beams=1)`` -> ``(B, 1 + n)`` ids starting with BOS; after EOS a sequence
is padded with EOS. Beam search keeps the ``num_beams`` best-scoring (sum of log-probabilities) prefixes each
step, moves those ending in EOS to the finished set, stops when no prefix can beat the best finished one, and
returns the best; ``num_beams=1`` is greedy decoding, and a beam of ``V ** max_new_tokens`` is exhaustive.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from ...nn import GRU, LSTM, AdditiveAttention, Dropout, GRUCell, Linear
from ...nn.recurrent.packed import check_lengths
from .. import register_model
from ..language.generation import check_token_ids
from .rnn import rnn_params

__all__ = ["Seq2Seq", "Seq2SeqAttention", "seq2seq", "seq2seq_attention"]


class _EncoderDecoder(nn.Module):
    """Teacher forcing and decoding shared by both models. Subclasses define ``encode(src, lengths) ->
    (state, memory)``, ``decode(tgt, state, memory) -> (logits (B, T, V), state)`` and
    ``select(state, memory, index)`` (reorder / repeat along the batch)."""

    src_vocab_size: int
    tgt_vocab_size: int

    def _lengths(self, src: Tensor, src_lengths) -> Tensor | None:
        name = type(self).__name__
        check_token_ids(name, src, self.src_vocab_size)
        return None if src_lengths is None else check_lengths(name, src_lengths, src.shape[0], src.shape[1])

    def forward(self, src_ids: Tensor, tgt_ids: Tensor, src_lengths=None) -> Tensor:
        """Teacher forcing: ``(B, S), (B, T) -> (B, T, V_tgt)``."""
        lengths = self._lengths(src_ids, src_lengths)
        check_token_ids(type(self).__name__, tgt_ids, self.tgt_vocab_size)
        if tgt_ids.shape[0] != src_ids.shape[0]:
            raise ValueError(
                f"{type(self).__name__}: src and tgt batch sizes differ: {src_ids.shape[0]} vs "
                f"{tgt_ids.shape[0]}"
            )
        state, memory = self.encode(src_ids, lengths)
        return self.decode(tgt_ids, state, memory)[0]

    @torch.no_grad()
    def generate(
        self,
        src: Tensor,
        max_new_tokens: int,
        bos_token_id: int,
        eos_token_id: int | None = None,
        num_beams: int = 1,
        src_lengths=None,
    ) -> Tensor:
        """Greedy (``num_beams=1``) or beam-search decoding; ``(B, 1 + n)`` ids, ``n <= max_new_tokens``."""
        name = f"{type(self).__name__}.generate"
        lengths = self._lengths(src, src_lengths)
        for arg, v, lo in (("max_new_tokens", max_new_tokens, 0), ("num_beams", num_beams, 1)):
            if isinstance(v, bool) or not isinstance(v, int) or v < lo:
                raise ValueError(f"{name}: {arg} must be an int >= {lo}, got {v!r}")
        for arg, v in (("bos_token_id", bos_token_id), ("eos_token_id", eos_token_id)):
            if v is not None and (
                isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < self.tgt_vocab_size
            ):
                raise ValueError(f"{name}: {arg} must be an id in [0, {self.tgt_vocab_size}), got {v!r}")
        state, memory = self.encode(src, lengths)
        if num_beams == 1:
            return self._greedy(
                state, memory, src.shape[0], max_new_tokens, bos_token_id, eos_token_id, src.device
            )
        rows = []
        for b in range(src.shape[0]):
            index = torch.tensor([b], device=src.device)
            rows.append(
                self._beam(
                    *self.select(state, memory, index),
                    max_new_tokens,
                    bos_token_id,
                    eos_token_id,
                    num_beams,
                    src.device,
                )
            )
        width = max(len(r) for r in rows)
        pad = bos_token_id if eos_token_id is None else eos_token_id
        return torch.tensor([r + [pad] * (width - len(r)) for r in rows], dtype=torch.long, device=src.device)

    def _greedy(self, state, memory, batch: int, steps: int, bos: int, eos: int | None, device) -> Tensor:
        out = torch.full((batch, 1), bos, dtype=torch.long, device=device)
        unfinished = torch.ones(batch, dtype=torch.bool, device=device)
        for _ in range(steps):
            logits, state = self.decode(out[:, -1:], state, memory)
            token = logits[:, -1].argmax(-1)  # (B,)
            if eos is not None:
                token = torch.where(unfinished, token, torch.full_like(token, eos))
                unfinished &= token != eos
            out = torch.cat([out, token[:, None]], 1)
            if not bool(unfinished.any()):
                break
        return out

    def _beam(self, state, memory, steps: int, bos: int, eos: int | None, beams: int, device) -> list[int]:
        """Beam search for one source (state/memory of batch 1); returns the best id list (BOS first)."""
        alive: list[tuple[float, list[int]]] = [(0.0, [bos])]
        finished: list[tuple[float, list[int]]] = []
        vocab = self.tgt_vocab_size
        for _ in range(steps):
            last = torch.tensor([[seq[-1]] for _, seq in alive], device=device)  # (K, 1)
            logits, state = self.decode(last, state, memory)
            logp = logits[:, -1].double().log_softmax(-1)  # (K, V)
            scores = torch.tensor([s for s, _ in alive], dtype=torch.float64, device=device)
            cand = (scores[:, None] + logp).flatten()  # (K * V,)
            top = cand.topk(min(beams, cand.numel()))
            keep, new_alive = [], []
            for score, flat in zip(top.values.tolist(), top.indices.tolist()):
                beam, token = divmod(flat, vocab)
                hyp = (score, alive[beam][1] + [token])
                if eos is not None and token == eos:
                    finished.append(hyp)
                else:
                    keep.append(beam)
                    new_alive.append(hyp)
            alive = new_alive
            if not alive:
                break
            if finished and max(s for s, _ in finished) >= alive[0][0]:
                break  # continuations only lose log-probability: no alive prefix can win any more
            state, memory = self.select(state, memory, torch.tensor(keep, device=device))
        return max(finished + alive, key=lambda h: h[0])[1]


def _reverse_within(src: Tensor, lengths: Tensor | None) -> Tensor:
    """Reverse each row's first ``lengths[b]`` tokens (all of them when ``lengths`` is None)."""
    if lengths is None:
        return src.flip(1)
    t = torch.arange(src.shape[1], device=src.device)[None]  # (1, S)
    n = lengths.to(src.device)[:, None]  # (B, 1)
    return src.gather(1, torch.where(t < n, n - 1 - t, t))


class Seq2Seq(_EncoderDecoder):
    """Sutskever et al. 2014 deep-LSTM encoder-decoder (see module docstring)."""

    def __init__(
        self,
        src_vocab_size: int = 160_000,
        tgt_vocab_size: int = 80_000,
        embed_dim: int = 1000,
        hidden_size: int = 1000,
        num_layers: int = 4,
        dropout: float = 0.0,
        reverse_source: bool = True,
    ) -> None:
        super().__init__()
        self.src_vocab_size, self.tgt_vocab_size, self.reverse_source = (
            src_vocab_size,
            tgt_vocab_size,
            reverse_source,
        )
        self.src_embed = nn.Embedding(src_vocab_size, embed_dim)
        self.tgt_embed = nn.Embedding(tgt_vocab_size, embed_dim)
        self.encoder = LSTM(embed_dim, hidden_size, num_layers, batch_first=True, dropout=dropout)
        self.decoder = LSTM(embed_dim, hidden_size, num_layers, batch_first=True, dropout=dropout)
        self.drop = Dropout(dropout)
        self.head = Linear(hidden_size, tgt_vocab_size)

    def encode(self, src: Tensor, lengths: Tensor | None = None):
        if self.reverse_source:
            src = _reverse_within(src, lengths)
        _, state = self.encoder(self.drop(self.src_embed(src)), lengths=lengths)  # (h, c): (L, B, H) each
        return state, None

    def decode(self, tgt: Tensor, state, memory):
        out, state = self.decoder(self.drop(self.tgt_embed(tgt)), state)  # (B, T, H)
        return self.head(self.drop(out)), state

    def select(self, state, memory, index: Tensor):
        return tuple(s.index_select(1, index) for s in state), memory


class Seq2SeqAttention(_EncoderDecoder):
    """Bahdanau et al. 2015 RNNsearch: bidirectional GRU encoder, additive attention, GRU decoder."""

    def __init__(
        self,
        src_vocab_size: int = 30_000,
        tgt_vocab_size: int = 30_000,
        embed_dim: int = 620,
        hidden_size: int = 1000,
        attn_dim: int = 1000,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.src_vocab_size, self.tgt_vocab_size = src_vocab_size, tgt_vocab_size
        h = hidden_size
        self.src_embed = nn.Embedding(src_vocab_size, embed_dim)
        self.tgt_embed = nn.Embedding(tgt_vocab_size, embed_dim)
        self.encoder = GRU(embed_dim, h, batch_first=True, bidirectional=True)
        self.init_state = Linear(h, h)  # W_s: s_0 = tanh(W_s bwd_1)
        self.attention = AdditiveAttention(h, 2 * h, attn_dim)
        self.decoder = GRUCell(embed_dim + 2 * h, h)
        self.drop = Dropout(dropout)
        self.head = Linear(h + 2 * h + embed_dim, tgt_vocab_size)

    def encode(self, src: Tensor, lengths: Tensor | None = None):
        annotations, h_n = self.encoder(
            self.drop(self.src_embed(src)), lengths=lengths
        )  # (B, S, 2H), (2, B, H)
        s0 = torch.tanh(self.init_state(h_n[1]))  # (B, H): from the backward state at the first source token
        mask = None
        if lengths is not None:
            mask = (
                torch.arange(src.shape[1], device=src.device)[None] >= lengths.to(src.device)[:, None]
            )  # (B, S)
        return s0, (annotations, self.attention.project_keys(annotations), mask)

    def decode(self, tgt: Tensor, state: Tensor, memory):
        annotations, keys, mask = memory
        emb = self.drop(self.tgt_embed(tgt))  # (B, T, E)
        logits = []
        for t in range(tgt.shape[1]):
            context, _ = self.attention(
                state, annotations, key_padding_mask=mask, projected_key=keys
            )  # (B, 2H)
            state = self.decoder(torch.cat([emb[:, t], context], -1), state)  # (B, H)
            logits.append(self.head(self.drop(torch.cat([state, context, emb[:, t]], -1))))
        return torch.stack(logits, 1), state  # (B, T, V)

    def select(self, state: Tensor, memory, index: Tensor):
        return state.index_select(0, index), tuple(
            None if m is None else m.index_select(0, index) for m in memory
        )


def _seq2seq_count(vs: int = 160_000, vt: int = 80_000, e: int = 1000, h: int = 1000, layers: int = 4) -> int:
    return (vs + vt) * e + 2 * rnn_params("lstm", e, h, layers) + (h + 1) * vt


def _attention_count(vs: int = 30_000, vt: int = 30_000, e: int = 620, h: int = 1000, a: int = 1000) -> int:
    gru_cell = 3 * h * (e + 2 * h + h + 2)
    return (
        (vs + vt) * e
        + rnn_params("gru", e, h, 1, True)
        + (h + 1) * h
        + (h + 2 * h) * a
        + a
        + gru_cell
        + (3 * h + e + 1) * vt
    )


@register_model(
    family="seq2seq",
    paper="Sequence to Sequence Learning with Neural Networks",
    year=2014,
    arxiv="1409.3215",
    input_size=(20, 20),
    test_input_size=(5, 4),
    task="seq2seq",
    reference_params=_seq2seq_count(),
    source="paper's config (160k/80k vocab, 1000-d embeddings, 4x1000 LSTM each side; the paper "
    "quotes 384M): (160000+80000)*1000 + 2*4*[4*1000*(1000+1000+2)] + (1000+1)*80000",
    test_kwargs={
        "src_vocab_size": 13,
        "tgt_vocab_size": 11,
        "embed_dim": 8,
        "hidden_size": 12,
        "num_layers": 2,
    },
)
def seq2seq(**kwargs: Any) -> Seq2Seq:
    """The paper's 4-layer, 1000-cell LSTM encoder-decoder (reversed source)."""
    return Seq2Seq(**kwargs)


@register_model(
    family="seq2seq",
    paper="Neural Machine Translation by Jointly Learning to Align and Translate",
    year=2015,
    arxiv="1409.0473",
    input_size=(20, 20),
    test_input_size=(5, 4),
    task="seq2seq",
    reference_params=_attention_count(),
    source="closed form at the paper's sizes (30k vocabs, 620-d embeddings, 1000 units, attention "
    "1000; one linear deep output instead of the paper's maxout): embeddings + biGRU "
    "2*3*1000*(620+1000+2) + W_s + W_q, W_k, v + GRUCell(620+2000, 1000) + head (3000+620+1)*30k",
    test_kwargs={
        "src_vocab_size": 13,
        "tgt_vocab_size": 11,
        "embed_dim": 8,
        "hidden_size": 12,
        "attn_dim": 10,
    },
)
def seq2seq_attention(**kwargs: Any) -> Seq2SeqAttention:
    """RNNsearch at the paper's sizes; pass small sizes to train here."""
    return Seq2SeqAttention(**kwargs)
