"""Sequence models against independent references.

* rnn/lstm/gru_classifier and rnn_lm: the same weights in torch.nn.RNN/LSTM/GRU + Embedding + Linear give the
  same logits and gradients (float64); parameter counts equal torch.nn modules of the cards' configurations.
* rnn_lm generate: cached (recurrent state) and uncached greedy identical for every cell; sampling seeded.
* echo_state_network: numpy's eigenvalues of the reservoir buffer give the requested spectral radius; the
  fitted readout equals scikit-learn's Ridge on the same states; it predicts Mackey-Glass one step ahead.
* seq2seq / seq2seq_attention: a padded source with ``src_lengths`` gives the logits of the unpadded source;
  beam search with one beam is greedy; an exhaustive beam finds the best sequence found by enumerating every
  output in the test; a tiny seq2seq_attention learns to reverse sequences.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from torch import nn

import dlzoo

DT = torch.float64
CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny ops on a shared 2-core machine: one thread is ~50x faster than two contending ones."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _strip(state_dict, prefix):
    return {k[len(prefix) :]: v for k, v in state_dict.items() if k.startswith(prefix)}


# ---------------------------------------------------------------------------------------------- classifiers
@pytest.mark.parametrize("cell", list(CELLS))
@pytest.mark.parametrize("bidirectional", [False, True])
def test_classifier_equals_torch_rnn_plus_linear(cell, bidirectional):
    torch.manual_seed(0)
    model = dlzoo.create_model(
        f"{cell}_classifier", hidden_size=5, num_layers=2, bidirectional=bidirectional
    ).to(DT)
    ref_rnn = CELLS[cell](8, 5, num_layers=2, batch_first=True, bidirectional=bidirectional).to(DT)
    ref_rnn.load_state_dict(_strip(model.state_dict(), "rnn."), strict=True)
    ref_fc = nn.Linear(model.num_features, 10).to(DT)
    ref_fc.load_state_dict(_strip(model.state_dict(), "fc."), strict=True)
    x = torch.randn(3, 8, 8, dtype=DT, requires_grad=True)  # (B, 8 rows, 8 pixels)

    def reference(x):
        _, h_n = ref_rnn(x)
        h_n = h_n[0] if cell == "lstm" else h_n  # (L * D, B, H)
        top = torch.cat([h_n[-2], h_n[-1]], -1) if bidirectional else h_n[-1]  # final states of the top layer
        return ref_fc(top)

    got, expected = model(x), reference(x)
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-12)
    g_got = torch.autograd.grad(got.sum(), [x, *model.parameters()])
    g_exp = torch.autograd.grad(expected.sum(), [x, *ref_rnn.parameters(), *ref_fc.parameters()])
    for a, b in zip(g_got, g_exp, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def _count(*modules):
    return sum(p.numel() for m in modules for p in m.parameters())


def test_card_counts_equal_torch_modules_of_the_same_config():
    with torch.device("meta"):
        expected = {
            "rnn_classifier": _count(nn.RNN(8, 64), nn.Linear(64, 10)),
            "lstm_classifier": _count(nn.LSTM(8, 64), nn.Linear(64, 10)),
            "gru_classifier": _count(nn.GRU(8, 64), nn.Linear(64, 10)),
            "rnn_lm": _count(nn.Embedding(256, 128), nn.LSTM(128, 256, 2), nn.Linear(256, 256)),
            "echo_state_network": _count(nn.Linear(200, 1)),
            "seq2seq": _count(
                nn.Embedding(160_000, 1000),
                nn.Embedding(80_000, 1000),
                nn.LSTM(1000, 1000, 4),
                nn.LSTM(1000, 1000, 4),
                nn.Linear(1000, 80_000),
            ),
            "seq2seq_attention": _count(
                nn.Embedding(30_000, 620),
                nn.Embedding(30_000, 620),
                nn.GRU(620, 1000, bidirectional=True),
                nn.Linear(1000, 1000),
                nn.Linear(1000, 1000, bias=False),
                nn.Linear(2000, 1000, bias=False),
                nn.Linear(1000, 1, bias=False),
                nn.GRUCell(620 + 2000, 1000),
                nn.Linear(3000 + 620, 30_000),
            ),
        }
    for name, count in expected.items():
        assert dlzoo.model_info(name).reference_params == count, name
    assert 384e6 <= expected["seq2seq"] < 385e6  # the paper: "384M parameters"


# --------------------------------------------------------------------------------------------------- rnn_lm
@pytest.mark.parametrize("cell", list(CELLS))
def test_rnn_lm_equals_torch_modules(cell):
    torch.manual_seed(0)
    lm = dlzoo.create_model("rnn_lm", vocab_size=11, embed_dim=6, hidden_size=7, num_layers=2, cell=cell).to(
        DT
    )
    emb, rnn, head = (
        nn.Embedding(11, 6).to(DT),
        CELLS[cell](6, 7, 2, batch_first=True).to(DT),
        nn.Linear(7, 11),
    )
    emb.load_state_dict(_strip(lm.state_dict(), "embed."))
    rnn.load_state_dict(_strip(lm.state_dict(), "rnn."))
    head = head.to(DT)
    head.load_state_dict(_strip(lm.state_dict(), "head."))
    ids = torch.randint(0, 11, (2, 9))
    torch.testing.assert_close(lm(ids), head(rnn(emb(ids))[0]), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("cell", list(CELLS))
def test_rnn_lm_cached_and_uncached_generation_agree(cell):
    torch.manual_seed(0)
    lm = dlzoo.create_model(
        "rnn_lm", vocab_size=13, embed_dim=8, hidden_size=8, num_layers=2, cell=cell, tie_weights=True
    ).eval()
    assert lm.head.weight is lm.embed.weight
    ids = torch.randint(0, 13, (3, 4))
    cached = lm.generate(ids, max_new_tokens=12, use_cache=True)
    assert torch.equal(cached, lm.generate(ids, max_new_tokens=12, use_cache=False))
    assert cached.shape == (3, 16) and torch.equal(cached[:, :4], ids)
    # greedy by hand: argmax of the full forward, one token at a time
    seq = ids
    for _ in range(12):
        seq = torch.cat([seq, lm(seq)[:, -1].argmax(-1, keepdim=True)], 1)
    assert torch.equal(cached, seq)
    torch.manual_seed(3)
    a = lm.generate(ids, 6, do_sample=True, temperature=0.8, top_k=5, top_p=0.9)
    torch.manual_seed(3)
    assert torch.equal(
        a, lm.generate(ids, 6, do_sample=True, temperature=0.8, top_k=5, top_p=0.9, use_cache=False)
    )


def test_rnn_lm_bad_input():
    lm = dlzoo.create_model("rnn_lm", vocab_size=11, embed_dim=4, hidden_size=4, num_layers=1)
    with pytest.raises(ValueError, match=r"RNNLM: token ids must lie in \[0, vocab_size=11\)"):
        lm(torch.tensor([[3, 11]]))
    with pytest.raises(ValueError, match="RNNLM: tie_weights needs embed_dim == hidden_size"):
        dlzoo.create_model("rnn_lm", embed_dim=4, hidden_size=5, tie_weights=True)
    with pytest.raises(ValueError, match="RNNLM: cell must be one of"):
        dlzoo.create_model("rnn_lm", cell="transformer")
    with pytest.raises(ValueError, match=r"RNNClassifier: expected input \(B, T, 8\)"):
        dlzoo.create_model("lstm_classifier")(torch.randn(2, 1, 8, 8))


# -------------------------------------------------------------------------------------------- echo state
def test_esn_reservoir_is_buffers_with_requested_spectral_radius_and_sparsity():
    esn = dlzoo.create_model(
        "echo_state_network", reservoir_size=150, spectral_radius=1.25, sparsity=0.8, seed=4
    )
    assert [n for n, _ in esn.named_parameters()] == ["readout.weight", "readout.bias"]
    assert {"weight_ih", "weight_hh", "bias"} <= set(dict(esn.named_buffers()))
    radius = np.abs(np.linalg.eigvals(esn.weight_hh.double().numpy())).max()
    assert abs(radius - 1.25) < 1e-5
    zeros = (esn.weight_hh == 0).double().mean().item()
    assert abs(zeros - 0.8) < 0.02
    same = dlzoo.create_model(
        "echo_state_network", reservoir_size=150, spectral_radius=1.25, sparsity=0.8, seed=4
    )
    assert torch.equal(same.weight_hh, esn.weight_hh)


def _esn_update_by_hand(esn, x):
    """x_t = (1 - a) x_{t-1} + a tanh(W_in u_t + W x_{t-1} + b), one sample, numpy float64."""
    w_in, w, b = (t.double().numpy() for t in (esn.weight_ih, esn.weight_hh, esn.bias))
    h, out = np.zeros(w.shape[0]), []
    for u in x.double().numpy():
        h = (1 - esn.leak_rate) * h + esn.leak_rate * np.tanh(w_in @ u + w @ h + b)
        out.append(h)
    return np.stack(out)


def test_esn_states_and_readout_equal_equation_and_sklearn_ridge():
    from sklearn.linear_model import Ridge

    esn = dlzoo.create_model(
        "echo_state_network",
        in_features=2,
        reservoir_size=40,
        out_features=3,
        leak_rate=0.3,
        input_scaling=0.5,
        bias_scaling=0.2,
    ).to(DT)
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(2, 30, 2, generator=g, dtype=DT), torch.randn(2, 30, 3, generator=g, dtype=DT)
    states = esn.reservoir_states(x)
    np.testing.assert_allclose(states[1].numpy(), _esn_update_by_hand(esn, x[1]), rtol=1e-12, atol=1e-12)
    esn.fit(x, y, ridge=0.1, washout=5)
    ref = Ridge(alpha=0.1).fit(states[:, 5:].reshape(-1, 40).numpy(), y[:, 5:].reshape(-1, 3).numpy())
    np.testing.assert_allclose(esn.readout.weight.detach().numpy(), ref.coef_, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(esn.readout.bias.detach().numpy(), ref.intercept_, rtol=1e-8, atol=1e-10)


def _mackey_glass(
    n: int, tau: int = 17, beta: float = 0.2, gamma: float = 0.1, dt: float = 0.1
) -> np.ndarray:
    """dx/dt = beta x(t - tau) / (1 + x(t - tau)^10) - gamma x(t), Euler with step dt, sampled every 1."""
    per, delay = int(round(1 / dt)), int(round(tau / dt))
    x = np.full(delay + n * per + 1, 1.2)
    for i in range(delay, len(x) - 1):
        x[i + 1] = x[i] + dt * (beta * x[i - delay] / (1 + x[i - delay] ** 10) - gamma * x[i])
    return x[delay::per][:n]


def test_esn_predicts_mackey_glass_one_step_ahead():
    series = torch.tensor(_mackey_glass(1600), dtype=torch.float32)
    series = (series - series.mean()) / series.std()
    u, target = series[:-1].view(1, -1, 1), series[1:].view(1, -1, 1)  # predict x(t + 1) from x(<= t)
    esn = dlzoo.create_model("echo_state_network", reservoir_size=300, spectral_radius=0.95, leak_rate=0.5)
    train = 1000
    esn.fit(u[:, :train], target[:, :train], ridge=1e-6, washout=100)
    with torch.no_grad():
        pred = esn(u)[:, train:]  # the reservoir runs on, the readout was never fit there
    nrmse = ((pred - target[:, train:]).pow(2).mean().sqrt() / target[:, train:].std()).item()
    persistence = ((u[:, train:] - target[:, train:]).pow(2).mean().sqrt() / target[:, train:].std()).item()
    assert nrmse < 0.02 and nrmse < persistence / 5, (nrmse, persistence)


# ----------------------------------------------------------------------------------------------- seq2seq
SEQ2SEQ = {
    "seq2seq": {"src_vocab_size": 7, "tgt_vocab_size": 5, "embed_dim": 6, "hidden_size": 8, "num_layers": 2},
    "seq2seq_attention": {
        "src_vocab_size": 7,
        "tgt_vocab_size": 5,
        "embed_dim": 6,
        "hidden_size": 8,
        "attn_dim": 5,
    },
}


def _tiny(name, seed=0):
    torch.manual_seed(seed)
    model = dlzoo.create_model(name, **SEQ2SEQ[name]).to(DT).eval()
    with torch.no_grad():  # sharper distributions than the uniform init, so the best sequence is not greedy's
        for p in model.parameters():
            p.mul_(4.0)
    return model


@pytest.mark.parametrize("name", list(SEQ2SEQ))
def test_src_lengths_equal_unpadded_source(name):
    model = _tiny(name)
    src = torch.randint(0, 7, (3, 6))
    tgt = torch.randint(0, 5, (3, 4))
    lengths = [6, 2, 4]
    out = model(src, tgt, src_lengths=lengths)
    for b, n in enumerate(lengths):
        alone = model(src[b : b + 1, :n], tgt[b : b + 1])
        torch.testing.assert_close(out[b : b + 1], alone, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", list(SEQ2SEQ))
def test_beam_of_one_is_greedy(name):
    model = _tiny(name)
    src = torch.randint(0, 7, (4, 5))
    for eos in (None, 2):
        greedy = model.generate(src, 6, bos_token_id=1, eos_token_id=eos)
        assert torch.equal(model.generate(src, 6, bos_token_id=1, eos_token_id=eos, num_beams=1), greedy)
        rows = [
            model._beam(
                *model.select(*model.encode(src[b : b + 1]), torch.tensor([0])), 6, 1, eos, 1, src.device
            )
            for b in range(4)
        ]
        for b, row in enumerate(rows):  # the beam-search code path itself, with a beam of one
            assert row == greedy[b, : len(row)].tolist()
            assert eos is not None or len(row) == 7


def _log_probs(model, src, seqs):
    """Sum of log p(seq[t] | seq[:t], src) by teacher forcing; equal-length seqs, each starting with BOS."""
    seqs = torch.tensor(seqs)  # (M, 1 + k)
    logp = model(src.expand(len(seqs), -1), seqs[:, :-1]).log_softmax(-1)  # (M, k, V)
    return logp.gather(-1, seqs[:, 1:, None]).squeeze(-1).sum(-1)  # (M,)


@pytest.mark.parametrize("name", list(SEQ2SEQ))
def test_exhaustive_beam_finds_brute_force_best(name):
    model = _tiny(name)
    vocab, steps, bos, eos = 5, 3, 1, 2
    differs = 0
    for seed in range(8):
        src = torch.randint(0, 7, (1, 4), generator=torch.Generator().manual_seed(seed))
        outputs, scores = [], []  # every output: stops at the first EOS, else runs to max_new_tokens
        for k in range(1, steps + 1):
            group = [
                [bos, *body]
                for body in itertools.product(range(vocab), repeat=k)
                if eos not in body[:-1] and (k == steps or body[-1] == eos)
            ]
            outputs += group
            scores += _log_probs(model, src, group).tolist()
        assert len(outputs) == 1 + 4 + 16 + 64
        best = outputs[int(np.argmax(scores))]
        beam = model.generate(src, steps, bos, eos, num_beams=vocab**steps)[0].tolist()
        assert beam[: len(best)] == best and all(t == eos for t in beam[len(best) :]), (beam, best)
        greedy = model.generate(src, steps, bos, eos)[0].tolist()
        differs += greedy[: len(best)] != best
    assert differs > 0  # else this test could not tell a beam search from greedy decoding


def test_seq2seq_attention_learns_to_reverse():
    torch.manual_seed(0)
    bos, eos, symbols, length = 1, 2, 6, 5
    model = dlzoo.create_model(
        "seq2seq_attention",
        src_vocab_size=3 + symbols,
        tgt_vocab_size=3 + symbols,
        embed_dim=16,
        hidden_size=32,
        attn_dim=32,
    )
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)

    def batch(n):
        src = torch.randint(3, 3 + symbols, (n, length))
        tgt = torch.cat([torch.full((n, 1), bos), src.flip(1), torch.full((n, 1), eos)], 1)  # BOS rev EOS
        return src, tgt

    for _ in range(120):
        src, tgt = batch(64)
        logits = model(src, tgt[:, :-1])
        loss = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt[:, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    src, tgt = batch(200)
    out = model.generate(src, length + 1, bos, eos)
    exact = (out[:, : length + 2] == tgt).all(1).float().mean().item()
    assert exact > 0.95, (exact, loss.item())


@pytest.mark.parametrize("name", list(SEQ2SEQ))
def test_seq2seq_bad_input(name):
    model = _tiny(name)
    with pytest.raises(ValueError, match="token ids must lie in"):
        model(torch.tensor([[7]]), torch.tensor([[0]]))
    with pytest.raises(ValueError, match="batch sizes differ"):
        model(torch.zeros(2, 3, dtype=torch.long), torch.zeros(1, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="bos_token_id must be an id"):
        model.generate(torch.zeros(1, 3, dtype=torch.long), 3, bos_token_id=5)
    with pytest.raises(ValueError, match="num_beams must be an int >= 1"):
        model.generate(torch.zeros(1, 3, dtype=torch.long), 3, bos_token_id=1, num_beams=0)
    with pytest.raises(ValueError, match=r"every length must be in \[1, 3\]"):
        model(torch.zeros(1, 3, dtype=torch.long), torch.zeros(1, 2, dtype=torch.long), src_lengths=[4])


@pytest.mark.parametrize("cell", list(CELLS))
def test_classifier_lengths_equal_torch_packed_final_states(cell):
    torch.manual_seed(0)
    model = dlzoo.create_model(f"{cell}_classifier", hidden_size=5, num_layers=2, bidirectional=True).to(DT)
    ref_rnn = CELLS[cell](8, 5, num_layers=2, batch_first=True, bidirectional=True).to(DT)
    ref_rnn.load_state_dict(_strip(model.state_dict(), "rnn."), strict=True)
    x, lengths = torch.randn(3, 8, 8, dtype=DT), torch.tensor([3, 8, 5])
    _, h_n = ref_rnn(nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False))
    h_n = h_n[0] if cell == "lstm" else h_n
    expected = model.fc(torch.cat([h_n[-2], h_n[-1]], -1))
    torch.testing.assert_close(model(x, lengths=lengths), expected, rtol=1e-10, atol=1e-12)
    for n, length in enumerate(lengths.tolist()):  # and each sequence alone, cut at its length
        torch.testing.assert_close(model(x[n : n + 1], lengths=[length]), model(x[n : n + 1, :length]))


@pytest.mark.slow
def test_lstm_classifier_learns_digits_read_row_by_row():
    from dlzoo.data.digits import digits

    splits = digits()
    x, y = splits.train.x, splits.train.y
    x, y = x[:, 0], y  # (N, 1, 8, 8) -> (N, 8 rows, 8 pixels)
    torch.manual_seed(0)
    model = dlzoo.create_model("lstm_classifier")
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(6):
        for idx in torch.randperm(len(x)).split(64):
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    vx, vy = splits.val.x, splits.val.y
    with torch.no_grad():
        acc = (model.eval()(vx[:, 0]).argmax(-1) == vy).float().mean().item()
    assert acc > 0.9, acc
