"""``dlzoo bench norms``: LayerNorm / RMSNorm / DyT forward and forward+backward, timed in one run.

Candidates per shape (same input, float32 on CPU; bf16 rows added on CUDA):

* ``copy``            x.clone(): the memory-traffic floor (read x, write y)
* ``torch LayerNorm`` / ``torch RMSNorm``: torch.nn modules (the references)
* ``dlzoo LayerNorm`` / ``dlzoo RMSNorm``: ours (default fused path)
* ``DyT naive``       weight * tanh(alpha * x) + bias in eager autograd (dlzoo.reference_mode())
* ``DyT compile``     the naive expression under torch.compile (inductor)
* ``dlzoo DyT``       nn.DyT's fused kernel (dlzoo.kernels; backend chosen automatically, reported: on
                      CPU float32 the native one-pass C kernel)
* ``dlzoo DyT compiled`` the same module forced onto the torch.compile'd rational-tanh kernels (the previous
                      CPU default), for comparison

Times are medians of interleaved rounds (:func:`dlzoo.bench.timing.time_interleaved`). Reported: microseconds,
effective GB/s (ideal traffic: forward reads x and writes y = 2 N bytes/elem; forward+backward adds reading
dy and x and writing dx = 5 N), the ratio to torch LayerNorm and to the copy, both measured in the same
run. Before timing, the fused DyT output and gradients are checked against the naive one (max abs error
recorded). ``--threads 1,2`` runs every shape once per thread count (rows carry ``threads``); the Markdown
ends with the DyT targets at 64x197x384 (forward vs copy, forward+backward vs torch LayerNorm).

Page faults: each forward+backward allocates two outputs of the input's size; with glibc's default malloc
whether those pages are reused or returned to the OS (heap trimming, then ~N/1024 minor faults per call,
expensive in a VM) depends on the exact allocation history, so it can flip between candidates and runs.
``--no-malloc-trim`` sets ``mallopt(M_TRIM_THRESHOLD / M_MMAP_THRESHOLD)`` high for the whole run (all
candidates alike; the same as ``MALLOC_TRIM_THRESHOLD_`` / ``MALLOC_MMAP_THRESHOLD_``) and is recorded.

    dlzoo bench norms [--quick] [--shapes 64x197x384,8x1024x768] [--rounds N] [--threads 1,2]
                      [--no-compile] [--no-malloc-trim] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import UsageError
from .output import add_output_args, dry_run, resolve_out
from .timing import time_interleaved

__all__ = ["main", "DEFAULT_SHAPES", "GPU_SHAPES"]

DEFAULT_SHAPES = ((1, 65, 768), (1, 4096, 4096), (64, 197, 384), (8, 1024, 768))
GPU_SHAPES = ((1, 4096, 4096), (8192, 4096))  # bfloat16, CUDA only


def _parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="dlzoo bench norms", description=__doc__.split("\n\n")[0])
    p.add_argument("--shapes", default=None, help="comma-separated shapes like 64x197x384 (last dim = C)")
    p.add_argument("--quick", action="store_true", help="few repeats, skips (1,4096,4096) unless asked")
    p.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default 11, quick 3)")
    p.add_argument("--threads", default=None, help="thread counts, e.g. 1,2 (default: torch's current)")
    p.add_argument("--no-compile", action="store_true", help="drop the torch.compile candidates")
    p.add_argument("--no-malloc-trim", action="store_true",
                   help="glibc: never trim the heap / mmap big blocks (no page-fault noise)")
    add_output_args(p, "norms<suffix>.json / .md / .png")
    p.add_argument("--suffix", default="", help="file names norms<suffix>.json etc. (e.g. .no-trim)")
    try:
        args = p.parse_args(argv)
    except SystemExit as exc:
        if exc.code == 0:
            raise
        raise UsageError("usage: dlzoo bench norms [--quick] [--shapes AxBxC,...] [--rounds N] "
                         "[--threads 1,2] [--no-compile] [--no-malloc-trim] [--out DIR]") from None
    try:
        args.thread_list = [int(t) for t in args.threads.split(",")] if args.threads else [None]
    except ValueError:
        raise UsageError(f"dlzoo bench norms: bad --threads {args.threads!r}; expected e.g. 1,2") from None
    if args.shapes:
        try:
            args.shape_list = [tuple(int(d) for d in s.lower().split("x")) for s in args.shapes.split(",")]
        except ValueError:
            raise UsageError(f"dlzoo bench norms: bad --shapes {args.shapes!r}; expected e.g. 64x197x384"
                             ) from None
    else:
        args.shape_list = [s for s in DEFAULT_SHAPES if not (args.quick and s == (1, 4096, 4096))]
    if args.rounds is None:
        args.rounds = 3 if args.quick else 11
    return args


def _candidates(c: int, device: str, dtype: torch.dtype, use_compile: bool) -> dict[str, nn.Module]:
    import dlzoo.nn as dnn

    def naive_dyt() -> nn.Module:
        return dnn.DyT(c, device=device, dtype=dtype)

    mods: dict[str, nn.Module] = {
        "torch LayerNorm": nn.LayerNorm(c, device=device, dtype=dtype),
        "torch RMSNorm": nn.RMSNorm(c, device=device, dtype=dtype),
        "dlzoo LayerNorm": dnn.LayerNorm(c, device=device, dtype=dtype),
        "dlzoo RMSNorm": dnn.RMSNorm(c, device=device, dtype=dtype),
        "DyT naive": naive_dyt(),
        "dlzoo DyT": naive_dyt(),
    }
    if use_compile:
        mods["DyT compile"] = naive_dyt()
        mods["dlzoo DyT compiled"] = naive_dyt()
    with torch.no_grad():  # the same non-trivial affine parameters in every DyT
        gen = torch.Generator().manual_seed(1)
        w, b = torch.randn(c, generator=gen), torch.randn(c, generator=gen)
        for name, m in mods.items():
            if "DyT" in name:
                m.weight.copy_(w)
                m.bias.copy_(b)
    return mods


def _runner(name: str, module: nn.Module, x: torch.Tensor, grad: torch.Tensor | None,
            compiled: dict[str, Callable]) -> Callable[[], object]:
    import dlzoo

    if name == "DyT compile":
        fn = compiled.setdefault("dyt", torch.compile(_naive_dyt, dynamic=True))
        call = lambda: fn(x, module.alpha, module.weight, module.bias)  # noqa: E731
    elif name == "DyT naive":
        def call():
            with dlzoo.reference_mode():
                return module(x)
    elif name == "dlzoo DyT compiled":
        from ..kernels import set_dyt_backend

        def call():
            previous = set_dyt_backend("compiled")
            try:
                return module(x)
            finally:
                set_dyt_backend(previous)
    else:
        call = lambda: module(x)  # noqa: E731
    if grad is None:
        def forward():
            with torch.no_grad():
                return call()
        return forward
    inputs = [x, *module.parameters()]

    def forward_backward():
        return torch.autograd.grad(call(), inputs, grad)
    return forward_backward


def _naive_dyt(x: torch.Tensor, alpha: torch.Tensor, weight: torch.Tensor,
               bias: torch.Tensor) -> torch.Tensor:
    return weight * torch.tanh(alpha * x) + bias


def _check_fused(mods: dict[str, nn.Module], x: torch.Tensor) -> float:
    """Max abs difference of the fused DyT vs the naive one (output and every gradient)."""
    import dlzoo

    fused, naive = mods["dlzoo DyT"], mods["DyT naive"]
    xr = x.detach().requires_grad_()
    out = fused(xr)
    with dlzoo.reference_mode():
        ref = naive(xr)
    g = torch.randn_like(out)
    grads = torch.autograd.grad(out, [xr, *fused.parameters()], g)
    ref_grads = torch.autograd.grad(ref, [xr, *naive.parameters()], g)
    errs = [(out.float() - ref.float()).abs().max().item()]
    # parameter gradients are sums over many rows: compare relative to their magnitude
    errs += [((a.float() - b.float()).abs().max() / (b.float().abs().max() + 1)).item()
             for a, b in zip(grads, ref_grads)]
    return max(errs)


def run_shape(shape: tuple[int, ...], device: str, dtype: torch.dtype, rounds: int, use_compile: bool,
              compiled: dict[str, Callable]) -> list[dict[str, Any]]:
    from ..kernels import select_backend

    torch.manual_seed(0)
    c = shape[-1]
    x = torch.randn(shape, device=device, dtype=dtype)
    numel, itemsize = x.numel(), x.element_size()
    mods = _candidates(c, device, dtype, use_compile)
    max_err = _check_fused(mods, x)
    backend = select_backend(x)
    inner = 1 if numel >= 4_000_000 else (3 if numel >= 500_000 else 10)
    rows = []
    for mode, traffic in (("forward", 2), ("forward+backward", 5)):
        xg = x.detach().requires_grad_(mode != "forward")
        grad = torch.randn_like(x) if mode != "forward" else None
        cands = {"copy": (lambda xx=x: xx.clone())}
        cands.update({name: _runner(name, m, xg, grad, compiled) for name, m in mods.items()})
        times = time_interleaved(cands, rounds=rounds, inner=inner, warmup=2, device=device)
        faults = _faults_per_call(cands)
        for name, sec in times.items():
            bytes_moved = (2 if name == "copy" else traffic) * numel * itemsize
            rows.append({
                "shape": list(shape), "dtype": str(dtype).replace("torch.", ""), "device": device,
                "mode": mode, "candidate": name, "us": sec * 1e6, "gb_per_s": bytes_moved / sec / 1e9,
                "vs_torch_layernorm": sec / times["torch LayerNorm"], "vs_copy": sec / times["copy"],
                "threads": torch.get_num_threads(), "faults_per_call": faults.get(name),
                "dyt_backend": backend if name == "dlzoo DyT" else "compiled" if name == "dlzoo DyT compiled"
                else None,
                "dyt_max_err": max_err if name == "dlzoo DyT" else None,
            })
    return rows


def _faults_per_call(cands: dict[str, Callable[[], object]], calls: int = 3) -> dict[str, float]:
    """Minor page faults per call of each candidate (after the timed rounds; Unix only): a fresh output
    that lands on pages the allocator gave back to the OS costs ~1 fault per 4 KiB."""
    try:
        import resource
    except ImportError:
        return {}
    out = {}
    for name, fn in cands.items():
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for _ in range(calls):
            fn()
        out[name] = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / calls
    return out


def _markdown(rows: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    lines = [
        "# dlzoo bench norms",
        "",
        f"{meta['device_name']}, torch {meta['torch']}, threads {meta['threads']}, rounds {meta['rounds']}, "
        f"{meta['date']}, malloc trim {'off' if meta.get('no_malloc_trim') else 'glibc default'}, "
        f"load average {meta.get('loadavg', '?')} at start. Medians of interleaved rounds; ratios are "
        "against torch LayerNorm and against x.clone() (memory floor) measured in the same run. GB/s counts "
        "ideal traffic (fwd 2N, fwd+bwd 5N elements). faults/call: minor page faults per call, counted after "
        "the timing (fresh outputs on pages glibc gave back to the OS: ~1 per 4 KiB, slow in a VM; see "
        "--no-malloc-trim). The machine may be shared: absolute times are noisy, "
        "same-run ratios less so.",
        "",
        "| shape | threads | dtype | mode | candidate | us | GB/s | vs torch LN | vs copy | faults/call "
        "| note |",
        "|---|---:|---|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        note = f"backend={r['dyt_backend']}" if r["dyt_backend"] else ""
        note += f", max err {r['dyt_max_err']:.1e}" if r["dyt_max_err"] is not None else ""
        lines.append(
            f"| {'x'.join(map(str, r['shape']))} | {r.get('threads', '')} | {r['dtype']} | {r['mode']} | "
            f"{r['candidate']} | {r['us']:.0f} | {r['gb_per_s']:.1f} | {r['vs_torch_layernorm']:.2f} | "
            f"{r['vs_copy']:.2f} | {_fmt_faults(r.get('faults_per_call'))} | {note} |")
    lines += ["", "DyT targets at 64x197x384 float32 (CPU): forward <= 1.3x copy, forward+backward <= 1.0x "
              "torch LayerNorm.", ""]
    for r in rows:
        if tuple(r["shape"]) == (64, 197, 384) and r["candidate"] in ("dlzoo DyT", "dlzoo DyT compiled"):
            forward = r["mode"] == "forward"
            ratio, limit = (r["vs_copy"], 1.3) if forward else (r["vs_torch_layernorm"], 1.0)
            lines.append(f"- {r['candidate']} ({r['dyt_backend']}), {r.get('threads')} thread(s), "
                         f"{r['mode']}: {ratio:.2f}x {'copy' if forward else 'torch LayerNorm'} "
                         f"({'met' if ratio <= limit else 'NOT met'})")
    return "\n".join(lines) + "\n"


def _fmt_faults(value: float | None) -> str:
    return "" if value is None else f"{value:.0f}"


def _plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator

    modes = ["forward", "forward+backward"]
    groups = list(dict.fromkeys((tuple(r["shape"]), r["dtype"], r["device"], r.get("threads"))
                                for r in rows))  # run order
    names = list(dict.fromkeys(r["candidate"] for r in rows))
    # tick labels name only what differs between groups (shape always); the rest goes in the titles
    varies = [len({g[k] for g in groups}) > 1 for k in range(4)]
    common = [f"{g}" if k != 3 else f"{g} threads" for k, g in enumerate(groups[0]) if k and not varies[k]]

    def tick(g: tuple) -> str:
        extra = [str(g[1]) if varies[1] else "", str(g[2]) if varies[2] else "",
                 f"{g[3]} thr" if varies[3] else ""]
        return "x".join(map(str, g[0])) + "".join(f"\n{e}" for e in extra if e)

    fig, axes = plt.subplots(2, 1, figsize=(max(10, 1.4 * len(groups)), 10), squeeze=False)
    axes = axes.T  # one row of the two modes, drawn one above the other
    width = 0.8 / max(1, len(names))
    for ax, mode in zip(axes[0], modes):
        for i, name in enumerate(names):
            vals = []
            for g in groups:
                match = [r for r in rows if r["mode"] == mode and r["candidate"] == name
                         and (tuple(r["shape"]), r["dtype"], r["device"], r.get("threads")) == g]
                vals.append(match[0]["vs_torch_layernorm"] if match else float("nan"))
            ax.bar([k + i * width for k in range(len(groups))], vals, width, label=name)
        ax.axhline(1.0, color="k", lw=0.8)
        ax.set_xticks([k + 0.4 - width / 2 for k in range(len(groups))])
        ax.set_xticklabels([tick(g) for g in groups], fontsize=9, rotation=30, ha="right",
                           rotation_mode="anchor")
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))
        ax.tick_params(axis="y", labelsize=9)
        ax.grid(axis="y", alpha=0.3)
        ax.set_xlabel("input shape (B x N x C)", fontsize=10)
        ax.set_ylabel("time / torch LayerNorm (log scale)", fontsize=10)
        ax.set_title(f"{mode}" + (f" ({', '.join(common)})" if common else ""), fontsize=11)
    fig.legend(*axes[0][0].get_legend_handles_labels(), loc="lower center", ncol=min(len(names), 5),
               fontsize=9, frameon=False)
    fig.tight_layout(rect=(0, 0.06 + 0.02 * (len(names) > 5), 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _reset_compiled(compiled: dict[str, Callable]) -> None:
    from ..kernels import dyt_fused

    torch._dynamo.reset()
    compiled.clear()
    dyt_fused._forward_compiled.reset()
    dyt_fused._backward_compiled.reset()


def _no_malloc_trim() -> None:
    """glibc only: keep freed heap memory (no trimming, no per-block mmap) so big outputs reuse pages."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if name is None:
        raise UsageError("dlzoo bench norms: --no-malloc-trim needs glibc (libc not found)")
    libc = ctypes.CDLL(name)
    if not hasattr(libc, "mallopt"):
        raise UsageError("dlzoo bench norms: --no-malloc-trim needs glibc's mallopt")
    m_trim_threshold, m_mmap_threshold = -1, -3
    libc.mallopt(m_trim_threshold, 1 << 30)
    libc.mallopt(m_mmap_threshold, 1 << 30)


