"""dlzoo.data: in-memory datasets by name (:data:`DATASETS`) and a fast whole-batch iterator.

    splits = create_dataset("digits", val_fraction=0.15, test_fraction=0.15, split_seed=0)
    loader = BatchLoader(splits.train, batch_size=64, shuffle=True, seed=0)
    for x, y in loader.iter_epoch(epoch):  # (B, 1, 8, 8), (B,)
        ...
"""

from __future__ import annotations

from typing import Any

from . import cifar, digits, folder, mnist, synthetic  # noqa: F401  (register the builders)
from .base import DATASETS, BatchLoader, DataSplits, TensorDataset, epoch_seed, register_dataset
from .splits import make_splits, resize_images, stratified_split

__all__ = [
    "DATASETS",
    "BatchLoader",
    "DataSplits",
    "TensorDataset",
    "create_dataset",
    "epoch_seed",
    "list_datasets",
    "make_splits",
    "register_dataset",
    "resize_images",
    "stratified_split",
]


def create_dataset(name: str, **kwargs: Any) -> DataSplits:
    """Build the registered dataset ``name`` (``KeyError`` with suggestions for unknown names)."""
    return DATASETS.get(name)(**kwargs)


def list_datasets(pattern: str = "*") -> list[str]:
    """Registered dataset names matching an fnmatch ``pattern``."""
    return DATASETS.names(pattern)
