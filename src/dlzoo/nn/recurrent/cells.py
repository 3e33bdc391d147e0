"""Recurrent cells (one time step): ``RNNCell``, ``LSTMCell``, ``GRUCell``, mirroring ``torch.nn``.

* Elman RNN — Elman, "Finding Structure in Time", Cognitive Science 1990:

      h' = act(W_ih x + b_ih + W_hh h + b_hh),   act = tanh or relu

* LSTM — Hochreiter & Schmidhuber, "Long Short-Term Memory", Neural Computation 1997, with the forget
  gate of Gers, Schmidhuber & Cummins 2000; gate order (i, f, g, o) as in torch:

      [i, f, g, o] = W_ih x + b_ih + W_hh h + b_hh
      c' = sigmoid(f) * c + sigmoid(i) * tanh(g),   h' = sigmoid(o) * tanh(c')

  With a projection (Sak, Senior, Beaufays, Interspeech 2014, "LSTMP"): h' <- W_hr h'.

* GRU — Cho et al., "Learning Phrase Representations using RNN Encoder-Decoder", EMNLP 2014,
  arXiv:1406.1078; gate order (r, z, n), reset applied *after* the hidden matmul as in torch/cuDNN:

      r = sigmoid(W_ir x + b_ir + W_hr h + b_hr),   z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
      n = tanh(W_in x + b_in + r * (W_hn h + b_hn)),  h' = (1 - z) * n + z * h

The step functions (:func:`rnn_step`, :func:`lstm_step`, :func:`gru_step`) are shared with the
multi-layer :mod:`dlzoo.nn.recurrent.rnn` modules. Cell shapes: input ``(N, I)`` or unbatched ``(I,)``;
hidden ``(N, H)`` or ``(H,)``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

__all__ = ["RNNCell", "LSTMCell", "GRUCell", "rnn_step", "lstm_step", "gru_step", "init_uniform"]


def init_uniform(module: nn.Module, hidden_size: int) -> None:
    """torch's recurrent init: every parameter ~ U(-1/sqrt(H), 1/sqrt(H))."""
    stdv = 1.0 / math.sqrt(hidden_size) if hidden_size > 0 else 0.0
    with torch.no_grad():
        for p in module.parameters():
            p.uniform_(-stdv, stdv)


def _affine(x: Tensor, w: Tensor, b: Tensor | None) -> Tensor:
    y = x @ w.t()
    return y + b if b is not None else y


def rnn_step(
    x: Tensor,
    h: Tensor,
    w_ih: Tensor,
    w_hh: Tensor,
    b_ih: Tensor | None,
    b_hh: Tensor | None,
    nonlinearity: str = "tanh",
) -> Tensor:
    """Elman step ``h' = act(W_ih x + b_ih + W_hh h + b_hh)``; x ``(N, I)``, h ``(N, H)`` -> ``(N, H)``."""
    pre = _affine(x, w_ih, b_ih) + _affine(h, w_hh, b_hh)
    return torch.tanh(pre) if nonlinearity == "tanh" else torch.relu(pre)


