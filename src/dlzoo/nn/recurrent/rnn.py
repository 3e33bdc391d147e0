"""Multi-layer recurrent networks ``RNN``, ``LSTM``, ``GRU``, mirroring ``torch.nn``.

Each layer ``l`` and direction runs the cell of :mod:`dlzoo.nn.recurrent.cells` over time
(see there for the Elman / LSTM (Hochreiter & Schmidhuber 1997) / GRU (Cho et al. 2014,
arXiv:1406.1078) equations). Layer ``l > 0`` reads the (concatenated, if bidirectional) outputs of
layer ``l - 1``, with dropout between layers in training. The reverse direction reads the sequence
back to front and its outputs are re-aligned with time.

Shapes (``D = 2`` if bidirectional else 1, ``H_out = proj_size or hidden_size``):
input ``(T, N, I)`` (``(N, T, I)`` with ``batch_first``) or unbatched ``(T, I)``;
h0 ``(D * num_layers, N, H_out)``, c0 ``(D * num_layers, N, H)`` (without ``N`` when unbatched);
output ``(T, N, D * H_out)``; returns ``(output, h_n)`` or, for LSTM, ``(output, (h_n, c_n))``.

Parameters and state_dict keys match torch: ``weight_ih_l{k}``, ``weight_hh_l{k}``, ``bias_ih_l{k}``,
``bias_hh_l{k}``, ``weight_hr_l{k}`` (LSTM with ``proj_size``), with ``_reverse`` for the backward
direction. By default the fused op (``torch.rnn_tanh`` / ``torch.rnn_relu`` / ``torch.lstm`` /
``torch.gru``) runs with these same weights; under :func:`dlzoo.reference_mode` the explicit
per-timestep loop does.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..mode import use_fused
from ..regularization import Dropout
from .cells import gru_step, init_uniform, lstm_step, rnn_step

__all__ = ["RNN", "LSTM", "GRU"]

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


class _RNNBase(nn.Module):
    def __init__(
        self,
        mode: str,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__()
        name = self.__class__.__name__
        for arg, v, lo in (
            ("input_size", input_size, 1),
            ("hidden_size", hidden_size, 1),
            ("num_layers", num_layers, 1),
            ("proj_size", proj_size, 0),
        ):
            if not isinstance(v, int) or isinstance(v, bool) or v < lo:
                raise ValueError(f"{name}: {arg} must be an int >= {lo}, got {v!r}")
        if proj_size >= hidden_size:
            raise ValueError(
                f"{name}: proj_size ({proj_size}) must be smaller than hidden_size ({hidden_size})"
            )
        self.mode = mode
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.proj_size = proj_size
        Dropout(dropout)  # validates dropout is a number in [0, 1]
        kw = {"device": device, "dtype": dtype}
        d = 2 if bidirectional else 1
        h_out = proj_size or hidden_size
        g = _GATES[mode] * hidden_size
        self._flat_names: list[str] = []
        for layer in range(num_layers):
            layer_in = input_size if layer == 0 else h_out * d
            for suffix in ("", "_reverse")[:d]:
                shapes = {"weight_ih": (g, layer_in), "weight_hh": (g, h_out)}
                if bias:
                    shapes.update(bias_ih=(g,), bias_hh=(g,))
                if proj_size:
                    shapes["weight_hr"] = (proj_size, hidden_size)
                for base, shape in shapes.items():
                    pname = f"{base}_l{layer}{suffix}"
                    self.register_parameter(pname, nn.Parameter(torch.empty(shape, **kw)))
                    self._flat_names.append(pname)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init_uniform(self, self.hidden_size)

    # -- input handling ---------------------------------------------------------------------------------
    def _check(self, x: Tensor, hx: Tensor | None, size: int, what: str) -> Tensor | None:
        name = self.__class__.__name__
        if hx is None:
            return None
        batched = x.dim() == 3
        n = x.shape[0 if self.batch_first else 1] if batched else None
        want = (self.num_layers * (2 if self.bidirectional else 1),) + ((n,) if batched else ()) + (size,)
        if tuple(hx.shape) != want:
            raise ValueError(f"{name}: expected {what} of shape {want}, got {tuple(hx.shape)}")
        return hx if batched else hx.unsqueeze(1)

    def _prepare(self, x: Tensor) -> tuple[Tensor, bool]:
        name = self.__class__.__name__
        if not isinstance(x, Tensor):
            raise TypeError(f"{name}: input must be a Tensor, got {type(x).__name__}")
        if x.dim() not in (2, 3):
            raise ValueError(f"{name}: expected a 2-D (unbatched) or 3-D input, got shape {tuple(x.shape)}")
        if x.shape[-1] != self.input_size:
            raise ValueError(
                f"{name}: expected input size {self.input_size} in the last dim, got shape {tuple(x.shape)}"
            )
        batched = x.dim() == 3
        if not batched:
            x = x.unsqueeze(1)  # (T, 1, I)
        elif self.batch_first:
            x = x.transpose(0, 1)  # (T, N, I)
        return x, batched

    def _finish(self, out: Tensor, batched: bool) -> Tensor:
        if not batched:
            return out.squeeze(1)
        return out.transpose(0, 1) if self.batch_first else out

    # -- explicit path ----------------------------------------------------------------------------------
    def _step(self, x: Tensor, state: tuple[Tensor, ...], w: list[Tensor | None]) -> tuple[Tensor, ...]:
        raise NotImplementedError

    def _weights(self, layer: int, suffix: str) -> list[Tensor | None]:
        names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr")
        return [getattr(self, f"{n}_l{layer}{suffix}", None) for n in names]

    def _run(self, x: Tensor, states: list[Tensor]) -> tuple[Tensor, list[Tensor]]:
        """Explicit loop. x ``(T, N, I)``; states: each ``(L * D, N, *)``. Returns output and final states."""
        d = 2 if self.bidirectional else 1
        finals: list[list[Tensor]] = [[] for _ in states]
        for layer in range(self.num_layers):
            if layer > 0 and self.training and self.dropout > 0:
                x = Dropout(self.dropout)(x)  # between layers, training only (the one dropout implementation)
            outs = []
            for k, suffix in enumerate(("", "_reverse")[:d]):
                w = self._weights(layer, suffix)
                state = tuple(s[layer * d + k] for s in states)
                steps = range(x.shape[0]) if k == 0 else range(x.shape[0] - 1, -1, -1)
                ys: list[Tensor] = [x.new_empty(0)] * x.shape[0]
                for t in steps:
                    state = self._step(x[t], state, w)
                    ys[t] = state[0]
                outs.append(torch.stack(ys, 0))  # (T, N, H_out)
                for f, s in zip(finals, state):
                    f.append(s)
            x = torch.cat(outs, dim=-1) if d == 2 else outs[0]  # (T, N, D * H_out)
        return x, [torch.stack(f, 0) for f in finals]

    def _fused(self, x: Tensor, states: list[Tensor]) -> tuple[Tensor, ...]:
        weights = [getattr(self, n) for n in self._flat_names]
        args = (self.bias, self.num_layers, self.dropout, self.training, self.bidirectional, False)
        if self.mode == "LSTM":
            return torch.lstm(x, tuple(states), weights, *args)
        fn = {"GRU": torch.gru, "RNN_TANH": torch.rnn_tanh, "RNN_RELU": torch.rnn_relu}[self.mode]
        return fn(x, states[0], weights, *args)

    def _forward(
        self, input: Tensor, hx: list[Tensor | None], sizes: list[int]
    ) -> tuple[Tensor, list[Tensor], bool]:
        x, batched = self._prepare(input)
        what = ("h0", "c0")
        states = [self._check(input, h, s, what[i]) for i, (h, s) in enumerate(zip(hx, sizes))]
        ld = self.num_layers * (2 if self.bidirectional else 1)
        states = [x.new_zeros(ld, x.shape[1], s) if h is None else h for h, s in zip(states, sizes)]
        if use_fused():
            out, *finals = self._fused(x, states)
        else:
            out, finals = self._run(x, states)
        if not batched:
            finals = [f.squeeze(1) for f in finals]
        return self._finish(out, batched), list(finals), batched

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        for k, default in (
            ("bias", True),
            ("batch_first", False),
            ("dropout", 0.0),
            ("bidirectional", False),
            ("proj_size", 0),
        ):
            if getattr(self, k) != default:
                s += f", {k}={getattr(self, k)}"
        return s


class RNN(_RNNBase):
    """Multi-layer Elman RNN with tanh or relu (mirrors ``torch.nn.RNN``; see module docstring)."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device=None,
        dtype=None,
    ) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        super().__init__(
            f"RNN_{nonlinearity.upper()}",
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            0,
            device,
            dtype,
        )

    def _step(self, x, state, w):
        return (rnn_step(x, state[0], *w[:4], self.nonlinearity),)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> tuple[Tensor, Tensor]:
        out, (h,), _ = self._forward(input, [hx], [self.hidden_size])
        return out, h

    def extra_repr(self) -> str:
        s = super().extra_repr()
        return s if self.nonlinearity == "tanh" else s + ", nonlinearity='relu'"


