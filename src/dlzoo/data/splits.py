"""Stratified splits, train-statistics normalisation and resizing, shared by every in-memory dataset."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .base import DataSplits, TensorDataset

__all__ = ["stratified_split", "make_splits", "resize_images"]


def stratified_split(
    labels: np.ndarray | Tensor, val_fraction: float, test_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices (train, val, test), each class split in the same proportions, fixed by ``seed``.

    Per class ``c`` with ``n_c`` samples: ``round(n_c * test_fraction)`` go to test and
    ``round(n_c * val_fraction)`` to val, drawn from one permutation of that class; the rest is train.
    """
    labels = np.asarray(labels)
    if not (0.0 <= val_fraction < 1.0 and 0.0 <= test_fraction < 1.0 and val_fraction + test_fraction < 1.0):
        raise ValueError(
            f"stratified_split: need 0 <= val_fraction, test_fraction and val+test < 1, "
            f"got val_fraction={val_fraction}, test_fraction={test_fraction}"
        )
    rng = np.random.default_rng(seed)
    train, val, test = [], [], []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        idx = idx[rng.permutation(len(idx))]
        n_test = int(round(len(idx) * test_fraction))
        n_val = int(round(len(idx) * val_fraction))
        test.append(idx[:n_test])
        val.append(idx[n_test : n_test + n_val])
        train.append(idx[n_test + n_val :])
    return tuple(np.sort(np.concatenate(part)).astype(np.int64) for part in (train, val, test))


def resize_images(x: Tensor, img_size: int | None) -> Tensor:
    """Bilinear resize of (N, C, H, W) images to (N, C, img_size, img_size); ``None`` keeps the size."""
    if img_size is None or (x.shape[-2] == img_size and x.shape[-1] == img_size):
        return x
    if img_size < 1:
        raise ValueError(f"resize_images: img_size must be >= 1, got {img_size}")
    return F.interpolate(x, size=(img_size, img_size), mode="bilinear", align_corners=False)


def make_splits(
    x: Tensor,
    y: Tensor,
    *,
    num_classes: int,
    val_fraction: float,
    test_fraction: float,
    split_seed: int,
    img_size: int | None = None,
    class_names: list[str] | None = None,
    name: str = "",
    normalize: bool = True,
    test: tuple[Tensor, Tensor] | None = None,
) -> DataSplits:
    """Split (N, C, H, W) images stratified by label, resize, and normalise with train statistics.

    Mean and std are per channel over the training split only (no test information leaks into
    preprocessing); ``x_norm = (x - mean[c]) / std[c]``. With ``test=(x_test, y_test)`` (an official
    test set), ``test_fraction`` is ignored and only the validation split is carved out of ``x``.
    """
    if x.dim() != 4:
        raise ValueError(f"make_splits: expected images (N, C, H, W), got shape {tuple(x.shape)}")
    n = x.shape[0]
    if test is not None:
        x = torch.cat([x, test[0]])  # official test images appended after the training pool
        y = torch.cat([y, test[1]])
        test_fraction = 0.0
    x = resize_images(x.float(), img_size)
    train_idx, val_idx, test_idx = stratified_split(y[:n].numpy(), val_fraction, test_fraction, split_seed)
    if test is not None:
        test_idx = np.arange(n, x.shape[0], dtype=np.int64)
    tr = torch.from_numpy(train_idx)
    if normalize:
        mean = x[tr].mean(dim=(0, 2, 3))  # (C,)
        std = x[tr].std(dim=(0, 2, 3)).clamp_min(1e-6)  # (C,)
    else:
        mean, std = torch.zeros(x.shape[1]), torch.ones(x.shape[1])
    x = (x - mean.view(1, -1, 1, 1)) / std.view(1, -1, 1, 1)
    parts = [TensorDataset(x[torch.from_numpy(i)].contiguous(), y[torch.from_numpy(i)].contiguous())
             for i in (train_idx, val_idx, test_idx)]
    return DataSplits(
        train=parts[0], val=parts[1], test=parts[2], num_classes=num_classes, in_chans=x.shape[1],
        img_size=x.shape[-1], mean=mean, std=std,
        class_names=class_names or [str(i) for i in range(num_classes)],
        name=name,
    )
