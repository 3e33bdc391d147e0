"""Graph-level readouts and the batched-graph container.

Many graphs form one batch by stacking their nodes: ``x (sum N_b, F)``, ``edge_index`` with ids offset by the
nodes before each graph, and ``batch (sum N_b,)`` giving each node's graph. A readout reduces each graph's
nodes:

    h_G = mean / max / sum_{v in G} x_v        (Xu et al. 2019 use sum: it keeps multiset information)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from .scatter import check_edge_index, scatter

__all__ = ["global_mean_pool", "global_max_pool", "global_add_pool", "GraphBatch"]


def _readout(x: Tensor, batch: Tensor | None, size: int | None, reduce: str) -> Tensor:
    if batch is None:
        return getattr(x, {"mean": "mean", "sum": "sum"}.get(reduce, "amax"))(dim=0, keepdim=True)
    size = int(batch.max()) + 1 if size is None else size
    return scatter(x, batch, size, reduce)


def global_mean_pool(x: Tensor, batch: Tensor | None, size: int | None = None) -> Tensor:
    """Mean of each graph's node features: ``(sum N_b, F)`` -> ``(B, F)``."""
    return _readout(x, batch, size, "mean")


def global_max_pool(x: Tensor, batch: Tensor | None, size: int | None = None) -> Tensor:
    """Feature-wise max over each graph's nodes."""
    return _readout(x, batch, size, "max")


def global_add_pool(x: Tensor, batch: Tensor | None, size: int | None = None) -> Tensor:
    """Sum of each graph's node features."""
    return _readout(x, batch, size, "sum")


@dataclass
class GraphBatch:
    """Graphs batched by stacking nodes: ``x (N, F)``, ``edge_index (2, E)``, ``batch (N,)``, optional
    ``y``."""

    x: Tensor
    edge_index: Tensor
    batch: Tensor
    y: Tensor | None = None

    @property
    def num_graphs(self) -> int:
        return int(self.batch.max()) + 1 if self.batch.numel() else 0

    @classmethod
    def from_graphs(cls, graphs: list[tuple[Tensor, Tensor]], ys: list | Tensor | None = None) -> GraphBatch:
        """Collate ``[(x_b, edge_index_b), ...]`` (local node ids) into one batch."""
        if not graphs:
            raise ValueError("GraphBatch.from_graphs: no graphs to batch")
        xs, edges, batch, offset = [], [], [], 0
        for b, (x, edge_index) in enumerate(graphs):
            check_edge_index(f"GraphBatch.from_graphs (graph {b})", edge_index, x.shape[0])
            xs.append(x)
            edges.append(edge_index + offset)
            batch.append(torch.full((x.shape[0],), b, dtype=torch.long))
            offset += x.shape[0]
        y = torch.as_tensor(ys) if ys is not None else None
        return cls(torch.cat(xs), torch.cat(edges, dim=1), torch.cat(batch), y)

    def to(self, device: torch.device | str, non_blocking: bool = False) -> GraphBatch:
        def move(t: Tensor | None) -> Tensor | None:
            return None if t is None else t.to(device, non_blocking=non_blocking)

        return GraphBatch(move(self.x), move(self.edge_index), move(self.batch), move(self.y))
