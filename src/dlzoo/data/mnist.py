"""MNIST (and any data set in the IDX format, e.g. Fashion-MNIST) read from local files.

LeCun, Bottou, Bengio, Haffner, "Gradient-based learning applied to document recognition", Proc. IEEE
1998. IDX format (http://yann.lecun.com/exdb/mnist/): a big-endian header ``0x00 0x00 <type> <ndim>``,
then ``ndim`` big-endian uint32 dimensions, then the data in C order. Type ``0x08`` is unsigned byte.

Expected files in ``root`` (optionally gzipped, ``.gz``): ``train-images-idx3-ubyte``,
``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``. The official
10,000-image test set is the test split; validation is carved from the training set (stratified).
Nothing is downloaded.
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import torch

from .base import DataSplits, register_dataset
from .splits import make_splits

__all__ = ["read_idx", "mnist"]

_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | Path) -> np.ndarray:
    """Read one IDX file (plain or ``.gz``) into a numpy array of its declared shape and type."""
    path = Path(path)
    data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_TYPES:
        raise ValueError(f"read_idx: {path} is not an IDX file (bad magic {data[:4]!r})")
    ndim = data[3]
    dims = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    dtype = np.dtype(_IDX_TYPES[data[2]])
    expected = int(np.prod(dims)) * dtype.itemsize
    body = data[4 + 4 * ndim :]
    if len(body) != expected:
        raise ValueError(f"read_idx: {path} declares shape {dims} ({expected} bytes) but holds {len(body)}")
    return np.frombuffer(body, dtype=dtype).reshape(dims).astype(dtype.newbyteorder("="))


def _find(root: Path, stem: str) -> Path:
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx"), stem.replace("-idx", ".idx") + ".gz"):
        if (root / name).is_file():
            return root / name
    raise FileNotFoundError(f"mnist: {stem}[.gz] not found in {root}")


@register_dataset("mnist", family="image", paper="Gradient-based learning applied to document recognition",
                  year=1998, input_size=(1, 28, 28), extra={"format": "IDX", "num_classes": 10})
def mnist(
    *,
    val_fraction: float = 0.1,
    test_fraction: float = 0.0,
    split_seed: int = 0,
    img_size: int | None = None,
    root: str | None = None,
    num_classes: int = 10,
) -> DataSplits:
    """MNIST-format IDX files in ``root`` as :class:`DataSplits` (``test_fraction`` is unused)."""
    if root is None:
        raise ValueError("mnist: set data.root to the directory holding the IDX files")
    base = Path(root)
    x_train = read_idx(_find(base, "train-images-idx3-ubyte"))
    y_train = read_idx(_find(base, "train-labels-idx1-ubyte"))
    x_test = read_idx(_find(base, "t10k-images-idx3-ubyte"))
    y_test = read_idx(_find(base, "t10k-labels-idx1-ubyte"))
    for x, y, split in ((x_train, y_train, "train"), (x_test, y_test, "t10k")):
        if x.ndim != 3 or y.ndim != 1 or x.shape[0] != y.shape[0]:
            raise ValueError(f"mnist: {split} images {x.shape} and labels {y.shape} do not match")
    to_x = lambda a: torch.from_numpy(a.astype(np.float32) / 255.0).unsqueeze(1)  # (N, H, W) -> (N, 1, H, W)
    to_y = lambda a: torch.from_numpy(a.astype(np.int64))
    return make_splits(to_x(x_train), to_y(y_train), num_classes=num_classes, val_fraction=val_fraction,
                       test_fraction=0.0, split_seed=split_seed, img_size=img_size, name="mnist",
                       test=(to_x(x_test), to_y(y_test)))
