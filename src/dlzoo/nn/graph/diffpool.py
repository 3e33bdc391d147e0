"""Differentiable pooling, Ying et al., "Hierarchical Graph Representation Learning with Differentiable
Pooling", NeurIPS 2018, arXiv:1806.08804, eqs. 3-4 and sec. 3.3 (``torch_geometric.nn.dense_diff_pool``):

    S = softmax(GNN_pool(A, X))            (B, N, C)   soft assignment of N nodes to C clusters
    X' = S^T Z,   Z = GNN_embed(A, X)      (B, C, F)
    A' = S^T A S                           (B, C, C)
    L_link = ||A - S S^T||_F  (/ numel(A) if normalize),    L_ent = mean_n H(S_n) = mean(-sum_c S log S)

Padding nodes (``mask`` False) get zero features and zero assignment rows.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["dense_diff_pool", "DiffPool"]


def dense_diff_pool(
    x: Tensor, adj: Tensor, s: Tensor, mask: Tensor | None = None, normalize: bool = True
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Pool ``x (B, N, F)``, ``adj (B, N, N)`` with assignment logits ``s (B, N, C)`` -> (x', adj', L_link,
    L_ent)."""
    x = x.unsqueeze(0) if x.dim() == 2 else x
    adj = adj.unsqueeze(0) if adj.dim() == 2 else adj
    s = s.unsqueeze(0) if s.dim() == 2 else s
    if adj.shape[-1] != adj.shape[-2] or s.shape[:2] != x.shape[:2] or adj.shape[:2] != x.shape[:2]:
        raise ValueError(
            f"dense_diff_pool: expected x (B, N, F), square adj (B, N, N), s (B, N, C) with the same "
            f"B, N; got {list(x.shape)}, {list(adj.shape)}, {list(s.shape)}"
        )
    s = torch.softmax(s, dim=-1)
    if mask is not None:
        m = mask.view(*x.shape[:2], 1).to(x.dtype)
        x, s = x * m, s * m
    st = s.transpose(1, 2)  # (B, C, N)
    out = st @ x  # (B, C, F)
    out_adj = st @ adj @ s  # (B, C, C)
    link_loss = torch.linalg.vector_norm(adj - s @ st)  # Frobenius norm over the whole batch
    if normalize:
        link_loss = link_loss / adj.numel()
    ent_loss = (-s * torch.log(s + 1e-15)).sum(dim=-1).mean()
    return out, out_adj, link_loss, ent_loss


class DiffPool(nn.Module):
    """One DiffPool level: ``embed`` and ``assign`` are dense GNNs called as ``gnn(x, adj, mask)``.

    ``forward(x, adj, mask)`` -> ``(x', adj', link_loss, entropy_loss)`` with ``x' (B, C, F)``."""

    def __init__(self, embed: nn.Module, assign: nn.Module, normalize: bool = True) -> None:
        super().__init__()
        self.embed, self.assign, self.normalize = embed, assign, normalize

    def forward(
        self, x: Tensor, adj: Tensor, mask: Tensor | None = None
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        z = self.embed(x, adj, mask)  # (B, N, F)
        s = self.assign(x, adj, mask)  # (B, N, C)
        return dense_diff_pool(z, adj, s, mask, self.normalize)
