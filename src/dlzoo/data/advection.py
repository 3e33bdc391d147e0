"""A seeded spatiotemporal regression set: 2-D advection-diffusion fields, predict the next frames from the
past.

On the periodic unit square a scalar field is carried by a constant velocity ``v`` and diffuses with
``kappa``:

    du/dt + v . grad u = kappa lap u

Each Fourier mode evolves independently and exactly, ``u_k(t) = u_k(0) exp(-(i 2 pi k . v + kappa (2 pi
|k|)^2) t)``, so the frames are exact solutions (no time-stepping error) from a random smooth initial field
(Gaussian spectrum with amplitude ``exp(-|k|^2 / (2 s^2))``). Each sample draws its own ``v`` and ``kappa``;
the model must
infer them from the past frames. A sample is ``x (1, T_in, H, W)`` (past frames as the depth axis of a 3-D
U-Net) and ``y (1, T_out, H, W)`` (the next frames). :func:`persistence` repeats the last input frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["AdvectionSplits", "advection_diffusion", "persistence", "advection_splits"]


def advection_diffusion(
    num_samples: int = 256,
    past: int = 4,
    future: int = 4,
    size: int = 16,
    dt: float = 0.02,
    max_speed: float = 1.5,
    kappa_range: tuple[float, float] = (1e-3, 5e-3),
    smoothness: float = 3.0,
    seed: int = 0,
    velocity: tuple[float, float] | None = None,
    kappa: float | None = None,
) -> tuple[Tensor, Tensor]:
    """``x (N, 1, past, size, size)`` and ``y (N, 1, future, size, size)``, float32, unit variance at t=0.

    ``velocity`` / ``kappa`` fix the physics for every sample (default: drawn per sample)."""
    g = torch.Generator().manual_seed(seed)
    k = torch.fft.fftfreq(size, d=1.0 / size, dtype=torch.float64)  # integer wavenumbers
    kx, ky = torch.meshgrid(k, k, indexing="ij")
    k2 = kx**2 + ky**2
    envelope = torch.exp(-k2 / (2 * smoothness**2))
    noise = torch.randn(num_samples, size, size, generator=g, dtype=torch.float64)
    u0_hat = torch.fft.fft2(noise) * envelope  # smooth random initial fields
    angle = torch.rand(num_samples, generator=g, dtype=torch.float64) * 2 * math.pi
    speed = torch.rand(num_samples, generator=g, dtype=torch.float64) * max_speed
    vx, vy = speed * angle.cos(), speed * angle.sin()
    if velocity is not None:
        vx, vy = torch.full_like(vx, velocity[0]), torch.full_like(vy, velocity[1])
    lo, hi = kappa_range
    drawn = lo + (hi - lo) * torch.rand(num_samples, generator=g, dtype=torch.float64)
    kappa = drawn if kappa is None else torch.full_like(drawn, kappa)
    t = torch.arange(past + future, dtype=torch.float64) * dt  # (T,)
    rate = 2j * math.pi * (vx[:, None, None] * kx + vy[:, None, None] * ky) + kappa[:, None, None] * (
        4 * math.pi**2 * k2
    )  # (N, H, W) complex decay/rotation rate per mode
    frames_hat = u0_hat[:, None] * torch.exp(-rate[:, None] * t[None, :, None, None])  # (N, T, H, W)
    frames = torch.fft.ifft2(frames_hat).real
    frames = frames / frames[:, :1].std(dim=(-2, -1), keepdim=True)
    frames = frames.float().unsqueeze(1)  # (N, 1, T, H, W)
    return frames[:, :, :past].contiguous(), frames[:, :, past:].contiguous()


def persistence(x: Tensor, future: int) -> Tensor:
    """The baseline forecast: the last past frame, repeated ``future`` times: (N, 1, future, H, W)."""
    return x[:, :, -1:].expand(-1, -1, future, -1, -1)


@dataclass
class AdvectionSplits:
    """Train/val/test tensors of :func:`advection_diffusion` (one generation, split by sample)."""

    train: tuple[Tensor, Tensor]
    val: tuple[Tensor, Tensor]
    test: tuple[Tensor, Tensor]


def advection_splits(
    num_samples: int = 256, val_fraction: float = 0.15, test_fraction: float = 0.15, **kwargs
) -> AdvectionSplits:
    """Deterministic split of one generated set (samples are i.i.d., so order is already random)."""
    x, y = advection_diffusion(num_samples, **kwargs)
    n_val, n_test = int(round(num_samples * val_fraction)), int(round(num_samples * test_fraction))
    n_train = num_samples - n_val - n_test
    if n_train <= 0:
        raise ValueError(f"advection_splits: {num_samples} samples leave no training split")
    cut = [n_train, n_train + n_val]
    return AdvectionSplits(
        (x[: cut[0]], y[: cut[0]]), (x[cut[0] : cut[1]], y[cut[0] : cut[1]]), (x[cut[1] :], y[cut[1] :])
    )