class GRU(_RNNBase):
    """Multi-layer GRU, gate order (r, z, n) (mirrors ``torch.nn.GRU``; see module docstring)."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__(
            "GRU",
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            0,
            device,
            dtype,
        )

    def _step(self, x, state, w):
        return (gru_step(x, state[0], *w[:4]),)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> tuple[Tensor, Tensor]:
        out, (h,), _ = self._forward(input, [hx], [self.hidden_size])
        return out, h


class LSTM(_RNNBase):
    """Multi-layer LSTM, gate order (i, f, g, o), optional projection (mirrors ``torch.nn.LSTM``)."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__(
            "LSTM",
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            proj_size,
            device,
            dtype,
        )

    def _step(self, x, state, w):
        return lstm_step(x, state[0], state[1], *w)

    def forward(
        self, input: Tensor, hx: tuple[Tensor, Tensor] | None = None
    ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        if hx is not None and (not isinstance(hx, (tuple, list)) or len(hx) != 2):
            raise TypeError("LSTM: hx must be a tuple (h0, c0)")
        h0, c0 = (None, None) if hx is None else hx
        if (h0 is None) != (c0 is None):
            raise ValueError("LSTM: pass both h0 and c0, or neither")
        out, (h, c), _ = self._forward(
            input, [h0, c0], [self.proj_size or self.hidden_size, self.hidden_size]
        )
        return out, (h, c)
