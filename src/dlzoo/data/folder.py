"""Image folders (``root/<class>/*.png``, or ``root/{train,val,test}/<class>/...``) and Tiny ImageNet.

Images are decoded once with Pillow (installed with matplotlib), converted to ``mode`` ("RGB" or "L"),
resized to ``size`` x ``size`` when given (bilinear) and kept in memory as float tensors in [0, 1]
before the usual train-statistics normalisation, so mind the memory: N x C x H x W x 4 bytes (the full
Tiny ImageNet train set, 100,000 x 3 x 64 x 64, is 4.9 GB; use ``max_per_class`` to subsample).

Layouts:

- ``image_folder``: classes are the sorted sub-directory names. With a ``train/`` sub-directory, its
  ``val/`` and ``test/`` siblings (same class names) are used when present, otherwise carved from
  ``train`` (stratified); without one, ``root`` itself is split.
- ``tiny_imagenet`` (Le & Yang, "Tiny ImageNet Visual Recognition Challenge", CS231N 2015):
  ``wnids.txt``, ``train/<wnid>/images/*.JPEG``, ``val/images/*.JPEG`` with labels in
  ``val/val_annotations.txt`` (``file<TAB>wnid<TAB>box``). The labelled official val set is the test
  split; validation is carved from train. The unlabelled ``test/`` is ignored.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from .base import DataSplits, register_dataset
from .splits import make_splits

__all__ = ["load_images", "image_folder", "tiny_imagenet"]

_EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".ppm", ".pgm", ".tif", ".tiff", ".webp"}


def load_images(paths: list[Path], mode: str = "RGB", size: int | None = None) -> Tensor:
    """Decode ``paths`` into (N, C, H, W) float32 in [0, 1]; all images must share a size unless ``size``."""
    from PIL import Image

    arrays = []
    for path in paths:
        with Image.open(path) as img:
            img = img.convert(mode)
            if size is not None and img.size != (size, size):
                img = img.resize((size, size), Image.BILINEAR)
            arrays.append(np.asarray(img, dtype=np.uint8))
    shapes = {a.shape for a in arrays}
    if len(shapes) > 1:
        raise ValueError(f"load_images: images have different sizes {sorted(shapes)[:3]}; set size=...")
    x = torch.from_numpy(np.stack(arrays)).float().div_(255.0)
    if x.dim() == 3:  # grey: (N, H, W) -> (N, 1, H, W)
        return x.unsqueeze(1)
    return x.permute(0, 3, 1, 2).contiguous()  # (N, H, W, C) -> (N, C, H, W)


def _images_in(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.suffix.lower() in _EXTENSIONS and p.is_file())


def _scan(directory: Path, classes: list[str] | None,
          max_per_class: int | None) -> tuple[list[Path], list[int], list[str]]:
    found = sorted(d.name for d in directory.iterdir() if d.is_dir())
    classes = classes or found
    missing = sorted(set(found) - set(classes))
    if missing:
        raise ValueError(f"image_folder: {directory} has classes {missing[:5]} not in the training classes")
    paths, labels = [], []
    for label, name in enumerate(classes):
        files = _images_in(directory / name) if (directory / name).is_dir() else []
        files = files[:max_per_class] if max_per_class else files
        paths += files
        labels += [label] * len(files)
    if not paths:
        raise FileNotFoundError(f"image_folder: no images under {directory}")
    return paths, labels, classes


@register_dataset("image_folder", family="image", paper="folder-per-class image classification layout")
def image_folder(
    *,
    val_fraction: float = 0.15,
    test_fraction: float = 0.15,
    split_seed: int = 0,
    img_size: int | None = None,
    root: str | None = None,
    mode: str = "RGB",
    max_per_class: int | None = None,
) -> DataSplits:
    """Images under ``root`` (see the module docstring for the layouts)."""
    if root is None:
        raise ValueError("image_folder: set data.root to the image directory")
    base = Path(root)
    if not base.is_dir():
        raise FileNotFoundError(f"image_folder: {base} is not a directory")
    train_dir = base / "train" if (base / "train").is_dir() else base
    paths, labels, classes = _scan(train_dir, None, max_per_class)
    x = load_images(paths, mode, img_size)
    y = torch.tensor(labels, dtype=torch.long)
    extra: dict[str, tuple[Tensor, Tensor]] = {}
    for split in ("val", "test"):
        if train_dir != base and (base / split).is_dir():
            p, l, _ = _scan(base / split, classes, max_per_class)
            xs = load_images(p, mode, img_size)
            if xs.shape[1:] != x.shape[1:]:
                raise ValueError(f"image_folder: {split} images are {tuple(xs.shape[1:])}, train images "
                                 f"{tuple(x.shape[1:])}; set data.img_size to resize both")
            extra[split] = (xs, torch.tensor(l, dtype=torch.long))
    splits = make_splits(x, y, num_classes=len(classes), val_fraction=0.0 if "val" in extra else val_fraction,
                         test_fraction=test_fraction, split_seed=split_seed, class_names=classes,
                         name="image_folder", test=extra.get("test"))
    if "val" in extra:  # an official val set: normalise it with the training statistics
        from .base import TensorDataset

        xv = (extra["val"][0] - splits.mean.view(1, -1, 1, 1)) / splits.std.view(1, -1, 1, 1)
        splits.val = TensorDataset(xv, extra["val"][1])
    return splits


@register_dataset("tiny_imagenet", family="image", paper="Tiny ImageNet Visual Recognition Challenge",
                  year=2015, input_size=(3, 64, 64), extra={"num_classes": 200})
def tiny_imagenet(
    *,
    val_fraction: float = 0.1,
    test_fraction: float = 0.0,
    split_seed: int = 0,
    img_size: int | None = None,
    root: str | None = None,
    max_per_class: int | None = None,
) -> DataSplits:
    """``tiny-imagenet-200`` in ``root``: train (minus a stratified val split); the official val is test."""
    if root is None:
        raise ValueError("tiny_imagenet: set data.root to the tiny-imagenet-200 directory")
    base = Path(root)
    if not (base / "wnids.txt").is_file():
        raise FileNotFoundError(f"tiny_imagenet: no wnids.txt in {base}")
    wnids = [s.strip() for s in (base / "wnids.txt").read_text().splitlines() if s.strip()]
    index = {w: i for i, w in enumerate(wnids)}
    paths, labels = [], []
    for w in wnids:
        files = _images_in(base / "train" / w / "images")
        files = files[:max_per_class] if max_per_class else files
        paths += files
        labels += [index[w]] * len(files)
    test_paths, test_labels, per_class = [], [], {}
    for line in (base / "val" / "val_annotations.txt").read_text().splitlines():
        if not line.strip():
            continue
        name, wnid = line.split("\t")[:2]
        if max_per_class and per_class.get(wnid, 0) >= max_per_class:
            continue
        per_class[wnid] = per_class.get(wnid, 0) + 1
        test_paths.append(base / "val" / "images" / name)
        test_labels.append(index[wnid])
    x = load_images(paths, "RGB", img_size)
    xt = load_images(test_paths, "RGB", img_size)
    return make_splits(x, torch.tensor(labels, dtype=torch.long), num_classes=len(wnids),
                       val_fraction=val_fraction, test_fraction=0.0, split_seed=split_seed,
                       class_names=wnids, name="tiny_imagenet",
                       test=(xt, torch.tensor(test_labels, dtype=torch.long)))
