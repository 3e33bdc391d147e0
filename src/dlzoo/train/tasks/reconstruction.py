"""Reconstruction in the trainer: an autoencoder (card task ``reconstruction``) on flattened images.

Chosen by the model: ``linear_autoencoder`` (Baldi & Hornik, "Neural networks and principal component
analysis: Learning from examples without local minima", Neural Networks 2(1), 1989) trains here on any
image dataset of :data:`dlzoo.data.DATASETS` (``digits``: 64 pixels), each image flattened to ``(F,)`` in
the dataset's normalisation; labels are ignored. The loss is the autoencoder's objective

    L = 1/2 mean_i || x_i - x_hat_i ||^2            x (B, F), x_hat = model(x) (B, F)

(the ``loss`` section is not used). Metrics on each split: ``loss`` (that L), ``mse`` (per pixel), and the
reference: ``sklearn.decomposition.PCA(k)`` fitted on the training split (``k``: the model's
``latent_dim``), its L on the same split (``pca_loss``: the optimum of a ``k``-unit linear bottleneck,
Eckart-Young; Baldi & Hornik's theorem says every local minimum reaches it), and the principal angles
between the decoder's column space (``model.principal_subspace()``) and PCA's top-``k`` components
(``angle_max_deg``, ``angle_mean_deg``; 0 at the optimum), computed by :func:`dlzoo.analysis.subspace.
principal_angles`. They land in ``metrics.jsonl`` per epoch and in ``results.json`` for the test split.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ...analysis.subspace import principal_angles
from ...errors import UsageError
from ..build import TrainData, build_data
from ..config import AugmentConfig
from .base import Task, create_task_model

__all__ = ["ReconstructionTask", "half_squared_error"]


def half_squared_error(x_hat: Tensor, x: Tensor) -> Tensor:
    """``1/2 mean_i ||x_i - x_hat_i||^2`` over a batch (B, F) (the linear autoencoder's objective)."""
    return 0.5 * (x_hat - x).square().sum(1).mean()


class ReconstructionTask(Task):
    """Trains an autoencoder on flattened images and compares it with PCA (see the module docstring)."""

    name = "reconstruction"
    unit = "img"

    def build_data(self, rank: int = 0, world_size: int = 1, run_dir: Path | None = None) -> TrainData:
        if self.cfg.data.augment != AugmentConfig():
            raise UsageError(
                "data.augment: the reconstruction task trains on the images as they are; remove it"
            )
        data = build_data(self.cfg.data, self.cfg.seed, rank, world_size)
        splits = data.splits
        if splits.train.x.dim() < 2 or not splits.train.x.is_floating_point():
            raise UsageError(
                f"data.name={self.cfg.data.name!r}: the reconstruction task needs float inputs "
                f"(N, ...), got {tuple(splits.train.x.shape)} {splits.train.x.dtype}"
            )
        for split in (splits.train, splits.val, splits.test):  # in place: the loaders hold these datasets
            split.x = split.x.flatten(1)  # (N, F)
        self._data = data
        self._pca: dict[int, Any] = {}
        return data

    def build_model(self, data: TrainData) -> nn.Module:
        features = data.splits.train.x.shape[1]
        return create_task_model(self.cfg, "reconstruction", "linear_autoencoder", {"in_features": features})

    def check_fit(self, data: TrainData, model: nn.Module) -> None:
        x = data.splits.train.x[:2]
        was_training = model.training
        try:
            with torch.no_grad():
                out = model.eval()(x.to(next(model.parameters()).device))
        except (RuntimeError, ValueError, TypeError) as err:
            raise UsageError(
                f"model ({self.cfg.model.name}) does not fit the data: {' '.join(str(err).split())[:300]}"
            ) from None
        finally:
            model.train(was_training)
        if not isinstance(out, Tensor) or out.shape != x.shape:
            got = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
            raise UsageError(
                f"model ({self.cfg.model.name}) returns {got} for inputs {tuple(x.shape)}; a "
                f"reconstruction model returns its input's shape"
            )

    # ------------------------------------------------------------------ training
    def train_loss(self, model: nn.Module, x: Tensor, y: Tensor) -> tuple[Tensor, dict[str, float]]:
        return half_squared_error(model(x), x), {"count": float(x.shape[0])}

    # ------------------------------------------------------------------ evaluation
    def pca(self, k: int) -> Any:
        """``sklearn.decomposition.PCA(k)`` fitted (float64) on the training split (cached per ``k``)."""
        from sklearn.decomposition import PCA

        if k not in self._pca:
            self._pca[k] = PCA(k, svd_solver="full").fit(self._data.splits.train.x.double().numpy())
        return self._pca[k]

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
        sse, count, dims = 0.0, 0, 1
        for x, _ in loader:
            x = x.to(device)
            with autocast():
                x_hat = model(x).float()
            sse += float((x_hat - x).double().square().sum())
            count, dims = count + x.shape[0], x.shape[1]
        model.train(was_training)
        if count == 0:
            return {"loss": float("nan"), "mse": float("nan")}
        out = {"loss": 0.5 * sse / count, "mse": sse / (count * dims)}
        inner = getattr(model, "module", None) or getattr(model, "_orig_mod", None) or model
        if hasattr(inner, "principal_subspace"):
            out.update(self.pca_reference(inner.principal_subspace(), loader.dataset.x))
        return out

    def pca_reference(self, basis: Tensor, x: Tensor) -> dict[str, float]:
        """PCA's loss on ``x`` (N, F) and the principal angles between ``basis`` (F, k) and its components."""
        pca = self.pca(basis.shape[1])
        xs = x.double().numpy()
        recon = pca.inverse_transform(pca.transform(xs))  # (N, F): projection onto the top-k subspace
        angles = principal_angles(basis.detach().cpu(), torch.from_numpy(pca.components_.T.copy()))
        degrees = angles * (180.0 / math.pi)
        return {
            "pca_loss": float(0.5 * np.square(xs - recon).sum(1).mean()),
            "angle_max_deg": float(degrees.max()),
            "angle_mean_deg": float(degrees.mean()),
        }
