"""Message-passing node and graph classifiers built from :mod:`dlzoo.nn.graph`.

* :class:`NodeGNN` -- ``gcn`` (Kipf & Welling 2017, arXiv:1609.02907, sec. 3: two GCN layers, ReLU, dropout
  0.5, hidden 16) and ``graphsage`` (Hamilton et al. 2017, arXiv:1706.02216: two mean-aggregator SAGE
  layers). Keys follow ``torch_geometric.nn.models.GCN`` / ``GraphSAGE`` (``convs.i.*``) so their weights
  load directly.
  ``forward(x (N, F), edge_index (2, E)) -> logits (N, C)``.
* :class:`GIN` -- Xu et al. 2019, arXiv:1810.00826, sec. 4.2 and 7: GIN layers with 2-layer MLPs and batch
  norm, and the readout of eq. 4.2 applied to every depth, ``h_G = sum_k Linear_k(sum_v h_v^(k))``
  (including the input features, k = 0), dropout before each linear score.
  ``forward(x (N, F), edge_index (2, E), batch (N,)) -> logits (B, C)``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from ...nn import BatchNorm1d, Dropout, Linear, ReLU
from ...nn.channel_affine import check_positive_int
from ...nn.classifier import check_num_classes
from ...nn.graph import GCNConv, GINConv, SAGEConv, global_add_pool
from .. import register_model

__all__ = ["NodeGNN", "GIN"]


class NodeGNN(nn.Module):
    """``num_layers`` graph convolutions ``conv`` ("gcn" or "sage") with ReLU and dropout between them."""

    def __init__(
        self,
        in_channels: int = 1433,
        num_classes: int = 7,
        hidden_channels: int = 16,
        num_layers: int = 2,
        conv: str = "gcn",
        dropout: float = 0.5,
        **conv_kwargs: Any,
    ) -> None:
        super().__init__()
        for arg, value in (
            ("in_channels", in_channels),
            ("hidden_channels", hidden_channels),
            ("num_layers", num_layers),
        ):
            check_positive_int(type(self).__name__, arg, value)
        self.num_classes = check_num_classes(num_classes)
        if self.num_classes == 0:
            raise ValueError(f"{type(self).__name__}: num_classes must be positive for node classification")
        layer = {"gcn": GCNConv, "sage": SAGEConv}.get(conv)
        if layer is None:
            raise ValueError(f"{type(self).__name__}: conv must be 'gcn' or 'sage', got {conv!r}")
        self.in_channels = in_channels
        widths = [in_channels] + [hidden_channels] * (num_layers - 1) + [num_classes]
        self.convs = nn.ModuleList(layer(a, b, **conv_kwargs) for a, b in zip(widths[:-1], widths[1:]))
        self.act, self.dropout = ReLU(), Dropout(dropout)

    def forward(self, x: Tensor, edge_index: Tensor, edge_weight: Tensor | None = None) -> Tensor:
        for i, conv in enumerate(self.convs):
            x = conv(x, edge_index, edge_weight) if isinstance(conv, GCNConv) else conv(x, edge_index)
            if i < len(self.convs) - 1:
                x = self.dropout(self.act(x))
        return x  # (N, C)


class GIN(nn.Module):
    """Graph classifier of Xu et al. 2019 (see the module docstring): ``num_layers`` counts the input
    layer."""

    def __init__(
        self,
        in_channels: int = 7,
        num_classes: int = 2,
        hidden_channels: int = 64,
        num_layers: int = 5,
        dropout: float = 0.5,
        train_eps: bool = False,
    ) -> None:
        super().__init__()
        check_positive_int("GIN", "in_channels", in_channels)
        check_positive_int("GIN", "hidden_channels", hidden_channels)
        check_positive_int("GIN", "num_layers", num_layers)
        self.num_classes = check_num_classes(num_classes)
        if self.num_classes == 0:
            raise ValueError("GIN: num_classes must be positive")
        self.in_channels = in_channels
        widths = [in_channels] + [hidden_channels] * (num_layers - 1)
        self.convs = nn.ModuleList(
            GINConv(
                nn.Sequential(
                    Linear(a, hidden_channels),
                    BatchNorm1d(hidden_channels),
                    ReLU(),
                    Linear(hidden_channels, hidden_channels),
                ),
                train_eps=train_eps,
            )
            for a in widths[:-1]
        )
        self.norms = nn.ModuleList(BatchNorm1d(hidden_channels) for _ in self.convs)
        self.act, self.dropout = ReLU(), Dropout(dropout)
        self.heads = nn.ModuleList(Linear(w, num_classes) for w in widths)  # one score per depth (eq. 4.2)

    def forward(self, x: Tensor, edge_index: Tensor, batch: Tensor) -> Tensor:
        size = int(batch.max()) + 1 if batch.numel() else 0
        hidden = [x]
        for conv, norm in zip(self.convs, self.norms):
            hidden.append(self.act(norm(conv(hidden[-1], edge_index))))
        scores = [head(self.dropout(global_add_pool(h, batch, size))) for head, h in zip(self.heads, hidden)]
        return torch.stack(scores).sum(0)  # (B, C)


_GCN_CARD = dict(
    family="gnn",
    paper="Semi-Supervised Classification with Graph Convolutional Networks",
    year=2017,
    arxiv="1609.02907",
    task="node-classification",
    input_size=(2708, 1433),
    test_input_size=(12, 6),
    test_kwargs={"in_channels": 6, "num_classes": 3},
)


@register_model(
    **_GCN_CARD,
    reference_params=23_063,
    source="torch_geometric.nn.models.GCN(1433, 16, num_layers=2, out_channels=7) on Cora: "
    "1433*16 + 16 + 16*7 + 7 (tests/models/test_graph_models.py builds it)",
)
def gcn(**kwargs: Any) -> NodeGNN:
    return NodeGNN(**{"conv": "gcn", **kwargs})


@register_model(
    family="gnn",
    paper="Inductive Representation Learning on Large Graphs",
    year=2017,
    arxiv="1706.02216",
    task="node-classification",
    input_size=(2708, 1433),
    test_input_size=(12, 6),
    test_kwargs={"in_channels": 6, "num_classes": 3},
    reference_params=184_391,
    source="torch_geometric.nn.models.GraphSAGE(1433, 64, num_layers=2, out_channels=7) on Cora",
)
def graphsage(**kwargs: Any) -> NodeGNN:
    return NodeGNN(**{"conv": "sage", "hidden_channels": 64, "dropout": 0.5, **kwargs})


@register_model(
    family="gnn",
    paper="How Powerful are Graph Neural Networks?",
    year=2019,
    arxiv="1810.00826",
    task="graph-classification",
    input_size=(18, 7),
    test_input_size=(10, 5),
    test_kwargs={"in_channels": 5, "hidden_channels": 8, "num_layers": 3},
    reference_params=31_192,
    source="Xu et al. 2019 sec. 7 (5 layers incl. input, 2-layer MLPs, hidden 64, batch norm, sum "
    "readout over every depth), 7 node labels, 2 classes: (7*64+64 + 64*64+64 + 4*64) + "
    "3*(2*(64*64+64) + 4*64) + (7*2+2) + 4*(64*2+2)",
)
def gin(**kwargs: Any) -> GIN:
    return GIN(**kwargs)
