"""Dense regression in the trainer: the 3-D U-Net forecasting advection-diffusion frames.

``data.name: advection`` (:mod:`dlzoo.data.advection`, ``data.kwargs`` go to the generator: ``num_samples``,
``past``, ``future``, ``size``, ...): inputs ``(B, 1, T_past, H, W)``, targets ``(B, 1, T_future, H, W)``. The
loss is the config's (``mse`` by default for this task; ``l1``/``huber`` work too). Metrics: MSE, MAE,
R^2 = 1 - SSE / SST (SST around the split's target mean), the MSE of each future frame, and the same numbers
for the persistence baseline (the last past frame repeated), so a run says whether it beats copying.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ...data.advection import AdvectionSplits, advection_splits, persistence
from ...data.base import BatchLoader
from ...errors import UsageError
from ..build import TrainData, build_loss
from .base import Task, create_task_model

__all__ = ["REGRESSION_DATA", "RegressionTask", "regression_metrics"]

REGRESSION_DATA = ("advection",)


@dataclass
class _Frames:
    """Past frames ``x`` and future frames ``y`` (float targets, so not a classification TensorDataset)."""

    x: Tensor
    y: Tensor

    def __len__(self) -> int:
        return self.x.shape[0]


def regression_metrics(pred: Tensor, target: Tensor) -> dict[str, float]:
    """MSE, MAE, R^2 and per-future-frame MSE of ``pred`` vs ``target`` (B, C, T, H, W)."""
    err = pred.double() - target.double()
    sst = ((target.double() - target.double().mean()) ** 2).sum()
    out = {
        "mse": err.pow(2).mean().item(),
        "mae": err.abs().mean().item(),
        "r2": (1 - err.pow(2).sum() / sst).item() if sst > 0 else float("nan"),
    }
    for t, value in enumerate(err.pow(2).mean(dim=(0, 1, 3, 4)).tolist()):
        out[f"mse_frame{t + 1}"] = value
    return out


class RegressionTask(Task):
    """Forecasting frames with a dense model (see the module docstring)."""

    name = "regression"
    unit = "sample"

    def build_data(self, rank: int = 0, world_size: int = 1, run_dir: Path | None = None) -> TrainData:
        cfg = self.cfg.data
        try:
            splits: AdvectionSplits = advection_splits(
                val_fraction=cfg.val_fraction,
                test_fraction=cfg.test_fraction,
                seed=cfg.split_seed,
                **cfg.kwargs,
            )
        except (TypeError, ValueError) as err:
            raise UsageError(f"data ({cfg.name}): {' '.join(str(err).split())}") from None
        loaders = [
            BatchLoader(_Frames(*splits.train), cfg.batch_size, shuffle=True, seed=self.cfg.seed, rank=rank,
                        world_size=world_size),
            BatchLoader(_Frames(*splits.val), max(cfg.batch_size, 64)),
            BatchLoader(_Frames(*splits.test), max(cfg.batch_size, 64)),
        ]
        return TrainData(
            splits=splits, train_loader=loaders[0], val_loader=loaders[1], test_loader=loaders[2]
        )

    def build_model(self, data: TrainData) -> nn.Module:
        x, y = data.splits.train  # (N, C_in, T, H, W), (N, C_out, T, H, W)
        return create_task_model(
            self.cfg,
            "segmentation",
            "unet3d_tiny (a dense, voxel-wise model)",
            {"in_channels": x.shape[1], "out_channels": y.shape[1]},
        )

    def check_fit(self, data: TrainData, model: nn.Module) -> None:
        x, y = next(iter(data.train_loader))
        try:
            with torch.no_grad():
                out = model.eval()(x[:1])
        except (RuntimeError, ValueError) as err:
            raise UsageError(f"model and data do not fit: {' '.join(str(err).split())[:300]}") from None
        finally:
            model.train()
        if out.shape[1:] != y.shape[1:]:
            raise UsageError(
                f"model output {tuple(out.shape[1:])} per sample does not match the targets "
                f"{tuple(y.shape[1:])}: a same-size dense model needs data.kwargs.future == past"
            )

    def setup(self, data: TrainData, device: torch.device) -> None:
        self.loss_fn = build_loss(self.cfg.loss).to(device)

    def train_loss(self, model: nn.Module, x: Tensor, y: Tensor) -> tuple[Tensor, dict[str, float]]:
        return self.loss_fn(model(x), y), {"count": float(y.shape[0])}

    @torch.no_grad()
    def evaluate(
        self,
        model: nn.Module,
        loader: Any,
        device: torch.device,
        autocast: Callable[[], contextlib.AbstractContextManager],
    ) -> dict[str, float]:
        was_training = model.training
        model.eval()
        preds, targets, inputs = [], [], []
        for x, y in loader:
            with autocast():
                preds.append(model(x.to(device)).float().cpu())
            targets.append(y)
            inputs.append(x)
        model.train(was_training)
        if not preds:
            return {"loss": float("nan")}
        pred, target, x = torch.cat(preds), torch.cat(targets), torch.cat(inputs)
        metrics = {
            "loss": self.loss_fn(pred.to(device), target.to(device)).item(),
            **regression_metrics(pred, target),
        }
        baseline = regression_metrics(persistence(x, target.shape[2]), target)
        metrics.update({f"persistence_{k}": v for k, v in baseline.items() if not k.startswith("mse_frame")})
        return metrics
