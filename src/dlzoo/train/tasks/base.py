"""The interface between :class:`dlzoo.train.trainer.Trainer` and a task (classification, language modelling).

The trainer owns the loop (micro-batch accumulation, optimizer/scheduler steps, clipping, checkpoints,
resume, distributed wrapping, run directory); a task owns what depends on the data: how the data and
model are built and checked, the training loss of one micro-batch and the running sums behind its epoch
metrics, evaluation, and anything printed or saved along the way.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ..build import TrainData
from ..config import TrainConfig

__all__ = ["Task", "create_task_model"]


def create_task_model(cfg: TrainConfig, task: str, example: str, data_kwargs: dict[str, Any]) -> nn.Module:
    """``create_model(model.name, **data_kwargs, **model.kwargs)``, refusing (exit 2, one line) an unknown
    name or a model whose card ``task`` is not ``task`` (``example`` names one that fits the data)."""
    from ...errors import UsageError
    from ...models import MODELS, create_model, list_models, model_info

    name = cfg.model.name
    if name not in list_models():
        raise UsageError(f"model.name: {MODELS._missing(name)}")
    if model_info(name).task != task:
        raise UsageError(f"model.name={name!r} is a {model_info(name).task} model, but data.name="
                         f"{cfg.data.name!r} needs a {task} model such as {example}")
    try:
        return create_model(name, **{**data_kwargs, **cfg.model.kwargs})
    except (TypeError, ValueError) as err:
        raise UsageError(f"model ({name}): {' '.join(str(err).split())}") from None


class Task:
    """Base class; see the module docstring. ``unit``: what the progress bar counts per second."""

    name = "task"
    unit = "img"

    def __init__(self, cfg: TrainConfig) -> None:
        self.cfg = cfg

    # ------------------------------------------------------------------ building
    def build_data(self, rank: int = 0, world_size: int = 1, run_dir: Path | None = None) -> TrainData:
        raise NotImplementedError

    def build_model(self, data: TrainData) -> nn.Module:
        raise NotImplementedError

    def check_fit(self, data: TrainData, model: nn.Module) -> None:
        """Raise :class:`dlzoo.errors.UsageError` if model, data and loss do not fit (a dry run)."""
        raise NotImplementedError

    def setup(self, data: TrainData, device: torch.device) -> None:
        """Build the losses (and anything else the steps need) on ``device``."""

    def save_files(self, run_dir: Path) -> None:
        """Files the run directory keeps next to the model (written once, at the start)."""

    # ------------------------------------------------------------------ training
    def sample_count(self, y: Tensor) -> int:
        """How many loss terms a micro-batch holds (the weight of its mean loss in an accumulated step)."""
        return int(y.shape[0])

    def new_sums(self) -> dict[str, float]:
        """Zeroed running sums of one epoch (checkpointed; the trainer adds ``time``)."""
        return {"loss": 0.0, "count": 0.0}

    def checkpoint_state(self, model: nn.Module) -> dict[str, Any]:
        """State the task's steps carry between optimizer steps outside the model's ``state_dict`` and the
        optimizer (e.g. an RBM's persistent chains); tensors and JSON values, stored in every checkpoint."""
        return {}

    def load_checkpoint_state(self, model: nn.Module, state: dict[str, Any]) -> None:
        """Put back what :meth:`checkpoint_state` returned (``model`` is already on its device)."""

    def train_loss(self, model: nn.Module, x: Tensor, y: Tensor) -> tuple[Tensor, dict[str, float]]:
        """The mean training loss of one micro-batch and what to add to the epoch sums (``count``: the
        micro-batch's :meth:`sample_count`, ``loss`` is added by the trainer as ``value * count``)."""
        raise NotImplementedError

    def epoch_metrics(self, sums: dict[str, float]) -> dict[str, Any]:
        """``train_*`` entries of the epoch record from the (all-reduced) sums: ``train_loss`` (mean per
        counted sample) and, for a task that counts ``correct`` predictions, ``train_acc``."""
        count = max(sums["count"], 1)
        out = {"train_loss": sums["loss"] / count}
        if "correct" in sums:
            out["train_acc"] = sums["correct"] / count
        return out

    # ------------------------------------------------------------------ evaluation
    def evaluate(self, model: nn.Module, loader: Any, device: torch.device,
                 autocast: Callable[[], contextlib.AbstractContextManager]) -> dict[str, float]:
        raise NotImplementedError

    def after_eval(self, model: nn.Module, record: dict[str, Any], message: Callable[[str], None]) -> None:
        """Called on every rank after each evaluation (language modelling prints a sample)."""

    def summary(self, prefix: str, metrics: dict[str, float]) -> str:
        """``test_loss 0.1234  test_acc 0.9876`` (what the trainer prints at the end)."""
        return "  ".join(f"{prefix}_{k} {v:.4f}" for k, v in metrics.items())
