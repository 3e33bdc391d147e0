"""The image data of the small MLP experiments (``orthoblock``, ``goodhart``): the embedded digits, or
CIFAR-10 binary batches when a folder is given, as normalised tensors (train statistics)."""

from __future__ import annotations

from ..data.base import DataSplits

__all__ = ["load_splits", "dataset_name"]


def dataset_name(data_root: str | None) -> str:
    """``"digits"`` without a folder, ``"cifar10"`` with one."""
    return "digits" if data_root is None else "cifar10"


def load_splits(
    data_root: str | None = None, max_train: int | None = None, split_seed: int = 0
) -> DataSplits:
    """Digits (1797 8x8 images, 15% val / 15% test, stratified) or CIFAR-10 from ``data_root`` (official
    test set, 10% of train as val); ``max_train`` keeps a random subset (fixed by ``split_seed``) of that many
    training examples."""
    import torch

    from ..data import create_dataset
    from ..data.base import TensorDataset
    from ..errors import UsageError

    if data_root is None:
        splits = create_dataset("digits", split_seed=split_seed)
    else:
        try:
            splits = create_dataset("cifar10", root=data_root, split_seed=split_seed)
        except (ValueError, FileNotFoundError) as err:
            raise UsageError(f"data_root: {err}") from None
    if max_train is not None:
        if max_train < 1:
            raise UsageError(f"max_train must be >= 1, got {max_train}")
        keep = torch.randperm(len(splits.train), generator=torch.Generator().manual_seed(split_seed))[
            :max_train
        ]
        keep = keep.sort().values
        splits.train = TensorDataset(splits.train.x[keep], splits.train.y[keep])
    return splits
