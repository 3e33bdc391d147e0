"""A synthetic, learnable image-classification set for tests: one random prototype per class plus noise.

    x_i = prototype[y_i] + noise_std * eps_i,   eps_i ~ N(0, I),   prototype[c] ~ N(0, I)

Deterministic given ``seed``; classes are balanced (``y_i = i mod num_classes`` before shuffling).
"""

from __future__ import annotations

import torch

from .base import DataSplits, register_dataset
from .splits import make_splits

__all__ = ["synthetic"]


@register_dataset("synthetic", family="image", paper="class prototypes plus Gaussian noise")
def synthetic(
    *,
    val_fraction: float = 0.15,
    test_fraction: float = 0.15,
    split_seed: int = 0,
    img_size: int | None = None,
    root: str | None = None,
    num_samples: int = 256,
    num_classes: int = 4,
    in_chans: int = 1,
    size: int = 8,
    noise_std: float = 0.5,
    seed: int = 0,
) -> DataSplits:
    """``num_samples`` images (in_chans, size, size) in ``num_classes`` balanced classes."""
    if num_samples < num_classes:
        raise ValueError(f"synthetic: need num_samples >= num_classes, got {num_samples} < {num_classes}")
    gen = torch.Generator().manual_seed(seed)
    prototypes = torch.randn(num_classes, in_chans, size, size, generator=gen)  # (K, C, H, W)
    y = torch.arange(num_samples) % num_classes  # (N,)
    y = y[torch.randperm(num_samples, generator=gen)]
    x = prototypes[y] + noise_std * torch.randn(num_samples, in_chans, size, size, generator=gen)
    return make_splits(x, y.long(), num_classes=num_classes, val_fraction=val_fraction,
                       test_fraction=test_fraction, split_seed=split_seed, img_size=img_size,
                       name="synthetic")
