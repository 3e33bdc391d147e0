"""Overhead of dlzoo's training loop against a bare loop over the same components, timed in one run.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_trainer.py [--rounds 5] [--models a,b]

One unit of work is one training epoch on the digits (1259 images, batch 64, 20 steps) with the same
model, optimizer (dlzoo AdamW over weight-decay groups), schedule, loss, gradient clipping and batch
iterator. "bare loop" does only forward, backward, clip, step, schedule; "dlzoo Trainer" is
``Trainer._train_epoch`` (per-step loss/accuracy bookkeeping, NaN guard, progress off, no checkpoints,
plus the end-of-epoch validation pass and metric record). Medians of interleaved rounds
(``dlzoo.bench.timing.time_interleaved``); ``ratio`` = Trainer / bare (1.0 = no overhead).
Writes ``trainer_cpu.json`` and ``.md`` under ``--out``
(default ``runs/bench/<timestamp>/``; ``--update-results``: ``benchmarks/results/``).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from dlzoo.bench.output import add_output_args, dry_run, resolve_out
from dlzoo.bench.report import environment, write_results
from dlzoo.bench.timing import time_interleaved
from dlzoo.optim.clip import clip_grad_norm_
from dlzoo.train import load_config
from dlzoo.train.trainer import Trainer


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--models", default="mlp_digits,vit_tiny_digits")
    add_output_args(parser, "trainer_cpu.json / .md")
    args = parser.parse_args()
    if dry_run("trainer", args, prog="python benchmarks/bench_trainer.py"):
        return
    out = resolve_out(args)
    rows = []
    tmp = Path(tempfile.mkdtemp(prefix="bench_trainer_"))
    for name in args.models.split(","):
        cfg = load_config(None, [f"model.name={name}", "train.epochs=1000", "checkpoint.every_epochs=0",
                                 f"output_dir={tmp}", "optim.lr=1e-4"])
        ours = Trainer(cfg, run_dir=tmp / f"{name}-ours", progress=False)
        bare = Trainer(cfg, run_dir=tmp / f"{name}-bare", progress=False)  # same components, used bare
        bare.model.train()
        epoch = [0]

        def bare_epoch(t=bare, counter=epoch, clip=cfg.train.grad_clip):
            counter[0] += 1
            for x, y in t.data.train_loader.iter_epoch(counter[0]):
                loss = t.loss_fn(t.model(x), y)
                t.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                clip_grad_norm_(t.model.parameters(), clip)
                t.optimizer.step()
                t.scheduler.step()

        times = time_interleaved({"bare loop": bare_epoch, "dlzoo Trainer": ours._train_epoch},
                                 rounds=args.rounds, inner=1, warmup=1)
        ours.logger.close()
        bare.logger.close()
        rows.append({"model": name, "bare_ms_per_epoch": times["bare loop"] * 1e3,
                     "trainer_ms_per_epoch": times["dlzoo Trainer"] * 1e3,
                     "ratio_trainer_over_bare": times["dlzoo Trainer"] / times["bare loop"]})
    meta = environment(rounds=args.rounds, note="shared 2-core machine: timings are noisy; the Trainer "
                       "column includes one validation pass (269 images) per epoch")
    print(write_results(
        out / "trainer_cpu", "dlzoo Trainer vs a bare training loop, CPU",
        [("model", "model", "{}"), ("bare loop (ms/epoch)", "bare_ms_per_epoch", "{:.1f}"),
         ("dlzoo Trainer (ms/epoch)", "trainer_ms_per_epoch", "{:.1f}"),
         ("ratio (Trainer / bare)", "ratio_trainer_over_bare", "{:.2f}")],
        rows, meta, notes=[str(meta)],
    ))

if __name__ == "__main__":
    main()
