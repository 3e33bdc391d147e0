"""Regularizers: L2 == SGD weight decay, elastic net == sklearn's optimum (KKT), orthogonality penalties on
matrices with known values, SRIP vs torch.linalg.matrix_norm(ord=2), max-norm vs torch.renorm."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.linear_model import ElasticNet

from dlzoo.losses.regularizers import (
    MaxNorm,
    double_soft_orthogonality,
    elastic_net_penalty,
    gram_minus_identity,
    l1_penalty,
    l2_penalty,
    max_norm_,
    mutual_coherence,
    orthogonality_penalty,
    soft_orthogonality,
    spectral_norm_power_iteration,
    srip,
)

DT = torch.float64


def test_l2_penalty_gradient_is_sgd_weight_decay():
    torch.manual_seed(0)
    a, b = torch.nn.Linear(5, 3).double(), torch.nn.Linear(5, 3).double()
    b.load_state_dict(a.state_dict())
    x, y = torch.randn(8, 5, dtype=DT), torch.randn(8, 3, dtype=DT)
    lam, lr = 0.3, 0.1
    opt_a = torch.optim.SGD(a.parameters(), lr=lr, weight_decay=lam)
    opt_b = torch.optim.SGD(b.parameters(), lr=lr)
    for _ in range(3):
        opt_a.zero_grad()
        ((a(x) - y) ** 2).mean().backward()
        opt_a.step()
        opt_b.zero_grad()
        (((b(x) - y) ** 2).mean() + lam / 2 * l2_penalty(b.parameters())).backward()
        opt_b.step()
    for p, q in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(p, q)
    w = torch.randn(4, 4, dtype=DT)
    assert l1_penalty([w, w]).item() == pytest.approx(2 * np.abs(w.numpy()).sum())


@pytest.mark.parametrize("l1_ratio", [1.0, 0.5, 0.1])
def test_elastic_net_penalty_kkt_at_sklearn_optimum(l1_ratio):
    rng = np.random.default_rng(0)
    n, d, alpha = 60, 8, 0.1
    x = rng.normal(size=(n, d))
    y = x @ np.array([2.0, -1.0, 0, 0, 0.5, 0, 0, 0]) + 0.1 * rng.normal(size=n)
    model = ElasticNet(alpha=alpha, l1_ratio=l1_ratio, fit_intercept=False, tol=1e-12, max_iter=100000)
    model.fit(x, y)
    w = torch.tensor(model.coef_, dtype=DT, requires_grad=True)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    data = ((yt - xt @ w) ** 2).sum() / (2 * n)  # sklearn's data term
    # smooth part: data + L2 part of the penalty; L1 part handled through its subgradient
    (g_smooth,) = torch.autograd.grad(data + elastic_net_penalty(w, alpha, 0.0) * (1 - l1_ratio), w,
                                      retain_graph=True)
    (g_total,) = torch.autograd.grad(data + elastic_net_penalty(w, alpha, l1_ratio), w)
    nz = w.detach().abs() > 1e-10
    assert nz.any() and (~nz).any()
    torch.testing.assert_close(g_total[nz], torch.zeros_like(g_total[nz]), atol=1e-7, rtol=0)
    assert torch.all(g_smooth[~nz].abs() <= alpha * l1_ratio + 1e-7)  # 0 in the subdifferential


def test_orthogonality_penalties_known_values():
    q, _ = torch.linalg.qr(torch.randn(6, 6, dtype=DT))  # orthogonal
    for fn in (soft_orthogonality, double_soft_orthogonality, mutual_coherence):
        assert fn(q).item() == pytest.approx(0.0, abs=1e-12)
    assert srip(q, n_iter=5).item() == pytest.approx(0.0, abs=1e-7)
    c = 1.3  # scaled orthogonal: G - I = (c^2 - 1) I
    assert soft_orthogonality(c * q).item() == pytest.approx(6 * (c**2 - 1) ** 2)
    assert srip(c * q, n_iter=3).item() == pytest.approx(c**2 - 1)
    rows = q[:4]  # (4, 6) with orthonormal rows: W W^T = I, W^T W a rank-4 projection
    assert soft_orthogonality(rows).item() == pytest.approx(0.0, abs=1e-12)
    assert double_soft_orthogonality(rows).item() == pytest.approx(6 - 4)
    conv = rows.reshape(4, 1, 2, 3)  # conv weight (out, in, kh, kw) -> (4, 6)
    assert soft_orthogonality(conv).item() == pytest.approx(0.0, abs=1e-12)
    assert gram_minus_identity(torch.randn(8, 3, 3, 3)).shape == (8, 8)
    assert gram_minus_identity(torch.randn(30, 5)).shape == (5, 5)  # smaller Gram
    w = torch.tensor([[1.0, 0.0], [1.0, 1.0]], dtype=DT)  # rows at 45 degrees: coherence cos = 1/sqrt(2)
    assert mutual_coherence(w).item() == pytest.approx(2**-0.5)


def test_srip_power_iteration_matches_matrix_norm_value_and_grad():
    w = torch.randn(5, 12, dtype=DT, requires_grad=True)
    est = srip(w, n_iter=300, v=torch.ones(5, dtype=DT))
    ref = torch.linalg.matrix_norm(gram_minus_identity(w), ord=2)
    torch.testing.assert_close(est, ref)
    torch.testing.assert_close(torch.autograd.grad(est, w)[0], torch.autograd.grad(ref, w)[0],
                               rtol=1e-6, atol=1e-8)
    a = torch.randn(7, 7, dtype=DT)
    a = a + a.t()
    sigma, v = spectral_norm_power_iteration(a, 2)
    sigma2, _ = spectral_norm_power_iteration(a, 400, v)  # warm start continues converging
    assert sigma2.item() == pytest.approx(torch.linalg.matrix_norm(a, ord=2).item(), rel=1e-8)
    assert sigma.item() <= sigma2.item() + 1e-12  # ||A v|| <= sigma for unit v
    squared = srip(w, squared=True, v=torch.ones(5, dtype=DT), n_iter=300)
    assert squared.item() == pytest.approx(ref.item() ** 2)


def test_orthogonality_penalty_over_model_skips_vectors():
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.Flatten(),
                                torch.nn.Linear(4, 2))
    expected = soft_orthogonality(model[0].weight) + soft_orthogonality(model[3].weight)
    torch.testing.assert_close(orthogonality_penalty(model, "so"), expected)
    orthogonality_penalty(model, "srip").backward()
    assert model[0].weight.grad is not None and model[1].weight.grad is None
    with pytest.raises(ValueError, match="kind must be one of"):
        orthogonality_penalty(model, "nope")


@pytest.mark.parametrize("shape,dim", [((6, 5), 0), ((4, 3, 2, 2), 0), ((6, 5), 1)])
def test_max_norm_matches_torch_renorm(shape, dim):
    w = torch.randn(*shape, dtype=DT) * 2
    w[0] *= 0.01  # one unit well under the limit stays untouched
    expected = torch.renorm(w, p=2, dim=dim, maxnorm=1.5)
    p = torch.nn.Parameter(w.clone())
    max_norm_([p], 1.5, dim=dim)
    torch.testing.assert_close(p.data, expected, rtol=1e-12, atol=1e-12)
    lin = torch.nn.Linear(5, 6).double()
    lin.weight.data.mul_(10)
    bias_before = lin.bias.detach().clone()
    MaxNorm(0.5)(lin)
    assert torch.all(lin.weight.norm(dim=1) <= 0.5 + 1e-9)
    assert torch.equal(lin.bias, bias_before)  # 1-d params untouched
