"""DiffPool graph classifier, Ying et al., "Hierarchical Graph Representation Learning with Differentiable
Pooling", NeurIPS 2018, arXiv:1806.08804, sec. 3.3 and 4 (the two-level GraphSAGE variant).

    level l:  Z = GNN_embed(A, X),  S = GNN_pool(A, X)  ->  X', A', L_link, L_ent = dense_diff_pool(Z, A, S)
    after the last level: h_G = mean over clusters of GNN_embed, logits = MLP(h_G)
    loss = CE(logits, y) + sum_l (L_link + L_ent)      (:meth:`DiffPoolOutput.loss`, used by the trainer)

Each GNN is three :class:`dlzoo.nn.graph.DenseSAGEConv` layers with ReLU and batch norm, concatenated (the
paper's "skip connections" across the GNN's layers). Clusters per level: ``ratio`` of the previous count
(``max_nodes`` at the input). ``forward(x (N, F), edge_index (2, E), batch (N,))`` -> logits (B, C) in eval,
:class:`DiffPoolOutput` in training.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from ...nn import BatchNorm1d, Linear, ReLU
from ...nn.channel_affine import check_positive_int
from ...nn.classifier import check_num_classes
from ...nn.graph import DenseSAGEConv, DiffPool, to_dense_adj, to_dense_batch
from .. import register_model

__all__ = ["DiffPoolNet", "DiffPoolOutput", "DenseSAGE"]


class DiffPoolOutput(NamedTuple):
    """Training outputs: the logits and the auxiliary pooling losses summed over levels."""

    logits: Tensor
    link_loss: Tensor
    entropy_loss: Tensor

    def loss(self, criterion: Callable[[Tensor, Tensor], Tensor], target: Tensor) -> Tensor:
        """``criterion(logits, target) + L_link + L_ent`` (Ying et al. 2018, sec. 3.3)."""
        return criterion(self.logits, target) + self.link_loss + self.entropy_loss


class DenseSAGE(nn.Module):
    """Three dense GraphSAGE layers (ReLU + batch norm over real nodes), outputs concatenated: width 2h +
    out."""

    def __init__(self, in_channels: int, hidden_channels: int, out_channels: int) -> None:
        super().__init__()
        widths = [in_channels, hidden_channels, hidden_channels, out_channels]
        self.convs = nn.ModuleList(DenseSAGEConv(a, b) for a, b in zip(widths[:-1], widths[1:]))
        self.norms = nn.ModuleList(BatchNorm1d(b) for b in widths[1:])
        self.act = ReLU()
        self.out_channels = 2 * hidden_channels + out_channels

    def forward(self, x: Tensor, adj: Tensor, mask: Tensor | None = None) -> Tensor:
        outs = []
        for conv, norm in zip(self.convs, self.norms):
            h = self.act(conv(x, adj, mask))  # (B, N, F)
            B, N, F = h.shape
            if mask is None:
                h = norm(h.reshape(B * N, F)).view(B, N, F)
            else:  # batch statistics over real nodes only
                h = h.masked_scatter(mask[..., None], norm(h[mask]))
            outs.append(h)
            x = h
        return torch.cat(outs, dim=-1)  # (B, N, 2h + out)


class DiffPoolNet(nn.Module):
    """Two DiffPool levels and an embedding GNN on the coarsest graph (see the module docstring)."""

    def __init__(
        self,
        in_channels: int = 3,
        num_classes: int = 2,
        hidden_channels: int = 64,
        max_nodes: int = 150,
        ratio: float = 0.25,
        num_levels: int = 2,
    ) -> None:
        super().__init__()
        for arg, value in (
            ("in_channels", in_channels),
            ("hidden_channels", hidden_channels),
            ("max_nodes", max_nodes),
            ("num_levels", num_levels),
        ):
            check_positive_int("DiffPoolNet", arg, value)
        if not 0 < ratio < 1:
            raise ValueError(f"DiffPoolNet: ratio must be in (0, 1), got {ratio}")
        self.num_classes = check_num_classes(num_classes)
        if self.num_classes == 0:
            raise ValueError("DiffPoolNet: num_classes must be positive")
        self.in_channels, self.max_nodes = in_channels, max_nodes
        levels, width, clusters = [], in_channels, max_nodes
        for _ in range(num_levels):
            clusters = max(1, math.ceil(clusters * ratio))
            embed = DenseSAGE(width, hidden_channels, hidden_channels)
            levels.append(DiffPool(embed, DenseSAGE(width, hidden_channels, clusters)))
            width = embed.out_channels
        self.levels = nn.ModuleList(levels)
        self.final_embed = DenseSAGE(width, hidden_channels, hidden_channels)
        self.head = nn.Sequential(
            Linear(self.final_embed.out_channels, hidden_channels),
            ReLU(),
            Linear(hidden_channels, num_classes),
        )

    def forward(self, x: Tensor, edge_index: Tensor, batch: Tensor) -> Tensor | DiffPoolOutput:
        size = int(batch.max()) + 1 if batch.numel() else 0
        h, mask = to_dense_batch(x, batch, batch_size=size)  # (B, N, F), (B, N)
        if h.shape[1] > self.max_nodes:
            raise ValueError(
                f"DiffPoolNet: a graph has {h.shape[1]} nodes, more than max_nodes={self.max_nodes}"
            )
        adj = to_dense_adj(edge_index, batch, batch_size=size).to(h.dtype)  # (B, N, N)
        link = ent = h.new_zeros(())
        for level in self.levels:
            h, adj, link_l, ent_l = level(h, adj, mask)  # (B, C_l, F_l), (B, C_l, C_l)
            mask, link, ent = None, link + link_l, ent + ent_l
        logits = self.head(self.final_embed(h, adj).mean(dim=1))  # (B, C)
        return DiffPoolOutput(logits, link, ent) if self.training else logits


@register_model(
    family="gnn",
    paper="Hierarchical Graph Representation Learning with Differentiable Pooling",
    year=2018,
    arxiv="1806.08804",
    task="graph-classification",
    input_size=(150, 3),
    test_input_size=(10, 5),
    test_kwargs={"in_channels": 5, "hidden_channels": 8, "max_nodes": 10},
    source="Ying et al. 2018 sec. 4.1 (GraphSAGE GNNs, pooling to 25% of the nodes per level, "
    "2 levels, hidden 64); no published parameter count",
)
def diffpool(**kwargs: Any) -> DiffPoolNet:
    return DiffPoolNet(**kwargs)
