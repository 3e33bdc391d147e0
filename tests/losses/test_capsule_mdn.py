"""Capsule margin loss vs Sabour et al. Eq. 4 written out; MDN NLL vs torch.distributions mixtures."""

from __future__ import annotations

import pytest
import torch
from torch.distributions import Categorical, Independent, MixtureSameFamily, Normal

from dlzoo.losses import create_loss
from dlzoo.losses.capsule import MarginLoss, margin_loss
from dlzoo.losses.mdn import MDNLoss, mdn_nll

DT = torch.float64


def test_margin_loss_matches_eq4():
    v = torch.randn(6, 10, 16, dtype=DT) * 0.3  # capsule vectors
    y = torch.randint(0, 10, (6,))
    total = 0.0
    for n in range(6):
        for k in range(10):
            length = float(v[n, k].norm())
            t_k = 1.0 if k == int(y[n]) else 0.0
            total += t_k * max(0.0, 0.9 - length) ** 2 + 0.5 * (1 - t_k) * max(0.0, length - 0.1) ** 2
    assert margin_loss(v, y).item() == pytest.approx(total / 6, rel=1e-12)
    assert margin_loss(v.norm(dim=-1), y, reduction="sum").item() == pytest.approx(total, rel=1e-12)
    multi_hot = torch.nn.functional.one_hot(y, 10).to(DT)
    torch.testing.assert_close(MarginLoss()(v, multi_hot), margin_loss(v, y))
    assert isinstance(create_loss("capsule_margin"), MarginLoss)
    # zero loss exactly when the true capsule is long (>= 0.9) and the others short (<= 0.1)
    lengths = torch.full((1, 3), 0.05, dtype=DT)
    lengths[0, 2] = 0.95
    assert margin_loss(lengths, torch.tensor([2])).item() == 0.0


@pytest.mark.parametrize("d", [1, 3])
def test_mdn_nll_matches_torch_distributions(d):
    n, k = 7, 4
    logits = torch.randn(n, k, dtype=DT, requires_grad=True)
    mu = torch.randn(n, k, d, dtype=DT, requires_grad=True)
    sigma = (torch.rand(n, k, d, dtype=DT) + 0.2).requires_grad_()
    y = torch.randn(n, d, dtype=DT) * 2
    ours = mdn_nll(logits, mu, sigma, y)
    mix = MixtureSameFamily(Categorical(logits=logits), Independent(Normal(mu, sigma), 1))
    ref = -mix.log_prob(y).mean()
    torch.testing.assert_close(ours, ref)
    params = (logits, mu, sigma)
    for a, b in zip(torch.autograd.grad(ours, params), torch.autograd.grad(ref, params)):
        torch.testing.assert_close(a, b)
    if d == 1:  # trailing D = 1 may be dropped
        torch.testing.assert_close(mdn_nll(logits, mu[..., 0], sigma[..., 0], y[:, 0]), ours)


def test_mdn_far_outlier_is_stable_and_errors():
    logits = torch.zeros(1, 2, dtype=DT)
    mu = torch.zeros(1, 2, 1, dtype=DT)
    sigma = torch.full((1, 2, 1), 0.01, dtype=DT)
    y = torch.full((1, 1), 1e3, dtype=DT)  # every component density underflows to 0 in naive form
    assert torch.isfinite(mdn_nll(logits, mu, sigma, y))
    m = create_loss("mdn")
    assert isinstance(m, MDNLoss)
    with pytest.raises(ValueError, match="sigma must be > 0"):
        m(logits, mu, -sigma, y)
    with pytest.raises(ValueError, match="expected pi_logits"):
        m(logits, mu, sigma, torch.zeros(2, 1, dtype=DT))
