"""BatchLoader: order a pure function of (seed, epoch); resume mid-epoch; DistributedSampler sharding."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import DistributedSampler

from dlzoo.data import BatchLoader, TensorDataset


def _data(n: int = 103) -> TensorDataset:
    return TensorDataset(torch.arange(n, dtype=torch.float32).view(n, 1, 1, 1), torch.arange(n))


def test_every_sample_once_per_epoch_and_batches_are_gathers():
    ds = _data()
    loader = BatchLoader(ds, batch_size=10, shuffle=True, seed=5)
    assert len(loader) == 11
    ys = torch.cat([y for _, y in loader.iter_epoch(0)])
    assert sorted(ys.tolist()) == list(range(103))
    for x, y in loader.iter_epoch(1):
        torch.testing.assert_close(x.view(-1), y.float())  # x and y gathered with the same indices
    assert len(BatchLoader(ds, batch_size=10, drop_last=True)) == 10


def test_order_is_a_pure_function_of_seed_and_epoch():
    a = BatchLoader(_data(), batch_size=8, shuffle=True, seed=1)
    b = BatchLoader(_data(), batch_size=8, shuffle=True, seed=1)
    torch.manual_seed(123)  # the global RNG must not matter
    first = a.order(3)
    torch.manual_seed(999)
    torch.testing.assert_close(first, b.order(3))
    assert not torch.equal(a.order(3), a.order(4))
    assert not torch.equal(a.order(3), BatchLoader(_data(), batch_size=8, shuffle=True, seed=2).order(3))
    torch.testing.assert_close(BatchLoader(_data(), 8).order(0), torch.arange(103))


def test_resume_mid_epoch_yields_the_remaining_batches():
    loader = BatchLoader(_data(), batch_size=8, shuffle=True, seed=4)
    full = [y for _, y in loader.iter_epoch(2)]
    tail = [y for _, y in loader.iter_epoch(2, start_batch=5)]
    assert len(tail) == len(full) - 5
    for a, b in zip(full[5:], tail):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("n,world", [(103, 2), (100, 4), (7, 3)])
def test_sharding_matches_torch_distributed_sampler(n, world):
    ds = _data(n)
    for rank in range(world):
        ours = BatchLoader(ds, batch_size=4, rank=rank, world_size=world).order(0)
        ref = list(DistributedSampler(range(n), num_replicas=world, rank=rank, shuffle=False))
        assert ours.tolist() == ref
    # shuffled: the shards are a partition of one padded permutation, identical for every rank
    shards = [BatchLoader(ds, 4, shuffle=True, rank=r, world_size=world).order(2) for r in range(world)]
    assert len({len(s) for s in shards}) == 1
    assert set(torch.cat(shards).tolist()) == set(range(n))


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="BatchLoader: batch_size"):
        BatchLoader(_data(), batch_size=0)
    with pytest.raises(ValueError, match="rank"):
        BatchLoader(_data(), batch_size=2, rank=2, world_size=2)
    with pytest.raises(ValueError, match="same length"):
        TensorDataset(torch.zeros(3, 1), torch.zeros(2, dtype=torch.long))
