"""The public entry points of the trainer: ``train(cfg) -> TrainResult`` and ``resume(run_dir)``.

Wrong-typed arguments raise a ``TypeError`` naming the argument; config problems a
:class:`dlzoo.errors.UsageError`. The loop itself is :class:`dlzoo.train.trainer.Trainer`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..errors import UsageError
from . import distributed as D
from .config import TrainConfig, load_config
from .rundir import experiment_dir_name
from .trainer import Trainer, TrainResult

__all__ = ["train", "resume"]


def _require(fn: str, name: str, value: Any, types: tuple[type, ...], what: str) -> None:
    if not isinstance(value, types) or (bool not in types and isinstance(value, bool)):
        raise TypeError(f"{fn}: {name} must be {what}, got {type(value).__name__} {value!r}")


def train(cfg: TrainConfig | dict | str | os.PathLike | None, run_dir: str | os.PathLike | None = None,
          progress: bool = True, resume: bool = False) -> TrainResult:
    """Train one model as configured; ``resume=True`` continues from ``run_dir``'s latest checkpoint
    (a finished run is returned as it is, see :class:`TrainResult`.already_complete)."""
    _require("train", "cfg", cfg, (TrainConfig, dict, str, os.PathLike, type(None)),
             "a TrainConfig, a config dict, a YAML path or None")
    _require("train", "run_dir", run_dir, (str, os.PathLike, type(None)), "a directory path or None")
    _require("train", "progress", progress, (bool,), "a bool")
    _require("train", "resume", resume, (bool,), "a bool")
    if resume and run_dir is None:
        raise ValueError("train: resume=True needs the run_dir to resume")
    if not isinstance(cfg, TrainConfig):
        cfg = load_config(cfg)
    trainer = Trainer(cfg, run_dir=run_dir, progress=progress, resume=resume)
    try:
        result = trainer.fit()
        # every rank done (rank 0 has written the final model) before any rank tears its process group down:
        # a rank leaving early closes gloo connections under a peer's feet (seen as SIGABRT at exit)
        D.barrier(trainer.dist)
        return result
    finally:
        D.cleanup(trainer.dist)


def resume(run_dir: str | os.PathLike, progress: bool = True,
           overrides: list[str] | tuple[str, ...] = ()) -> TrainResult:
    """Continue a killed run from ``run_dir/config.yaml`` and its newest checkpoint (``overrides`` such as
    ``["train.epochs=30"]`` extend it; a finished run is returned as it is)."""
    _require("resume", "run_dir", run_dir, (str, os.PathLike), "a run directory path")
    _require("resume", "progress", progress, (bool,), "a bool")
    if isinstance(overrides, (str, bytes)) or not isinstance(overrides, (list, tuple)) \
            or not all(isinstance(o, str) for o in overrides):
        raise TypeError(f"resume: overrides must be a list of 'key.sub=value' strings, got {overrides!r}")
    run_dir = Path(run_dir)
    name = experiment_dir_name(run_dir)
    if name is not None:
        raise UsageError(f"{run_dir} is an experiment directory, not a training run; resume it with "
                         f"dlzoo experiment run {name} --resume {run_dir}, or one of its runs with "
                         f"dlzoo train --resume {run_dir / 'runs'}/<run>")
    if not (run_dir / "config.yaml").is_file():
        raise UsageError(f"{run_dir} is not a run directory (no config.yaml)")
    cfg = load_config(run_dir / "config.yaml", overrides)
    return train(cfg, run_dir=run_dir, progress=progress, resume=True)
