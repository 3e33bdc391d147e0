"""MixtureDensityHead: NLL equal to dlzoo.losses.MDNLoss and to torch.distributions MixtureSameFamily,
float64 values and gradients; sampling matches the mixture moments."""

import pytest
import torch
from torch import distributions as dist

from dlzoo.losses import MDNLoss
from dlzoo.nn import MixtureDensityHead


def _torch_mixture(pi_logits, mu, sigma):
    comp = dist.Independent(dist.Normal(mu, sigma), 1)
    return dist.MixtureSameFamily(dist.Categorical(logits=pi_logits), comp)


def test_nll_equals_mdn_loss_and_torch_distributions():
    torch.manual_seed(0)
    head = MixtureDensityHead(6, 2, 3).double()
    h = torch.randn(8, 6, dtype=torch.float64, requires_grad=True)
    y = torch.randn(8, 2, dtype=torch.float64)
    pi, mu, sigma = head(h)
    assert pi.shape == (8, 3) and mu.shape == (8, 3, 2) and bool((sigma > 0).all())
    nll = head.nll(h, y)
    torch.testing.assert_close(nll, MDNLoss()(pi, mu, sigma, y))
    ref = -_torch_mixture(pi, mu, sigma).log_prob(y).mean()
    torch.testing.assert_close(nll, ref)
    torch.testing.assert_close(head.log_prob(h, y), _torch_mixture(pi, mu, sigma).log_prob(y))
    params = [h, *head.parameters()]
    for a, b in zip(torch.autograd.grad(nll, params), torch.autograd.grad(ref, params)):
        torch.testing.assert_close(a, b)


def test_samples_match_mixture_mean_and_variance():
    torch.manual_seed(1)
    head = MixtureDensityHead(4, 1, 2).double()
    h = torch.randn(3, 4, dtype=torch.float64)
    s = head.sample(h, 20000, generator=torch.Generator().manual_seed(0))  # (S, N, 1)
    assert s.shape == (20000, 3, 1)
    mix = _torch_mixture(*head(h))
    torch.testing.assert_close(s.mean(0), mix.mean.detach(), atol=0.05, rtol=0)
    torch.testing.assert_close(s.var(0), mix.variance.detach(), rtol=0.05, atol=0.01)


def test_bad_input():
    with pytest.raises(ValueError, match="MixtureDensityHead: expected"):
        MixtureDensityHead(4, 1, 2)(torch.randn(3, 5))
