"""Tabular classification in the trainer: the shallow (linear) models on scikit-learn's embedded data sets.

Chosen by the model: a model whose card ``task`` is ``tabular-classification`` (``logistic_regression``,
``softmax_regression``, ``svm``, ``multiclass_svm``, ``perceptron``, ``multiclass_perceptron``) trains here.
``data.name`` is one of :data:`TABULAR_DATA`, loaded with ``sklearn.datasets.load_<name>`` (shipped with
scikit-learn, nothing is downloaded; ``digits`` as its 64 pixel features), split stratified by label with
``val_fraction`` / ``test_fraction`` / ``split_seed`` (:func:`dlzoo.data.splits.stratified_split`) and
standardised with the training split's mean and (population) standard deviation, a constant feature scaled
by 1, as ``sklearn.preprocessing.StandardScaler``. Inputs ``(B, F)``, labels ``(B,)``.

The loss is the model's own ``objective(x, y)``, with scikit-learn's scaling of the L2 term,
``(1/2 ||W||^2 + C sum_i loss_i) / (C n)`` (the ``loss`` section is not used and ``optim.weight_decay`` must
be 0: the objective holds the L2 term). Its penalty is divided by the batch size, so the trainer takes
the whole training split as one batch (``data.batch_size`` must cover it) and each step is a full-batch
step on exactly scikit-learn's objective. Metrics: that objective and the accuracy. On the test split,
logistic / softmax regression are compared with ``sklearn.linear_model.LogisticRegression(C=model.C)``
fitted on the same standardised training split: its test accuracy (``sklearn_acc``) and the largest
coefficient difference (``sklearn_coef_max_abs_diff``; both minimise the same strictly convex objective).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ...data.base import BatchLoader, DataSplits, TensorDataset
from ...data.splits import stratified_split
from ...errors import UsageError
from ..build import TrainData
from .base import Task, create_task_model

__all__ = ["TABULAR_DATA", "TabularTask", "tabular_splits"]

TABULAR_DATA = ("breast_cancer", "iris", "wine", "digits")


def tabular_splits(name: str, val_fraction: float, test_fraction: float, split_seed: int) -> DataSplits:
    """``sklearn.datasets.load_<name>`` split stratified and standardised with training statistics."""
    from sklearn import datasets

    if name not in TABULAR_DATA:
        raise UsageError(f"data.name={name!r}: a tabular model trains on one of {', '.join(TABULAR_DATA)}")
    bunch = getattr(datasets, f"load_{name}")()
    x = torch.from_numpy(np.asarray(bunch.data, dtype=np.float32))  # (N, F)
    y = torch.from_numpy(np.asarray(bunch.target)).long()  # (N,)
    try:
        parts = stratified_split(y.numpy(), val_fraction, test_fraction, split_seed)
    except ValueError as err:
        raise UsageError(f"data ({name}): {err}") from None
    train = torch.from_numpy(parts[0])
    mean = x[train].mean(0)  # (F,)
    std = x[train].std(0, unbiased=False)  # (F,), StandardScaler's population std
    std = torch.where(std > 0, std, torch.ones_like(std))  # a constant feature is only centred
    x = (x - mean) / std
    ds = [TensorDataset(x[torch.from_numpy(i)], y[torch.from_numpy(i)]) for i in parts]
    num_classes = int(y.max()) + 1
    return DataSplits(
        train=ds[0],
        val=ds[1],
        test=ds[2],
        num_classes=num_classes,
        in_chans=x.shape[1],
        img_size=None,
        mean=mean,
        std=std,
        class_names=[str(c) for c in bunch.target_names],
        name=name,
    )


class TabularTask(Task):
    """Full-batch training of a linear model on its own objective (see the module docstring)."""

    name = "tabular"
    unit = "sample"

    def build_data(self, rank: int = 0, world_size: int = 1, run_dir: Path | None = None) -> TrainData:
        cfg = self.cfg.data
        if cfg.kwargs:
            raise UsageError(f"data.kwargs {sorted(cfg.kwargs)}: the tabular data sets take none")
        splits = tabular_splits(cfg.name, cfg.val_fraction, cfg.test_fraction, cfg.split_seed)
        n = len(splits.train)
        if cfg.batch_size < n:
            raise UsageError(
                f"data.batch_size={cfg.batch_size} < {n} training samples: a shallow model's "
                f"objective is scikit-learn's only over the full batch; set data.batch_size >= {n}"
            )
        loaders = [
            BatchLoader(splits.train, n, shuffle=False, rank=rank, world_size=world_size),
            BatchLoader(splits.val, max(len(splits.val), 1)),
            BatchLoader(splits.test, max(len(splits.test), 1)),
        ]
        return TrainData(
            splits=splits, train_loader=loaders[0], val_loader=loaders[1], test_loader=loaders[2]
        )

    def build_model(self, data: TrainData) -> nn.Module:
        s = data.splits
        return create_task_model(
            self.cfg,
            "tabular-classification",
            "softmax_regression",
            {"in_features": s.in_chans, "num_classes": s.num_classes},
        )

    def check_fit(self, data: TrainData, model: nn.Module) -> None:
        if self.cfg.optim.weight_decay:
            raise UsageError(
                f"optim.weight_decay={self.cfg.optim.weight_decay}: a shallow model's objective has "
                f"its own L2 term (model.kwargs.C); set optim.weight_decay: 0"
            )
        x, y = data.splits.train[:2]
        try:
            with torch.no_grad():
                model.objective(x, y)
        except (RuntimeError, ValueError, TypeError) as err:
            raise UsageError(
                f"model ({self.cfg.model.name}) does not fit the data: {' '.join(str(err).split())[:300]}"
            ) from None

    def new_sums(self) -> dict[str, float]:
        return {"loss": 0.0, "correct": 0.0, "count": 0.0}

    def train_loss(self, model: nn.Module, x: Tensor, y: Tensor) -> tuple[Tensor, dict[str, float]]:
        loss = model.objective(x, y)
        with torch.no_grad():
            correct = (model.predict(x) == y).sum().item()
        return loss, {"correct": float(correct), "count": float(y.shape[0])}

    @torch.no_grad()
    def evaluate(
        self,
        model: nn.Module,
        loader: Any,
        device: torch.device,
        autocast: Callable[[], contextlib.AbstractContextManager],
    ) -> dict[str, float]:
        x, y = loader.dataset.x.to(device), loader.dataset.y.to(device)
        if len(y) == 0:
            return {"loss": float("nan"), "acc": float("nan")}
        out = {"loss": model.objective(x, y).item(), "acc": (model.predict(x) == y).double().mean().item()}
        if loader is getattr(self, "_test_loader", None) and hasattr(model, "C"):
            out.update(self.sklearn_reference(model))
        return out

    def setup(self, data: TrainData, device: torch.device) -> None:
        self._data, self._test_loader = data, data.test_loader

    def sklearn_reference(self, model: nn.Module) -> dict[str, float]:
        """scikit-learn's ``LogisticRegression(C)`` on the same standardised split (logistic/softmax only)."""
        from sklearn.linear_model import LogisticRegression

        if type(model).__name__ not in ("LogisticRegression", "SoftmaxRegression") or not np.isfinite(
            model.C
        ):
            return {}
        s = self._data.splits
        ref = LogisticRegression(C=model.C, tol=1e-10, max_iter=10_000)
        ref.fit(s.train.x.double().numpy(), s.train.y.numpy())
        acc = float((ref.predict(s.test.x.double().numpy()) == s.test.y.numpy()).mean())
        coef = model.weight.detach().double().cpu().numpy()
        return {"sklearn_acc": acc, "sklearn_coef_max_abs_diff": float(np.abs(coef - ref.coef_).max())}
