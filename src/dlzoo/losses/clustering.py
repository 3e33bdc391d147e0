"""Clustering loss of Deep Embedded Clustering.

Xie, Girshick, Farhadi, "Unsupervised Deep Embedding for Clustering Analysis", ICML 2016, arXiv:1511.06335,
Eq. 1-3. Soft assignment of embedding ``z_i`` to centroid ``mu_j`` by a Student's t kernel,

    q_ij = (1 + ||z_i - mu_j||^2 / alpha)^(-(alpha + 1) / 2) / sum_j' (same),

the sharpened target ``p_ij = (q_ij^2 / f_j) / sum_j' (q_ij'^2 / f_j')`` with ``f_j = sum_i q_ij``, and the
loss ``KL(P || Q) = sum_i sum_j p_ij log(p_ij / q_ij)``, averaged over the batch (P is a constant target:
it is computed without gradient, as the paper updates it separately).

Shapes: ``z (N, D)``, ``centroids (K, D)`` -> scalar; :func:`soft_assignment` -> ``(N, K)``.
"""

from __future__ import annotations

from torch import Tensor, nn

__all__ = ["ClusteringLoss", "soft_assignment", "target_distribution"]


def soft_assignment(z: Tensor, centroids: Tensor, alpha: float = 1.0) -> Tensor:
    """Eq. 1: Student's t similarities, rows normalised, ``(N, K)``."""
    if z.dim() != 2 or centroids.dim() != 2 or z.shape[1] != centroids.shape[1]:
        raise ValueError(f"ClusteringLoss: expected z (N, D) and centroids (K, D), got {list(z.shape)} and "
                         f"{list(centroids.shape)}")
    d2 = ((z[:, None, :] - centroids[None]) ** 2).sum(-1)  # (N, K)
    q = (1.0 + d2 / alpha) ** (-(alpha + 1.0) / 2.0)
    return q / q.sum(1, keepdim=True)


def target_distribution(q: Tensor) -> Tensor:
    """Eq. 3: ``p_ij ~ q_ij^2 / f_j``, rows normalised."""
    w = q * q / q.sum(0, keepdim=True)
    return w / w.sum(1, keepdim=True)


class ClusteringLoss(nn.Module):
    """``forward(z, centroids) -> KL(P || Q)`` per sample, batch mean (see module docstring)."""

    def __init__(self, alpha: float = 1.0) -> None:
        super().__init__()
        if alpha <= 0:
            raise ValueError(f"ClusteringLoss: alpha must be > 0, got {alpha}")
        self.alpha = alpha

    def forward(self, z: Tensor, centroids: Tensor) -> Tensor:
        q = soft_assignment(z, centroids, self.alpha)
        p = target_distribution(q).detach()
        return (p * (p.clamp_min(1e-30).log() - q.clamp_min(1e-30).log())).sum(1).mean()


