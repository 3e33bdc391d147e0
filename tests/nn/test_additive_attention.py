"""AdditiveAttention against Bahdanau et al. 2015 (arXiv:1409.0473) eqs. 5-6, written out element by element.

e_ij = v^T tanh(W_q s_i + W_k h_j); alpha_ij = exp(e_ij) / sum_k exp(e_ik) over unpadded k;
c_i = sum_j alpha_ij h_j. Float64: outputs and the gradients of query, keys, values and every parameter
equal the scalar-loop equation's, and torch.autograd.gradcheck passes on the forward (with a padding mask).
"""

from __future__ import annotations

import math

import pytest
import torch

from dlzoo.nn import AdditiveAttention
from dlzoo.nn.attention import AdditiveAttention as FromAttention

DT = torch.float64
B, TQ, TK, DQ, DK, A, DV = 2, 3, 4, 5, 6, 7, 3


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny ops on a shared 2-core machine: one thread is much faster than two contending ones."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _module(bias=False):
    torch.manual_seed(0)
    return AdditiveAttention(DQ, DK, A, bias=bias).to(DT)


def _paper(m, query, key, value, mask):
    """The paper's equations with Python loops over batch, query and key positions."""
    wq, wk, v = m.query_proj.weight, m.key_proj.weight, m.v.weight[0]
    bq = m.query_proj.bias
    contexts, weights = [], []
    for b in range(query.shape[0]):
        rows_c, rows_w = [], []
        for i in range(query.shape[1]):
            s = query[b, i]
            pre_q = wq @ s + (bq if bq is not None else 0.0)
            e = [torch.dot(v, torch.tanh(pre_q + wk @ key[b, j])) for j in range(key.shape[1])]
            valid = [j for j in range(key.shape[1]) if mask is None or not mask[b, j]]
            z = sum(torch.exp(e[j]) for j in valid)
            alpha = [torch.exp(e[j]) / z if j in valid else e[j] * 0.0 for j in range(key.shape[1])]
            rows_w.append(torch.stack(alpha))
            rows_c.append(sum(alpha[j] * value[b, j] for j in range(key.shape[1])))
        contexts.append(torch.stack(rows_c))
        weights.append(torch.stack(rows_w))
    return torch.stack(contexts), torch.stack(weights)


def _data(seed=1):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(B, TQ, DQ, generator=g, dtype=DT, requires_grad=True)
    k = torch.randn(B, TK, DK, generator=g, dtype=DT, requires_grad=True)
    v = torch.randn(B, TK, DV, generator=g, dtype=DT, requires_grad=True)
    return q, k, v


MASK = torch.tensor([[False, False, True, True], [False, False, False, False]])


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("mask", [None, MASK], ids=["nomask", "mask"])
def test_equals_paper_equations_outputs_and_grads(bias, mask):
    m = _module(bias)
    q, k, v = _data()
    got_c, got_w = m(q, k, v, key_padding_mask=mask)
    exp_c, exp_w = _paper(m, q, k, v, mask)
    torch.testing.assert_close(got_c, exp_c, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(got_w, exp_w, rtol=1e-12, atol=1e-12)
    g = torch.Generator().manual_seed(3)
    wc, ww = torch.randn(got_c.shape, generator=g, dtype=DT), torch.randn(got_w.shape, generator=g, dtype=DT)
    leaves = [q, k, v, *m.parameters()]
    got = torch.autograd.grad((got_c * wc).sum() + (got_w * ww).sum(), leaves)
    exp = torch.autograd.grad((exp_c * wc).sum() + (exp_w * ww).sum(), leaves)
    for a, b in zip(got, exp, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    if mask is not None:
        assert torch.all(got_w[0, :, 2:] == 0)
        torch.testing.assert_close(got_w.sum(-1), torch.ones(B, TQ, dtype=DT))


def test_gradcheck_with_mask():
    m = _module(bias=True)
    q, k, v = _data()

    def f(q, k, v, *params):
        return m(q, k, v, key_padding_mask=MASK)

    assert torch.autograd.gradcheck(f, (q, k, v), eps=1e-6, atol=1e-8)


def test_single_query_and_value_defaults_to_key():
    m = AdditiveAttention(DK).to(DT)  # key_dim and attn_dim default to query_dim
    _, k, _ = _data()
    s = torch.randn(B, DK, dtype=DT)
    c, w = m(s, k)
    c3, w3 = m(s.unsqueeze(1), k, k)
    assert c.shape == (B, DK) and w.shape == (B, TK)
    torch.testing.assert_close(c, c3[:, 0])
    torch.testing.assert_close(w, w3[:, 0])
    torch.testing.assert_close(m(s, k, projected_key=m.project_keys(k))[0], c)
    assert FromAttention is AdditiveAttention


def test_padding_is_ignored_and_all_padding_gives_zeros():
    m = _module()
    q, k, v = _data()
    c, _ = m(q, k, v, key_padding_mask=MASK)
    k2, v2 = k.detach().clone(), v.detach().clone()
    k2[0, 2:] = 100.0
    v2[0, 2:] = -math.pi
    torch.testing.assert_close(m(q, k2, v2, key_padding_mask=MASK)[0], c)
    full = torch.ones(B, TK, dtype=torch.bool)
    c0, w0 = m(q, k, v, key_padding_mask=full)
    assert torch.count_nonzero(c0) == 0 and torch.count_nonzero(w0) == 0
    c0.sum().backward()
    assert all(torch.isfinite(t.grad).all() for t in (q, k, v))


def test_bad_input_raises():
    m = _module()
    q, k, v = _data()
    with pytest.raises(ValueError, match=r"AdditiveAttention: expected query \(B, 5\)"):
        m(q[..., :4], k)
    with pytest.raises(ValueError, match=r"AdditiveAttention: expected key \(2, Tk, 6\)"):
        m(q, k[:1])
    with pytest.raises(ValueError, match="expected value"):
        m(q, k, v[:, :2])
    with pytest.raises(TypeError, match="key_padding_mask must be bool"):
        m(q, k, v, key_padding_mask=MASK.float())
    with pytest.raises(ValueError, match="key_padding_mask of shape"):
        m(q, k, v, key_padding_mask=MASK[:, :3])
    with pytest.raises(ValueError, match="attn_dim must be a positive int"):
        AdditiveAttention(4, attn_dim=0)
