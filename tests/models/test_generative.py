"""Generative models against references we did not write: torch.distributions (KL, log-likelihoods),
Monte Carlo estimates, BCE-with-logits GAN losses, the papers' schedule formulas written with numpy, iterated
forward diffusion steps, and ancestral sampling with the exact (closed-form) denoiser of Gaussian data."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import distributions as D
from torch.nn import functional as F

import dlzoo
from dlzoo.models.generative.dcgan import DCGAN
from dlzoo.models.generative.ddpm import DDPM, make_beta_schedule
from dlzoo.models.generative.vae import VAE, gaussian_kl


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny ops on shared cores: one thread is faster and steadier."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_analytic_kl_equals_torch_distributions_and_a_monte_carlo_estimate():
    g = torch.Generator().manual_seed(0)
    mu = torch.randn(3, 4, dtype=torch.float64, generator=g)
    logvar = torch.randn(3, 4, dtype=torch.float64, generator=g) * 0.5
    q, p = D.Normal(mu, (0.5 * logvar).exp()), D.Normal(torch.zeros_like(mu), torch.ones_like(mu))
    torch.testing.assert_close(gaussian_kl(mu, logvar), D.kl_divergence(q, p).sum(-1), rtol=1e-12, atol=1e-12)
    z = q.sample((200_000,))  # (S, 3, 4)
    mc = (q.log_prob(z) - p.log_prob(z)).sum(-1).mean(0)  # E_q[log q(z) - log p(z)]
    torch.testing.assert_close(mc, gaussian_kl(mu, logvar), rtol=0.02, atol=0.01)


@pytest.mark.parametrize("decoder", ["bernoulli", "gaussian"])
def test_vae_elbo_terms_equal_torch_distributions(decoder):
    torch.manual_seed(0)
    vae = VAE(hidden_dim=16, latent_dim=3, decoder=decoder).double()
    for p in vae.parameters():
        torch.nn.init.normal_(p, std=0.3)
    x = torch.rand(5, 1, 8, 8, dtype=torch.float64).round()  # binary pixels: a proper Bernoulli likelihood
    z = torch.randn(5, 3, dtype=torch.float64)
    out, logvar = vae.decode(z)
    dist = D.Bernoulli(logits=out) if decoder == "bernoulli" else D.Normal(out, (0.5 * logvar).exp())
    torch.testing.assert_close(vae.log_likelihood(x.flatten(1), z), dist.log_prob(x.flatten(1)).sum(-1))
    # one reparameterised draw with a seeded generator: ELBO = log p(x|z) - KL at z = mu + sigma * eps
    mu, lv = vae.encode(x)
    eps = torch.randn(5, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(7))
    want = vae.log_likelihood(x.flatten(1), mu + (0.5 * lv).exp() * eps) - gaussian_kl(mu, lv)
    torch.testing.assert_close(vae.elbo(x, generator=7), want)
    torch.testing.assert_close(vae.loss(x, generator=7), -want.mean())


def test_reparameterised_gradient_is_unbiased_on_a_closed_form_toy():
    # For a linear-Gaussian toy, d/dmu E_q[-(z - a)^2 / 2] = -(mu - a): the reparameterised estimator with
    # many samples must match it (the property eq. 10 relies on).
    mu = torch.tensor([0.3, -1.0], dtype=torch.float64, requires_grad=True)
    logvar = torch.tensor([0.2, -0.4], dtype=torch.float64)
    a = torch.tensor([1.0, 2.0], dtype=torch.float64)
    eps = torch.randn(100_000, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    z = mu + (0.5 * logvar).exp() * eps
    (grad,) = torch.autograd.grad((-(z - a).square() / 2).sum(-1).mean(), mu)
    torch.testing.assert_close(grad, -(mu.detach() - a), rtol=0, atol=0.02)


def test_dcgan_losses_are_the_non_saturating_bce_objectives_and_init_follows_the_paper():
    torch.manual_seed(0)
    gan = DCGAN()
    weights = torch.cat([m.weight.flatten() for m in gan.modules()
                         if type(m).__name__ in ("Conv2d", "ConvTranspose2d")])
    assert abs(weights.std().item() - 0.02) < 0.002 and abs(weights.mean().item()) < 0.001
    x = torch.rand(6, 1, 8, 8)
    d_loss, g_loss = gan.losses(x, generator=3)
    fake = gan.generate(torch.randn(6, 32, generator=torch.Generator().manual_seed(3)))
    real_logits, fake_logits = gan.discriminate(x * 2 - 1), gan.discriminate(fake)
    ones, zeros = torch.ones(6), torch.zeros(6)
    want_d = (F.binary_cross_entropy_with_logits(real_logits, ones)
              + F.binary_cross_entropy_with_logits(fake_logits, zeros))
    want_g = F.binary_cross_entropy_with_logits(fake_logits, ones)  # -log D(G(z)), not log(1 - D(G(z)))
    torch.testing.assert_close(d_loss, want_d)
    torch.testing.assert_close(g_loss, want_g)
    assert fake.shape == (6, 1, 8, 8) and fake.abs().max() <= 1
    d_only = gan.discriminator_loss(x, generator=3)
    torch.testing.assert_close(d_only, want_d)
    gan.zero_grad()
    d_only.backward()
    assert all(p.grad is None for p in gan.generator.parameters())  # L_D does not train G


def test_beta_schedules_equal_the_papers_formulas():
    np.testing.assert_allclose(make_beta_schedule("linear", 1000).numpy(), np.linspace(1e-4, 0.02, 1000))
    T, s = 1000, 0.008
    steps = np.arange(T + 1) / T
    f = np.cos((steps + s) / (1 + s) * np.pi / 2) ** 2
    abar = f / f[0]
    want = np.minimum(1 - abar[1:] / abar[:-1], 0.999)
    np.testing.assert_allclose(make_beta_schedule("cosine", T).numpy(), want, rtol=1e-12)
    # Nichol & Dhariwal's point: abar_t of the cosine schedule falls roughly linearly in the middle and ends
    # near 0; the linear schedule's abar also ends near 0 at T = 1000
    cos_abar = np.cumprod(1 - make_beta_schedule("cosine", T).numpy())
    assert cos_abar[-1] < 1e-4 and abs(cos_abar[T // 2] - 0.5) < 0.05
    assert np.cumprod(1 - np.linspace(1e-4, 0.02, 1000))[-1] < 1e-4
    with pytest.raises(ValueError, match="schedule must be 'linear' or 'cosine'"):
        make_beta_schedule("quadratic", 10)


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
def test_closed_form_q_xt_given_x0_matches_iterated_forward_steps(schedule):
    ddpm = DDPM(timesteps=50, schedule=schedule, hidden_dim=8, depth=1, time_dim=4).double()
    x0 = torch.linspace(-1, 1, 64, dtype=torch.float64).view(1, 1, 8, 8)
    g = torch.Generator().manual_seed(0)
    n = 10_000
    x = x0.expand(n, 1, 8, 8)
    x_iter = x
    for t in range(50):
        x_iter = ddpm.q_step(x_iter, t, torch.randn(x.shape, dtype=torch.float64, generator=g))
        if t not in (0, 9, 29, 49):
            continue
        noise = torch.randn(x.shape, dtype=torch.float64, generator=g)
        x_closed = ddpm.q_sample(x, torch.full((n,), t), noise)
        abar = float(ddpm.alphas_cumprod[t])
        for sample in (x_iter, x_closed):  # both against the theoretical moments of q(x_t | x_0)
            torch.testing.assert_close(sample.mean(0), math.sqrt(abar) * x0[0], rtol=0, atol=0.04)
            torch.testing.assert_close(sample.var(0), torch.full_like(x0[0], 1 - abar), rtol=0.06, atol=0.01)


class _GaussianOracle(torch.nn.Module):
    """Exact E[eps | x_t] for x_0 ~ N(m, s^2) per pixel: sqrt(1 - a) (x_t - sqrt(a) m) / (a s^2 + 1 - a)."""

    def __init__(self, abar: torch.Tensor, m: float, s: float) -> None:
        super().__init__()
        self.abar, self.m, self.s = abar, m, s

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        a = self.abar[t].view(-1, 1, 1, 1).to(x.dtype)
        return (1 - a).sqrt() * (x - a.sqrt() * self.m) / (a * self.s**2 + 1 - a)


@pytest.mark.parametrize(("schedule", "timesteps", "sigma"), [("cosine", 200, "beta"),
                                                            ("linear", 1000, "posterior")])
def test_ancestral_sampling_with_the_exact_denoiser_recovers_gaussian_data(schedule, timesteps, sigma):
    m, s = 0.4, 0.3
    abar = torch.cumprod(1 - make_beta_schedule(schedule, timesteps), 0)
    ddpm = DDPM(timesteps=timesteps, schedule=schedule, sigma=sigma, denoiser=_GaussianOracle(abar, m, s))
    x0 = ddpm.double().sample(1000, generator=0, return_raw=True)  # (1000, 1, 8, 8)
    assert abs(x0.mean().item() - m) < 0.01
    assert abs(x0.std().item() - s) < 0.03


def test_ddpm_loss_is_eps_mse_with_the_seeded_draws():
    torch.manual_seed(0)
    ddpm = DDPM(timesteps=10, hidden_dim=16, depth=1, time_dim=8)
    x = torch.rand(4, 1, 8, 8)
    g = torch.Generator().manual_seed(5)
    t = torch.randint(0, 10, (4,), generator=g)
    noise = torch.randn(4, 1, 8, 8, generator=g)
    abar = ddpm.alphas_cumprod[t].view(-1, 1, 1, 1)
    x_t = abar.sqrt() * (2 * x - 1) + (1 - abar).sqrt() * noise
    want = (ddpm.denoiser(x_t, t) - noise).square().mean()
    torch.testing.assert_close(ddpm.loss(x, generator=5), want)


@pytest.mark.parametrize("name", ["vae", "dcgan", "ddpm"])
def test_bad_inputs_are_one_line_errors(name):
    model = dlzoo.create_model(name, **dlzoo.model_info(name).test_kwargs)
    with pytest.raises(ValueError, match=r"expected images \(N, 1, 8, 8\)"):
        model.loss(torch.rand(2, 64))
    with pytest.raises(TypeError, match="generator must be"):
        model.sample(2, generator="seed")


@pytest.mark.slow
def test_vae_trains_on_digits():
    from dlzoo.analysis.sample_quality import digits_in_unit_range

    torch.manual_seed(0)
    train = digits_in_unit_range().train_x
    vae = dlzoo.create_model("vae")
    opt = torch.optim.Adam(vae.parameters(), lr=3e-3)
    start = vae.loss(train[:256], generator=0).item()
    for _ in range(150):
        batch = train[torch.randint(0, len(train), (64,))]
        opt.zero_grad()
        vae.loss(batch).backward()
        opt.step()
    end = vae.loss(train[:256], generator=0).item()
    assert end < start - 5, (start, end)  # nats per image
