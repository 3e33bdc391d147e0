"""MNIST IDX and CIFAR-10 binary readers on small files written here from the format specifications."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest
import torch

from dlzoo.data import create_dataset
from dlzoo.data.cifar import read_cifar_bin
from dlzoo.data.mnist import read_idx


def _idx_bytes(array: np.ndarray) -> bytes:
    """IDX per LeCun's spec: 0, 0, type (0x08 = ubyte), ndim, big-endian uint32 dims, then C-order data."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(struct.pack(">I", d) for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def _write_mnist(root, n_train=60, n_test=20, gz=False):
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28)),
        "train-labels-idx1-ubyte": np.arange(n_train) % 10,
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28)),
        "t10k-labels-idx1-ubyte": (np.arange(n_test) * 3) % 10,
    }
    for name, arr in arrays.items():
        data = _idx_bytes(arr)
        if gz:
            (root / f"{name}.gz").write_bytes(gzip.compress(data))
        else:
            (root / name).write_bytes(data)
    return arrays


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_idx_reader_and_splits(tmp_path, gz):
    arrays = _write_mnist(tmp_path, gz=gz)
    suffix = ".gz" if gz else ""
    np.testing.assert_array_equal(read_idx(tmp_path / f"train-images-idx3-ubyte{suffix}"),
                                  arrays["train-images-idx3-ubyte"])
    splits = create_dataset("mnist", root=str(tmp_path), val_fraction=0.2, test_fraction=0.5, split_seed=0)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (50, 10, 20)  # 1 val per class
    assert splits.train.x.shape[1:] == (1, 28, 28) and splits.num_classes == 10
    # the test split is the t10k file in order, scaled to [0, 1] and normalised with train statistics
    expected = torch.from_numpy(arrays["t10k-images-idx3-ubyte"] / 255.0).float().unsqueeze(1)
    torch.testing.assert_close(splits.denormalize(splits.test.x), expected, atol=1e-5, rtol=0)
    assert splits.test.y.tolist() == arrays["t10k-labels-idx1-ubyte"].tolist()
    assert np.bincount(splits.val.y.numpy(), minlength=10).tolist() == [1] * 10  # stratified


def test_idx_errors(tmp_path):
    (tmp_path / "bad").write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(tmp_path / "bad")
    (tmp_path / "short").write_bytes(_idx_bytes(np.zeros((2, 3)))[:-1])
    with pytest.raises(ValueError, match="declares shape"):
        read_idx(tmp_path / "short")
    with pytest.raises(FileNotFoundError, match="train-images"):
        create_dataset("mnist", root=str(tmp_path))


def _cifar_record(label: int, image: np.ndarray) -> bytes:
    """One record per the CIFAR-10 binary spec: label byte, then R (1024), G (1024), B (1024) bytes."""
    return bytes([label]) + image[0].tobytes() + image[1].tobytes() + image[2].tobytes()


def test_cifar10_binary_reader_and_splits(tmp_path):
    rng = np.random.default_rng(1)
    folder = tmp_path / "cifar-10-batches-bin"
    folder.mkdir()
    images, labels = {}, {}
    for name, n in [("data_batch_1", 30), ("data_batch_2", 30), ("test_batch", 10)]:
        images[name] = rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)
        labels[name] = rng.integers(0, 10, n).astype(np.uint8)
        (folder / f"{name}.bin").write_bytes(b"".join(_cifar_record(int(l), im)
                                                      for l, im in zip(labels[name], images[name])))
    classes = "airplane automobile bird cat deer dog frog horse ship truck".split()
    (folder / "batches.meta.txt").write_text("\n".join(classes) + "\n\n")
    x, y = read_cifar_bin(folder / "test_batch.bin")
    np.testing.assert_array_equal(x, images["test_batch"])
    np.testing.assert_array_equal(y, labels["test_batch"])
    splits = create_dataset("cifar10", root=str(tmp_path), val_fraction=0.0)  # parent dir is found too
    assert len(splits.train) == 60 and len(splits.test) == 10 and splits.in_chans == 3
    assert splits.class_names[0] == "airplane" and len(splits.class_names) == 10
    pool = np.concatenate([images["data_batch_1"], images["data_batch_2"]]).astype(np.float64) / 255
    torch.testing.assert_close(splits.mean.double(), torch.from_numpy(pool.mean(axis=(0, 2, 3))), atol=1e-6,
                               rtol=0)
    (folder / "data_batch_3.bin").write_bytes(b"\x00" * 100)
    with pytest.raises(ValueError, match="not a multiple of 3073"):
        create_dataset("cifar10", root=str(folder))
