"""The embedded handwritten digits (UCI ML digits via ``sklearn.datasets.load_digits``).

1797 grey-scale 8x8 images of the digits 0-9 (pixel values 0..16), shipped inside scikit-learn, so
nothing is downloaded. Returned as (N, 1, 8, 8) float tensors, split stratified by label, normalised
with training statistics, optionally upsampled to ``img_size`` for CNNs that need larger inputs.
"""

from __future__ import annotations

import torch

from .base import DataSplits, register_dataset
from .splits import make_splits

__all__ = ["digits"]


@register_dataset("digits", family="image", paper="UCI Optical Recognition of Handwritten Digits", year=1998,
                  input_size=(1, 8, 8), extra={"num_samples": 1797, "num_classes": 10})
def digits(
    *,
    val_fraction: float = 0.15,
    test_fraction: float = 0.15,
    split_seed: int = 0,
    img_size: int | None = None,
    root: str | None = None,
) -> DataSplits:
    """Digits as :class:`DataSplits`; ``root`` is unused (the data ships with scikit-learn)."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = torch.from_numpy(bunch.images).float().unsqueeze(1)  # (1797, 8, 8) -> (1797, 1, 8, 8)
    y = torch.from_numpy(bunch.target).long()  # (1797,)
    return make_splits(x, y, num_classes=10, val_fraction=val_fraction, test_fraction=test_fraction,
                       split_seed=split_seed, img_size=img_size, name="digits")
