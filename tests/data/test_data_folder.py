"""Image-folder and Tiny ImageNet layouts on small PNG/JPEG trees written here with Pillow."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from dlzoo.data import create_dataset


def _save(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def test_flat_image_folder_split_and_pixels(tmp_path):
    rng = np.random.default_rng(0)
    pixels = {}
    for c in ("cat", "dog", "emu"):
        for i in range(10):
            arr = rng.integers(0, 256, (6, 5, 3), dtype=np.uint8)  # H=6, W=5, RGB
            _save(tmp_path / c / f"{i}.png", arr)
            pixels[arr.tobytes()] = c
    splits = create_dataset("image_folder", root=str(tmp_path), val_fraction=0.2, test_fraction=0.2)
    assert splits.class_names == ["cat", "dog", "emu"] and splits.in_chans == 3
    assert (len(splits.train), len(splits.val), len(splits.test)) == (18, 6, 6)
    for part in (splits.train, splits.val, splits.test):
        raw = (splits.denormalize(part.x) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
        assert raw.shape[1:] == (6, 5, 3)
        for img, label in zip(raw, part.y):  # every image decoded exactly, with its folder's label
            assert pixels[img.tobytes()] == splits.class_names[int(label)]


def test_train_val_test_folders_grey_and_resize(tmp_path):
    for split, n in (("train", 4), ("val", 2), ("test", 3)):
        for c, value in (("a", 10), ("b", 200)):
            for i in range(n):
                _save(tmp_path / split / c / f"{i}.png", np.full((4, 4), value, dtype=np.uint8))
    splits = create_dataset("image_folder", root=str(tmp_path), mode="L", img_size=8)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (8, 4, 6)
    assert splits.train.x.shape[1:] == (1, 8, 8)
    val = splits.denormalize(splits.val.x) * 255
    assert torch.allclose(val[splits.val.y == 0], torch.tensor(10.0), atol=1e-3)
    assert torch.allclose(val[splits.val.y == 1], torch.tensor(200.0), atol=1e-3)
    _save(tmp_path / "test" / "zebra" / "0.png", np.zeros((4, 4), dtype=np.uint8))
    with pytest.raises(ValueError, match="zebra"):
        create_dataset("image_folder", root=str(tmp_path), mode="L")


def test_tiny_imagenet_layout(tmp_path):
    wnids = ["n01", "n02"]
    (tmp_path / "wnids.txt").write_text("\n".join(wnids) + "\n")
    for k, w in enumerate(wnids):
        for i in range(5):
            grey = np.full((8, 8, 3), 40 + 100 * k, np.uint8)
            _save(tmp_path / "train" / w / "images" / f"{w}_{i}.JPEG", grey)
    lines = []
    for i, w in enumerate(["n02", "n01", "n02"]):
        grey = np.full((8, 8, 3), 40 + 100 * wnids.index(w), np.uint8)
        _save(tmp_path / "val" / "images" / f"val_{i}.JPEG", grey)
        lines.append(f"val_{i}.JPEG\t{w}\t0\t0\t8\t8")
    (tmp_path / "val" / "val_annotations.txt").write_text("\n".join(lines) + "\n")
    splits = create_dataset("tiny_imagenet", root=str(tmp_path), val_fraction=0.2)
    assert splits.num_classes == 2 and (len(splits.train), len(splits.val), len(splits.test)) == (8, 2, 3)
    assert splits.test.y.tolist() == [1, 0, 1]
    level = (splits.denormalize(splits.test.x) * 255).mean(dim=(1, 2, 3))
    torch.testing.assert_close(level, torch.tensor([140.0, 40.0, 140.0]), atol=3.0, rtol=0)  # JPEG is lossy
