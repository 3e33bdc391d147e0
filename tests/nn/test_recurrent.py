"""dlzoo.nn.recurrent against torch.nn RNN / LSTM / GRU and their cells (float64, same weights).

Outputs, final states and the gradients of the input, initial states and every parameter are compared,
for both the default (fused torch op) and the reference_mode (explicit per-timestep loop) paths.
"""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from torch import nn

import dlzoo
from dlzoo.nn.recurrent import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell

I, H, P, T, N = 3, 4, 2, 5, 2
DT = torch.float64

# (name, ours, torch, kwargs)
MODES = {
    "rnn_tanh": (RNN, nn.RNN, {}),
    "rnn_relu": (RNN, nn.RNN, {"nonlinearity": "relu"}),
    "gru": (GRU, nn.GRU, {}),
    "lstm": (LSTM, nn.LSTM, {}),
    "lstm_proj": (LSTM, nn.LSTM, {"proj_size": P}),
}
GRID = list(itertools.product((1, 2), (False, True), (False, True), (False, True), (False, True)))


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


def _inputs(mode: str, layers: int, bidir: bool, batch_first: bool, with_h0: bool, unbatched: bool):
    g = torch.Generator().manual_seed(1)
    ld = layers * (2 if bidir else 1)
    shape = (T, I) if unbatched else ((N, T, I) if batch_first else (T, N, I))
    x = torch.randn(*shape, generator=g, dtype=DT)
    if not with_h0:
        return x, None
    batch = () if unbatched else (N,)
    h_out = P if mode == "lstm_proj" else H
    h0 = torch.randn(ld, *batch, h_out, generator=g, dtype=DT)
    if mode.startswith("lstm"):
        return x, (h0, torch.randn(ld, *batch, H, generator=g, dtype=DT))
    return x, h0


def _leaves(x, hx):
    x = x.clone().requires_grad_(True)
    if hx is None:
        return x, None
    if isinstance(hx, tuple):
        return x, tuple(h.clone().requires_grad_(True) for h in hx)
    return x, hx.clone().requires_grad_(True)


def _flat(y):
    return [t for t in (y if isinstance(y, tuple) else (y,))]


def _run_and_grads(module, x, hx):
    x, hx = _leaves(x, hx)
    out, state = module(x, hx)
    tensors = [out, *_flat(state)]
    g = torch.Generator().manual_seed(2)
    loss = sum((t * torch.randn(t.shape, generator=g, dtype=DT)).sum() for t in tensors)
    leaves = [x, *([] if hx is None else _flat(hx)), *module.parameters()]
    grads = torch.autograd.grad(loss, leaves)
    return [t.detach() for t in tensors], grads


@pytest.mark.parametrize("fused", [True, False], ids=["default", "reference"])
@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("layers,bidir,batch_first,with_h0,unbatched", GRID)
def test_matches_torch_outputs_states_and_grads(mode, fused, layers, bidir, batch_first, with_h0, unbatched):
    ours, ref = _pair(mode, num_layers=layers, bidirectional=bidir, batch_first=batch_first)
    x, hx = _inputs(mode, layers, bidir, batch_first, with_h0, unbatched)
    expected, expected_grads = _run_and_grads(ref, x, hx)
    with dlzoo.reference_mode(not fused):
        got, got_grads = _run_and_grads(ours, x, hx)
    assert len(got) == len(expected)
    for a, b in zip(got, expected):
        assert a.shape == b.shape
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    assert len(got_grads) == len(expected_grads)
    for a, b in zip(got_grads, expected_grads):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("mode", list(MODES))
