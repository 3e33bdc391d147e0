"""Recurrent attention model: the REINFORCE estimator against closed-form expected gradients (Gaussian and
categorical policies), the glimpse sensor against direct crops / average pooling, the hybrid loss against
its terms, and eval-mode determinism."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

import dlzoo
from dlzoo.models.vision_attention.ram import GlimpseSensor, RecurrentAttention, reinforce_loss


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("use_baseline", [False, True])
def test_reinforce_gradient_of_a_gaussian_policy_matches_the_closed_form(use_baseline):
    # l ~ N(mu, s^2), R(l) = -(l - a)^2  =>  E[R] = -(mu - a)^2 - s^2,  dE[R]/dmu = -2 (mu - a)
    mu = torch.tensor([0.3, -0.2], dtype=torch.float64, requires_grad=True)
    s, a = 0.5, torch.tensor([1.0, 0.5], dtype=torch.float64)
    g = torch.Generator().manual_seed(0)
    l = (mu + s * torch.randn(400_000, 2, dtype=torch.float64, generator=g)).detach()
    log_prob = torch.distributions.Normal(mu, s).log_prob(l)  # (S, 2): each coordinate its own episode
    reward = -(l - a).square()
    expected = -(mu.detach() - a).square() - s**2  # E[R], the optimal constant baseline's value
    baselines = expected.expand_as(l) if use_baseline else None
    (grad,) = torch.autograd.grad(_per_coordinate(log_prob, reward, baselines), mu)
    torch.testing.assert_close(-grad, -2 * (mu.detach() - a), rtol=0, atol=0.02)


def _per_coordinate(log_prob, reward, baselines):
    """Sum of each coordinate's REINFORCE surrogate (independent episodes per coordinate)."""
    return sum(reinforce_loss(log_prob[:, j], reward[:, j], None if baselines is None else baselines[:, j])
               for j in range(log_prob.shape[1]))


def test_baseline_keeps_the_estimator_unbiased_and_lowers_its_variance():
    mu = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)
    g = torch.Generator().manual_seed(1)
    l = (mu + 0.5 * torch.randn(50_000, dtype=torch.float64, generator=g)).detach()
    reward = -(l - 1.0).square() + 5.0  # a large constant offset: high variance without a baseline
    per_sample = (l - mu.detach()) / 0.25  # d/dmu log N(l; mu, 0.25)
    plain, based = reward * per_sample, (reward - reward.mean()) * per_sample
    exact = -2 * (0.3 - 1.0)
    assert abs(plain.mean().item() - exact) < 0.1 and abs(based.mean().item() - exact) < 0.05
    assert based.var() < 0.2 * plain.var()
    # reinforce_loss's gradient is exactly minus the mean of those per-sample estimates
    log_prob = torch.distributions.Normal(mu, 0.5).log_prob(l)
    (grad,) = torch.autograd.grad(reinforce_loss(log_prob, reward, reward.mean().expand_as(l)), mu)
    torch.testing.assert_close(-grad, based.mean())


def test_reinforce_gradient_of_a_categorical_policy_equals_exact_enumeration():
    logits = torch.tensor([0.2, -0.5, 1.0, 0.0], dtype=torch.float64, requires_grad=True)
    rewards = torch.tensor([1.0, 3.0, -2.0, 0.5], dtype=torch.float64)
    (exact,) = torch.autograd.grad((logits.softmax(-1) * rewards).sum(), logits)  # grad E[R] by enumeration
    dist = torch.distributions.Categorical(logits=logits)
    actions = dist.sample((400_000,))
    (grad,) = torch.autograd.grad(reinforce_loss(dist.log_prob(actions), rewards[actions]), logits)
    torch.testing.assert_close(-grad, exact, rtol=0, atol=0.02)


def test_glimpse_sensor_equals_a_crop_and_average_pooling():
    x = torch.randn(2, 1, 8, 8, dtype=torch.float64)
    sensor = GlimpseSensor(patch_size=4, num_scales=2, scale=2.0)
    centre = torch.zeros(2, 2, dtype=torch.float64)
    out = sensor(x, centre)  # (2, 2, 4, 4)
    torch.testing.assert_close(out[:, :1], x[:, :, 2:6, 2:6])  # 4-pixel patch at the centre: a crop
    torch.testing.assert_close(out[:, 1:], F.avg_pool2d(x, 2))  # 8-pixel patch at 4x4: 2x2 averages
    left = torch.tensor([[-0.5, 0.0]] * 2, dtype=torch.float64)  # x = -0.5 -> pixel 1.5: columns 0..3
    torch.testing.assert_close(sensor(x, left)[:, :1], x[:, :, 2:6, 0:4])
    corner = torch.tensor([[1.0, 1.0]] * 2, dtype=torch.float64)  # half the patch lies outside: zeros
    patch = sensor(x, corner)[:, 0]
    torch.testing.assert_close(patch[:, 2:, 2:], torch.zeros(2, 2, 2, dtype=torch.float64))
    torch.testing.assert_close(patch[:, :2, :2], x[:, 0, 6:, 6:])


def test_hybrid_loss_is_ce_plus_reinforce_plus_baseline_mse():
    torch.manual_seed(0)
    model = RecurrentAttention(num_glimpses=3).double().train()
    x, y = torch.randn(5, 1, 8, 8, dtype=torch.float64), torch.tensor([0, 1, 2, 3, 4])
    loss = model.loss(x, y, generator=torch.Generator().manual_seed(3))
    _, trace = model.episode(x, torch.Generator().manual_seed(3))
    r = (trace.logits.argmax(-1) == y).double()
    want = (F.cross_entropy(trace.logits, y)
            - (trace.log_probs * (r[:, None] - trace.baselines.detach())).sum(-1).mean()
            + (trace.baselines - r[:, None]).square().sum(-1).mean())
    torch.testing.assert_close(loss, want)
    assert trace.locations.shape == (5, 3, 2) and trace.locations.abs().max() <= 1
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())
    assert model.locator.weight.grad.abs().sum() > 0  # the policy learns only through REINFORCE


def test_eval_uses_the_policy_mean_and_train_samples_around_it():
    torch.manual_seed(0)
    model = dlzoo.create_model("recurrent_attention").eval()
    x = torch.randn(3, 1, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(model(x), model(x), rtol=0, atol=0)
        model.train()
        a = model.episode(x, torch.Generator().manual_seed(0))[1].locations
        b = model.episode(x, torch.Generator().manual_seed(1))[1].locations
    assert not torch.equal(a, b)
    with pytest.raises(ValueError, match="RecurrentAttention: expected input"):
        model(torch.randn(3, 8, 8))
