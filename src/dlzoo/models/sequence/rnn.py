"""Recurrent sequence classifiers and a recurrent language model, over any of dlzoo's RNN / LSTM / GRU.

* Elman, "Finding Structure in Time", Cognitive Science 14, 1990 (``cell="rnn"``);
  Hochreiter & Schmidhuber, "Long Short-Term Memory", Neural Computation 9, 1997 (``cell="lstm"``);
  Cho et al., "Learning Phrase Representations using RNN Encoder-Decoder", EMNLP 2014, arXiv:1406.1078
  (``cell="gru"``). Equations in :mod:`dlzoo.nn.recurrent.cells`.
* :class:`RNNClassifier`: input ``(B, T, F)`` (the digits read as 8 rows of 8 pixels) -> recurrent outputs
  ``(B, T, D * H)`` (``forward_features``) -> the last step of the forward direction concatenated with the
  first step of the reverse one (each direction's final state; ``(B, D * H)`` = ``num_features``) ->
  dropout -> ``Linear`` (``forward_head``). ``model(x, lengths=...)`` classifies a padded batch: the
  RNN runs with ``lengths=`` and the forward direction is read at each sequence's last valid step.
* :class:`RNNLM` (Mikolov et al., "Recurrent neural network based language model", Interspeech 2010):
  ids ``(B, T)`` -> embedding -> RNN -> dropout -> ``Linear`` head (optionally tied to the embedding, Press &
  Wolf, "Using the Output Embedding to Improve Language Models", EACL 2017, arXiv:1608.05859) -> logits
  ``(B, T, V)``. ``generate`` is :class:`~dlzoo.models.language.generation.GenerationMixin`'s; its "cache" is
  the recurrent state, so each cached step feeds one token.

Parameter counts (``G`` = 1 / 4 / 3 gates for rnn / lstm / gru, biases on): a layer with input ``I`` and
hidden ``H`` holds ``D * G * H * (I + H + 2)`` (torch.nn.RNN/LSTM/GRU's layout), layer ``l > 0`` has
``I = D * H``; the classifier head ``(D * H + 1) * C``; the LM adds ``V * E`` (embedding) and ``H * V + V``
(head; only ``V`` more when tied).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from ...nn import GRU, LSTM, RNN, Dropout, Linear, create_fc
from ...nn.classifier import check_num_classes
from .. import register_model
from .._base import ClassifierMixin
from ..language.generation import GenerationMixin, check_token_ids

__all__ = ["RNNClassifier", "RNNLM", "RecurrentCache", "make_rnn", "rnn_params"]

_CELLS = {"rnn": (RNN, 1), "lstm": (LSTM, 4), "gru": (GRU, 3)}


def make_rnn(cell: str, input_size: int, hidden_size: int, owner: str, **kwargs: Any) -> nn.Module:
    """dlzoo's ``RNN`` (tanh) / ``LSTM`` / ``GRU`` by name, ``batch_first=True``."""
    if cell not in _CELLS:
        raise ValueError(f"{owner}: cell must be one of {sorted(_CELLS)}, got {cell!r}")
    return _CELLS[cell][0](input_size, hidden_size, batch_first=True, **kwargs)


def rnn_params(
    cell: str, input_size: int, hidden_size: int, num_layers: int = 1, bidirectional: bool = False
) -> int:
    """Closed-form parameter count of torch.nn's RNN/LSTM/GRU with biases (see module docstring)."""
    d, g = 2 if bidirectional else 1, _CELLS[cell][1]
    return sum(
        d * g * hidden_size * ((input_size if i == 0 else d * hidden_size) + hidden_size + 2)
        for i in range(num_layers)
    )


class RNNClassifier(ClassifierMixin, nn.Module):
    """Sequence classifier: RNN over ``(B, T, F)`` -> final states -> ``Linear`` (see module docstring)."""

    classifier_name = "fc"

    def __init__(
        self,
        num_classes: int = 10,
        in_features: int = 8,
        hidden_size: int = 64,
        num_layers: int = 1,
        cell: str = "lstm",
        bidirectional: bool = False,
        dropout: float = 0.0,
        drop_rate: float = 0.0,
    ) -> None:
        super().__init__()
        self.num_classes = check_num_classes(num_classes)
        self.in_features, self.hidden_size, self.cell = in_features, hidden_size, cell
        self.bidirectional = bidirectional
        self.rnn = make_rnn(
            cell,
            in_features,
            hidden_size,
            "RNNClassifier",
            num_layers=num_layers,
            dropout=dropout,
            bidirectional=bidirectional,
        )
        self.num_features = hidden_size * (2 if bidirectional else 1)
        self.head_drop = Dropout(drop_rate)
        self.fc = create_fc(self.num_features, num_classes)

    def forward_features(self, x: Tensor, lengths=None) -> Tensor:
        """``(B, T, F) -> (B, T, D * H)``: the top layer's outputs at every step (zero past ``lengths``)."""
        if x.dim() != 3 or x.shape[-1] != self.in_features:
            raise ValueError(
                f"RNNClassifier: expected input (B, T, {self.in_features}), got {tuple(x.shape)}"
            )
        return self.rnn(x, lengths=lengths)[0]

    def forward_head(self, x: Tensor, pre_logits: bool = False, lengths=None) -> Tensor:
        """Pool the final state of each direction (the forward one at step ``lengths - 1``, default the last
        step), then the logits layer."""
        h = self.hidden_size
        if lengths is None:
            pooled = x[:, -1, :h]  # (B, H): forward direction's final state
        else:
            last = torch.as_tensor(lengths, device=x.device).long() - 1  # (B,)
            pooled = x[torch.arange(x.shape[0], device=x.device), last, :h]  # (B, H) at each last valid step
        if self.bidirectional:
            pooled = torch.cat([pooled, x[:, 0, h:]], dim=-1)  # (B, 2H): + reverse direction's final state
        pooled = self.head_drop(pooled)
        return pooled if pre_logits else self.fc(pooled)

    def forward(self, x: Tensor, lengths=None) -> Tensor:
        """``(B, T, F) -> (B, num_classes)``; ``lengths`` (one int per sequence) for padded batches."""
        return self.forward_head(self.forward_features(x, lengths), lengths=lengths)