def main(argv: list[str]) -> int:
    args = _parse(argv)
    if dry_run("norms", args):
        return 0
    resolve_out(args)
    if args.no_malloc_trim:
        _no_malloc_trim()
    use_compile = not args.no_compile
    if use_compile:
        from ..kernels.compile import compile_available

        use_compile = compile_available()
    jobs = [(s, "cpu", torch.float32) for s in args.shape_list]
    if torch.cuda.is_available():
        jobs += [(s, "cuda", torch.bfloat16) for s in GPU_SHAPES]
    compiled: dict[str, Callable] = {}
    rows: list[dict[str, Any]] = []
    start = time.time()
    loadavg = " ".join(f"{v:.2f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    previous_threads = torch.get_num_threads()
    threads_run = []
    try:
        for threads in args.thread_list:
            if threads:
                torch.set_num_threads(threads)
            if threads_run and use_compile:  # thread count is part of dynamo's guards: fresh recompile budget
                _reset_compiled(compiled)
            threads_run.append(torch.get_num_threads())
            for shape, device, dtype in jobs:
                print(f"[bench norms] {shape} {device} {dtype} threads {torch.get_num_threads()} ...",
                      flush=True)
                rows += run_shape(shape, device, dtype, args.rounds, use_compile, compiled)
    finally:
        torch.set_num_threads(previous_threads)
    meta = {
        "torch": torch.__version__, "threads": ",".join(map(str, threads_run)), "rounds": args.rounds,
        "no_malloc_trim": args.no_malloc_trim, "loadavg": loadavg,
        "device_name": torch.cuda.get_device_name() if torch.cuda.is_available() else platform.processor()
        or platform.machine(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "seconds": round(time.time() - start, 1),
        "platform": platform.platform(),
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"norms{args.suffix}"
    paths = [out / f"{stem}.{ext}" for ext in ("json", "md", "png")]
    paths[0].write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    table = _markdown(rows, meta)
    paths[1].write_text(table)
    _plot(rows, paths[2])
    print(table)
    print("wrote " + ", ".join(map(str, paths)))
    return 0
