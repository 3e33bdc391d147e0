"""``dlzoo bench transformer``: dlzoo.nn.Transformer against torch.nn.Transformer, timed in one run.

Candidates (same weights, loaded from torch's state_dict; batch_first, float32, causal target mask):

* ``torch``            torch.nn.Transformer (in inference its fused encoder-layer kernel runs)
* ``dlzoo``            dlzoo.nn.Transformer, default path (fused linear / SDPA / layer_norm kernels)
* ``dlzoo reference``  dlzoo.nn.Transformer under ``dlzoo.reference_mode()`` (explicit math)

Modes: ``train fwd+bwd`` (train mode, dropout 0 so both sides do the same work; gradients of every parameter)
and ``inference`` (eval, ``torch.inference_mode``). Times are medians of interleaved rounds
(:func:`dlzoo.bench.timing.time_interleaved`); the ratio is against torch measured in the same run. Before
timing, the outputs are compared (max abs difference recorded).

    dlzoo bench transformer [--configs d256-l2-b8-s64,d512-l6-b4-s32] [--rounds N] [--threads 1,2]
                            [--out DIR] [--suffix S]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from ..errors import UsageError
from .output import add_output_args, dry_run, resolve_out
from .timing import time_interleaved

__all__ = ["DEFAULT_CONFIGS", "main", "run_config"]

DEFAULT_CONFIGS = ("d256-l2-b8-s64", "d512-l6-b4-s32")
_USAGE = (
    "usage: dlzoo bench transformer [--configs dD-lL-bB-sS,...] [--rounds N] [--threads 1,2] [--out DIR] "
    "[--suffix S]"
)
_CONFIG = re.compile(r"d(\d+)-l(\d+)-b(\d+)-s(\d+)$")


def _parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="dlzoo bench transformer", description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--configs",
        default=",".join(DEFAULT_CONFIGS),
        help="d_model, layers per stack, batch, sequence length: d256-l2-b8-s64 (heads d/64, FFN 4d)",
    )
    p.add_argument("--rounds", type=int, default=9, help="interleaved rounds (median reported)")
    p.add_argument("--threads", default=None, help="thread counts, e.g. 1,2 (default: torch's current)")
    add_output_args(p, "transformer<suffix>.json / .md")
    p.add_argument("--suffix", default="", help="file names transformer<suffix>.json / .md")
    try:
        args = p.parse_args(argv)
    except SystemExit as exc:
        if exc.code == 0:
            raise
        raise UsageError(_USAGE) from None
    args.config_list = []
    for c in args.configs.split(","):
        m = _CONFIG.match(c.strip())
        if not m:
            raise UsageError(f"dlzoo bench transformer: bad config {c!r}; expected e.g. d256-l2-b8-s64")
        args.config_list.append(tuple(int(v) for v in m.groups()))
    try:
        args.thread_list = [int(t) for t in args.threads.split(",")] if args.threads else [None]
    except ValueError:
        raise UsageError(
            f"dlzoo bench transformer: bad --threads {args.threads!r}; expected e.g. 1,2"
        ) from None
    return args


def _models(d: int, layers: int) -> dict[str, torch.nn.Module]:
    import dlzoo.nn as dnn

    kw = dict(
        d_model=d,
        nhead=max(1, d // 64),
        num_encoder_layers=layers,
        num_decoder_layers=layers,
        dim_feedforward=4 * d,
        dropout=0.0,
        batch_first=True,
    )
    ref = torch.nn.Transformer(**kw)
    ours = dnn.Transformer(**kw)
    ours.load_state_dict(ref.state_dict())
    return {"torch": ref, "dlzoo": ours, "dlzoo reference": ours}


def _context(name: str):
    import dlzoo

    return dlzoo.reference_mode() if name == "dlzoo reference" else contextlib.nullcontext()


def run_config(d: int, layers: int, batch: int, seq: int, rounds: int) -> list[dict[str, Any]]:
    """Rows (one per mode and candidate) for one configuration on the CPU."""
    torch.manual_seed(0)
    models = _models(d, layers)
    src, tgt = torch.randn(batch, seq, d), torch.randn(batch, seq, d)
    mask = torch.nn.Transformer.generate_square_subsequent_mask(seq)
    grad = torch.randn(batch, seq, d)

    def make(name: str, mode: str) -> Callable[[], object]:
        model = models[name]

        def inference():
            with _context(name), torch.inference_mode():
                return model(src, tgt, tgt_mask=mask)

        def train():
            with _context(name):
                out = model(src, tgt, tgt_mask=mask)
            return torch.autograd.grad(out, list(model.parameters()), grad)

        return inference if mode == "inference" else train

    for m in models.values():
        m.eval()
    with torch.inference_mode():
        expected = models["torch"](src, tgt, tgt_mask=mask)
    errors = {name: (make(name, "inference")() - expected).abs().max().item() for name in models}
    rows = []
    for mode in ("train fwd+bwd", "inference"):
        for m in models.values():
            m.train(mode != "inference")
        times = time_interleaved(
            {name: make(name, mode) for name in models}, rounds=rounds, inner=1, warmup=2
        )
        for name, sec in times.items():
            rows.append(
                {
                    "d_model": d,
                    "layers": layers,
                    "batch": batch,
                    "seq": seq,
                    "mode": mode,
                    "candidate": name,
                    "ms": sec * 1e3,
                    "vs_torch": sec / times["torch"],
                    "max_abs_err": errors[name],
                    "threads": torch.get_num_threads(),
                }
            )
    return rows


def _markdown(rows: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    lines = [
        "# dlzoo bench transformer",
        "",
        f"{meta['device_name']}, torch {meta['torch']}, threads {meta['threads']}, rounds {meta['rounds']}, "
        f"{meta['date']}, load average {meta['loadavg']} at start, {meta['seconds']} s.",
        "",
        "dlzoo.nn.Transformer vs torch.nn.Transformer with the same weights (float32, batch_first, causal",
        "target mask, heads d/64, FFN 4d, dropout 0). Medians of interleaved rounds; ratios against torch in",
        "the same run. max err: inference output vs torch. The machine is shared: absolute times are noisy,",
        "same-run ratios less so.",
        "",
        "| d_model | layers | batch x seq | threads | mode | candidate | ms | vs torch | max err |",
        "|---:|---:|---|---:|---|---|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['d_model']} | {r['layers']}+{r['layers']} | {r['batch']}x{r['seq']} | {r['threads']} | "
            f"{r['mode']} | {r['candidate']} | {r['ms']:.1f} | {r['vs_torch']:.2f} | "
            f"{r['max_abs_err']:.1e} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    args = _parse(argv)
    if dry_run("transformer", args):
        return 0
    resolve_out(args)
    start = time.time()
    loadavg = " ".join(f"{v:.2f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    previous = torch.get_num_threads()
    rows: list[dict[str, Any]] = []
    threads_run = []
    try:
        for threads in args.thread_list:
            if threads:
                torch.set_num_threads(threads)
            threads_run.append(torch.get_num_threads())
            for d, layers, batch, seq in args.config_list:
                print(
                    f"[bench transformer] d{d} l{layers} b{batch} s{seq} threads {torch.get_num_threads()}",
                    flush=True,
                )
                rows += run_config(d, layers, batch, seq, args.rounds)
    finally:
        torch.set_num_threads(previous)
    meta = {
        "torch": torch.__version__,
        "threads": ",".join(map(str, threads_run)),
        "rounds": args.rounds,
        "loadavg": loadavg,
        "device_name": platform.processor() or platform.machine(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "seconds": round(time.time() - start, 1),
        "platform": platform.platform(),
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"transformer{args.suffix}.{ext}" for ext in ("json", "md")]
    paths[0].write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    table = _markdown(rows, meta)
    paths[1].write_text(table)
    print(table)
    print("wrote " + ", ".join(map(str, paths)))
    return 0
