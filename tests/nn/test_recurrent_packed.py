"""Variable-length sequences in dlzoo.nn.recurrent against torch.nn (float64, same weights).

* PackedSequence in (``pack_padded_sequence``, enforce_sorted True and False) -> PackedSequence out: data,
  batch_sizes, sorted/unsorted indices, h_n / c_n and the gradients of input, h0 / c0 and every parameter
  equal torch.nn's, on the fused default path and the explicit loop.
* ``lengths=`` on padded input equals torch's pack -> run -> pad_packed_sequence (outputs and gradients), and,
  independently of any packing, running torch on each sequence cut at its length: the output of the valid
  steps and h_n / c_n are that sequence's own, the padded steps are zero.
"""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

import dlzoo
from dlzoo.nn.recurrent import GRU, LSTM, RNN

I, H, P, T = 3, 4, 2, 5
DT = torch.float64
UNSORTED = [3, 5, 1, 4]  # lengths of the 4 sequences (unsorted, one of length T, one of length 1)
SORTED = [5, 4, 3, 1]

MODES = {
    "rnn_tanh": (RNN, nn.RNN, {}),
    "rnn_relu": (RNN, nn.RNN, {"nonlinearity": "relu"}),
    "gru": (GRU, nn.GRU, {}),
    "lstm": (LSTM, nn.LSTM, {}),
    "lstm_proj": (LSTM, nn.LSTM, {"proj_size": P}),
}
GRID = list(itertools.product((1, 2), (False, True), (False, True)))  # layers, bidirectional, with_h0


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny ops on a shared 2-core machine: one thread is much faster than two contending ones."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _pair(mode: str, **kw):
    ours_cls, ref_cls, extra = MODES[mode]
    torch.manual_seed(0)
    ref = ref_cls(I, H, **extra, **kw).to(DT)
    ours = ours_cls(I, H, **extra, **kw).to(DT)
    ours.load_state_dict(ref.state_dict(), strict=True)
    return ours, ref


def _inputs(mode, layers, bidir, with_h0, n, batch_first=False):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(*((n, T, I) if batch_first else (T, n, I)), generator=g, dtype=DT, requires_grad=True)
    if not with_h0:
        return x, None
    ld = layers * (2 if bidir else 1)
    h0 = torch.randn(ld, n, P if mode == "lstm_proj" else H, generator=g, dtype=DT, requires_grad=True)
    if mode.startswith("lstm"):
        return x, (h0, torch.randn(ld, n, H, generator=g, dtype=DT, requires_grad=True))
    return x, h0


def _states(state):
    return list(state) if isinstance(state, tuple) else [state]


def _loss(tensors):
    g = torch.Generator().manual_seed(2)
    return sum((t * torch.randn(t.shape, generator=g, dtype=DT)).sum() for t in tensors)


def _grads(loss, module, x, hx):
    leaves = [x, *([] if hx is None else _states(hx)), *module.parameters()]
    return torch.autograd.grad(loss, leaves)


def _close(a, b):
    torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("fused", [True, False], ids=["default", "reference"])
@pytest.mark.parametrize("enforce_sorted", [True, False], ids=["sorted", "unsorted"])
@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("layers,bidir,with_h0", GRID)
def test_packed_sequence_matches_torch(mode, fused, enforce_sorted, layers, bidir, with_h0):
    lengths = SORTED if enforce_sorted else UNSORTED
    ours, ref = _pair(mode, num_layers=layers, bidirectional=bidir)
    x, hx = _inputs(mode, layers, bidir, with_h0, len(lengths))
    results = []
    for module, reference in ((ref, True), (ours, False)):
        packed = pack_padded_sequence(x, torch.tensor(lengths), enforce_sorted=enforce_sorted)
        with dlzoo.reference_mode(not fused and not reference):
            out, state = module(packed, hx)
        assert isinstance(out, PackedSequence)
        tensors = [out.data, *_states(state)]
        results.append((out, tensors, _grads(_loss(tensors), module, x, hx)))
    (ref_out, expected, expected_grads), (out, got, got_grads) = results
    assert torch.equal(out.batch_sizes, ref_out.batch_sizes)
    for a, b in (
        (out.sorted_indices, ref_out.sorted_indices),
        (out.unsorted_indices, ref_out.unsorted_indices),
    ):
        assert (a is None and b is None) or torch.equal(a, b)
    for a, b in zip(got, expected, strict=True):
        assert a.shape == b.shape
        _close(a, b)
    for a, b in zip(got_grads, expected_grads, strict=True):
        _close(a, b)


