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

Variable lengths, as torch: a ``PackedSequence`` input (``torch.nn.utils.rnn.pack_padded_sequence``,
sorted or not) returns a ``PackedSequence`` output with the same ``batch_sizes`` / ``sorted_indices``, and
``h_n`` / ``c_n`` in the caller's batch order. On padded batched input, ``lengths=`` (one int per sequence)
returns the padded output with zeros past each length and the final states of each sequence's last valid
step (the reverse direction starts there). See :mod:`dlzoo.nn.recurrent.packed`.

Parameters and state_dict keys match torch: ``weight_ih_l{k}``, ``weight_hh_l{k}``, ``bias_ih_l{k}``,
``bias_hh_l{k}``, ``weight_hr_l{k}`` (LSTM with ``proj_size``), with ``_reverse`` for the backward
direction. By default the fused op (``torch.rnn_tanh`` / ``torch.rnn_relu`` / ``torch.lstm`` /
``torch.gru``) runs with these same weights; under :func:`dlzoo.reference_mode` the explicit
per-timestep loop does.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from ..mode import use_fused
from ..regularization import Dropout
from .cells import gru_step, init_uniform, lstm_step, rnn_step
from .packed import PackedSequence, check_lengths, length_mask, lengths_of, pack_padded, pad_packed

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

    def _run(
        self, x: Tensor, states: list[Tensor], lengths: Tensor | None = None
    ) -> tuple[Tensor, list[Tensor]]:
        """Explicit loop. x ``(T, N, I)``; states: each ``(L * D, N, *)``; optional ``lengths`` ``(N,)``:
        a state only moves while ``t < lengths[n]`` and outputs past a length are zero.
        Returns the output ``(T, N, D * H_out)`` and the final states."""
        d = 2 if self.bidirectional else 1
        mask = (
            None if lengths is None else length_mask(lengths, x.shape[0], x.device).unsqueeze(-1)
        )  # (T, N, 1)
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
                    new = self._step(x[t], state, w)
                    if mask is None:
                        state, ys[t] = new, new[0]
                    else:  # finished (or, backwards, not yet started) sequences keep their state
                        state = tuple(torch.where(mask[t], a, b) for a, b in zip(new, state))
                        ys[t] = torch.where(mask[t], new[0], torch.zeros_like(new[0]))
                outs.append(torch.stack(ys, 0))  # (T, N, H_out)
                for f, s in zip(finals, state):
                    f.append(s)
            x = torch.cat(outs, dim=-1) if d == 2 else outs[0]  # (T, N, D * H_out)
        return x, [torch.stack(f, 0) for f in finals]

    def _fused(
        self, x: Tensor, states: list[Tensor], batch_sizes: Tensor | None = None
    ) -> tuple[Tensor, ...]:
        """torch's fused op with these weights; with ``batch_sizes``, ``x`` is packed ``(sum b_t, I)``."""
        weights = [getattr(self, n) for n in self._flat_names]
        args = (self.bias, self.num_layers, self.dropout, self.training, self.bidirectional)
        lead = (x,) if batch_sizes is None else (x, batch_sizes)
        tail = (False,) if batch_sizes is None else ()  # batch_first: we always pass time-major input
        hx = tuple(states) if self.mode == "LSTM" else states[0]
        fn = {"LSTM": torch.lstm, "GRU": torch.gru, "RNN_TANH": torch.rnn_tanh, "RNN_RELU": torch.rnn_relu}
        return fn[self.mode](*lead, hx, weights, *args, *tail)

    def _initial(self, hx: list[Tensor | None], sizes: list[int], n: int, like: Tensor) -> list[Tensor]:
        ld = self.num_layers * (2 if self.bidirectional else 1)
        return [like.new_zeros(ld, n, s) if h is None else h for h, s in zip(hx, sizes)]

    def _forward_packed(
        self, packed: PackedSequence, hx: list[Tensor | None], sizes: list[int]
    ) -> tuple[PackedSequence, list[Tensor]]:
        """PackedSequence in, PackedSequence out (torch's contract); states in and out in the caller's batch
        order, run internally in the packed (sorted) order."""
        name = self.__class__.__name__
        data, batch_sizes, sorted_idx, unsorted_idx = packed
        if data.dim() != 2 or data.shape[-1] != self.input_size:
            raise ValueError(
                f"{name}: expected packed data of shape (*, {self.input_size}), got {tuple(data.shape)}"
            )
        n = int(batch_sizes[0])
        ld = self.num_layers * (2 if self.bidirectional else 1)
        for h, s, what in zip(hx, sizes, ("h0", "c0")):
            if h is not None and tuple(h.shape) != (ld, n, s):
                raise ValueError(f"{name}: expected {what} of shape {(ld, n, s)}, got {tuple(h.shape)}")
        if sorted_idx is not None:
            hx = [None if h is None else h.index_select(1, sorted_idx) for h in hx]
        states = self._initial(hx, sizes, n, data)
        if use_fused():
            out, *finals = self._fused(data, states, batch_sizes)
        else:
            out, finals = self._run(pad_packed(data, batch_sizes), states, lengths_of(batch_sizes))
            out = pack_padded(out, batch_sizes)  # (sum b_t, D * H_out)
        if unsorted_idx is not None:
            finals = [f.index_select(1, unsorted_idx) for f in finals]
        return PackedSequence(out, batch_sizes, sorted_idx, unsorted_idx), list(finals)

    def _forward(
        self, input: Tensor | PackedSequence, hx: list[Tensor | None], sizes: list[int], lengths=None
    ) -> tuple[Tensor | PackedSequence, list[Tensor]]:
        name = self.__class__.__name__
        if isinstance(input, PackedSequence):
            if lengths is not None:
                raise ValueError(f"{name}: a PackedSequence carries its lengths; do not pass lengths= too")
            return self._forward_packed(input, hx, sizes)
        x, batched = self._prepare(input)
        what = ("h0", "c0")
        states = [self._check(input, h, s, what[i]) for i, (h, s) in enumerate(zip(hx, sizes))]
        states = self._initial(states, sizes, x.shape[1], x)
        if lengths is not None:
            if not batched:
                raise ValueError(f"{name}: lengths= needs batched 3-D input, got shape {tuple(input.shape)}")
            lengths = check_lengths(name, lengths, x.shape[1], x.shape[0])
        if lengths is not None and use_fused():
            packed = pack_padded_sequence(x, lengths, enforce_sorted=False)
            sorted_states = [s.index_select(1, packed.sorted_indices) for s in states]
            data, *finals = self._fused(packed.data, sorted_states, packed.batch_sizes)
            packed_out = PackedSequence(
                data, packed.batch_sizes, packed.sorted_indices, packed.unsorted_indices
            )
            out = pad_packed_sequence(packed_out, total_length=x.shape[0])[
                0
            ]  # (T, N, D * H_out), caller's order
            finals = [f.index_select(1, packed.unsorted_indices) for f in finals]
        elif use_fused():
            out, *finals = self._fused(x, states)
        else:
            out, finals = self._run(x, states, lengths)
        if not batched:
            finals = [f.squeeze(1) for f in finals]
        return self._finish(out, batched), list(finals)

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

    def forward(self, input: Tensor | PackedSequence, hx: Tensor | None = None, lengths=None):
        """``(output, h_n)``; a PackedSequence input gives a PackedSequence output (see module docstring)."""
        out, (h,) = self._forward(input, [hx], [self.hidden_size], lengths)
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

    def forward(self, input: Tensor | PackedSequence, hx: Tensor | None = None, lengths=None):
        """``(output, h_n)``; a PackedSequence input gives a PackedSequence output (see module docstring)."""
        out, (h,) = self._forward(input, [hx], [self.hidden_size], lengths)
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

    def forward(self, input: Tensor | PackedSequence, hx: tuple[Tensor, Tensor] | None = None, lengths=None):
        """``(output, (h_n, c_n))``; a PackedSequence input gives a PackedSequence output."""
        if hx is not None and (not isinstance(hx, (tuple, list)) or len(hx) != 2):
            raise TypeError("LSTM: hx must be a tuple (h0, c0)")
        h0, c0 = (None, None) if hx is None else hx
        if (h0 is None) != (c0 is None):
            raise ValueError("LSTM: pass both h0 and c0, or neither")
        out, (h, c) = self._forward(
            input, [h0, c0], [self.proj_size or self.hidden_size, self.hidden_size], lengths
        )
        return out, (h, c)
