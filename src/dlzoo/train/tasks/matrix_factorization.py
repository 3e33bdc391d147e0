"""Matrix factorization in the trainer: ``matrix_factorization`` (card task ``matrix-factorization``) on a
fully observed, seeded low-rank-plus-noise matrix, compared with the Eckart-Young bound.

Koren, Bell, Volinsky, "Matrix Factorization Techniques for Recommender Systems", IEEE Computer 42(8), 2009;
Eckart & Young, "The approximation of one matrix by another of lower rank", Psychometrika 1, 1936.

``data.name: low_rank`` (``data.kwargs``: ``num_rows`` 100, ``num_cols`` 80, ``rank`` 10, ``noise_std``
0.1; the matrix is drawn with ``data.split_seed``)::

    L = A B^T / sqrt(rank),  A (m, r), B (n, r) ~ N(0, 1);   M = L + noise_std * E,  E ~ N(0, 1)

The model's shape (``num_rows``, ``num_cols``) follows from the matrix, its ``rank`` from ``model.kwargs``
(default: the matrix's). A training example is a row index; the loss of a batch of rows is
``1/2 mean_i ||M_i - p_i^T Q^T||^2`` (so the mean over all rows is the full objective over ``m``; the
``loss`` section is not used). A fully observed matrix has no held-out entries: the val and test
"splits" evaluate the fit of the whole matrix. Metrics: ``loss`` (as in training), ``error`` =
``||M - P Q^T||_F^2``, ``eckart_young_error`` = ``sum_{i > k} sigma_i(M)^2`` (the best rank-k error, the
truncated SVD's), ``error_ratio`` (1 at the optimum), and the relative recovery of the noiseless ``L``,
``signal_rel_error`` = ``||L - P Q^T||_F^2 / ||L||_F^2``, next to the truncated SVD's
(``svd_signal_rel_error``).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ...data.base import BatchLoader, DataSplits, TensorDataset
from ...errors import UsageError
from ..build import TrainData
from .base import Task, create_task_model

__all__ = ["MatrixFactorizationTask", "low_rank_matrix"]

_KEYS = {"num_rows": 100, "num_cols": 80, "rank": 10, "noise_std": 0.1}


def low_rank_matrix(
    num_rows: int, num_cols: int, rank: int, noise_std: float, seed: int
) -> tuple[Tensor, Tensor]:
    """``(M, L)``, both ``(num_rows, num_cols)`` float64: ``L = A B^T / sqrt(rank)``, ``M = L + noise``."""
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(num_rows, rank, generator=g, dtype=torch.float64)
    b = torch.randn(num_cols, rank, generator=g, dtype=torch.float64)
    signal = a @ b.T / math.sqrt(rank)
    return signal + noise_std * torch.randn(num_rows, num_cols, generator=g, dtype=torch.float64), signal


class MatrixFactorizationTask(Task):
    """Fits ``M ~ P Q^T`` by mini-batches of rows (see the module docstring)."""

    name = "matrix-factorization"
    unit = "row"

    def __init__(self, cfg) -> None:
        super().__init__(cfg)
        if cfg.data.name != "low_rank":
            raise UsageError(
                f"data.name={cfg.data.name!r}: matrix_factorization trains on data.name: low_rank"
            )
        unknown = sorted(set(cfg.data.kwargs) - set(_KEYS))
        if unknown:
            raise UsageError(f"data.kwargs {unknown}: the low_rank matrix takes {sorted(_KEYS)}")
        self.settings = {**_KEYS, **cfg.data.kwargs}
        for key in ("num_rows", "num_cols", "rank"):
            value = self.settings[key]
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise UsageError(f"data.kwargs.{key} must be an integer >= 1, got {value!r}")
        noise = self.settings["noise_std"]
        if isinstance(noise, bool) or not isinstance(noise, (int, float)) or noise < 0:
            raise UsageError(f"data.kwargs.noise_std must be a number >= 0, got {noise!r}")

    def build_data(self, rank: int = 0, world_size: int = 1, run_dir: Path | None = None) -> TrainData:
        s = self.settings
        self.matrix, self.signal = low_rank_matrix(
            s["num_rows"], s["num_cols"], s["rank"], s["noise_std"], self.cfg.data.split_seed
        )
        rows = TensorDataset(torch.arange(s["num_rows"]), torch.arange(s["num_rows"]))  # (m,) row ids
        splits = DataSplits(
            train=rows,
            val=rows,
            test=rows,
            num_classes=s["num_cols"],
            in_chans=1,
            img_size=None,
            mean=torch.zeros(1),
            std=torch.ones(1),
            name="low_rank",
        )
        loaders = [
            BatchLoader(
                rows,
                self.cfg.data.batch_size,
                shuffle=True,
                seed=self.cfg.seed,
                rank=rank,
                world_size=world_size,
            ),
            BatchLoader(rows, s["num_rows"]),
            BatchLoader(rows, s["num_rows"]),
        ]
        return TrainData(
            splits=splits, train_loader=loaders[0], val_loader=loaders[1], test_loader=loaders[2]
        )

    def build_model(self, data: TrainData) -> nn.Module:
        s = self.settings
        kwargs = {"num_rows": s["num_rows"], "num_cols": s["num_cols"], "rank": s["rank"]}
        return create_task_model(self.cfg, "matrix-factorization", "matrix_factorization", kwargs)

    def check_fit(self, data: TrainData, model: nn.Module) -> None:
        shape = (getattr(model, "num_rows", None), getattr(model, "num_cols", None))
        if shape != tuple(self.matrix.shape):
            raise UsageError(
                f"model ({self.cfg.model.name}) factorizes a {shape} matrix, the data is "
                f"{tuple(self.matrix.shape)}; leave model.kwargs num_rows/num_cols unset"
            )

    def setup(self, data: TrainData, device: torch.device) -> None:
        self._matrix = self.matrix.float().to(device)

    def train_loss(self, model: nn.Module, x: Tensor, y: Tensor) -> tuple[Tensor, dict[str, float]]:
        loss = 0.5 * (self._matrix[x] - model(x)).square().sum(1).mean()  # (B, n) rows of M vs of P Q^T
        return loss, {"count": float(x.shape[0])}

    @torch.no_grad()
    def evaluate(
        self,
        model: nn.Module,
        loader: Any,
        device: torch.device,
        autocast: Callable[[], contextlib.AbstractContextManager],
    ) -> dict[str, float]:
        from ...models.embedding.matrix_factorization import eckart_young_error

        rows = torch.arange(self.matrix.shape[0], device=device)
        recon = model(rows).double().cpu()  # (m, n) = P Q^T
        k = getattr(getattr(model, "_orig_mod", model), "rank", self.settings["rank"])
        error = float((self.matrix - recon).square().sum())
        bound = float(eckart_young_error(self.matrix, k))
        u, sv, vh = torch.linalg.svd(self.matrix, full_matrices=False)
        svd = (u[:, :k] * sv[:k]) @ vh[:k]  # the truncated SVD, the rank-k optimum
        signal = float(self.signal.square().sum())
        return {
            "loss": 0.5 * error / self.matrix.shape[0],
            "error": error,
            "eckart_young_error": bound,
            "error_ratio": error / bound if bound > 0 else float("nan"),
            "signal_rel_error": float((self.signal - recon).square().sum()) / signal,
            "svd_signal_rel_error": float((self.signal - svd).square().sum()) / signal,
        }
