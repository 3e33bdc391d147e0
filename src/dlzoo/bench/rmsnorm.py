"""``dlzoo bench rmsnorm``: the fused CPU RMSNorm against torch's RMSNorm and LayerNorm, timed in one run.

Candidates per shape (same input; float32 by default, ``--dtypes float32,bfloat16`` adds rows):

* ``copy``              x.clone(): the memory-traffic floor (read x, write y)
* ``torch LayerNorm``   torch.nn.LayerNorm (ATen's fused kernel; the speed target)
* ``torch RMSNorm``     torch.nn.RMSNorm (the reference for the values)
* ``dlzoo RMSNorm``     dlzoo.nn.RMSNorm, default path (:func:`dlzoo.kernels.rms_norm`; backend reported, on
                        CPU the native one-pass kernel of :mod:`dlzoo.kernels.rmsnorm_cpu`)

Times are medians of interleaved rounds (:func:`dlzoo.bench.timing.time_interleaved`): every candidate runs
once per round, so load drifts on this shared machine hit all alike. Reported: microseconds, effective GB/s
(ideal traffic: forward 2N elements, forward+backward 5N), and ours / torch LayerNorm and ours / torch
RMSNorm, measured in the same run; in 1-thread runs also the median CPU time of the thread per call
(``time.thread_time``: time spent descheduled by other processes does not count) and its ratio. Before
timing, dlzoo's output and gradients (x, weight) are compared with torch RMSNorm's (max error recorded,
relative to the gradient's magnitude for the gradients). ``--threads 1,2`` runs every shape once per thread
count. The Markdown ends with the target: dlzoo RMSNorm forward+backward <= torch LayerNorm at each shape.

    dlzoo bench rmsnorm [--shapes 8x512x1024,64x197x384] [--dtypes float32,bfloat16] [--rounds N]
                        [--threads 1,2] [--no-malloc-trim] [--out DIR] [--suffix S]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import UsageError
from .norms import _faults_per_call, _no_malloc_trim
from .output import add_output_args, dry_run, resolve_out
from .timing import time_interleaved

__all__ = ["DEFAULT_SHAPES", "main", "run_shape"]

DEFAULT_SHAPES = ((8, 512, 1024), (64, 197, 384))
_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float64": torch.float64}
_USAGE = ("usage: dlzoo bench rmsnorm [--shapes AxBxC,...] [--dtypes float32,bfloat16] [--rounds N] "
          "[--threads 1,2] [--no-malloc-trim] [--out DIR] [--suffix S]")


def _parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="dlzoo bench rmsnorm", description=__doc__.split("\n\n")[0])
    p.add_argument("--shapes", default=None, help="comma-separated shapes like 64x197x384 (last dim = C)")
    p.add_argument("--dtypes", default="float32", help="comma-separated: float32, bfloat16, float64")
    p.add_argument("--rounds", type=int, default=11, help="interleaved rounds (median reported)")
    p.add_argument("--threads", default=None, help="thread counts, e.g. 1,2 (default: torch's current)")
    p.add_argument("--no-malloc-trim", action="store_true",
                   help="glibc: never trim the heap / mmap big blocks (no page-fault noise)")
    add_output_args(p, "rmsnorm<suffix>.json / .md")
    p.add_argument("--suffix", default="", help="file names rmsnorm<suffix>.json / .md")
    try:
        args = p.parse_args(argv)
    except SystemExit as exc:
        if exc.code == 0:
            raise
        raise UsageError(_USAGE) from None
    try:
        args.thread_list = [int(t) for t in args.threads.split(",")] if args.threads else [None]
    except ValueError:
        raise UsageError(f"dlzoo bench rmsnorm: bad --threads {args.threads!r}; expected e.g. 1,2") from None
    try:
        args.shape_list = ([tuple(int(d) for d in s.lower().split("x")) for s in args.shapes.split(",")]
                           if args.shapes else list(DEFAULT_SHAPES))
    except ValueError:
        raise UsageError(f"dlzoo bench rmsnorm: bad --shapes {args.shapes!r}; expected e.g. 64x197x384"
                         ) from None
    bad = [d for d in args.dtypes.split(",") if d not in _DTYPES]
    if bad:
        raise UsageError(f"dlzoo bench rmsnorm: bad --dtypes {bad}; expected some of {list(_DTYPES)}")
    args.dtype_list = [_DTYPES[d] for d in args.dtypes.split(",")]
    return args


def _candidates(c: int, dtype: torch.dtype) -> dict[str, nn.Module]:
    import dlzoo.nn as dnn

    mods: dict[str, nn.Module] = {
        "torch LayerNorm": nn.LayerNorm(c, dtype=dtype),
        "torch RMSNorm": nn.RMSNorm(c, dtype=dtype),
        "dlzoo RMSNorm": dnn.RMSNorm(c, dtype=dtype),
    }
    with torch.no_grad():  # the same non-trivial weight in both RMSNorms
        w = 1 + 0.5 * torch.randn(c, generator=torch.Generator().manual_seed(1))
        mods["torch RMSNorm"].weight.copy_(w)
        mods["dlzoo RMSNorm"].weight.copy_(w)
    return mods


def _check(mods: dict[str, nn.Module], x: torch.Tensor) -> float:
    """Max difference of dlzoo RMSNorm vs torch RMSNorm: output (abs) and gradients (relative to the
    gradient's largest magnitude, + 1)."""
    ours, ref = mods["dlzoo RMSNorm"], mods["torch RMSNorm"]
    xr = x.detach().requires_grad_()
    out, expected = ours(xr), ref(xr)
    g = torch.randn_like(out)
    grads = torch.autograd.grad(out, [xr, ours.weight], g)
    ref_grads = torch.autograd.grad(expected, [xr, ref.weight], g)
    errs = [(out.float() - expected.float()).abs().max().item()]
    errs += [((a.float() - b.float()).abs().max() / (b.float().abs().max() + 1)).item()
             for a, b in zip(grads, ref_grads)]
    return max(errs)


def _runner(module: nn.Module, x: torch.Tensor, grad: torch.Tensor | None) -> Callable[[], object]:
    if grad is None:
        def forward():
            with torch.no_grad():
                return module(x)
        return forward
    inputs = [x, *module.parameters()]

    def forward_backward():
        return torch.autograd.grad(module(x), inputs, grad)
    return forward_backward


def _cpu_timed(fn: Callable[[], object], samples: list[float]) -> Callable[[], object]:
    """fn, also appending each call's CPU time of the calling thread (``time.thread_time``) to samples."""
    def timed() -> object:
        start = time.thread_time()
        out = fn()
        samples.append(time.thread_time() - start)
        return out
    return timed


def run_shape(shape: tuple[int, ...], dtype: torch.dtype, rounds: int) -> list[dict[str, Any]]:
    """Rows (one per mode and candidate) for one input shape and dtype on the CPU."""
    from ..kernels import select_rmsnorm_backend

    torch.manual_seed(0)
    c = shape[-1]
    x = torch.randn(shape, dtype=dtype)
    numel, itemsize = x.numel(), x.element_size()
    mods = _candidates(c, dtype)
    max_err = _check(mods, x)
    backend = select_rmsnorm_backend(x, mods["dlzoo RMSNorm"].weight)
    inner = 1 if numel >= 4_000_000 else (3 if numel >= 500_000 else 10)
    rows = []
    for mode, traffic in (("forward", 2), ("forward+backward", 5)):
        xg = x.detach().requires_grad_(mode != "forward")
        grad = torch.randn_like(x) if mode != "forward" else None
        cands: dict[str, Callable[[], object]] = {"copy": (lambda xx=x: xx.clone())}
        cands.update({name: _runner(m, xg, grad) for name, m in mods.items()})
        cpu: dict[str, list[float]] = {name: [] for name in cands}
        cands = {name: _cpu_timed(fn, cpu[name]) for name, fn in cands.items()}
        times = time_interleaved(cands, rounds=rounds, inner=inner, warmup=2)
        cpu_times = {name: statistics.median(v[2:2 + rounds * inner]) for name, v in cpu.items()}
        faults = _faults_per_call(cands)
        one_thread = torch.get_num_threads() == 1
        for name, sec in times.items():
            ours = name == "dlzoo RMSNorm"
            rows.append({
                "shape": list(shape), "dtype": str(dtype).replace("torch.", ""), "mode": mode,
                "candidate": name, "us": sec * 1e6,
                "gb_per_s": (2 if name == "copy" else traffic) * numel * itemsize / sec / 1e9,
                "vs_torch_layernorm": sec / times["torch LayerNorm"],
                "vs_torch_rmsnorm": sec / times["torch RMSNorm"], "vs_copy": sec / times["copy"],
                "threads": torch.get_num_threads(), "faults_per_call": faults.get(name),
                # CPU time of this (the only) thread: robust to being descheduled on a loaded machine
                "cpu_us": cpu_times[name] * 1e6 if one_thread else None,
                "cpu_vs_torch_layernorm": cpu_times[name] / cpu_times["torch LayerNorm"] if one_thread
                else None,
                "backend": backend if ours else None, "max_err": max_err if ours else None,
            })
    return rows


def _markdown(rows: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    lines = [
        "# dlzoo bench rmsnorm",
        "",
        f"{meta['device_name']}, torch {meta['torch']}, threads {meta['threads']}, rounds {meta['rounds']}, "
        f"{meta['date']}, malloc trim {'off' if meta.get('no_malloc_trim') else 'glibc default'}, load "
        f"average {meta.get('loadavg', '?')} at start, {meta['seconds']} s. Medians of interleaved rounds; "
        "ratios are against torch LayerNorm / torch RMSNorm / x.clone() measured in the same run. GB/s "
        "counts ideal traffic (fwd 2N, fwd+bwd 5N elements). max err: dlzoo vs torch RMSNorm (output abs, "
        "gradients relative). The machine is shared: absolute times are noisy, same-run ratios less so. "
        "cpu us (1-thread rows only): median CPU time of the thread per call (time.thread_time), which "
        "time spent descheduled by other processes does not inflate; cpu vs LN is its ratio.",
        "",
        "| shape | threads | dtype | mode | candidate | us | GB/s | vs torch LN | vs torch RMSNorm | vs copy "
        "| cpu us | cpu vs LN | faults/call | note |",
        "|---|---:|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        note = f"backend={r['backend']}, max err {r['max_err']:.1e}" if r["backend"] else ""
        faults = "" if r.get("faults_per_call") is None else f"{r['faults_per_call']:.0f}"
        cpu_us = "" if r["cpu_us"] is None else f"{r['cpu_us']:.0f}"
        cpu_ratio = "" if r["cpu_vs_torch_layernorm"] is None else f"{r['cpu_vs_torch_layernorm']:.2f}"
        lines.append(
            f"| {'x'.join(map(str, r['shape']))} | {r['threads']} | {r['dtype']} | {r['mode']} | "
            f"{r['candidate']} | {r['us']:.0f} | {r['gb_per_s']:.1f} | {r['vs_torch_layernorm']:.2f} | "
            f"{r['vs_torch_rmsnorm']:.2f} | {r['vs_copy']:.2f} | {cpu_us} | {cpu_ratio} | {faults} | "
            f"{note} |")
    lines += ["", "Target (float32, CPU): dlzoo RMSNorm forward+backward <= 1.0x torch LayerNorm.", ""]
    for r in rows:
        if r["candidate"] == "dlzoo RMSNorm":
            ratio = r["vs_torch_layernorm"]
            met = "" if r["mode"] == "forward" or r["dtype"] != "float32" else \
                f" ({'met' if ratio <= 1.0 else 'NOT met'})"
            cpu = "" if r["cpu_vs_torch_layernorm"] is None else \
                f" [CPU time {r['cpu_vs_torch_layernorm']:.2f}x torch LayerNorm]"
            lines.append(f"- {'x'.join(map(str, r['shape']))} {r['dtype']}, {r['threads']} thread(s), "
                         f"{r['mode']}: {ratio:.2f}x torch LayerNorm{met}, {r['vs_torch_rmsnorm']:.2f}x "
                         f"torch RMSNorm ({r['backend']}){cpu}")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    args = _parse(argv)
    if dry_run("rmsnorm", args):
        return 0
    resolve_out(args)
    if args.no_malloc_trim:
        _no_malloc_trim()
    rows: list[dict[str, Any]] = []
    start = time.time()
    loadavg = " ".join(f"{v:.2f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    previous_threads = torch.get_num_threads()
    threads_run = []
    try:
        for threads in args.thread_list:
            if threads:
                torch.set_num_threads(threads)
            threads_run.append(torch.get_num_threads())
            for dtype in args.dtype_list:
                for shape in args.shape_list:
                    print(f"[bench rmsnorm] {shape} {dtype} threads {torch.get_num_threads()}", flush=True)
                    rows += run_shape(shape, dtype, args.rounds)
    finally:
        torch.set_num_threads(previous_threads)
    meta = {
        "torch": torch.__version__, "threads": ",".join(map(str, threads_run)), "rounds": args.rounds,
        "no_malloc_trim": args.no_malloc_trim, "loadavg": loadavg,
        "device_name": platform.processor() or platform.machine(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "seconds": round(time.time() - start, 1),
        "platform": platform.platform(),
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"rmsnorm{args.suffix}.{ext}" for ext in ("json", "md")]
    paths[0].write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    table = _markdown(rows, meta)
    paths[1].write_text(table)
    print(table)
    print("wrote " + ", ".join(map(str, paths)))
    return 0
