"""``dlzoo bench graph``: dlzoo GCNConv / SAGEConv vs torch_geometric's, forward + backward on one large
graph.

    dlzoo bench graph [--quick] [--nodes N] [--edges E] [--rounds R] [--threads T] [--out DIR]

A random graph (default 20,000 nodes, 200,000 edges, 64 -> 64 features) runs through both layers with the same
weights, timed in interleaved rounds (:func:`dlzoo.bench.timing.time_interleaved`); one unit of work =
forward,
``sum``, backward (input and parameter gradients). Outputs are checked equal before timing. torch_geometric
is a benchmark/test reference (dev extra), imported here only. Target: ours / PyG <= 1.1. Writes
``graph.{json,md}``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from ..errors import UsageError
from ..nn import graph as G
from .output import add_output_args, dry_run, resolve_out
from .report import environment, write_results
from .timing import time_interleaved

__all__ = ["main"]

COLUMNS = [
    ("layer", "layer", "{}"),
    ("nodes", "nodes", "{}"),
    ("edges", "edges", "{}"),
    ("PyG fwd+bwd (ms)", "pyg_ms", "{:.2f}"),
    ("ours fwd+bwd (ms)", "ours_ms", "{:.2f}"),
    ("ours / PyG", "ratio", "{:.3f}"),
    ("same output", "same_output", "{}"),
]


def _layers(pyg_nn: Any, features: int) -> dict[str, tuple[torch.nn.Module, torch.nn.Module]]:
    torch.manual_seed(0)
    pairs = {}
    for name, ours_cls, ref_cls, kw in (
        ("GCNConv", G.GCNConv, pyg_nn.GCNConv, {}),
        ("GCNConv cached", G.GCNConv, pyg_nn.GCNConv, {"cached": True}),
        ("SAGEConv mean", G.SAGEConv, pyg_nn.SAGEConv, {}),
        ("SAGEConv max", G.SAGEConv, pyg_nn.SAGEConv, {"aggr": "max"}),
    ):
        ref = ref_cls(features, features, **kw)
        ours = ours_cls(features, features, **kw)
        ours.load_state_dict(ref.state_dict())
        pairs[name] = (ours, ref)
    return pairs


def _work(layer: torch.nn.Module, x: torch.Tensor, edge_index: torch.Tensor) -> Callable[[], None]:
    def run() -> None:
        layer(x, edge_index).sum().backward()

    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dlzoo bench graph", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a 2,000-node graph and 3 rounds (smoke test)")
    parser.add_argument("--nodes", type=int, default=20_000)
    parser.add_argument("--edges", type=int, default=200_000)
    parser.add_argument("--features", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default 9, quick 3)")
    parser.add_argument("--inner", type=int, default=2)
    parser.add_argument(
        "--threads", type=int, default=None, help="torch.set_num_threads (default: unchanged)"
    )
    add_output_args(parser, "graph.json / .md")
    try:
        args = parser.parse_args(argv)
    except SystemExit as err:
        if err.code == 0:
            return 0
        raise UsageError("bad arguments; see `dlzoo bench graph --help`") from None
    try:
        import torch_geometric.nn as pyg_nn
    except ImportError:
        raise UsageError(
            "dlzoo bench graph needs torch_geometric (the reference): pip install -e '.[dev]'"
        ) from None
    if dry_run("graph", args):
        return 0
    resolve_out(args)
    if args.threads:
        torch.set_num_threads(args.threads)
    nodes, edges = (2_000, 20_000) if args.quick else (args.nodes, args.edges)
    rounds = args.rounds or (3 if args.quick else 9)
    g = torch.Generator().manual_seed(0)
    edge_index = torch.randint(0, nodes, (2, edges), generator=g)
    x = torch.randn(nodes, args.features, generator=g, requires_grad=True)
    rows = []
    for name, (ours, ref) in _layers(pyg_nn, args.features).items():
        with torch.no_grad():
            same = bool(torch.allclose(ours(x, edge_index), ref(x, edge_index), rtol=1e-4, atol=1e-5))
        times = time_interleaved(
            {"pyg": _work(ref, x, edge_index), "ours": _work(ours, x, edge_index)},
            rounds=rounds,
            inner=args.inner,
            warmup=2,
        )
        row = {
            "layer": name,
            "nodes": nodes,
            "edges": edges,
            "pyg_ms": times["pyg"] * 1e3,
            "ours_ms": times["ours"] * 1e3,
            "ratio": times["ours"] / times["pyg"],
            "same_output": same,
        }
        rows.append(row)
        print(
            f"{name:16s} PyG {row['pyg_ms']:8.2f} ms  ours {row['ours_ms']:8.2f} ms"
            f"  ratio {row['ratio']:.3f}",
            flush=True,
        )
    command = "dlzoo bench graph" + (" --quick" if args.quick else f" --nodes {nodes} --edges {edges}")
    meta = environment("cpu", rounds=rounds, inner=args.inner, command=command)
    notes = [
        f"Medians of {rounds} interleaved rounds x {args.inner} calls (forward, sum, backward), float32, "
        f"{args.features} -> {args.features} features, random edges; command: `{command}`.",
        "Same weights in both; `same output` checks the forward first. Target ours / PyG <= 1.1.",
        "The machine may be shared: timings are noisy; compare ratios within one run only.",
    ]
    print(
        write_results(
            Path(args.out) / "graph",
            "graph layers fwd+bwd: dlzoo vs torch_geometric (cpu)",
            COLUMNS,
            rows,
            meta,
            notes,
        )
    )
    return 0
