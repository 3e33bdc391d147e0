"""Principal angles between two subspaces (Bjorck & Golub 1973).

Bjorck, Golub, "Numerical methods for computing angles between linear subspaces", Mathematics of
Computation 27(123), 1973. For orthonormal bases ``Q_A`` (n, p) and ``Q_B`` (n, q) (from QR of the given
column sets), the cosines of the ``min(p, q)`` principal angles are the singular values of ``Q_A^T Q_B``;
their sines are the singular values of the residual ``Q_B - Q_A Q_A^T Q_B`` (``p >= q``, else the roles
swap). ``arccos`` loses precision near 0, so angles below 45 degrees come from the sines (the rule of
``scipy.linalg.subspace_angles``). Used to compare a linear autoencoder's decoder with PCA's components.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["principal_angles"]


def _basis(m: Tensor, name: str) -> Tensor:
    if not isinstance(m, Tensor) or m.dim() != 2 or m.shape[1] == 0 or m.shape[1] > m.shape[0]:
        got = tuple(m.shape) if isinstance(m, Tensor) else type(m).__name__
        raise ValueError(f"principal_angles: {name} must be a (n, k) matrix with 1 <= k <= n, got {got}")
    q, _ = torch.linalg.qr(m.double())
    return q  # (n, k), orthonormal columns spanning span(m)


def principal_angles(a: Tensor, b: Tensor) -> Tensor:
    """Principal angles (radians, ascending, ``min(p, q)`` of them) between ``span(a)`` and ``span(b)``.

    ``a`` (n, p) and ``b`` (n, q): column sets of full column rank (any basis; orthonormalised here).
    Returns float64 (min(p, q),) in [0, pi/2]."""
    qa, qb = _basis(a, "a"), _basis(b, "b")
    if qa.shape[0] != qb.shape[0]:
        raise ValueError(
            f"principal_angles: a and b must have the same number of rows, got {qa.shape[0]} "
            f"and {qb.shape[0]}"
        )
    if qa.shape[1] < qb.shape[1]:
        qa, qb = qb, qa  # the residual is taken of the smaller set
    cross = qa.T @ qb  # (p, q), p >= q
    cos = torch.linalg.svdvals(cross).clamp(-1, 1)  # (q,), descending: angles ascending
    sin = torch.linalg.svdvals(qb - qa @ cross).clamp(-1, 1).flip(0)  # (q,), ascending: angles ascending
    return torch.where(cos.square() >= 0.5, torch.arcsin(sin), torch.arccos(cos))
