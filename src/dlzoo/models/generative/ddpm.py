"""Denoising diffusion probabilistic model with epsilon prediction and ancestral sampling.

Ho, Jain, Abbeel, "Denoising Diffusion Probabilistic Models", NeurIPS 2020, arXiv:2006.11239; cosine
schedule from Nichol & Dhariwal, "Improved Denoising Diffusion Probabilistic Models", ICML 2021,
arXiv:2102.09672 (eq. 17).

Forward process (eq. 2, 4): ``q(x_t | x_{t-1}) = N(sqrt(1 - beta_t) x_{t-1}, beta_t I)``, hence
``q(x_t | x_0) = N(sqrt(abar_t) x_0, (1 - abar_t) I)`` with ``abar_t = prod_{s<=t} (1 - beta_s)``.
Training (Algorithm 1, eq. 14): ``t ~ U{1..T}``, ``eps ~ N(0, I)``,
``L = || eps - eps_theta(sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps, t) ||^2``.
Sampling (Algorithm 2): ``x_T ~ N(0, I)``; for t = T..1:
``x_{t-1} = 1/sqrt(alpha_t) (x_t - beta_t / sqrt(1 - abar_t) eps_theta(x_t, t)) + sigma_t z``,
``z ~ N(0, I)`` for t > 1 else 0, ``sigma_t^2 = beta_t`` or the posterior ``beta~_t = (1 - abar_{t-1}) /
(1 - abar_t) beta_t`` (Sec. 3.2; both "had similar results").

Schedules: ``linear``: beta from 1e-4 to 0.02 over T (Sec. 4); ``cosine``: ``abar_t = f(t) / f(0)``,
``f(t) = cos((t/T + s) / (1 + s) * pi/2)^2``, s = 0.008, ``beta_t = min(1 - abar_t / abar_{t-1}, 0.999)``.
Time steps are 0-based in code (index t-1 of the paper's t). Images in [0, 1] are scaled to [-1, 1] (Sec. 4).

The denoiser is a time-conditioned MLP (:class:`MlpDenoiser`, sinusoidal time embedding of the Transformer,
as in the paper's U-Net) or any module ``(x_t (N, C, H, W), t (N,)) -> eps (N, C, H, W)``.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ...nn import Linear, SiLU
from ...nn.channel_affine import check_positive_int
from .. import register_model
from ._common import GenerativeMixin, as_generator

__all__ = ["DDPM", "MlpDenoiser", "make_beta_schedule", "timestep_embedding", "ddpm"]


def make_beta_schedule(name: str, timesteps: int, beta_start: float = 1e-4, beta_end: float = 0.02,
                       cosine_s: float = 0.008) -> Tensor:
    """``beta_1..beta_T`` (T,) in float64: ``"linear"`` (Ho et al.) or ``"cosine"`` (Nichol & Dhariwal)."""
    timesteps = check_positive_int("make_beta_schedule", "timesteps", timesteps)
    if name == "linear":
        return torch.linspace(beta_start, beta_end, timesteps, dtype=torch.float64)
    if name == "cosine":
        t = torch.arange(timesteps + 1, dtype=torch.float64) / timesteps
        f = torch.cos((t + cosine_s) / (1 + cosine_s) * math.pi / 2).square()  # (T+1,)
        abar = f / f[0]
        return (1 - abar[1:] / abar[:-1]).clamp(max=0.999)
    raise ValueError(f"make_beta_schedule: schedule must be 'linear' or 'cosine', got {name!r}")


def timestep_embedding(t: Tensor, dim: int, max_period: float = 10000.0) -> Tensor:
    """Transformer sinusoids of the time steps: (N,) -> (N, dim), ``[sin(t w_i), cos(t w_i)]``,
    ``w_i = max_period^(-i / (dim/2))``."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]  # (N, half)
    emb = torch.cat([torch.sin(args), torch.cos(args)], dim=-1)
    return F.pad(emb, (0, dim % 2))


class MlpDenoiser(nn.Module):
    """``eps_theta(x_t, t)``: flatten -> Linear -> [SiLU -> Linear(+ time embedding)] x depth -> Linear.

    Each hidden block adds a learned projection of the time embedding (the paper's U-Net adds it per
    residual block): ``h <- h + Linear(SiLU(h)) + Linear_t(e_t)``.
    """

    def __init__(self, in_features: int, hidden_dim: int = 256, depth: int = 3, time_dim: int = 64) -> None:
        super().__init__()
        self.time_dim = time_dim
        self.time_mlp = nn.Sequential(Linear(time_dim, hidden_dim), SiLU(), Linear(hidden_dim, hidden_dim))
        self.inp = Linear(in_features, hidden_dim)
        self.blocks = nn.ModuleList(Linear(hidden_dim, hidden_dim) for _ in range(depth))
        self.time_proj = nn.ModuleList(Linear(hidden_dim, hidden_dim) for _ in range(depth))
        self.act = SiLU()
        self.out = Linear(hidden_dim, in_features)

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        shape = x.shape
        e = self.time_mlp(timestep_embedding(t, self.time_dim).to(x.dtype))  # (N, hidden)
        h = self.inp(x.flatten(1))  # (N, C*H*W) -> (N, hidden)
        for block, proj in zip(self.blocks, self.time_proj):
            h = h + block(self.act(h)) + proj(self.act(e))
        return self.out(self.act(h)).view(shape)