def test_state_dict_keys_and_order_match_torch_both_ways(mode):
    ours, ref = _pair(mode, num_layers=2, bidirectional=True)
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in ref.named_parameters()]
    assert {k: v.shape for k, v in ours.state_dict().items()} == {
        k: v.shape for k, v in ref.state_dict().items()
    }
    # ours -> torch: fresh random ours loaded into a fresh torch module gives the same output
    torch.manual_seed(5)
    ours2 = MODES[mode][0](I, H, num_layers=2, bidirectional=True, **MODES[mode][2]).to(DT)
    ref.load_state_dict(ours2.state_dict(), strict=True)
    x = torch.randn(T, N, I, dtype=DT)
    with dlzoo.reference_mode():
        torch.testing.assert_close(ours2(x)[0], ref(x)[0], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("mode", list(MODES))
def test_init_is_torch_uniform(mode):
    hidden = 64
    ours_cls, _, extra = MODES[mode]
    torch.manual_seed(0)
    m = ours_cls(I, hidden, **extra)
    bound = 1.0 / math.sqrt(hidden)
    for name, p in m.named_parameters():
        assert p.abs().max() <= bound, name
        # U(-b, b) has std b / sqrt(3); catches a different init (zeros, xavier, normal...)
        assert abs(p.std().item() - bound / math.sqrt(3)) < 0.25 * bound / math.sqrt(3), name


@pytest.mark.parametrize("mode", ["rnn_tanh", "gru", "lstm"])
def test_dropout_between_layers_training_only(mode):
    # eval: dropout ignored, equal to torch; training with p=1: layer 2 sees zeros, deterministic in both
    ours, ref = _pair(mode, num_layers=2, dropout=1.0)
    x = torch.randn(T, N, I, dtype=DT)
    ours.eval()
    ref.eval()
    torch.testing.assert_close(ours(x)[0], ref(x)[0])
    ours.train()
    ref.train()
    for fused in (True, False):
        with dlzoo.reference_mode(not fused):
            torch.testing.assert_close(ours(x)[0], ref(x)[0], rtol=1e-10, atol=1e-12)
    # p=0.5 in training with the explicit loop really drops (differs from eval)
    ours.dropout = 0.5
    with dlzoo.reference_mode():
        train_out = ours(x)[0]
        ours.eval()
        assert not torch.allclose(train_out, ours(x)[0])


CELLS = {
    "rnn_tanh": (RNNCell, nn.RNNCell, {}),
    "rnn_relu": (RNNCell, nn.RNNCell, {"nonlinearity": "relu"}),
    "gru": (GRUCell, nn.GRUCell, {}),
    "lstm": (LSTMCell, nn.LSTMCell, {}),
}


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("with_h", [False, True])
@pytest.mark.parametrize("unbatched", [False, True])
@pytest.mark.parametrize("mode", list(CELLS))
def test_cells_match_torch(mode, unbatched, with_h, bias):
    ours_cls, ref_cls, extra = CELLS[mode]
    torch.manual_seed(0)
    ref = ref_cls(I, H, bias=bias, **extra).to(DT)
    ours = ours_cls(I, H, bias=bias, **extra).to(DT)
    ours.load_state_dict(ref.state_dict(), strict=True)
    batch = () if unbatched else (N,)
    x = torch.randn(*batch, I, dtype=DT)
    hx = None
    if with_h:
        hx = torch.randn(*batch, H, dtype=DT)
        if mode == "lstm":
            hx = (hx, torch.randn(*batch, H, dtype=DT))

    def run(m):
        xx, hh = _leaves(x, hx)
        outs = _flat(m(xx, hh))
        loss = sum((o * (k + 1.0)).sin().sum() for k, o in enumerate(outs))
        leaves = [xx, *([] if hh is None else _flat(hh)), *m.parameters()]
        return [o.detach() for o in outs], torch.autograd.grad(loss, leaves)

    (got, got_g), (exp, exp_g) = run(ours), run(ref)
    for a, b in zip(got + list(got_g), exp + list(exp_g)):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_bad_inputs_raise_clear_errors():
    lstm = LSTM(I, H, num_layers=2)
    with pytest.raises(ValueError, match=r"LSTM: expected input size 3"):
        lstm(torch.randn(T, N, I + 1))
    with pytest.raises(ValueError, match=r"LSTM: expected a 2-D"):
        lstm(torch.randn(I))
    with pytest.raises(ValueError, match=r"LSTM: expected h0 of shape \(2, 2, 4\)"):
        lstm(torch.randn(T, N, I), (torch.randn(1, N, H), torch.randn(2, N, H)))
    with pytest.raises(ValueError, match=r"GRU: expected h0 of shape"):
        GRU(I, H)(torch.randn(T, N, I), torch.randn(1, N + 1, H))
    with pytest.raises(TypeError, match=r"proj_size"):
        GRU(I, H, proj_size=2)  # only LSTM takes it
    with pytest.raises(ValueError, match=r"proj_size"):
        LSTM(I, H, proj_size=H)
    with pytest.raises(ValueError, match=r"nonlinearity"):
        RNN(I, H, nonlinearity="gelu")
    with pytest.raises(ValueError, match=r"probability"):
        RNN(I, H, dropout=1.5)
    with pytest.raises(ValueError, match=r"GRUCell: expected input size 3"):
        GRUCell(I, H)(torch.randn(N, I + 1))
    with pytest.raises(ValueError, match=r"LSTMCell: expected hidden"):
        LSTMCell(I, H)(torch.randn(N, I), (torch.randn(N, H + 1), torch.randn(N, H)))
    with pytest.raises(ValueError, match=r"RNNCell: expected hidden of shape \(2, 4\)"):
        RNNCell(I, H)(torch.randn(N, I), torch.randn(N + 1, H))
