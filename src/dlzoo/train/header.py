"""The start-up header ``dlzoo train`` prints before the first step (and ``--dry-run`` prints alone).

    dlzoo train vit-digits
      model   vit_tiny_digits: 216,970 parameters (216,970 trainable)
      device  cpu, 2 torch threads, amp none
      data    digits: train 1,259 / val 269 / test 269 images, batch 64
      steps   20 per epoch x 20 epochs = 400 optimizer steps
      writes  runs/vit-digits-dyt/20261202-081500

Every number is read from the built components: the parameter count from ``model.parameters()`` (a
DTensor's ``numel`` is its global size, so FSDP runs count the whole model), the split sizes from the
loaders' datasets, the step counts from the trainer's schedule.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

__all__ = ["RunSummary", "run_summary", "format_header"]

_UNITS = {"img": "images", "tok": "blocks", "graph": "graphs", "node": "nodes", "sample": "samples"}


@dataclass(frozen=True)
class RunSummary:
    """The facts the header shows (also handy for tests and tools)."""

    name: str
    model: str
    params: int
    trainable: int
    device: str
    threads: int
    amp: str
    world_size: int
    dataset: str
    sizes: dict[str, int]  # split -> number of examples (images, token blocks, graphs, nodes, ...)
    unit: str
    batch_size: int | None  # None: one step sees the whole split (a full-graph node task)
    steps_per_epoch: int
    epochs: int
    total_steps: int
    grad_accum: int
    run_dir: Path
    block_size: int | None = None


def _split_size(loader: Any) -> int:
    dataset = getattr(loader, "dataset", None)
    return len(dataset) if dataset is not None else 0


def run_summary(trainer: Any) -> RunSummary:
    """The :class:`RunSummary` of a constructed :class:`dlzoo.train.trainer.Trainer`."""
    cfg, data, model = trainer.cfg, trainer.data, trainer.model
    params = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    device = trainer.device
    where = str(device)
    if device.type == "cuda":
        where += f" ({torch.cuda.get_device_name(device)})"
    loaders = {"train": data.train_loader, "val": data.val_loader, "test": data.test_loader}
    return RunSummary(
        name=cfg.name,
        model=cfg.model.name,
        params=int(params),
        trainable=int(trainable),
        device=where,
        threads=torch.get_num_threads(),
        amp=cfg.train.amp,
        world_size=trainer.dist.world_size,
        dataset=cfg.data.name,
        sizes={k: _split_size(v) for k, v in loaders.items()},
        unit=_UNITS.get(trainer.task.unit, "examples"),
        batch_size=getattr(data.train_loader, "batch_size", None),
        steps_per_epoch=trainer.steps_per_epoch,
        epochs=cfg.train.epochs,
        total_steps=trainer.total_steps,
        grad_accum=trainer.accum,
        run_dir=trainer.run_dir,
        block_size=getattr(getattr(data, "splits", None), "block_size", None),
    )


def format_header(s: RunSummary) -> str:
    """The header text (see the module docstring)."""
    device = f"{s.device}, {s.threads} torch thread{'s' * (s.threads != 1)}, amp {s.amp}"
    if s.world_size > 1:
        device += f", {s.world_size} processes"
    unit = s.unit + (f" of {s.block_size} tokens" if s.block_size else "")
    sizes = " / ".join(f"{k} {v:,}" for k, v in s.sizes.items())
    steps = f"{s.steps_per_epoch:,} per epoch x {s.epochs} epochs"
    full = s.steps_per_epoch * s.epochs
    steps += (
        f" = {s.total_steps:,} optimizer steps"
        if full == s.total_steps
        else f", capped at {s.total_steps:,} optimizer steps (train.max_steps)"
    )
    if s.grad_accum > 1:
        steps += f" ({s.grad_accum} micro-batches each)"
    return "\n".join(
        [
            f"dlzoo train {s.name}",
            f"  model   {s.model}: {s.params:,} parameters ({s.trainable:,} trainable)",
            f"  device  {device}",
            f"  data    {s.dataset}: {sizes} {unit}, "
            + (f"batch {s.batch_size}" if s.batch_size else "the whole split per step"),
            f"  steps   {steps}",
            f"  writes  {s.run_dir}",
        ]
    )
