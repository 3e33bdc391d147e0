"""Graph data: one graph for node classification, many graphs for graph classification, and file loaders.

* :func:`karate_club` -- Zachary, "An Information Flow Model for Conflict and Fission in Small Groups", J.
  Anthropological Research 1977: 34 members, 78 friendships, the club each member joined after the split
  (embedded; equal to ``networkx.karate_club_graph()``). Features are one-hot node ids (Kipf & Welling's
  featureless setting); one labelled node per class for training, as in their semi-supervised demo.
* :func:`synthetic_graphs` -- a seeded graph-classification set: two-community graphs (stochastic block model)
  vs Erdos-Renyi graphs with the same expected edge count, so only structure tells them apart.
* :func:`load_citation` -- the LINQS citation format (``<name>.content``: ``id f_1 .. f_F label``;
  ``<name>.cites``: ``cited citing``) that Cora and CiteSeer ship in (text; the Planetoid pickles are not
  read).
* :func:`load_tu` -- the TU Dortmund graph-kernel format (``DS_A.txt``, ``DS_graph_indicator.txt``,
  ``DS_graph_labels.txt``, optional ``DS_node_labels.txt``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from ..nn.graph import GraphBatch
from ..nn.graph.scatter import check_edge_index

__all__ = [
    "NodeGraph",
    "GraphDataset",
    "karate_club",
    "synthetic_graphs",
    "load_citation",
    "load_tu",
    "to_undirected",
]

# fmt: off
_KARATE_EDGES = (
    (0, 1), (0, 2), (0, 3), (0, 4), (0, 5), (0, 6), (0, 7), (0, 8), (0, 10), (0, 11), (0, 12), (0, 13),
    (0, 17), (0, 19), (0, 21), (0, 31), (1, 2), (1, 3), (1, 7), (1, 13), (1, 17), (1, 19), (1, 21), (1, 30),
    (2, 3), (2, 7), (2, 8), (2, 9), (2, 13), (2, 27), (2, 28), (2, 32), (3, 7), (3, 12), (3, 13), (4, 6),
    (4, 10), (5, 6), (5, 10), (5, 16), (6, 16), (8, 30), (8, 32), (8, 33), (9, 33), (13, 33), (14, 32),
    (14, 33), (15, 32), (15, 33), (18, 32), (18, 33), (19, 33), (20, 32), (20, 33), (22, 32), (22, 33),
    (23, 25), (23, 27), (23, 29), (23, 32), (23, 33), (24, 25), (24, 27), (24, 31), (25, 31), (26, 29),
    (26, 33), (27, 33), (28, 31), (28, 33), (29, 32), (29, 33), (30, 32), (30, 33), (31, 32), (31, 33),
    (32, 33),
)
# fmt: on
# 0 = Mr. Hi's club, 1 = the Officer's club (networkx's "club" attribute)
_KARATE_CLUB = (
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    1,
    0,
    0,
    0,
    0,
    1,
    1,
    0,
    0,
    1,
    0,
    1,
    0,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
)


def to_undirected(edge_index: Tensor) -> Tensor:
    """Both directions of every edge, duplicates removed, sorted by (source, target)."""
    both = torch.cat([edge_index, edge_index.flip(0)], dim=1)
    return torch.unique(both, dim=1)


@dataclass
class NodeGraph:
    """One graph with node labels and train/val/test node masks."""

    x: Tensor  # (N, F)
    edge_index: Tensor  # (2, E)
    y: Tensor  # (N,)
    train_mask: Tensor  # (N,) bool
    val_mask: Tensor
    test_mask: Tensor

    @property
    def num_classes(self) -> int:
        return int(self.y.max()) + 1


@dataclass
class GraphDataset:
    """Graphs ``[(x_b, edge_index_b)]`` with labels ``y (G,)``; :meth:`batches` yields :class:`GraphBatch`."""

    graphs: list[tuple[Tensor, Tensor]]
    y: Tensor

    def __len__(self) -> int:
        return len(self.graphs)

    @property
    def num_features(self) -> int:
        return self.graphs[0][0].shape[1]

    def subset(self, index: Tensor) -> GraphDataset:
        return GraphDataset([self.graphs[i] for i in index.tolist()], self.y[index])

    def batches(self, batch_size: int, shuffle: bool = False, seed: int = 0) -> Iterator[GraphBatch]:
        order = (
            torch.randperm(len(self), generator=torch.Generator().manual_seed(seed))
            if shuffle
            else torch.arange(len(self))
        )
        for start in range(0, len(self), batch_size):
            idx = order[start : start + batch_size].tolist()
            yield GraphBatch.from_graphs([self.graphs[i] for i in idx], self.y[idx])


def karate_club() -> NodeGraph:
    """Zachary's karate club: 34 nodes, 156 directed edges, one training node per club (0 and 33)."""
    edge_index = to_undirected(torch.tensor(_KARATE_EDGES).T)
    n = len(_KARATE_CLUB)
    train = torch.zeros(n, dtype=torch.bool)
    train[[0, 33]] = True  # the two leaders
    return NodeGraph(torch.eye(n), edge_index, torch.tensor(_KARATE_CLUB), train, ~train, ~train)


