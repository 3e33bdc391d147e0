"""``dlzoo bench optim``: one optimizer step, dlzoo vs ``torch.optim`` (foreach=True and foreach=False).

    dlzoo bench optim [--quick] [--models vit_s,many_small] [--optimizers adamw,sgd,...] [--rounds N]
                      [--threads N] [--out DIR]

Two parameter sets: the tensors of a ViT-S/16 (Dosovitskiy et al. 2020, arXiv:2010.11929; 22.05M params in
152 tensors) and a "many small tensors" model (1,000 tensors, ~0.15M params) where per-tensor overhead
dominates. Gradients are fixed random tensors; every candidate owns its own copy of the parameters.
Timings are medians of interleaved rounds (:func:`dlzoo.bench.timing.time_interleaved`); the ratio is
ours / the faster of torch's two implementations, measured in the same run. Writes ``optim.json`` and
``optim.md`` under ``--out``.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from .. import optim as dopt
from ..errors import UsageError
from .output import add_output_args, dry_run, resolve_out
from .timing import time_interleaved

__all__ = ["main", "vit_s_shapes", "many_small_shapes"]

# name -> (ours, torch class or None, kwargs); Lion has no torch counterpart (compared with torch AdamW)
OPTIMIZERS: dict[str, tuple[type, type | None, dict[str, Any]]] = {
    "sgd": (dopt.SGD, torch.optim.SGD, {"lr": 0.01, "momentum": 0.9, "weight_decay": 1e-4}),
    "adagrad": (dopt.Adagrad, torch.optim.Adagrad, {"lr": 0.01}),
    "rmsprop": (dopt.RMSprop, torch.optim.RMSprop, {"lr": 0.01, "momentum": 0.9}),
    "adadelta": (dopt.Adadelta, torch.optim.Adadelta, {}),
    "adam": (dopt.Adam, torch.optim.Adam, {"lr": 1e-3}),
    "adamw": (dopt.AdamW, torch.optim.AdamW, {"lr": 1e-3, "weight_decay": 0.05}),
    "adamax": (dopt.Adamax, torch.optim.Adamax, {}),
    "nadam": (dopt.NAdam, torch.optim.NAdam, {}),
    "radam": (dopt.RAdam, torch.optim.RAdam, {}),
    "adafactor": (dopt.Adafactor, torch.optim.Adafactor, {}),
    "muon": (dopt.Muon, torch.optim.Muon, {"lr": 0.02}),
    "lion": (dopt.Lion, None, {"lr": 1e-4, "weight_decay": 0.1}),
}
QUICK_OPTIMIZERS = ("sgd", "adam", "adamw", "lion")


def vit_s_shapes(
    depth: int = 12, dim: int = 384, mlp: int = 1536, patch: int = 16, img: int = 224, classes: int = 1000
) -> list[tuple[int, ...]]:
    """Parameter shapes of ViT-S/16 (timm ``vit_small_patch16_224``): 22,050,664 parameters."""
    tokens = (img // patch) ** 2 + 1
    shapes: list[tuple[int, ...]] = [(1, 1, dim), (1, tokens, dim), (dim, 3, patch, patch), (dim,)]
    for _ in range(depth):
        shapes += [
            (dim,),
            (dim,),
            (3 * dim, dim),
            (3 * dim,),
            (dim, dim),
            (dim,),  # norm1, qkv, proj
            (dim,),
            (dim,),
            (mlp, dim),
            (mlp,),
            (dim, mlp),
            (dim,),
        ]  # norm2, fc1, fc2
    shapes += [(dim,), (dim,), (classes, dim), (classes,)]  # final norm, head
    return shapes


def many_small_shapes(n: int = 1000) -> list[tuple[int, ...]]:
    """``n`` small tensors cycling through bias-, norm- and small-matrix shapes (~150 elements each)."""
    cycle = [(64,), (16, 16), (128,), (12, 12), (8, 3, 3, 3)]
    return [cycle[i % len(cycle)] for i in range(n)]


MODELS: dict[str, Callable[[], list[tuple[int, ...]]]] = {
    "vit_s": vit_s_shapes,
    "many_small": many_small_shapes,
}


def _params(shapes: list[tuple[int, ...]], seed: int = 0) -> list[torch.nn.Parameter]:
    g = torch.Generator().manual_seed(seed)
    params = []
    for shape in shapes:
        p = torch.nn.Parameter(torch.randn(shape, generator=g) * 0.02)
        p.grad = torch.randn(shape, generator=g) * 1e-3
        params.append(p)
    return params


def _stepper(opt: torch.optim.Optimizer) -> Callable[[], None]:
    def run() -> None:
        opt.step()

    return run


def bench_one(name: str, shapes: list[tuple[int, ...]], rounds: int, inner: int) -> dict[str, Any]:
    ours_cls, torch_cls, kw = OPTIMIZERS[name]
    if name == "muon":
        shapes = [s for s in shapes if len(s) == 2]  # Muon takes 2-D matrices only
    if torch_cls is None:  # Lion: timed against torch's AdamW as a familiar yardstick
        refs = {
            "torch_foreach": lambda p: torch.optim.AdamW(p, foreach=True),
            "torch_forloop": lambda p: torch.optim.AdamW(p, foreach=False),
        }
    elif name == "muon":  # torch's Muon has no foreach implementation
        refs = {"torch_forloop": lambda p: torch_cls(p, **kw)}
    else:
        refs = {
            "torch_foreach": lambda p: torch_cls(p, foreach=True, **kw),
            "torch_forloop": lambda p: torch_cls(p, foreach=False, **kw),
        }
    params = {"ours": _params(shapes)}
    candidates: dict[str, Callable[[], None]] = {"ours": _stepper(ours_cls(params["ours"], **kw))}
    for key, build in refs.items():
        params[key] = _params(shapes)
        candidates[key] = _stepper(build(params[key]))
    times = time_interleaved(candidates, rounds=rounds, inner=inner, warmup=2)
    best_torch = min(v for k, v in times.items() if k != "ours")
    # every candidate ran the same number of steps from the same start: same parameters if the rule is torch's
    same = None
    if torch_cls is not None:
        same = all(
            torch.allclose(a, b, rtol=1e-4, atol=1e-6)
            for a, b in zip(params["ours"], params["torch_forloop"])
        )
    return {
        "optimizer": name,
        "reference": "torch AdamW" if torch_cls is None else f"torch {torch_cls.__name__}",
        "tensors": len(shapes),
        "params": sum(int(torch.Size(s).numel()) for s in shapes),
        "ours_ms": times["ours"] * 1e3,
        "torch_foreach_ms": times["torch_foreach"] * 1e3 if "torch_foreach" in times else None,
        "torch_forloop_ms": times["torch_forloop"] * 1e3,
        "ratio_vs_best_torch": times["ours"] / best_torch,
        "params_match_torch": same,
    }


def _without_out(argv: list[str]) -> list[str]:
    """``argv`` minus ``--out DIR`` (the output path is machine-specific)."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--out":
            skip = True
        elif not arg.startswith("--out="):
            out.append(arg)
    return out


