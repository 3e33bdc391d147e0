"""``dlzoo bench layers``: the research layers of issue 11 against their closest torch baseline, one run.

Rows (float32, CPU; medians of interleaved rounds, :func:`dlzoo.bench.timing.time_interleaved`):

* ``BitLinear packed`` (eval, 2-bit weights unpacked per call, int8-range activations) vs ``nn.Linear``
  forward, and ``BitLinear`` training forward+backward (straight-through) vs ``nn.Linear``;
* ``KANLinear`` (grid 5, order 3) vs a two-layer GELU MLP with the same parameter count (hidden width
  solved from the count), forward+backward;
* ``DifferentialMultiheadAttention`` and ``HopfieldAttention`` (1 update step) vs ``nn.MultiheadAttention``
  (torch's SDPA path), same width and heads, self-attention forward+backward.

Before timing each pair the output of ours is checked against its reference where the math is equal
(packed BitLinear == training path bit for bit; Hopfield with LayerNorms off == torch MHA on copied weights);
the max error is recorded. ``ratio`` = ours / baseline time, measured in the same run.

    dlzoo bench layers [--rounds N] [--threads 1,2] [--quick] [--out DIR] [--suffix S]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import UsageError
from .output import add_output_args, dry_run, resolve_out
from .timing import time_interleaved

__all__ = ["main", "run"]

_USAGE = "usage: dlzoo bench layers [--rounds N] [--threads 1,2] [--quick] [--out DIR] [--suffix S]"


def _parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="dlzoo bench layers", description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=9)
    p.add_argument("--threads", default=None, help="thread counts, e.g. 1,2 (default: torch's current)")
    p.add_argument("--quick", action="store_true", help="tiny shapes, 2 rounds (smoke run)")
    add_output_args(p, "layers<suffix>.json / .md")
    p.add_argument("--suffix", default="")
    try:
        args = p.parse_args(argv)
        args.thread_list = [int(t) for t in args.threads.split(",")] if args.threads else [None]
    except SystemExit as exc:
        if exc.code == 0:
            raise
        raise UsageError(_USAGE) from None
    except ValueError:
        raise UsageError(f"dlzoo bench layers: bad --threads {args.threads!r}; expected e.g. 1,2") from None
    return args


def _fwd(module: nn.Module, *args: torch.Tensor) -> Callable[[], object]:
    def f() -> object:
        with torch.no_grad():
            return module(*args)
    return f


def _fwd_bwd(module: nn.Module, x: torch.Tensor) -> Callable[[], object]:
    xr = x.detach().requires_grad_()
    inputs = [xr, *[p for p in module.parameters() if p.requires_grad]]

    def f() -> object:
        out = module(xr)
        out = out[0] if isinstance(out, tuple) else out
        return torch.autograd.grad(out.sum(), inputs)
    return f


class _SelfMHA(nn.Module):
    def __init__(self, mha: nn.MultiheadAttention) -> None:
        super().__init__()
        self.mha = mha

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mha(x, x, x, need_weights=False)[0]


def _params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def run(quick: bool = False, rounds: int = 9) -> list[dict[str, Any]]:
    """All rows at the current thread count."""
    import dlzoo.nn as dnn

    torch.manual_seed(0)
    rows: list[dict[str, Any]] = []
    n_tok, width = (16, 64) if quick else (256, 1024)

    def pair(name: str, mode: str, shape: str, ours: Callable, base: Callable, base_name: str, err: float,
             params: tuple[int, int]) -> None:
        t = time_interleaved({"ours": ours, "base": base}, rounds=rounds, inner=3 if not quick else 1,
                             warmup=2 if not quick else 1)
        rows.append({"layer": name, "baseline": base_name, "mode": mode, "shape": shape,
                     "ours_ms": t["ours"] * 1e3, "baseline_ms": t["base"] * 1e3,
                     "ratio": t["ours"] / t["base"], "check_max_abs_err": err,
                     "params": params[0], "baseline_params": params[1]})

    # BitLinear
    bit, lin = dnn.BitLinear(width, width), nn.Linear(width, width)
    x = torch.randn(n_tok, width)
    with torch.no_grad():
        y_train = bit(x)
    bit.pack()
    bit.eval()
    with torch.no_grad():
        err = (bit(x) - y_train).abs().max().item()
    pair("BitLinear packed (2-bit)", "forward", f"{n_tok}x{width}->{width}", _fwd(bit, x), _fwd(lin, x),
         "nn.Linear", err, (_params(bit), _params(lin)))
    bit.train()
    pair("BitLinear (STE training)", "forward+backward", f"{n_tok}x{width}->{width}", _fwd_bwd(bit, x),
         _fwd_bwd(lin, x), "nn.Linear", float("nan"), (_params(bit), _params(lin)))

    # KANLinear vs an MLP of equal parameters
    d = 16 if quick else 128
    kan = dnn.KANLinear(d, d, check_range=False)
    target = _params(kan)
    hidden = max(1, round((target - d) / (2 * d + 1)))  # Linear(d, h) + Linear(h, d): 2dh + h + d
    mlp = nn.Sequential(nn.Linear(d, hidden), nn.GELU(), nn.Linear(hidden, d))
    xk = torch.rand(n_tok, d) * 2 - 1
    pair("KANLinear (G=5, k=3)", "forward+backward", f"{n_tok}x{d}->{d}", _fwd_bwd(kan, xk),
         _fwd_bwd(mlp, xk), f"MLP {d}-{hidden}-{d} (GELU)", float("nan"), (target, _params(mlp)))

    # attention variants vs torch MHA
    b, t, e, h = (2, 16, 32, 2) if quick else (8, 128, 256, 4)
    xa = torch.randn(b, t, e)
    mha = _SelfMHA(nn.MultiheadAttention(e, h, batch_first=True))
    diff = dnn.DifferentialMultiheadAttention(e, h, bias=True)
    pair("DifferentialMultiheadAttention", "forward+backward", f"{b}x{t}x{e}, {h} heads", _fwd_bwd(diff, xa),
         _fwd_bwd(mha, xa), "nn.MultiheadAttention", float("nan"), (_params(diff), _params(mha)))
    hop = dnn.HopfieldAttention(e, h, normalize_patterns=False)
    with torch.no_grad():
        mha.mha.in_proj_weight.copy_(torch.cat([hop.q_proj.weight, hop.k_proj.weight, hop.v_proj.weight]))
        mha.mha.in_proj_bias.copy_(torch.cat([hop.q_proj.bias, hop.k_proj.bias, hop.v_proj.bias]))
        mha.mha.out_proj.weight.copy_(hop.out_proj.weight)
        mha.mha.out_proj.bias.copy_(hop.out_proj.bias)
        err = (hop(xa) - mha(xa)).abs().max().item()
    pair("HopfieldAttention (1 step)", "forward+backward", f"{b}x{t}x{e}, {h} heads", _fwd_bwd(hop, xa),
         _fwd_bwd(mha, xa), "nn.MultiheadAttention", err, (_params(hop), _params(mha)))
    return rows


def _markdown(results: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    lines = ["# dlzoo bench layers", "",
             f"torch {meta['torch']}, {meta['machine']}, load average {meta['loadavg']}; float32 CPU; "
             "medians of interleaved rounds; ratio = ours / baseline (same run).", "",
             "| threads | layer | baseline | mode | shape | ours ms | baseline ms | ratio "
             "| params (ours / base) | check err |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r['threads']} | {r['layer']} | {r['baseline']} | {r['mode']} | {r['shape']} | "
                     f"{r['ours_ms']:.3f} | {r['baseline_ms']:.3f} | {r['ratio']:.2f} | "
                     f"{r['params']:,} / {r['baseline_params']:,} | {r['check_max_abs_err']:.2g} |")
    lines += ["", "check err: packed BitLinear vs its training path (0 = bit for bit); Hopfield "
              "(LayerNorms off) vs torch MHA on copied weights; nan where the math differs from the baseline "
              "by design."]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    args = _parse(argv)
    if dry_run("layers", args):
        return 0
    resolve_out(args)
    results: list[dict[str, Any]] = []
    before = torch.get_num_threads()
    try:
        for n in args.thread_list:
            if n is not None:
                torch.set_num_threads(n)
            for row in run(args.quick, 2 if args.quick else args.rounds):
                results.append({"threads": torch.get_num_threads(), **row})
    finally:
        torch.set_num_threads(before)
    meta = {"torch": torch.__version__, "machine": platform.machine(),
            "loadavg": ", ".join(f"{v:.1f}" for v in os.getloadavg())}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"layers{args.suffix}.json").write_text(json.dumps({"meta": meta, "results": results}, indent=2))
    (out / f"layers{args.suffix}.md").write_text(_markdown(results, meta))
    print(_markdown(results, meta))
    return 0
