"""Benchmark dlzoo losses and gradient clipping against torch, timed in the same run.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_losses_clip.py [--device cpu|cuda] [--rounds 15]

Each row is forward+backward (losses) or one clipping call, median of interleaved rounds
(``dlzoo.bench.timing.time_interleaved``); ``ratio`` = ours / torch reference measured in the same run.
Writes ``losses_clip_<device>.json`` and ``.md`` under ``--out``
(default ``runs/bench/<timestamp>/``; ``--update-results``: ``benchmarks/results/``).
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F

from dlzoo.bench.output import add_output_args, dry_run, resolve_out
from dlzoo.bench.report import environment, write_results
from dlzoo.bench.timing import time_interleaved
from dlzoo.losses import binary_cross_entropy_with_logits, cross_entropy, focal_loss
from dlzoo.nn.mode import reference_mode
from dlzoo.optim.clip import clip_grad_norm_, clip_grad_value_


def _fwd_bwd(fn, x, *args, **kw):
    def run():
        x.grad = None
        fn(x, *args, **kw).backward()

    return run


def _in_reference_mode(run):
    def wrapped():
        with reference_mode():
            run()

    return wrapped


def bench_losses(device: str, rounds: int) -> list[dict]:
    rows = []
    x = torch.randn(512, 1000, device=device, requires_grad=True)
    y = torch.randint(0, 1000, (512,), device=device)
    cases = {
        "cross_entropy (N=512, C=1000, ls=0.1)": (
            _fwd_bwd(cross_entropy, x, y, label_smoothing=0.1),
            _fwd_bwd(F.cross_entropy, x, y, label_smoothing=0.1),
        ),
        "cross_entropy reference_mode": (
            _in_reference_mode(_fwd_bwd(cross_entropy, x, y, label_smoothing=0.1)),
            _fwd_bwd(F.cross_entropy, x, y, label_smoothing=0.1),
        ),
        "focal gamma=0 vs cross_entropy": (
            _fwd_bwd(focal_loss, x, y, gamma=0.0),
            _fwd_bwd(F.cross_entropy, x, y),
        ),
    }
    z = torch.randn(256, 80, device=device, requires_grad=True)
    t = torch.rand(256, 80, device=device).round()
    pw = torch.full((80,), 3.0, device=device)
    cases["bce_with_logits (256x80, pos_weight)"] = (
        _fwd_bwd(binary_cross_entropy_with_logits, z, t, pos_weight=pw),
        _fwd_bwd(F.binary_cross_entropy_with_logits, z, t, pos_weight=pw),
    )
    for name, (ours, ref) in cases.items():
        times = time_interleaved({"ours": ours, "torch": ref}, rounds=rounds, device=device)
        rows.append({"case": name, "ours_ms": times["ours"] * 1e3, "torch_ms": times["torch"] * 1e3,
                     "ratio": times["ours"] / times["torch"]})
    return rows


def bench_clip(device: str, rounds: int) -> list[dict]:
    rows = []
    params = [torch.nn.Parameter(torch.randn(64, 64, device=device)) for _ in range(200)]
    for p in params:
        p.grad = torch.randn_like(p)
    for norm_type in (2.0, float("inf")):
        for foreach in (None, False):
            times = time_interleaved({
                "ours": lambda nt=norm_type, fe=foreach: clip_grad_norm_(params, 1e9, nt, foreach=fe),
                "torch": lambda nt=norm_type, fe=foreach: torch.nn.utils.clip_grad_norm_(params, 1e9, nt,
                                                                                         foreach=fe),
            }, rounds=rounds, device=device)
            rows.append({"case": f"clip_grad_norm_ 200x(64x64) norm={norm_type} foreach={foreach}",
                         "ours_ms": times["ours"] * 1e3, "torch_ms": times["torch"] * 1e3,
                         "ratio": times["ours"] / times["torch"]})
    times = time_interleaved({"ours": lambda: clip_grad_value_(params, 1e9),
                              "torch": lambda: torch.nn.utils.clip_grad_value_(params, 1e9)},
                             rounds=rounds, device=device)
    rows.append({"case": "clip_grad_value_ 200x(64x64)", "ours_ms": times["ours"] * 1e3,
                 "torch_ms": times["torch"] * 1e3, "ratio": times["ours"] / times["torch"]})
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--rounds", type=int, default=15)
    add_output_args(ap, "losses_clip_<device>.json / .md")
    args = ap.parse_args(argv)
    if dry_run("losses_clip", args, prog="python benchmarks/bench_losses_clip.py"):
        return 0
    out = resolve_out(args)
    rows = bench_losses(args.device, args.rounds) + bench_clip(args.device, args.rounds)
    env = environment(args.device, rounds=args.rounds,
                      note="medians of interleaved rounds; shared machine, timings are noisy")
    gpu = f", {env['gpu']}" if env["gpu"] else ""
    print(write_results(
        out / f"losses_clip_{args.device}",
        f"losses + clipping vs torch ({args.device}, torch {torch.__version__}, "
        f"{env['threads']} threads{gpu})",
        [("case", "case", "{}"), ("ours (ms)", "ours_ms", "{:.3f}"), ("torch (ms)", "torch_ms", "{:.3f}"),
         ("ours / torch", "ratio", "{:.2f}")],
        rows, env, notes=[env["note"] + "."],
    ))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
