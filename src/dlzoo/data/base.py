"""In-memory datasets and a whole-batch iterator (no per-sample Python work).

A :class:`TensorDataset` holds ``x`` (N, C, H, W) and ``y`` (N,) as tensors. :class:`BatchLoader` indexes
whole batches with one gather per batch (``x[idx]``), which is what makes in-memory training fast; a
``torch.utils.data.DataLoader`` over a map-style dataset would call ``__getitem__`` once per sample.

Data order is a pure function of ``(seed, epoch)``: every epoch draws its permutation from a fresh
``torch.Generator`` seeded from both, so a resumed run sees exactly the order an uninterrupted one would,
and ``iter_epoch(epoch, start_batch=k)`` resumes mid-epoch. With ``world_size > 1`` each rank takes a
strided shard of the padded permutation (what ``DistributedSampler`` does).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..registry import Registry

__all__ = ["TensorDataset", "BatchLoader", "DataSplits", "DATASETS", "register_dataset", "epoch_seed"]


@dataclass
class TensorDataset:
    """Images ``x`` of shape (N, C, H, W) (or (N, D)) and integer labels ``y`` of shape (N,)."""

    x: Tensor
    y: Tensor

    def __post_init__(self) -> None:
        if self.x.shape[0] != self.y.shape[0]:
            raise ValueError(
                f"TensorDataset: x and y must have the same length, got {self.x.shape[0]} "
                f"and {self.y.shape[0]}"
            )
        if self.y.dtype != torch.long:
            raise TypeError(f"TensorDataset: labels must be torch.long, got {self.y.dtype}")

    def __len__(self) -> int:
        return self.x.shape[0]

    def __getitem__(self, index: Any) -> tuple[Tensor, Tensor]:
        return self.x[index], self.y[index]


@dataclass
class DataSplits:
    """Train/val/test splits plus what a model needs to know about them.

    ``mean``/``std`` are per-channel statistics of the *training* split used to normalise all three
    splits (already applied); ``denormalize`` undoes it for display.
    """

    train: TensorDataset
    val: TensorDataset
    test: TensorDataset
    num_classes: int
    in_chans: int
    img_size: int | None
    mean: Tensor
    std: Tensor
    class_names: list[str] = field(default_factory=list)
    name: str = ""

    def denormalize(self, x: Tensor) -> Tensor:
        """Undo the train-statistics normalisation of a batch (N, C, H, W)."""
        shape = (1, -1) + (1,) * (x.dim() - 2)  # (1, C, 1, 1) for images
        return x * self.std.view(shape).to(x) + self.mean.view(shape).to(x)


def epoch_seed(seed: int, epoch: int) -> int:
    """A well-mixed 63-bit seed that depends only on ``(seed, epoch)``."""
    state = np.random.SeedSequence([int(seed) & 0xFFFFFFFF, int(epoch)]).generate_state(2, dtype=np.uint32)
    return (int(state[0]) << 31) ^ int(state[1])


class BatchLoader:
    """Iterate a :class:`TensorDataset` in whole batches.

    Args:
        dataset: the in-memory data.
        batch_size: samples per batch (per rank).
        shuffle: draw a new permutation each epoch from ``epoch_seed(seed, epoch)``.
        drop_last: drop the final incomplete batch.
        seed: base seed of the data order.
        rank, world_size: shard the epoch's order across data-parallel ranks.
    """

    def __init__(
        self,
        dataset: TensorDataset,
        batch_size: int,
        shuffle: bool = False,
        drop_last: bool = False,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"BatchLoader: batch_size must be >= 1, got {batch_size}")
        if not 0 <= rank < world_size:
            raise ValueError(f"BatchLoader: need 0 <= rank < world_size, got rank {rank}, "
                             f"world_size {world_size}")
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Epoch used by ``__iter__`` (as with ``DistributedSampler.set_epoch``)."""
        self.epoch = epoch

    @property
    def num_samples(self) -> int:
        """Samples this rank sees per epoch."""
        return math.ceil(len(self.dataset) / self.world_size)

    def __len__(self) -> int:
        n = self.num_samples
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def order(self, epoch: int) -> Tensor:
        """This rank's sample indices for ``epoch``: a pure function of ``(seed, epoch, rank)``."""
        n = len(self.dataset)
        if self.shuffle:
            gen = torch.Generator().manual_seed(epoch_seed(self.seed, epoch))
            perm = torch.randperm(n, generator=gen)
        else:
            perm = torch.arange(n)
        if self.world_size > 1:
            total = self.num_samples * self.world_size
            perm = torch.cat([perm, perm[: total - n]])  # pad to a multiple of world_size
            perm = perm[self.rank :: self.world_size]
        return perm

    def iter_epoch(self, epoch: int, start_batch: int = 0) -> Iterator[tuple[Tensor, Tensor]]:
        """Batches ``(x, y)`` of ``epoch``, starting at batch index ``start_batch``."""
        perm = self.order(epoch)
        for b in range(start_batch, len(self)):
            yield self.batch(perm[b * self.batch_size : (b + 1) * self.batch_size])

    def batch(self, idx: Tensor) -> tuple[Any, Tensor]:
        """The ``(x, y)`` of the samples ``idx`` (one gather each); loaders of other data override it."""
        return self.dataset.x[idx], self.dataset.y[idx]

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        return self.iter_epoch(self.epoch)


DatasetBuilder = Callable[..., DataSplits]

DATASETS: Registry[DatasetBuilder] = Registry("dataset")


def register_dataset(name: str | None = None, **card: Any):
    """Decorator: register ``builder(*, val_fraction, test_fraction, split_seed, img_size, root, **kw)``."""
    return DATASETS.register(name, **card)
