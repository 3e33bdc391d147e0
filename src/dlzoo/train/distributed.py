"""Minimal data-parallel support for ``torchrun``: process group from the environment, sharded batches,
gradient averaging with DistributedDataParallel, rank-0-only logging and checkpoints.

    torchrun --nproc_per_node 2 -m dlzoo.cli train configs/vit_digits.yaml

With ``train.fsdp: true`` the model is sharded with FSDP2 (``torch.distributed.fsdp.fully_shard``) instead:
every transformer block (the entries of the model's ``layers``/``blocks``/``h`` ``ModuleList``) is one
shard unit, then the root holds what is left (embeddings, final norm, head); parameters become DTensors
sharded on dim 0 across ranks, gathered for each block's forward/backward, gradients reduce-scattered.

``WORLD_SIZE``, ``RANK`` and ``LOCAL_RANK`` are set by torchrun; with ``WORLD_SIZE`` unset or 1 every
helper is a no-op. Each rank's :class:`dlzoo.data.BatchLoader` takes a strided shard of the same
(seed, epoch) permutation, as ``DistributedSampler`` does.

Every rank is seeded with the same ``seed`` (DDP also broadcasts rank 0's weights), so dropout masks are
identical across ranks, and checkpoints hold rank 0's RNG state only: resuming a distributed run is
supported but, unlike a single-process CPU run, not promised to be bitwise identical.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

__all__ = ["DistInfo", "init_from_env", "wrap_model", "shard_blocks", "no_sync", "full_tensor", "full_state",
           "load_full_state", "all_reduce_sum", "barrier", "cleanup"]


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_from_env(device_type: str = "cpu") -> DistInfo:
    """Initialise the default process group when ``WORLD_SIZE > 1`` (gloo on CPU, nccl on CUDA)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistInfo()
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", rank))
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device_type == "cuda" else "gloo", rank=rank,
                                world_size=world_size)
    return DistInfo(rank=rank, world_size=world_size, local_rank=local_rank)


def wrap_model(model: nn.Module, info: DistInfo, device: torch.device, fsdp: bool = False) -> nn.Module:
    """``DistributedDataParallel(model)`` when distributed (FSDP2-sharded in place when ``fsdp``), else
    ``model``."""
    if not info.enabled:
        return model
    if fsdp:
        return shard_blocks(model)
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids)


_BLOCK_LISTS = ("layers", "blocks", "h")


def shard_blocks(model: nn.Module) -> nn.Module:
    """FSDP2: ``fully_shard`` each block of the model's block list, then the root (in place; returned)."""
    from torch.distributed.fsdp import fully_shard

    lists = [getattr(model, n, None) for n in _BLOCK_LISTS]
    blocks = next((b for b in lists if isinstance(b, nn.ModuleList)), None)
    if blocks is None:
        from ..errors import UsageError

        raise UsageError(f"train.fsdp: {type(model).__name__} has no block list ({', '.join(_BLOCK_LISTS)} "
                         f"ModuleList) to shard; use DDP (train.fsdp: false)")
    for block in blocks:
        fully_shard(block)
    fully_shard(model)
    return model


def no_sync(model: nn.Module, last: bool):
    """Context for one micro-batch's forward+backward: DDP skips the gradient all-reduce unless ``last``
    (gradient accumulation); a no-op for anything else."""
    import contextlib

    if not last and isinstance(model, nn.parallel.DistributedDataParallel):
        return model.no_sync()
    return contextlib.nullcontext()


def full_tensor(t: torch.Tensor) -> torch.Tensor:
    """The whole tensor of a (sharded) DTensor; a plain tensor as it is. Collective for DTensors."""
    return t.full_tensor() if hasattr(t, "full_tensor") else t


def full_state(model: nn.Module, optimizer: torch.optim.Optimizer) -> tuple[dict, dict]:
    """FSDP: the unsharded model and optimizer state dicts (CPU) on rank 0, empty elsewhere. Collective:
    every rank calls it. Optimizer state is keyed by parameter name (``torch.distributed.checkpoint``)."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_state_dict

    return get_state_dict(model, optimizer, options=StateDictOptions(full_state_dict=True, cpu_offload=True))


def load_full_state(model: nn.Module, optimizer: torch.optim.Optimizer, model_state: dict,
                    optim_state: dict) -> None:
    """FSDP: load unsharded state dicts (read by every rank) into the sharded model and its optimizer."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_state_dict

    set_state_dict(model, optimizer, model_state_dict=model_state, optim_state_dict=optim_state,
                   options=StateDictOptions(full_state_dict=True))


def all_reduce_sum(values: list[float], info: DistInfo, device: torch.device) -> list[float]:
    """Sum python numbers across ranks (float64), e.g. loss sums and sample counts."""
    if not info.enabled:
        return values
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t.tolist()


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def cleanup(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()
