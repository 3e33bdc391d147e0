"""Dense (padded, batched) graphs and the dense GCN / GraphSAGE layers hierarchical pooling works on.

A batch of ``B`` graphs with at most ``N`` nodes is ``x (B, N, F)``, ``adj (B, N, N)`` and a node ``mask (B,
N)`` (True = real node). :func:`to_dense_batch` / :func:`to_dense_adj` turn the sparse batched form (node
features stacked, ``edge_index`` with global ids, a ``batch`` vector of graph ids) into it.

* :class:`DenseGCNConv` (Kipf & Welling 2017, arXiv:1609.02907): ``X' = D^-1/2 A~ D^-1/2 X W + b`` with the
  diagonal of ``A~`` set to 1 (2 if ``improved``) and degrees clamped at 1
  (``torch_geometric.nn.DenseGCNConv``).
* :class:`DenseSAGEConv` (Hamilton et al. 2017, arXiv:1706.02216): ``X' = W_rel (A X / deg) + W_root X
  + b``, degree clamped at 1, optional L2 normalisation (``torch_geometric.nn.DenseSAGEConv``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..channel_affine import check_positive_int
from ..linear import Linear
from .gcn import glorot_
from .scatter import check_edge_index, degree

__all__ = ["to_dense_batch", "to_dense_adj", "DenseGCNConv", "DenseSAGEConv"]


def _slots(batch: Tensor, batch_size: int | None) -> tuple[Tensor, int, int]:
    """Each node's position inside its graph, the batch size and the largest graph's node count."""
    batch_size = int(batch.max()) + 1 if batch_size is None else batch_size
    counts = degree(batch, batch_size, dtype=torch.long)  # (B,) nodes per graph
    starts = torch.cumsum(counts, 0) - counts  # first global id of each graph
    return torch.arange(batch.numel(), device=batch.device) - starts[batch], batch_size, int(counts.max())


def to_dense_batch(
    x: Tensor, batch: Tensor | None = None, fill_value: float = 0.0, batch_size: int | None = None
) -> tuple[Tensor, Tensor]:
    """Stacked node features ``x (sum N_b, F)`` sorted by ``batch`` -> ``(B, N_max, F)`` and the node mask."""
    if batch is None:
        return x.unsqueeze(0), torch.ones(1, x.shape[0], dtype=torch.bool, device=x.device)
    pos, batch_size, n_max = _slots(batch, batch_size)
    out = x.new_full((batch_size, n_max, *x.shape[1:]), fill_value)
    out[batch, pos] = x
    mask = torch.zeros(batch_size, n_max, dtype=torch.bool, device=x.device)
    mask[batch, pos] = True
    return out, mask


def to_dense_adj(
    edge_index: Tensor,
    batch: Tensor | None = None,
    edge_attr: Tensor | None = None,
    batch_size: int | None = None,
    num_nodes: int | None = None,
) -> Tensor:
    """Global ``edge_index`` -> ``(B, N_max, N_max)`` adjacency; repeated edges add up."""
    if batch is None:
        n = int(edge_index.max()) + 1 if num_nodes is None and edge_index.numel() else (num_nodes or 0)
        batch = torch.zeros(n, dtype=torch.long, device=edge_index.device)
    check_edge_index("to_dense_adj", edge_index, batch.numel())
    pos, batch_size, n_max = _slots(batch, batch_size)
    src, dst = edge_index
    weight = torch.ones(src.numel(), device=edge_index.device) if edge_attr is None else edge_attr
    adj = weight.new_zeros((batch_size, n_max, n_max))
    return adj.index_put_((batch[src], pos[src], pos[dst]), weight, accumulate=True)


def _batched(x: Tensor, adj: Tensor, layer: str, in_channels: int) -> tuple[Tensor, Tensor]:
    x = x.unsqueeze(0) if x.dim() == 2 else x
    adj = adj.unsqueeze(0) if adj.dim() == 2 else adj
    if (
        x.dim() != 3
        or x.shape[-1] != in_channels
        or adj.dim() != 3
        or adj.shape[-1] != adj.shape[-2]
        or adj.shape[-1] != x.shape[1]
    ):
        raise ValueError(
            f"{layer}: expected x (B, N, {in_channels}) and a square adj (B, N, N), got "
            f"{list(x.shape)} and {list(adj.shape)}"
        )
    return x, adj


def _apply_mask(out: Tensor, mask: Tensor | None) -> Tensor:
    return out if mask is None else out * mask.view(*out.shape[:2], 1).to(out.dtype)


class DenseGCNConv(nn.Module):
    """GCN on dense adjacencies (see the module docstring). ``x (B, N, F_in)``, ``adj (B, N, N)``."""

    def __init__(
        self, in_channels: int, out_channels: int, improved: bool = False, bias: bool = True
    ) -> None:
        super().__init__()
        check_positive_int("DenseGCNConv", "in_channels", in_channels)
        check_positive_int("DenseGCNConv", "out_channels", out_channels)
        self.in_channels, self.out_channels, self.improved = in_channels, out_channels, improved
        self.lin = Linear(in_channels, out_channels, bias=False)
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        glorot_(self.lin.weight)

    def forward(self, x: Tensor, adj: Tensor, mask: Tensor | None = None, add_loop: bool = True) -> Tensor:
        x, adj = _batched(x, adj, "DenseGCNConv", self.in_channels)
        if add_loop:
            eye = torch.eye(adj.shape[-1], dtype=torch.bool, device=adj.device)
            adj = adj.masked_fill(eye, 2.0 if self.improved else 1.0)
        deg_inv_sqrt = adj.sum(-1).clamp(min=1).pow(-0.5)  # (B, N)
        adj = deg_inv_sqrt.unsqueeze(-1) * adj * deg_inv_sqrt.unsqueeze(-2)
        out = adj @ self.lin(x)  # (B, N, N) @ (B, N, F_out)
        if self.bias is not None:
            out = out + self.bias
        return _apply_mask(out, mask)


class DenseSAGEConv(nn.Module):
    """GraphSAGE (mean) on dense adjacencies (see the module docstring)."""

    def __init__(
        self, in_channels: int, out_channels: int, normalize: bool = False, bias: bool = True
    ) -> None:
        super().__init__()
        check_positive_int("DenseSAGEConv", "in_channels", in_channels)
        check_positive_int("DenseSAGEConv", "out_channels", out_channels)
        self.in_channels, self.out_channels, self.normalize = in_channels, out_channels, normalize
        self.lin_rel = Linear(in_channels, out_channels, bias=False)
        self.lin_root = Linear(in_channels, out_channels, bias=bias)

    def forward(self, x: Tensor, adj: Tensor, mask: Tensor | None = None) -> Tensor:
        x, adj = _batched(x, adj, "DenseSAGEConv", self.in_channels)
        neigh = (adj @ x) / adj.sum(-1, keepdim=True).clamp(min=1)  # (B, N, F_in): mean over neighbours
        out = self.lin_rel(neigh) + self.lin_root(x)
        if self.normalize:
            out = F.normalize(out, p=2.0, dim=-1)
        return _apply_mask(out, mask)
