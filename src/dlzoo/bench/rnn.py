"""``dlzoo bench rnn``: dlzoo LSTM / GRU (default fused path) vs ``torch.nn.LSTM`` / ``GRU``, fwd + bwd.

    dlzoo bench rnn [--quick] [--rounds N] [--threads N] [--out DIR]

For each configuration the same weights run in three candidates, timed in interleaved rounds in one run
(:func:`dlzoo.bench.timing.time_interleaved`): ``torch.nn`` (the reference), dlzoo's default path (torch's
fused ``torch.lstm`` / ``torch.gru`` with our parameters) and dlzoo's explicit per-timestep loop under
:func:`dlzoo.reference_mode`. One unit of work = forward, ``sum`` of output and final states, backward. The
``lengths`` rows compare ``ours(x, lengths=...)`` with torch's pack -> run -> ``pad_packed_sequence``.
Target: ours / torch <= 1.1. Writes ``rnn.json`` and ``rnn.md`` under ``--out``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from .. import nn as dnn
from ..errors import UsageError
from ..nn.mode import reference_mode
from .output import add_output_args, dry_run, resolve_out
from .report import environment, write_results
from .timing import time_interleaved

__all__ = ["main", "CONFIGS"]

# (name, cell, seq_len, batch, input, hidden, layers, bidirectional, variable lengths)
CONFIGS: list[tuple[str, str, int, int, int, int, int, bool, bool]] = [
    ("lstm T64 N32 I64 H128", "lstm", 64, 32, 64, 128, 1, False, False),
    ("lstm T64 N32 I64 H128 L2 bi", "lstm", 64, 32, 64, 128, 2, True, False),
    ("lstm T64 N32 I64 H128 lengths", "lstm", 64, 32, 64, 128, 1, False, True),
    ("gru T64 N32 I64 H128", "gru", 64, 32, 64, 128, 1, False, False),
    ("gru T64 N32 I64 H128 L2 bi", "gru", 64, 32, 64, 128, 2, True, False),
    ("gru T64 N32 I64 H128 lengths", "gru", 64, 32, 64, 128, 1, False, True),
]
QUICK = [0, 3, 2]

COLUMNS = [
    ("config", "config", "{}"),
    ("torch.nn fwd+bwd (ms)", "torch_ms", "{:.2f}"),
    ("ours default (ms)", "ours_ms", "{:.2f}"),
    ("ours / torch", "ratio", "{:.3f}"),
    ("ours reference loop (ms)", "reference_ms", "{:.2f}"),
    ("loop / torch", "reference_ratio", "{:.1f}"),
    ("same output", "same_output", "{}"),
]


def _work(module: nn.Module, x: torch.Tensor, lengths: torch.Tensor | None, ours: bool, loop: bool = False):
    def run() -> None:
        if lengths is None:
            out, state = module(x)
        elif ours:
            out, state = module(x, lengths=lengths)
        else:  # torch's own variable-length recipe, padded in and out like ours
            packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
            out, state = module(packed)
            out = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])[0]
        states = state if isinstance(state, tuple) else (state,)
        loss = out.sum() + sum(s.sum() for s in states)
        loss.backward()

    if not loop:
        return run

    def run_loop() -> None:
        with reference_mode():
            run()

    return run_loop


def bench_one(config: tuple, rounds: int, inner: int) -> dict[str, Any]:
    name, cell, t, n, i, h, layers, bidir, variable = config
    ref_cls, ours_cls = {"lstm": (nn.LSTM, dnn.LSTM), "gru": (nn.GRU, dnn.GRU)}[cell]
    kw = {"num_layers": layers, "bidirectional": bidir, "batch_first": True}
    torch.manual_seed(0)
    ref = ref_cls(i, h, **kw)
    ours = ours_cls(i, h, **kw)
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(n, t, i, requires_grad=True)
    lengths = (
        torch.randint(t // 2, t + 1, (n,), generator=torch.Generator().manual_seed(0)) if variable else None
    )
    candidates: dict[str, Callable[[], None]] = {
        "torch": _work(ref, x, lengths, ours=False),
        "ours": _work(ours, x, lengths, ours=True),
        "reference": _work(ours, x, lengths, ours=True, loop=True),
    }
    with torch.no_grad():  # the candidates compute the same thing: padded outputs equal torch's
        mine = ours(x, lengths=lengths)[0]
        if lengths is None:
            theirs = ref(x)[0]
        else:
            packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
            theirs = pad_packed_sequence(ref(packed)[0], batch_first=True, total_length=t)[0]
    same = bool(torch.allclose(mine, theirs, rtol=1e-4, atol=1e-5))
    times = time_interleaved(candidates, rounds=rounds, inner=inner, warmup=2)
    return {
        "config": name,
        "cell": cell,
        "seq_len": t,
        "batch": n,
        "input_size": i,
        "hidden_size": h,
        "num_layers": layers,
        "bidirectional": bidir,
        "variable_lengths": variable,
        "torch_ms": times["torch"] * 1e3,
        "ours_ms": times["ours"] * 1e3,
        "reference_ms": times["reference"] * 1e3,
        "ratio": times["ours"] / times["torch"],
        "reference_ratio": times["reference"] / times["torch"],
        "same_output": same,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dlzoo bench rnn", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="three configurations, fewer rounds")
    parser.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default 9, quick 3)")
    parser.add_argument("--inner", type=int, default=2, help="fwd+bwd calls per round per candidate")
    parser.add_argument(
        "--threads", type=int, default=None, help="torch.set_num_threads (default: unchanged)"
    )
    add_output_args(parser, "rnn.json / .md")
    try:
        args = parser.parse_args(argv)
    except SystemExit as err:
        if err.code == 0:
            return 0
        raise UsageError("bad arguments; see `dlzoo bench rnn --help`") from None
    if dry_run("rnn", args):
        return 0
    resolve_out(args)
    if args.threads:
        torch.set_num_threads(args.threads)
    rounds = args.rounds or (3 if args.quick else 9)
    configs = [CONFIGS[k] for k in QUICK] if args.quick else CONFIGS
    rows = []
    for config in configs:
        row = bench_one(config, rounds, args.inner)
        rows.append(row)
        print(
            f"{row['config']:32s} torch {row['torch_ms']:8.2f} ms  ours {row['ours_ms']:8.2f} ms  "
            f"ratio {row['ratio']:.3f}  loop x{row['reference_ratio']:.1f}",
            flush=True,
        )
    shown = [
        a for k, a in enumerate(argv or []) if not a.startswith("--out") and (argv or [])[k - 1] != "--out"
    ]
    command = " ".join(["dlzoo bench rnn", *shown])
    meta = environment("cpu", rounds=rounds, inner=args.inner, command=command)
    notes = [
        f"Medians of {rounds} interleaved rounds x {args.inner} calls (forward, sum of output and final "
        f"states, backward), float32, batch_first; command: `{command}`.",
        "`ours default` is dlzoo.nn.LSTM/GRU (torch's fused op with our parameters); `reference loop` the "
        "explicit per-timestep cells under `dlzoo.reference_mode()`. `lengths` rows: ours(x, lengths=) vs "
        "torch's pack_padded_sequence -> module -> pad_packed_sequence. Target ours / torch <= 1.1.",
        "The machine may be shared: timings are noisy; compare ratios within one run only.",
    ]
    markdown = write_results(
        Path(args.out) / "rnn",
        "recurrent layers fwd+bwd: dlzoo vs torch.nn (cpu)",
        COLUMNS,
        rows,
        meta,
        notes,
    )
    print(markdown)
    return 0
