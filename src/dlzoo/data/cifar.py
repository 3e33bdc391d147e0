"""CIFAR-10 from its *binary* distribution (``cifar-10-binary.tar.gz``), read without pickle.

Krizhevsky, "Learning Multiple Layers of Features from Tiny Images", tech. report, 2009. Each file
``data_batch_{1..5}.bin`` / ``test_batch.bin`` is a sequence of 3073-byte records: one label byte
(0-9) then 3072 pixel bytes, the 1024 red, 1024 green and 1024 blue values of a 32x32 image in row-major
order. ``batches.meta.txt`` lists the class names one per line. The python version of the data set is
pickled and deliberately not supported.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .base import DataSplits, register_dataset
from .splits import make_splits

__all__ = ["read_cifar_bin", "cifar10"]

_RECORD = 1 + 3 * 32 * 32


def read_cifar_bin(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR-10 binary batch -> images (N, 3, 32, 32) uint8 and labels (N,) uint8."""
    data = np.frombuffer(Path(path).read_bytes(), dtype=np.uint8)
    if data.size % _RECORD:
        raise ValueError(f"read_cifar_bin: {path} holds {data.size} bytes, not a multiple of {_RECORD}")
    records = data.reshape(-1, _RECORD)  # (N, 3073)
    return records[:, 1:].reshape(-1, 3, 32, 32), records[:, 0].copy()


def _locate(root: Path) -> Path:
    for candidate in (root, root / "cifar-10-batches-bin"):
        if (candidate / "test_batch.bin").is_file():
            return candidate
    raise FileNotFoundError(f"cifar10: no test_batch.bin in {root} or {root / 'cifar-10-batches-bin'} "
                            "(only the binary version is supported; the python version is pickle)")


@register_dataset("cifar10", family="image", paper="Learning Multiple Layers of Features from Tiny Images",
                  year=2009, input_size=(3, 32, 32), extra={"format": "binary", "num_classes": 10})
def cifar10(
    *,
    val_fraction: float = 0.1,
    test_fraction: float = 0.0,
    split_seed: int = 0,
    img_size: int | None = None,
    root: str | None = None,
) -> DataSplits:
    """CIFAR-10 binary batches in ``root`` as :class:`DataSplits` (official test set; no test_fraction)."""
    if root is None:
        raise ValueError("cifar10: set data.root to the directory holding data_batch_*.bin")
    base = _locate(Path(root))
    train_files = sorted(base.glob("data_batch_*.bin"))
    if not train_files:
        raise FileNotFoundError(f"cifar10: no data_batch_*.bin in {base}")
    parts = [read_cifar_bin(f) for f in train_files]
    x_train = np.concatenate([p[0] for p in parts])
    y_train = np.concatenate([p[1] for p in parts])
    x_test, y_test = read_cifar_bin(base / "test_batch.bin")
    meta = base / "batches.meta.txt"
    names = [s.strip() for s in meta.read_text().splitlines() if s.strip()] if meta.is_file() else None
    to_x = lambda a: torch.from_numpy(a.astype(np.float32) / 255.0)  # (N, 3, 32, 32)
    to_y = lambda a: torch.from_numpy(a.astype(np.int64))
    return make_splits(to_x(x_train), to_y(y_train), num_classes=10, val_fraction=val_fraction,
                       test_fraction=0.0, split_seed=split_seed, img_size=img_size, name="cifar10",
                       class_names=names, test=(to_x(x_test), to_y(y_test)))