class DDPM(GenerativeMixin, nn.Module):
    """Gaussian diffusion over images with an epsilon-predicting ``denoiser`` (buffers hold the schedule)."""

    def __init__(self, in_chans: int = 1, img_size: int = 8, timesteps: int = 1000, schedule: str = "linear",
                 hidden_dim: int = 256, depth: int = 3, time_dim: int = 64, sigma: str = "beta",
                 denoiser: nn.Module | None = None) -> None:
        super().__init__()
        if sigma not in ("beta", "posterior"):
            raise ValueError(f"DDPM: sigma must be 'beta' (sigma_t^2 = beta_t) or 'posterior', got {sigma!r}")
        self.in_chans = check_positive_int("DDPM", "in_chans", in_chans)
        self.img_size = check_positive_int("DDPM", "img_size", img_size)
        self.timesteps, self.schedule, self.sigma = timesteps, schedule, sigma
        betas = make_beta_schedule(schedule, timesteps)  # (T,) float64
        abar = torch.cumprod(1 - betas, 0)
        abar_prev = torch.cat([abar.new_ones(1), abar[:-1]])
        posterior_var = betas * (1 - abar_prev) / (1 - abar)
        for name, value in (("betas", betas), ("alphas_cumprod", abar), ("alphas_cumprod_prev", abar_prev),
                            ("posterior_variance", posterior_var)):
            self.register_buffer(name, value.float(), persistent=False)  # derived from the config
        self.denoiser = denoiser if denoiser is not None else MlpDenoiser(
            in_chans * img_size * img_size, hidden_dim, depth, time_dim)

    def _at(self, values: Tensor, t: Tensor, like: Tensor) -> Tensor:
        return values.to(like.dtype)[t].view(-1, *([1] * (like.dim() - 1)))  # (N, 1, 1, 1)

    def q_sample(self, x0: Tensor, t: Tensor, noise: Tensor) -> Tensor:
        """Closed-form ``x_t ~ q(x_t | x_0)`` (eq. 4): ``sqrt(abar_t) x_0 + sqrt(1 - abar_t) noise``."""
        abar = self._at(self.alphas_cumprod, t, x0)
        return abar.sqrt() * x0 + (1 - abar).sqrt() * noise

    def q_step(self, x_prev: Tensor, t: int, noise: Tensor) -> Tensor:
        """One forward step (eq. 2): ``x_t = sqrt(1 - beta_t) x_{t-1} + sqrt(beta_t) noise``."""
        beta = self.betas[t].to(x_prev.dtype)
        return (1 - beta).sqrt() * x_prev + beta.sqrt() * noise

    def loss(self, x: Tensor, generator: torch.Generator | int | None = None) -> Tensor:
        """Algorithm 1: ``E_{t, eps} || eps - eps_theta(x_t, t) ||^2`` (mean over pixels and batch)."""
        self.check_images(x)
        gen = as_generator(generator, x.device)
        x0 = x * 2 - 1  # [0, 1] -> [-1, 1]
        t = torch.randint(0, self.timesteps, (x.shape[0],), generator=gen, device=x.device)
        noise = self.randn(*x.shape, generator=gen)
        return F.mse_loss(self.denoiser(self.q_sample(x0, t, noise), t), noise)

    def p_step(self, x_t: Tensor, t: int, generator: torch.Generator | None = None) -> Tensor:
        """One ancestral step of Algorithm 2 from 0-based step ``t`` to ``t - 1``."""
        steps = torch.full((x_t.shape[0],), t, dtype=torch.long, device=x_t.device)
        eps = self.denoiser(x_t, steps)
        beta, abar = self.betas[t].to(x_t.dtype), self.alphas_cumprod[t].to(x_t.dtype)
        mean = (x_t - beta / (1 - abar).sqrt() * eps) / (1 - beta).sqrt()
        if t == 0:
            return mean
        var = beta if self.sigma == "beta" else self.posterior_variance[t].to(x_t.dtype)
        return mean + var.sqrt() * self.randn(*x_t.shape, generator=generator)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | int | None = None, return_raw: bool = False
               ) -> Tensor:
        """Algorithm 2 from ``x_T ~ N(0, I)``; (n, C, H, W) mapped to [0, 1] (``return_raw``: raw x_0)."""
        n = check_positive_int("DDPM.sample", "n", n)
        gen = as_generator(generator, self.betas.device)
        x = self.randn(n, *self.image_shape, generator=gen)
        for t in reversed(range(self.timesteps)):
            x = self.p_step(x, t, gen)
        return x if return_raw else ((x + 1) / 2).clamp(0, 1)


@register_model(family="ddpm", paper="Denoising Diffusion Probabilistic Models", year=2020,
                arxiv="2006.11239", input_size=(1, 8, 8), test_input_size=(1, 8, 8), task="generative",
                test_kwargs={"timesteps": 20}, reference_params=510_272,
                source="closed form (D=64, H=256, E=64, depth 3): time MLP (E+1)H + (H+1)H, input (D+1)H, "
                       "3 blocks 2(H+1)H each, output (H+1)D")
def ddpm(**kwargs: Any) -> DDPM:
    """DDPM on 8x8 digits: T = 1000 linear betas, epsilon-predicting MLP denoiser (256 wide, 3 blocks)."""
    return DDPM(**kwargs)
