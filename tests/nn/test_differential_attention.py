"""DifferentialMultiheadAttention vs the paper's equations (arXiv 2410.05258) and a two-softmax reference
written here, float64, outputs and gradients, fused and reference_mode paths."""

import math

import pytest
import torch

import dlzoo
from dlzoo.nn import DifferentialMultiheadAttention, create_attn


def _two_softmax_reference(m, x, causal=False):
    """Eq. 1-3 written per head with two explicit softmaxes and an explicit per-head RMSNorm."""
    b, t, dm = x.shape
    h, d = m.num_heads, m.head_dim
    lam_init = 0.8 - 0.6 * math.exp(-0.3 * (m.layer_idx - 1))
    lam = (torch.exp((m.lambda_q1 * m.lambda_k1).sum()) - torch.exp((m.lambda_q2 * m.lambda_k2).sum())
           + lam_init)
    q = x @ m.q_proj.weight.T
    k = x @ m.k_proj.weight.T
    v = x @ m.v_proj.weight.T
    heads = []
    mask = torch.ones(t, t, dtype=torch.bool).tril() if causal else torch.ones(t, t, dtype=torch.bool)
    for i in range(h):
        qi = q[..., 2 * d * i: 2 * d * (i + 1)]
        ki = k[..., 2 * d * i: 2 * d * (i + 1)]
        vi = v[..., 2 * d * i: 2 * d * (i + 1)]
        q1, q2 = qi[..., :d], qi[..., d:]
        k1, k2 = ki[..., :d], ki[..., d:]
        s1 = (q1 @ k1.transpose(-1, -2) / math.sqrt(d)).masked_fill(~mask, float("-inf"))
        s2 = (q2 @ k2.transpose(-1, -2) / math.sqrt(d)).masked_fill(~mask, float("-inf"))
        o = (torch.softmax(s1, -1) - lam * torch.softmax(s2, -1)) @ vi  # (B, T, 2d)
        o = o / torch.sqrt(o.pow(2).mean(-1, keepdim=True) + 1e-5) * m.subln.weight
        heads.append(o * (1 - lam_init))
    return torch.cat(heads, -1) @ m.out_proj.weight.T


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("reference", [False, True])
def test_equals_two_softmax_reference_float64(causal, reference):
    torch.manual_seed(0)
    m = DifferentialMultiheadAttention(24, 3, layer_idx=4).double()
    with torch.no_grad():
        m.subln.weight.uniform_(0.5, 1.5)
    x = torch.randn(2, 7, 24, dtype=torch.float64, requires_grad=True)
    ctx = dlzoo.reference_mode() if reference else torch.enable_grad()
    with ctx:
        y = m(x, is_causal=causal)
    y_ref = _two_softmax_reference(m, x, causal)
    torch.testing.assert_close(y, y_ref, rtol=1e-10, atol=1e-10)
    g = torch.randn_like(y)
    params = [x, *m.parameters()]
    grads = torch.autograd.grad(y, params, g)
    grads_ref = torch.autograd.grad(y_ref, params, g)
    for a, b in zip(grads, grads_ref):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-10)


def test_lambda_init_schedule_and_head_dim():
    for layer, expect in ((1, 0.2), (2, 0.8 - 0.6 * math.exp(-0.3)), (12, 0.8 - 0.6 * math.exp(-3.3))):
        m = DifferentialMultiheadAttention(16, 2, layer_idx=layer)
        assert m.lambda_init == pytest.approx(expect)
    assert m.head_dim == 4 and m.lambda_q1.shape == (4,)
    assert 0.05 < float(torch.cat([m.lambda_q1, m.lambda_k1]).detach().std()) < 0.25  # N(0, 0.1)


def test_lambda_zero_is_single_softmax_attention():
    """With lambda = 0 the output is ordinary attention on the first half-heads (a check against torch's
    F.scaled_dot_product_attention, which we did not write)."""
    torch.manual_seed(1)
    m = DifferentialMultiheadAttention(16, 2, layer_idx=1).double()  # lambda_init 0.2
    with torch.no_grad():
        for p in (m.lambda_q1, m.lambda_k1, m.lambda_q2, m.lambda_k2):
            p.zero_()
    m.lambda_init = 0.0  # exp(0) - exp(0) + 0 = 0 and the (1 - lambda_init) factor is 1
    x = torch.randn(2, 5, 16, dtype=torch.float64)
    q = (x @ m.q_proj.weight.T).view(2, 5, 2, 2, 4)[:, :, :, 0].transpose(1, 2)
    k = (x @ m.k_proj.weight.T).view(2, 5, 2, 2, 4)[:, :, :, 0].transpose(1, 2)
    v = (x @ m.v_proj.weight.T).view(2, 5, 2, 8).transpose(1, 2)
    o = torch.nn.functional.scaled_dot_product_attention(q, k, v)
    o = torch.nn.functional.rms_norm(o, (8,), m.subln.weight, 1e-5)
    ref = o.transpose(1, 2).reshape(2, 5, 16) @ m.out_proj.weight.T
    torch.testing.assert_close(m(x), ref)


def test_registered_and_bad_input():
    m = create_attn("differential", 16, num_heads=2)
    assert isinstance(m, DifferentialMultiheadAttention)
    with pytest.raises(ValueError, match="DifferentialMultiheadAttention.*divisible"):
        DifferentialMultiheadAttention(18, 2)
    with pytest.raises(ValueError, match="DifferentialMultiheadAttention: expected x"):
        m(torch.randn(2, 5, 15))
