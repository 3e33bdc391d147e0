"""Classification: what the trainer does on an image/vector dataset of :data:`dlzoo.data.DATASETS`.

The training loss is the config's loss (Mixup/CutMix soft targets from ``data.augment``, auxiliary heads'
terms through :func:`dlzoo.models._base.training_loss`); the epoch metrics are the mean loss and the
accuracy (against the hard labels); evaluation is plain cross-entropy and accuracy.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ...models._base import main_output, training_loss
from ..build import TrainData, build_augment, build_data, build_loss, build_model, build_train_loss
from ..config import LossConfig
from ..validate import check_fit
from .base import Task

__all__ = ["ClassificationTask", "evaluate_classifier"]


class ClassificationTask(Task):
    name = "classification"
    unit = "img"

    def build_data(self, rank: int = 0, world_size: int = 1, run_dir: Path | None = None) -> TrainData:
        return build_data(self.cfg.data, self.cfg.seed, rank, world_size)

    def build_model(self, data: TrainData) -> nn.Module:
        return build_model(self.cfg.model, data.splits)

    def check_fit(self, data: TrainData, model: nn.Module) -> None:
        check_fit(self.cfg, data, model)

    def setup(self, data: TrainData, device: torch.device) -> None:
        self.augment = build_augment(self.cfg, data.splits.num_classes)
        self.loss_fn = build_train_loss(self.cfg, self.augment).to(device)
        self.eval_loss_fn = build_loss(LossConfig()).to(device)

    def new_sums(self) -> dict[str, float]:
        return {"loss": 0.0, "correct": 0.0, "count": 0.0}

    def train_loss(self, model: nn.Module, x: Tensor, y: Tensor) -> tuple[Tensor, dict[str, float]]:
        inputs, target = self.augment(x, y)  # identity unless data.augment is set
        output = model(inputs)
        loss = training_loss(output, self.loss_fn, target)  # + auxiliary heads' terms, if any
        correct = (main_output(output).detach().argmax(dim=-1) == y).sum().item()
        return loss, {"correct": float(correct), "count": float(y.shape[0])}

    def evaluate(self, model: nn.Module, loader: Any, device: torch.device,
                 autocast: Callable[[], contextlib.AbstractContextManager]) -> dict[str, float]:
        return evaluate_classifier(model, loader, device, autocast, self.eval_loss_fn)


@torch.no_grad()
def evaluate_classifier(model: nn.Module, loader: Any, device: torch.device,
                        autocast: Callable[[], contextlib.AbstractContextManager],
                        loss_fn: nn.Module) -> dict[str, float]:
    """Mean cross-entropy and accuracy of ``model`` over ``loader`` (eval mode, no gradients)."""
    was_training = model.training
    model.eval()
    loss_sum, correct, count = 0.0, 0, 0
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        with autocast():
            logits = model(x)
        loss_sum += loss_fn(logits.float(), y).item() * y.shape[0]
        correct += int((logits.argmax(dim=-1) == y).sum().item())
        count += y.shape[0]
    model.train(was_training)
    if count == 0:
        return {"loss": float("nan"), "acc": float("nan")}
    return {"loss": loss_sum / count, "acc": correct / count}
