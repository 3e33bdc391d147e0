"""Graph tasks of the trainer: node classification on one graph, graph classification on many.

``data.name`` picks the data (:data:`GRAPH_DATA`):

* ``karate_club`` / ``citation`` (LINQS files under ``data.root``, ``data.kwargs.name``): one graph,
  full-batch (one step per epoch); the labels outside the split's node mask are ``-100`` (``ignore_index``),
  so the loss and accuracy see only that split's nodes. The model is called as ``model(x, edge_index)``.
* ``synthetic_graphs`` (``data.kwargs`` go to :func:`dlzoo.data.graphs.synthetic_graphs`) / ``tu`` (TU files
  under ``data.root``, ``data.kwargs.name``): graphs split by ``val_fraction`` / ``test_fraction`` with
  ``split_seed``, batched into :class:`dlzoo.nn.graph.GraphBatch` of ``data.batch_size`` graphs; the model is
  called as ``model(x, edge_index, batch)``. Auxiliary losses (DiffPool's) reach the loss through
  :func:`dlzoo.models._base.training_loss`.

``num_classes`` and ``in_channels`` come from the data unless ``model.kwargs`` sets them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ...data.base import BatchLoader
from ...data.graphs import GraphDataset, NodeGraph, karate_club, load_citation, load_tu, synthetic_graphs
from ...errors import UsageError
from ...models._base import main_output, training_loss
from ...nn.graph import GraphBatch
from ..build import TrainData, build_loss
from .base import Task, create_task_model

__all__ = ["GRAPH_DATA", "GraphTask", "NodeInput"]

IGNORE = -100
NODE_DATA = ("karate_club", "citation")
GRAPH_DATA = (*NODE_DATA, "synthetic_graphs", "tu")


@dataclass
class NodeInput:
    """The whole graph as a model input: ``model(x, edge_index)``."""

    x: Tensor
    edge_index: Tensor

    def to(self, device: torch.device | str, non_blocking: bool = False) -> NodeInput:
        return NodeInput(self.x.to(device), self.edge_index.to(device))

    def args(self) -> tuple[Tensor, Tensor]:
        return self.x, self.edge_index


def _model_args(x: NodeInput | GraphBatch) -> tuple[Tensor, ...]:
    return x.args() if isinstance(x, NodeInput) else (x.x, x.edge_index, x.batch)


class _NodeLoader:
    """One full-graph batch per epoch; labels outside ``mask`` are ignored."""

    def __init__(self, graph: NodeGraph, mask: Tensor) -> None:
        self.input = NodeInput(graph.x, graph.edge_index)
        self.y = torch.where(mask, graph.y, torch.full_like(graph.y, IGNORE))
        self.dataset = range(int(mask.sum()))  # len() = the split's node count

    def __len__(self) -> int:
        return 1

    def iter_epoch(self, epoch: int, start_batch: int = 0) -> Iterator[tuple[NodeInput, Tensor]]:
        if start_batch == 0:
            yield self.input, self.y

    def __iter__(self) -> Iterator[tuple[NodeInput, Tensor]]:
        return self.iter_epoch(0)


class _GraphLoader(BatchLoader):
    """:class:`dlzoo.data.BatchLoader` over graphs (its seeded order, resume and rank sharding); a batch is a
    :class:`GraphBatch` of the chosen graphs and their labels."""

    def batch(self, idx: Tensor) -> tuple[GraphBatch, Tensor]:
        chosen = idx.tolist()
        batch = GraphBatch.from_graphs([self.dataset.graphs[i] for i in chosen], self.dataset.y[idx])
        return batch, batch.y


@dataclass
class GraphSplits:
    """What a graph run trains on (``train``/``val``/``test``: node masks or graph subsets)."""

    kind: str  # "node" or "graph"
    num_features: int
    num_classes: int
    train: Any
    val: Any
    test: Any


def _split_graphs(
    data: GraphDataset, val_fraction: float, test_fraction: float, seed: int
) -> tuple[GraphDataset, GraphDataset, GraphDataset]:
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))
    n_val, n_test = round(len(data) * val_fraction), round(len(data) * test_fraction)
    val, test, train = order[:n_val], order[n_val : n_val + n_test], order[n_val + n_test :]
    return data.subset(train), data.subset(val), data.subset(test)


def build_graph_data(cfg, seed: int, rank: int = 0, world_size: int = 1) -> TrainData:
    """The splits and loaders of a graph data set (see the module docstring)."""
    kwargs = dict(cfg.kwargs)
    try:
        if cfg.name in NODE_DATA:
            if cfg.name == "karate_club":
                graph = karate_club()
            else:
                if not cfg.root:
                    raise UsageError(
                        "data.root: the citation data set needs the folder of <name>.content/.cites"
                    )
                graph = load_citation(cfg.root, **kwargs)
            splits = GraphSplits(
                "node", graph.x.shape[1], graph.num_classes, graph.train_mask, graph.val_mask, graph.test_mask
            )
            loaders = [_NodeLoader(graph, m) for m in (graph.train_mask, graph.val_mask, graph.test_mask)]
            return TrainData(
                splits=splits, train_loader=loaders[0], val_loader=loaders[1], test_loader=loaders[2]
            )
        if cfg.name == "synthetic_graphs":
            dataset = synthetic_graphs(**kwargs)
        else:
            if not cfg.root or "name" not in kwargs:
                raise UsageError("data: the tu data set needs data.root (the folder) and data.kwargs.name")
            dataset = load_tu(Path(cfg.root), kwargs["name"])
    except (TypeError, ValueError, FileNotFoundError) as err:
        raise UsageError(f"data ({cfg.name}): {' '.join(str(err).split())}") from None
    train, val, test = _split_graphs(dataset, cfg.val_fraction, cfg.test_fraction, cfg.split_seed)
    if len(train) == 0:
        raise UsageError(f"data ({cfg.name}): the training split is empty")
    splits = GraphSplits("graph", dataset.num_features, int(dataset.y.max()) + 1, train, val, test)
    return TrainData(
        splits=splits,
        train_loader=_GraphLoader(
            train, cfg.batch_size, shuffle=True, seed=seed, rank=rank, world_size=world_size
        ),
        val_loader=_GraphLoader(val, max(cfg.batch_size, 256)),
        test_loader=_GraphLoader(test, max(cfg.batch_size, 256)),
    )


class GraphTask(Task):
    """Node or graph classification (see the module docstring)."""

    name = "graph"
    unit = "graph"

    def build_data(self, rank: int = 0, world_size: int = 1, run_dir: Path | None = None) -> TrainData:
        data = build_graph_data(self.cfg.data, self.cfg.seed, rank, world_size)
        self.unit = "node" if data.splits.kind == "node" else "graph"
        return data

    def build_model(self, data: TrainData) -> nn.Module:
        node = data.splits.kind == "node"
        return create_task_model(
            self.cfg,
            "node-classification" if node else "graph-classification",
            "gcn" if node else "gin",
            {"in_channels": data.splits.num_features, "num_classes": data.splits.num_classes},
        )

    def check_fit(self, data: TrainData, model: nn.Module) -> None:
        x, y = next(iter(data.train_loader))
        try:
            with torch.no_grad():
                out = main_output(model.eval()(*_model_args(x)))
        except (RuntimeError, ValueError, TypeError) as err:
            raise UsageError(f"model and data do not fit: {' '.join(str(err).split())[:300]}") from None
        finally:
            model.train()
        if out.shape != (y.shape[0], data.splits.num_classes):
            raise UsageError(
                f"model output {tuple(out.shape)} does not match {y.shape[0]} targets x "
                f"{data.splits.num_classes} classes"
            )

    def setup(self, data: TrainData, device: torch.device) -> None:
        self.loss_fn = build_loss(self.cfg.loss).to(device)

    def sample_count(self, y: Tensor) -> int:
        return int((y != IGNORE).sum())

    def new_sums(self) -> dict[str, float]:
        return {"loss": 0.0, "correct": 0.0, "count": 0.0}

    def train_loss(self, model: nn.Module, x: Any, y: Tensor) -> tuple[Tensor, dict[str, float]]:
        output = model(*_model_args(x))
        loss = training_loss(output, self.loss_fn, y)
        keep = y != IGNORE
        correct = (main_output(output).detach().argmax(-1)[keep] == y[keep]).sum().item()
        return loss, {"correct": float(correct), "count": float(keep.sum())}

    @torch.no_grad()
    def evaluate(
        self,
        model: nn.Module,
        loader: Any,
        device: torch.device,
        autocast: Callable[[], contextlib.AbstractContextManager],
    ) -> dict[str, float]:
        was_training = model.training
        model.eval()
        loss_sum, correct, count = 0.0, 0, 0
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            keep = y != IGNORE
            if not keep.any():
                continue
            with autocast():
                logits = main_output(model(*_model_args(x))).float()
            loss_sum += torch.nn.functional.cross_entropy(logits[keep], y[keep], reduction="sum").item()
            correct += int((logits.argmax(-1)[keep] == y[keep]).sum())
            count += int(keep.sum())
        model.train(was_training)
        return (
            {"loss": loss_sum / count, "acc": correct / count}
            if count
            else {"loss": float("nan"), "acc": float("nan")}
        )