def lstm_step(
    x: Tensor,
    h: Tensor,
    c: Tensor,
    w_ih: Tensor,
    w_hh: Tensor,
    b_ih: Tensor | None,
    b_hh: Tensor | None,
    w_hr: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """LSTM step with gate order (i, f, g, o) and optional projection ``W_hr``; returns ``(h', c')``."""
    gates = _affine(x, w_ih, b_ih) + _affine(h, w_hh, b_hh)  # (N, 4H)
    i, f, g, o = gates.chunk(4, dim=-1)
    c_new = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    h_new = torch.sigmoid(o) * torch.tanh(c_new)
    if w_hr is not None:
        h_new = h_new @ w_hr.t()  # (N, proj_size)
    return h_new, c_new


def gru_step(
    x: Tensor, h: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor | None, b_hh: Tensor | None
) -> Tensor:
    """GRU step, gate order (r, z, n), reset after the hidden matmul; x ``(N, I)``, h ``(N, H)``."""
    xr, xz, xn = _affine(x, w_ih, b_ih).chunk(3, dim=-1)
    hr, hz, hn = _affine(h, w_hh, b_hh).chunk(3, dim=-1)
    r = torch.sigmoid(xr + hr)
    z = torch.sigmoid(xz + hz)
    n = torch.tanh(xn + r * hn)
    return (1.0 - z) * n + z * h


class _CellBase(nn.Module):
    _gates = 1
    _name = "RNNCell"

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None, dtype=None) -> None:
        super().__init__()
        for arg, v in (("input_size", input_size), ("hidden_size", hidden_size)):
            if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
                raise ValueError(f"{self._name}: {arg} must be a positive int, got {v!r}")
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        kw = {"device": device, "dtype": dtype}
        g = self._gates * hidden_size
        self.weight_ih = nn.Parameter(torch.empty(g, input_size, **kw))
        self.weight_hh = nn.Parameter(torch.empty(g, hidden_size, **kw))
        if bias:
            self.bias_ih = nn.Parameter(torch.empty(g, **kw))
            self.bias_hh = nn.Parameter(torch.empty(g, **kw))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init_uniform(self, self.hidden_size)

    def _prepare(self, x: Tensor, hx: Tensor | None) -> tuple[Tensor, Tensor | None, bool]:
        if x.dim() not in (1, 2):
            raise ValueError(f"{self._name}: expected input of shape (N, I) or (I,), got {tuple(x.shape)}")
        if x.shape[-1] != self.input_size:
            raise ValueError(
                f"{self._name}: expected input size {self.input_size} in the last dim, got {tuple(x.shape)}"
            )
        batched = x.dim() == 2
        if not batched:
            x = x.unsqueeze(0)
        if hx is not None:
            want = (x.shape[0], self.hidden_size) if batched else (self.hidden_size,)
            if tuple(hx.shape) != want:
                raise ValueError(f"{self._name}: expected hidden of shape {want}, got {tuple(hx.shape)}")
            if not batched:
                hx = hx.unsqueeze(0)
        return x, hx, batched

    def _zeros(self, x: Tensor) -> Tensor:
        return x.new_zeros(x.shape[0], self.hidden_size)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        return s if self.bias else s + ", bias=False"


class RNNCell(_CellBase):
    """Elman RNN cell (mirrors ``torch.nn.RNNCell``; see module docstring)."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        nonlinearity: str = "tanh",
        device=None,
        dtype=None,
    ) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNNCell: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, bias, device, dtype)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        x, h, batched = self._prepare(input, hx)
        h = self._zeros(x) if h is None else h
        out = rnn_step(x, h, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh, self.nonlinearity)
        return out if batched else out.squeeze(0)


class LSTMCell(_CellBase):
    """LSTM cell, gate order (i, f, g, o) (mirrors ``torch.nn.LSTMCell``); returns ``(h', c')``."""

    _gates = 4
    _name = "LSTMCell"

    def forward(self, input: Tensor, hx: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor]:
        if hx is not None and (not isinstance(hx, (tuple, list)) or len(hx) != 2):
            raise TypeError("LSTMCell: hx must be a tuple (h, c)")
        x, h, batched = self._prepare(input, None if hx is None else hx[0])
        _, c, _ = self._prepare(input, None if hx is None else hx[1])
        h = self._zeros(x) if h is None else h
        c = self._zeros(x) if c is None else c
        h, c = lstm_step(x, h, c, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        return (h, c) if batched else (h.squeeze(0), c.squeeze(0))


class GRUCell(_CellBase):
    """GRU cell, gate order (r, z, n) (mirrors ``torch.nn.GRUCell``; see module docstring)."""

    _gates = 3
    _name = "GRUCell"

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        x, h, batched = self._prepare(input, hx)
        h = self._zeros(x) if h is None else h
        out = gru_step(x, h, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        return out if batched else out.squeeze(0)