def _markdown(report: dict[str, Any]) -> str:
    lines = [
        f"# optimizer step: dlzoo vs torch.optim ({report['device']}, torch {report['torch']}, "
        f"{report['threads']} threads)",
        "",
        "| model | optimizer | tensors | params | ours (ms) | torch foreach (ms) | torch for-loop (ms) "
        "| ours / best torch | same params as torch |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | :---: |",
    ]
    for r in report["results"]:
        fe = "n/a" if r["torch_foreach_ms"] is None else f"{r['torch_foreach_ms']:.3f}"
        ref = "" if r["reference"].lower().endswith(r["optimizer"]) else f" (vs {r['reference']})"
        lines.append(
            f"| {r['model']} | {r['optimizer']}{ref} | {r['tensors']} | {r['params']:,} | "
            f"{r['ours_ms']:.3f} | {fe} | {r['torch_forloop_ms']:.3f} | {r['ratio_vs_best_torch']:.2f} | "
            f"{ {True: 'yes', False: 'NO', None: 'n/a'}[r['params_match_torch']] } |"
        )
    lines += [
        "",
        f"Medians of {report['rounds']} interleaved rounds x {report['inner']} steps "
        f"(`dlzoo.bench.timing.time_interleaved`); command: `{report['command']}`.",
        "The machine may be shared: timings are noisy, compare ratios within one run only.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dlzoo bench optim", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds and optimizers (smoke run)")
    parser.add_argument("--models", default="vit_s,many_small", help=f"comma list of {sorted(MODELS)}")
    parser.add_argument("--optimizers", default=None, help=f"comma list of {sorted(OPTIMIZERS)}")
    parser.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default 7, quick 3)")
    parser.add_argument("--inner", type=int, default=1, help="steps per round per candidate")
    parser.add_argument(
        "--threads", type=int, default=None, help="torch.set_num_threads (default: unchanged)"
    )
    add_output_args(parser, "optim.json / .md")
    try:
        args = parser.parse_args(argv)
    except SystemExit as err:
        if err.code == 0:
            return 0
        raise UsageError("bad arguments; see `dlzoo bench optim --help`") from None
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    names = (
        [o.strip().lower() for o in args.optimizers.split(",") if o.strip()]
        if args.optimizers
        else list(QUICK_OPTIMIZERS if args.quick else OPTIMIZERS)
    )
    unknown = [m for m in models if m not in MODELS] + [o for o in names if o not in OPTIMIZERS]
    if unknown:
        raise UsageError(
            f"unknown model/optimizer {unknown}; models: {sorted(MODELS)}, optimizers: {sorted(OPTIMIZERS)}"
        )
    if dry_run("optim", args):
        return 0
    resolve_out(args)
    if args.threads:
        torch.set_num_threads(args.threads)
    rounds = args.rounds or (3 if args.quick else 7)
    results = []
    for model in models:
        shapes = MODELS[model]()
        for name in names:
            start = time.perf_counter()
            row = {"model": model, **bench_one(name, shapes, rounds, args.inner)}
            results.append(row)
            print(
                f"{model:10s} {name:9s} ours {row['ours_ms']:9.3f} ms  ratio vs best torch "
                f"{row['ratio_vs_best_torch']:.2f}  ({time.perf_counter() - start:.1f}s)",
                flush=True,
            )
    report = {
        "device": "cpu",
        "cpu": platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "rounds": rounds,
        "inner": args.inner,
        "command": " ".join(["dlzoo bench optim", *_without_out(argv or [])]),
        "results": results,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "optim.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "optim.md").write_text(_markdown(report))
    print(_markdown(report))
    return 0
