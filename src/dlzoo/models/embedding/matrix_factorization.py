"""Low-rank matrix factorization ``M ~ P Q^T`` fitted by gradient descent, optionally on observed entries.

Koren, Bell, Volinsky, "Matrix Factorization Techniques for Recommender Systems", IEEE Computer 42(8), 2009::

    min_{P, Q}  1/2 sum_{(i,j) observed} (M_ij - p_i^T q_j)^2 + lambda/2 (||P||_F^2 + ||Q||_F^2)

With every entry observed and ``lambda = 0`` the minimum is the Eckart-Young bound (Eckart & Young, "The
approximation of one matrix by another of lower rank", Psychometrika 1, 1936): the best rank-k error is
``sum_{i > k} sigma_i^2``, reached by the truncated SVD, and gradient descent from a small random start
reaches it (the full-observation problem has no spurious local minima).

Parameters ``row_factors`` P ``(num_rows, rank)`` and ``col_factors`` Q ``(num_cols, rank)``, drawn from
``N(0, init_std^2)``. ``forward(rows (B,))`` reconstructs those rows, ``(B, num_cols)``; ``predict(rows,
cols)`` gives entries ``(B,)``; :meth:`reconstruction` is ``P Q^T``. Parameters ``(m + n) k``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from ...nn.channel_affine import check_positive_int
from .. import register_model

__all__ = ["MatrixFactorization", "matrix_factorization", "eckart_young_error"]


def eckart_young_error(matrix: Tensor, rank: int) -> Tensor:
    """``sum_{i > rank} sigma_i^2``: the squared Frobenius error of the best rank-``rank`` approximation."""
    s = torch.linalg.svdvals(matrix)
    return (s[rank:] ** 2).sum()


class MatrixFactorization(nn.Module):
    """``M ~ P Q^T`` (see module docstring)."""

    def __init__(self, num_rows: int = 100, num_cols: int = 80, rank: int = 10,
                 init_std: float = 0.1) -> None:
        super().__init__()
        name = "MatrixFactorization"
        self.num_rows = check_positive_int(name, "num_rows", num_rows)
        self.num_cols = check_positive_int(name, "num_cols", num_cols)
        self.rank = check_positive_int(name, "rank", rank)
        self.row_factors = nn.Parameter(torch.randn(num_rows, rank) * init_std)  # P (m, k)
        self.col_factors = nn.Parameter(torch.randn(num_cols, rank) * init_std)  # Q (n, k)

    def _check_ids(self, ids: object, limit: int, what: str) -> Tensor:
        if not isinstance(ids, Tensor) or ids.is_floating_point() or ids.dim() != 1:
            raise TypeError(f"MatrixFactorization: expected integer {what} indices (B,), got "
                            f"{tuple(ids.shape) if isinstance(ids, Tensor) else type(ids).__name__}"
                            f"{' ' + str(ids.dtype) if isinstance(ids, Tensor) else ''}")
        if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= limit):
            raise ValueError(f"MatrixFactorization: {what} indices must be in [0, {limit}), got "
                             f"[{int(ids.min())}, {int(ids.max())}]")
        return ids

    def forward(self, rows: Tensor) -> Tensor:
        """Rows of ``P Q^T``: ``(B,) -> (B, num_cols)``."""
        rows = self._check_ids(rows, self.num_rows, "row")
        return self.row_factors[rows] @ self.col_factors.t()  # (B, k) @ (k, n)

    def predict(self, rows: Tensor, cols: Tensor) -> Tensor:
        """Entries ``p_i^T q_j``, ``(B,)``."""
        rows = self._check_ids(rows, self.num_rows, "row")
        cols = self._check_ids(cols, self.num_cols, "column")
        return (self.row_factors[rows] * self.col_factors[cols]).sum(1)

    def reconstruction(self) -> Tensor:
        """``P Q^T``, ``(num_rows, num_cols)``."""
        return self.row_factors @ self.col_factors.t()

    def objective(self, matrix: Tensor, mask: Tensor | None = None, weight_decay: float = 0.0) -> Tensor:
        """``1/2 sum_observed (M - P Q^T)^2 + weight_decay/2 (||P||^2 + ||Q||^2)``."""
        residual = matrix - self.reconstruction()
        if mask is not None:
            residual = residual * mask
        reg = 0.5 * weight_decay * ((self.row_factors**2).sum() + (self.col_factors**2).sum())
        return 0.5 * (residual**2).sum() + reg

    def fit(self, matrix: Tensor, mask: Tensor | None = None, weight_decay: float = 0.0, max_iter: int = 500,
            tol: float = 1e-9) -> MatrixFactorization:
        """Full-batch :class:`dlzoo.optim.LBFGS` (strong Wolfe) on :meth:`objective`. Returns ``self``."""
        from ...optim import LBFGS

        expected = (self.num_rows, self.num_cols)
        if not isinstance(matrix, Tensor) or tuple(matrix.shape) != expected:
            got = tuple(matrix.shape) if isinstance(matrix, Tensor) else type(matrix).__name__
            raise ValueError(f"MatrixFactorization: expected a matrix {expected}, got {got}")
        if mask is not None and tuple(mask.shape) != expected:
            raise ValueError(f"MatrixFactorization: expected a mask {expected}, got {tuple(mask.shape)}")
        mask = None if mask is None else mask.to(matrix.dtype)
        opt = LBFGS(self.parameters(), lr=1, max_iter=max_iter, max_eval=max_iter * 5 // 4,
                    tolerance_grad=tol, tolerance_change=1e-15, history_size=20,
                    line_search_fn="strong_wolfe")

        def closure() -> Tensor:
            opt.zero_grad()
            loss = self.objective(matrix, mask, weight_decay)
            loss.backward()
            return loss

        opt.step(closure)
        return self

    def extra_repr(self) -> str:
        return f"num_rows={self.num_rows}, num_cols={self.num_cols}, rank={self.rank}"


@register_model(family="matrix_factorization",
                paper="Matrix Factorization Techniques for Recommender Systems",
                year=2009, arxiv="IEEE Computer 42(8):30-37", input_size=(100, 80), test_input_size=(6, 5),
                task="matrix-factorization", reference_params=(100 + 80) * 10,
                source="closed form: (m + n) k, m = 100, n = 80, k = 10",
                test_kwargs={"num_rows": 6, "num_cols": 5, "rank": 2})
def matrix_factorization(**kwargs: Any) -> MatrixFactorization:
    """Rank-10 factorization of a 100 x 80 matrix."""
    return MatrixFactorization(**kwargs)