@pytest.mark.parametrize("fused", [True, False], ids=["default", "reference"])
@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("layers,bidir,with_h0", GRID)
def test_lengths_matches_torch_pack_pad(mode, fused, layers, bidir, with_h0):
    ours, ref = _pair(mode, num_layers=layers, bidirectional=bidir, batch_first=True)
    x, hx = _inputs(mode, layers, bidir, with_h0, len(UNSORTED), batch_first=True)
    packed = pack_padded_sequence(x, torch.tensor(UNSORTED), batch_first=True, enforce_sorted=False)
    ref_packed, ref_state = ref(packed, hx)
    ref_out = pad_packed_sequence(ref_packed, batch_first=True, total_length=T)[0]
    expected = [ref_out, *_states(ref_state)]
    expected_grads = _grads(_loss(expected), ref, x, hx)
    with dlzoo.reference_mode(not fused):
        out, state = ours(x, hx, lengths=torch.tensor(UNSORTED))
    got = [out, *_states(state)]
    got_grads = _grads(_loss(got), ours, x, hx)
    for a, b in zip(got, expected, strict=True):
        assert a.shape == b.shape
        _close(a, b)
    for a, b in zip(got_grads, expected_grads, strict=True):
        _close(a, b)


@pytest.mark.parametrize("fused", [True, False], ids=["default", "reference"])
@pytest.mark.parametrize("mode", ["rnn_tanh", "gru", "lstm", "lstm_proj"])
def test_lengths_equal_each_sequence_run_alone(mode, fused):
    """No packing in the reference: torch on x[:L_n, n] alone gives sequence n's outputs and final state."""
    ours, ref = _pair(mode, num_layers=2, bidirectional=True)
    x, hx = _inputs(mode, 2, True, True, len(UNSORTED))
    with torch.no_grad(), dlzoo.reference_mode(not fused):
        out, state = ours(x, hx, lengths=UNSORTED)  # a plain list of ints works too
    for n, length in enumerate(UNSORTED):
        h_n = tuple(h[:, n : n + 1] for h in _states(hx))
        with torch.no_grad():
            alone, alone_state = ref(x[:length, n : n + 1], h_n if len(h_n) == 2 else h_n[0])
        _close(out[:length, n : n + 1], alone)
        assert torch.count_nonzero(out[length:, n]) == 0
        for a, b in zip(_states(state), _states(alone_state), strict=True):
            _close(a[:, n : n + 1], b)


def test_full_lengths_equal_no_lengths():
    ours, _ = _pair("lstm", num_layers=2, bidirectional=True)
    x, hx = _inputs("lstm", 2, True, True, 3)
    for fused in (True, False):
        with dlzoo.reference_mode(not fused):
            a, (h1, c1) = ours(x, hx)
            b, (h2, c2) = ours(x, hx, lengths=[T, T, T])
        for u, v in ((a, b), (h1, h2), (c1, c2)):
            _close(u, v)


def test_bad_lengths_and_packed_inputs_raise():
    lstm = LSTM(I, H).to(DT)
    x = torch.randn(T, 3, I, dtype=DT)
    with pytest.raises(ValueError, match=r"LSTM: expected lengths of shape \(3,\)"):
        lstm(x, lengths=[1, 2])
    with pytest.raises(ValueError, match=r"LSTM: every length must be in \[1, 5\]"):
        lstm(x, lengths=[1, 6, 2])
    with pytest.raises(ValueError, match=r"in \[1, 5\]"):
        lstm(x, lengths=[0, 2, 2])
    with pytest.raises(TypeError, match="LSTM: lengths must be integers"):
        lstm(x, lengths=torch.tensor([1.0, 2.0, 3.0]))
    with pytest.raises(ValueError, match="LSTM: lengths= needs batched 3-D input"):
        lstm(x[:, 0], lengths=[2])
    packed = pack_padded_sequence(x, torch.tensor([5, 3, 2]))
    with pytest.raises(ValueError, match="PackedSequence carries its lengths"):
        lstm(packed, lengths=[5, 3, 2])
    with pytest.raises(ValueError, match=r"GRU: expected packed data of shape \(\*, 4\)"):
        GRU(4, H).to(DT)(packed)
    with pytest.raises(ValueError, match=r"LSTM: expected h0 of shape \(1, 3, 4\)"):
        lstm(packed, (torch.zeros(1, 2, H, dtype=DT), torch.zeros(1, 2, H, dtype=DT)))
