"""Benchmark dlzoo transformer layers (Linear, sdpa, MultiheadAttention, ViT Attention, Mlp) and ViT models
against torch, timed in the same run.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_attention.py [--device cpu|cuda] [--rounds 10]

Each row is forward+backward, median of interleaved rounds (``dlzoo.bench.timing.time_interleaved``);
``ratio`` = ours / reference measured in the same run with the same weights. "reference_mode" rows run the
explicit softmax(QK^T/sqrt(d))V / x @ W.T math instead of torch's fused kernels. Writes
``attention_<device>.json`` and ``.md`` under ``--out``
(default ``runs/bench/<timestamp>/``; ``--update-results``: ``benchmarks/results/``).
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F

import dlzoo
from dlzoo.bench.output import add_output_args, dry_run, resolve_out
from dlzoo.bench.report import environment, write_results
from dlzoo.bench.timing import time_interleaved
from dlzoo.nn import Attention, Linear, Mlp, MultiheadAttention, scaled_dot_product_attention


def _fwd_bwd(fn, inputs, reference=False):
    def run():
        for t in inputs:
            t.grad = None
        with dlzoo.reference_mode(reference):
            out = fn()
            (out[0] if isinstance(out, tuple) else out).sum().backward()

    return run


def cases(device: str) -> dict:
    out = {}
    B, N, D, H = 8, 197, 384, 6
    x = torch.randn(B, N, D, device=device, requires_grad=True)
    ours, ref = Linear(D, 4 * D).to(device), torch.nn.Linear(D, 4 * D).to(device)
    ours.load_state_dict(ref.state_dict())
    out["Linear 384->1536, (8, 197, 384)"] = (_fwd_bwd(lambda: ours(x), [x]), _fwd_bwd(lambda: ref(x), [x]))
    out["Linear reference_mode"] = (_fwd_bwd(lambda: ours(x), [x], True), _fwd_bwd(lambda: ref(x), [x]))

    q, k, v = (torch.randn(B, H, N, D // H, device=device, requires_grad=True) for _ in range(3))
    sdpa_ref = _fwd_bwd(lambda: F.scaled_dot_product_attention(q, k, v), [q, k, v])
    ours_sdpa = _fwd_bwd(lambda: scaled_dot_product_attention(q, k, v), [q, k, v])
    out["sdpa (8, 6, 197, 64)"] = (ours_sdpa, sdpa_ref)
    out["sdpa reference_mode"] = (_fwd_bwd(lambda: scaled_dot_product_attention(q, k, v), [q, k, v], True),
                                  sdpa_ref)
    causal_ref = _fwd_bwd(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True), [q, k, v])
    out["sdpa causal reference_mode"] = (
        _fwd_bwd(lambda: scaled_dot_product_attention(q, k, v, is_causal=True), [q, k, v], True), causal_ref)

    mha, tmha = MultiheadAttention(D, H, batch_first=True).to(device), \
        torch.nn.MultiheadAttention(D, H, batch_first=True).to(device)
    mha.load_state_dict(tmha.state_dict())
    for need in (False, True):
        o = _fwd_bwd(lambda need=need: mha(x, x, x, need_weights=need), [x])
        r = _fwd_bwd(lambda need=need: tmha(x, x, x, need_weights=need), [x])
        out[f"MultiheadAttention need_weights={need}"] = (o, r)
    out["MultiheadAttention reference_mode"] = (_fwd_bwd(lambda: mha(x, x, x, need_weights=False), [x], True),
                                                _fwd_bwd(lambda: tmha(x, x, x, need_weights=False), [x]))
    attn = Attention(D, H).to(device)
    with torch.no_grad():
        tmha.in_proj_weight.copy_(attn.qkv.weight)
        tmha.in_proj_bias.copy_(attn.qkv.bias)
        tmha.out_proj.load_state_dict(attn.proj.state_dict())
    ref_attn = _fwd_bwd(lambda: tmha(x, x, x, need_weights=False), [x])
    out["ViT Attention vs torch MHA"] = (_fwd_bwd(lambda: attn(x), [x]), ref_attn)
    out["ViT Attention reference_mode"] = (_fwd_bwd(lambda: attn(x), [x], True), ref_attn)
    mlp = Mlp(D, 4 * D).to(device)
    tmlp = torch.nn.Sequential(torch.nn.Linear(D, 4 * D), torch.nn.GELU(), torch.nn.Linear(4 * D, D))
    tmlp = tmlp.to(device)
    tmlp.load_state_dict({k.replace("fc1", "0").replace("fc2", "2"): val
                          for k, val in mlp.state_dict().items()})
    out["Mlp 384-1536-384"] = (_fwd_bwd(lambda: mlp(x), [x]), _fwd_bwd(lambda: tmlp(x), [x]))

    digits = dlzoo.create_model("vit_tiny_digits").to(device)
    xd = torch.randn(64, 1, 8, 8, device=device, requires_grad=True)
    out["vit_tiny_digits batch 64: reference_mode vs fused"] = (_fwd_bwd(lambda: digits(xd), [xd], True),
                                                                 _fwd_bwd(lambda: digits(xd), [xd]))
    dyt = dlzoo.create_model("vit_tiny_digits", norm_layer="dyt").to(device)
    out["vit_tiny_digits batch 64: DyT vs LayerNorm"] = (_fwd_bwd(lambda: dyt(xd), [xd]),
                                                          _fwd_bwd(lambda: digits(xd), [xd]))
    small = dlzoo.create_model("vit_small_patch16_224", depth=4).to(device)
    xs = torch.randn(2, 3, 224, 224, device=device, requires_grad=True)
    out["vit_small 224 (depth 4) batch 2: reference_mode vs fused"] = (
        _fwd_bwd(lambda: small(xs), [xs], True), _fwd_bwd(lambda: small(xs), [xs]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--rounds", type=int, default=10)
    add_output_args(parser, "attention_<device>.json / .md")
    args = parser.parse_args()
    if dry_run("attention", args, prog="python benchmarks/bench_attention.py"):
        return
    out = resolve_out(args)
    rows = []
    for name, (ours, ref) in cases(args.device).items():
        times = time_interleaved({"ours": ours, "ref": ref}, rounds=args.rounds, inner=2, warmup=2,
                                 device=args.device)
        rows.append({"case": name, "ours_ms": times["ours"] * 1e3, "ref_ms": times["ref"] * 1e3,
                     "ratio": times["ours"] / times["ref"]})
        print(f"{name:<58} {rows[-1]['ours_ms']:9.3f} {rows[-1]['ref_ms']:9.3f} {rows[-1]['ratio']:6.2f}",
              flush=True)
    meta = environment(args.device, rounds=args.rounds)
    where = meta["gpu"] or f"{meta['threads']} threads"
    write_results(
        out / f"attention_{args.device}",
        f"transformer layers vs torch ({args.device}, {where}, torch {torch.__version__})",
        [("case (forward + backward)", "case", "{}"), ("ours (ms)", "ours_ms", "{:.3f}"),
         ("reference (ms)", "ref_ms", "{:.3f}"), ("ours / reference", "ratio", "{:.2f}")],
        rows, meta,
        notes=["Reference = the torch module/function with the same weights, except rows saying 'X vs Y',",
               "where both columns are our model (X in 'ours', Y in 'reference'). Medians of interleaved",
               "rounds; the machine may be shared with other jobs, so timings are noisy."],
    )

if __name__ == "__main__":
    main()
