"""Benchmark dlzoo conv / pooling layers and a CNN against torch.nn, timed in the same run.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_conv.py [--device cpu|cuda] [--rounds 10]

Each row is forward+backward, median of interleaved rounds (``dlzoo.bench.timing.time_interleaved``);
``ratio`` = ours / torch reference measured in the same run (same weights). "reference_mode" rows run
the explicit unfold/einsum math instead of torch's fused kernels. Writes
``conv_<device>.json`` and ``.md`` under ``--out``
(default ``runs/bench/<timestamp>/``; ``--update-results``: ``benchmarks/results/``).
"""

from __future__ import annotations

import argparse

import torch

import dlzoo
from dlzoo.bench.output import add_output_args, dry_run, resolve_out
from dlzoo.bench.report import environment, write_results
from dlzoo.bench.timing import time_interleaved
from dlzoo.nn import AvgPool2d, Conv2d, ConvTranspose2d, MaxPool2d


def _fwd_bwd(module, x, reference=False):
    def run():
        x.grad = None
        with dlzoo.reference_mode(reference):
            module(x).sum().backward()

    return run


def _pair(ours, ref):
    ours.load_state_dict(ref.state_dict())
    return ours, ref


def cases(device: str) -> dict:
    x = torch.randn(8, 64, 32, 32, device=device, requires_grad=True)
    out = {}
    for label, kw in [
        ("3x3 64->64", dict(kernel_size=3, padding=1)),
        ("3x3 s2 64->128", dict(kernel_size=3, stride=2, padding=1)),
        ("3x3 depthwise", dict(kernel_size=3, padding=1, groups=64)),
    ]:
        cout = 128 if "128" in label else 64
        ours, ref = _pair(Conv2d(64, cout, **kw).to(device), torch.nn.Conv2d(64, cout, **kw).to(device))
        out[f"Conv2d {label}"] = (_fwd_bwd(ours, x), _fwd_bwd(ref, x))
        out[f"Conv2d {label} reference_mode"] = (_fwd_bwd(ours, x, True), _fwd_bwd(ref, x))
    kw = dict(kernel_size=2, stride=2)
    ours, ref = _pair(
        ConvTranspose2d(64, 32, **kw).to(device), torch.nn.ConvTranspose2d(64, 32, **kw).to(device)
    )
    out["ConvTranspose2d 2x2 s2 64->32"] = (_fwd_bwd(ours, x), _fwd_bwd(ref, x))
    out["ConvTranspose2d 2x2 s2 reference_mode"] = (_fwd_bwd(ours, x, True), _fwd_bwd(ref, x))
    mp, tmp = MaxPool2d(3, 2, 1), torch.nn.MaxPool2d(3, 2, 1)
    out["MaxPool2d 3x3 s2"] = (_fwd_bwd(mp, x), _fwd_bwd(tmp, x))
    out["MaxPool2d 3x3 s2 reference_mode"] = (_fwd_bwd(mp, x, True), _fwd_bwd(tmp, x))
    ap, tap = AvgPool2d(3, 2, 1, ceil_mode=True), torch.nn.AvgPool2d(3, 2, 1, ceil_mode=True)
    out["AvgPool2d 3x3 s2 ceil reference_mode"] = (_fwd_bwd(ap, x, True), _fwd_bwd(tap, x))
    # whole model: our resnet18 (fused default) vs the same network in reference mode
    model = dlzoo.create_model("resnet18", num_classes=10).to(device)
    xi = torch.randn(8, 3, 64, 64, device=device, requires_grad=True)
    out["resnet18 64x64 batch 8: reference_mode vs fused"] = (_fwd_bwd(model, xi, True), _fwd_bwd(model, xi))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--rounds", type=int, default=10)
    add_output_args(parser, "conv_<device>.json / .md")
    args = parser.parse_args()
    if dry_run("conv", args, prog="python benchmarks/bench_conv.py"):
        return
    out = resolve_out(args)
    rows = []
    for name, (ours, ref) in cases(args.device).items():
        times = time_interleaved(
            {"ours": ours, "torch": ref}, rounds=args.rounds, inner=2, warmup=2, device=args.device
        )
        rows.append(
            {
                "case": name,
                "ours_ms": times["ours"] * 1e3,
                "torch_ms": times["torch"] * 1e3,
                "ratio": times["ours"] / times["torch"],
            }
        )
        print(f"{name:<50} {rows[-1]['ours_ms']:9.3f} {rows[-1]['torch_ms']:9.3f} {rows[-1]['ratio']:6.2f}")
    meta = environment(args.device, rounds=args.rounds)
    write_results(
        out / f"conv_{args.device}",
        f"conv / pooling vs torch ({args.device}, torch {torch.__version__}, {meta['threads']} threads)",
        [("case (forward + backward)", "case", "{}"), ("ours (ms)", "ours_ms", "{:.3f}"),
         ("torch (ms)", "torch_ms", "{:.3f}"), ("ours / torch", "ratio", "{:.2f}")],
        rows, meta,
        notes=["medians of interleaved rounds; shared machine, timings are noisy. The resnet18 row's",
               "'torch' column is our own model on the fused path (ratio = cost of the explicit math)."],
    )

if __name__ == "__main__":
    main()