def synthetic_graphs(
    num_graphs: int = 200,
    min_nodes: int = 12,
    max_nodes: int = 24,
    p_in: float = 0.5,
    p_out: float = 0.05,
    seed: int = 0,
) -> GraphDataset:
    """Class 1: two-block SBM graphs (p_in inside, p_out across); class 0: Erdos-Renyi graphs with the same
    expected edge count. Node features (structure only): 1, the degree / (n - 1) and the local clustering
    coefficient (Watts & Strogatz 1998): communities close more triangles than a random graph of equal
    density."""
    import networkx as nx

    g = torch.Generator().manual_seed(seed)
    graphs, labels = [], []
    for i in range(num_graphs):
        n = int(torch.randint(min_nodes, max_nodes + 1, (1,), generator=g))
        label = i % 2
        graph_seed = int(torch.randint(0, 2**31 - 1, (1,), generator=g))
        a, b = n // 2, n - n // 2
        if label:
            nxg = nx.stochastic_block_model([a, b], [[p_in, p_out], [p_out, p_in]], seed=graph_seed)
        else:
            expected = p_in * (a * (a - 1) + b * (b - 1)) / 2 + p_out * a * b
            nxg = nx.gnp_random_graph(n, expected / (n * (n - 1) / 2), seed=graph_seed)
        edges = torch.tensor(list(nxg.edges()), dtype=torch.long).T.reshape(2, -1)
        edge_index = to_undirected(edges)
        deg = torch.zeros(n).index_add_(0, edge_index[1], torch.ones(edge_index.shape[1]))
        clustering = torch.tensor([nx.clustering(nxg, v) for v in range(n)], dtype=torch.float32)
        graphs.append((torch.stack([torch.ones(n), deg / max(n - 1, 1), clustering], dim=1), edge_index))
        labels.append(label)
    return GraphDataset(graphs, torch.tensor(labels))


def load_citation(
    directory: str | Path, name: str = "cora", seed: int = 0, train_per_class: int = 20, num_val: int = 500
) -> NodeGraph:
    """``<name>.content`` / ``<name>.cites`` -> a :class:`NodeGraph` (undirected; Planetoid-style split:
    ``train_per_class`` nodes per class, then ``num_val`` validation nodes, the rest test)."""
    directory = Path(directory)
    content, cites = directory / f"{name}.content", directory / f"{name}.cites"
    for f in (content, cites):
        if not f.is_file():
            raise FileNotFoundError(f"load_citation: missing {f}")
    ids, feats, labels = [], [], []
    for lineno, line in enumerate(content.read_text().splitlines(), 1):
        parts = line.split()
        if len(parts) < 3:
            raise ValueError(f"load_citation: {content}:{lineno}: expected 'id features... label'")
        ids.append(parts[0])
        feats.append([float(v) for v in parts[1:-1]])
        labels.append(parts[-1])
    index = {paper: i for i, paper in enumerate(ids)}
    classes = {c: k for k, c in enumerate(sorted(set(labels)))}
    edges = []
    for line in cites.read_text().splitlines():
        cited, citing = line.split()
        if cited in index and citing in index:  # Cora's cites file has a few dangling ids
            edges.append((index[citing], index[cited]))
    edge_index = to_undirected(torch.tensor(edges, dtype=torch.long).T.reshape(2, -1))
    y = torch.tensor([classes[c] for c in labels])
    order = torch.randperm(len(ids), generator=torch.Generator().manual_seed(seed))
    train = torch.zeros(len(ids), dtype=torch.bool)
    for k in range(len(classes)):
        train[order[y[order] == k][:train_per_class]] = True
    rest = order[~train[order]]
    val = torch.zeros_like(train)
    val[rest[:num_val]] = True
    return NodeGraph(torch.tensor(feats), edge_index, y, train, val, ~(train | val))


def load_tu(directory: str | Path, name: str) -> GraphDataset:
    """A TU data set: ``DS_A.txt`` (1-based "i, j" edges), ``DS_graph_indicator.txt`` (graph of each node),
    ``DS_graph_labels.txt``; node features are one-hot ``DS_node_labels.txt`` or the constant 1."""
    directory = Path(directory)

    def read(suffix: str, required: bool = True) -> list[list[int]] | None:
        path = directory / f"{name}_{suffix}.txt"
        if not path.is_file():
            if required:
                raise FileNotFoundError(f"load_tu: missing {path}")
            return None
        return [
            [int(v) for v in line.replace(",", " ").split()]
            for line in path.read_text().splitlines()
            if line.strip()
        ]

    edges = torch.tensor(read("A"), dtype=torch.long).T - 1  # (2, E), 0-based global ids
    graph_of = torch.tensor([r[0] for r in read("graph_indicator")]) - 1  # (N,)
    graph_labels = torch.tensor([r[0] for r in read("graph_labels")])
    check_edge_index(f"load_tu({name})", edges, graph_of.numel())
    node_labels = read("node_labels", required=False)
    if node_labels is not None:
        lab = torch.tensor([r[0] for r in node_labels])
        x_all = torch.nn.functional.one_hot(lab - lab.min()).float()
    else:
        x_all = torch.ones(graph_of.numel(), 1)
    _, y = torch.unique(graph_labels, return_inverse=True)  # labels {-1, 1} or {1, 2} -> 0..C-1
    starts = torch.cumsum(torch.bincount(graph_of, minlength=len(y)), 0) - torch.bincount(
        graph_of, minlength=len(y)
    )
    graphs = []
    for b in range(len(y)):
        nodes = (graph_of == b).nonzero().flatten()
        keep = graph_of[edges[0]] == b
        graphs.append((x_all[nodes], edges[:, keep] - starts[b]))
    return GraphDataset(graphs, y)