class RecurrentCache:
    """The decoding "cache" of a recurrent LM: the state after the tokens seen so far (``None`` at first)."""

    def __init__(self) -> None:
        self.state: Tensor | tuple[Tensor, Tensor] | None = None


class RNNLM(GenerationMixin, nn.Module):
    """Token / character LM: embedding -> RNN / LSTM / GRU -> (tied) head; task ``causal-lm``."""

    max_seq_len = 2**31 - 1  # a recurrent LM has no context limit

    def __init__(
        self,
        vocab_size: int = 256,
        embed_dim: int = 128,
        hidden_size: int = 256,
        num_layers: int = 2,
        cell: str = "lstm",
        dropout: float = 0.0,
        tie_weights: bool = False,
    ) -> None:
        super().__init__()
        if tie_weights and embed_dim != hidden_size:
            raise ValueError(
                f"RNNLM: tie_weights needs embed_dim == hidden_size, got {embed_dim} and {hidden_size}"
            )
        self.vocab_size, self.cell, self.tie_weights = vocab_size, cell, tie_weights
        self.embed = nn.Embedding(vocab_size, embed_dim)
        self.rnn = make_rnn(cell, embed_dim, hidden_size, "RNNLM", num_layers=num_layers, dropout=dropout)
        self.drop = Dropout(dropout)
        self.head = Linear(hidden_size, vocab_size)
        if tie_weights:
            self.head.weight = self.embed.weight

    def new_kv_caches(
        self, batch_size: int, max_seq_len: int, dtype=None, device=None
    ) -> list[RecurrentCache]:
        """One :class:`RecurrentCache` (the generation contract's per-layer cache list)."""
        return [RecurrentCache()]

    def forward(self, input_ids: Tensor, kv_caches: list[RecurrentCache] | None = None) -> Tensor:
        """ids ``(B, T)`` -> logits ``(B, T, V)``; with ``kv_caches`` the RNN continues from (and updates)
        the cached state."""
        check_token_ids("RNNLM", input_ids, self.vocab_size)
        cache = kv_caches[0] if kv_caches else None
        out, state = self.rnn(self.embed(input_ids), None if cache is None else cache.state)  # (B, T, H)
        if cache is not None:
            cache.state = state
        return self.head(self.drop(out))  # (B, T, V)


def _classifier_card(cell: str, paper: str, year: int, arxiv: str) -> dict[str, Any]:
    count = rnn_params(cell, 8, 64) + (64 + 1) * 10
    return dict(
        family="rnn",
        paper=paper,
        year=year,
        arxiv=arxiv,
        input_size=(8, 8),
        test_input_size=(8, 8),
        reference_params=count,
        task="classification",
        test_kwargs={"hidden_size": 16},
        source=f"closed form for in_features=8, hidden_size=64, 10 classes: "
        f"{_CELLS[cell][1]}*64*(8+64+2) + (64+1)*10 (torch.nn.{cell.upper()} layout)",
    )


@register_model(**_classifier_card("rnn", "Finding Structure in Time", 1990, "Cognitive Science 14:179-211"))
def rnn_classifier(**kwargs: Any) -> RNNClassifier:
    """Elman (tanh) RNN classifier, hidden 64, over (B, T, F) rows (digits: 8 rows of 8 pixels)."""
    return RNNClassifier(**{"cell": "rnn", **kwargs})


@register_model(
    **_classifier_card("lstm", "Long Short-Term Memory", 1997, "Neural Computation 9(8):1735-1780")
)
def lstm_classifier(**kwargs: Any) -> RNNClassifier:
    """LSTM classifier, hidden 64, over (B, T, F) rows (digits: 8 rows of 8 pixels)."""
    return RNNClassifier(**{"cell": "lstm", **kwargs})


@register_model(
    **_classifier_card(
        "gru",
        "Learning Phrase Representations using RNN Encoder-Decoder for Statistical Machine Translation",
        2014,
        "1406.1078",
    )
)
def gru_classifier(**kwargs: Any) -> RNNClassifier:
    """GRU classifier, hidden 64, over (B, T, F) rows (digits: 8 rows of 8 pixels)."""
    return RNNClassifier(**{"cell": "gru", **kwargs})


@register_model(
    family="rnn",
    paper="Recurrent neural network based language model",
    year=2010,
    arxiv="Interspeech 2010",
    input_size=(64,),
    test_input_size=(6,),
    task="causal-lm",
    reference_params=256 * 128 + rnn_params("lstm", 128, 256, 2) + 256 * 256 + 256,
    source="closed form for vocab 256 (bytes), embed 128, 2-layer LSTM 256, untied head: "
    "256*128 + 4*256*(128+256+2) + 4*256*(256+256+2) + 256*256 + 256",
    test_kwargs={"vocab_size": 11, "embed_dim": 8, "hidden_size": 12, "num_layers": 2},
)
def rnn_lm(**kwargs: Any) -> RNNLM:
    """Byte-level LM (vocab 256): embedding 128 -> 2-layer LSTM 256 -> untied head; ``cell`` any of
    rnn / lstm / gru, ``tie_weights`` with ``embed_dim == hidden_size``."""
    return RNNLM(**kwargs)
