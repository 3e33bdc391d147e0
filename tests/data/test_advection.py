"""The advection-diffusion frames are exact solutions: pure advection by one cell per step is a roll of the
grid, diffusion damps every Fourier mode by exp(-kappa (2 pi k)^2 t) and conserves the mean."""

from __future__ import annotations

import math

import torch

from dlzoo.data.advection import advection_diffusion, advection_splits, persistence


def test_pure_advection_is_a_shift_of_the_grid():
    size, dt = 16, 0.02
    x, y = advection_diffusion(
        4, past=3, future=2, size=size, dt=dt, velocity=(1 / (size * dt), 0.0), kappa=0.0
    )
    frames = torch.cat([x, y], dim=2)[:, 0]  # (N, T, H, W)
    for t in range(frames.shape[1]):
        torch.testing.assert_close(
            frames[:, t], torch.roll(frames[:, 0], shifts=t, dims=1), atol=1e-5, rtol=0
        )


def test_diffusion_damps_each_mode_by_the_heat_kernel():
    size, dt, kappa = 16, 0.05, 4e-3
    x, y = advection_diffusion(3, past=2, future=2, size=size, dt=dt, velocity=(0.0, 0.0), kappa=kappa)
    frames = torch.cat([x, y], dim=2)[:, 0].double()
    k = torch.fft.fftfreq(size, d=1.0 / size, dtype=torch.float64)
    k2 = k[:, None] ** 2 + k[None, :] ** 2
    for t in range(1, frames.shape[1]):
        expected = torch.fft.fft2(frames[:, 0]) * torch.exp(-kappa * 4 * math.pi**2 * k2 * t * dt)
        torch.testing.assert_close(torch.fft.fft2(frames[:, t]), expected, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(frames.mean(dim=(-2, -1)), frames[:, :1].mean(dim=(-2, -1)).expand(-1, 4))


def test_splits_shapes_seed_and_persistence():
    splits = advection_splits(40, past=4, future=3, size=8, seed=1)
    x, y = splits.train
    assert x.shape == (28, 1, 4, 8, 8) and y.shape == (28, 1, 3, 8, 8)
    assert splits.val[0].shape[0] == 6 and splits.test[0].shape[0] == 6
    again = advection_splits(40, past=4, future=3, size=8, seed=1)
    assert torch.equal(again.test[1], splits.test[1])
    baseline = persistence(x, 3)
    assert baseline.shape == y.shape and torch.equal(baseline[:, :, 2], x[:, :, -1])
