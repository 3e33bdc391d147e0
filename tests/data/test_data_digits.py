"""Digits splits against scikit-learn's raw data; stratification; train-only normalisation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from dlzoo.data import DATASETS, create_dataset, resize_images, stratified_split


@pytest.fixture(scope="module")
def raw():
    bunch = load_digits()
    return bunch.images.astype(np.float64), bunch.target


def test_digits_splits_are_disjoint_stratified_and_undo_to_the_raw_images(raw):
    images, target = raw
    splits = create_dataset("digits", val_fraction=0.15, test_fraction=0.15, split_seed=0)
    assert (splits.num_classes, splits.in_chans, splits.img_size) == (10, 1, 8)
    assert len(splits.train) + len(splits.val) + len(splits.test) == 1797
    # undo the normalisation: the (image, label) pairs of the three splits together are exactly sklearn's
    recovered = []
    for part in (splits.train, splits.val, splits.test):
        undone = splits.denormalize(part.x).double().reshape(len(part), 64).numpy()
        np.testing.assert_allclose(undone, undone.round(), atol=1e-4)  # integer pixel values come back
        recovered += [(r.round().astype(np.int64).tobytes(), int(label)) for r, label in zip(undone, part.y)]
        counts = np.bincount(part.y.numpy(), minlength=10)
        expected = np.bincount(target, minlength=10) * len(part) / 1797
        assert np.all(np.abs(counts - expected) <= 1.5), (counts, expected)  # stratified within rounding
    reference = [(row.astype(np.int64).tobytes(), int(t)) for row, t in zip(images.reshape(1797, 64), target)]
    assert sorted(recovered) == sorted(reference)


def test_normalisation_uses_training_statistics_only(raw):
    images, target = raw
    train_idx, val_idx, test_idx = stratified_split(target, 0.15, 0.15, seed=0)
    splits = create_dataset("digits", split_seed=0)
    mean = images[train_idx].mean()
    std = images[train_idx].std(ddof=1)
    f64 = torch.float64
    torch.testing.assert_close(splits.mean.double(), torch.tensor([mean], dtype=f64), rtol=1e-6, atol=0)
    torch.testing.assert_close(splits.std.double(), torch.tensor([std], dtype=f64), rtol=1e-6, atol=0)
    expected_test = (images[test_idx] - mean) / std
    torch.testing.assert_close(splits.test.x[:, 0].double(), torch.from_numpy(expected_test), rtol=0,
                               atol=1e-5)
    torch.testing.assert_close(splits.test.y, torch.from_numpy(target[test_idx]).long())
    # the test split's own statistics are NOT zero-mean/unit-std (they came from train)
    assert abs(float(splits.test.x.mean())) > 1e-4


def test_split_is_fixed_by_seed_and_changes_with_it(raw):
    _, target = raw
    a = stratified_split(target, 0.2, 0.1, seed=1)
    b = stratified_split(target, 0.2, 0.1, seed=1)
    c = stratified_split(target, 0.2, 0.1, seed=2)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a[2], c[2])
    with pytest.raises(ValueError, match="val_fraction"):
        stratified_split(target, 0.6, 0.5, seed=0)


def test_upsampling_matches_bilinear_resize_of_the_raw_images(raw):
    images, _ = raw
    splits = create_dataset("digits", img_size=16, split_seed=0)
    assert splits.train.x.shape[1:] == (1, 16, 16) and splits.img_size == 16
    # a constant image stays constant under bilinear resizing
    const = torch.full((2, 3, 8, 8), 4.0)
    torch.testing.assert_close(resize_images(const, 32), torch.full((2, 3, 32, 32), 4.0))
    assert resize_images(const, None) is const


def test_synthetic_is_learnable_and_registered():
    assert {"digits", "synthetic"} <= set(DATASETS.names())
    s = create_dataset("synthetic", num_samples=200, num_classes=4, in_chans=3, size=6, noise_std=0.1)
    assert s.train.x.shape[1:] == (3, 6, 6) and s.num_classes == 4
    # nearest class-mean on train classifies test almost perfectly: the classes are separable
    means = torch.stack([s.train.x[s.train.y == c].mean(0) for c in range(4)]).flatten(1)
    pred = torch.cdist(s.test.x.flatten(1), means).argmin(1)
    assert (pred == s.test.y).float().mean() > 0.95
    with pytest.raises(KeyError, match="digits"):
        create_dataset("digit")
