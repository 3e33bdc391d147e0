"""Benchmark dlzoo's whole-batch iterator against ``torch.utils.data.DataLoader`` over a TensorDataset.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_data_loader.py [--rounds 10]

One unit of work is one shuffled epoch of the digits training split (1259 images 1x8x8, batch 64) and,
separately, of the same split upsampled to 32x32; every batch is touched (summed) so nothing is lazily
skipped. The DataLoader indexes one sample at a time and collates; ``BatchLoader`` gathers each batch
with one ``x[idx]``. Medians of interleaved rounds (``dlzoo.bench.timing.time_interleaved``);
``ratio`` = reference / ours (> 1: ours faster).
Writes ``data_loader_cpu.json`` and ``.md`` under ``--out``
(default ``runs/bench/<timestamp>/``; ``--update-results``: ``benchmarks/results/``).
"""

from __future__ import annotations

import argparse

import torch
from torch.utils.data import DataLoader
from torch.utils.data import TensorDataset as TorchTensorDataset

from dlzoo.bench.output import add_output_args, dry_run, resolve_out
from dlzoo.bench.report import environment, write_results
from dlzoo.bench.timing import time_interleaved
from dlzoo.data import BatchLoader, create_dataset


def _consume(batches) -> float:
    total = 0.0
    for x, y in batches:
        total += float(x.sum()) + float(y.sum())
    return total


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=10)
    add_output_args(parser, "data_loader_cpu.json / .md")
    args = parser.parse_args()
    if dry_run("data_loader", args, prog="python benchmarks/bench_data_loader.py"):
        return
    out = resolve_out(args)
    rows = []
    for img_size in (None, 32):
        splits = create_dataset("digits", img_size=img_size)
        ds = splits.train
        ours = BatchLoader(ds, batch_size=64, shuffle=True, seed=0)
        ref = DataLoader(TorchTensorDataset(ds.x, ds.y), batch_size=64, shuffle=True,
                         generator=torch.Generator().manual_seed(0))
        def run_ours(loader=ours, epoch=[0]):  # noqa: B006  (a per-candidate epoch counter)
            epoch[0] += 1
            return _consume(loader.iter_epoch(epoch[0]))

        times = time_interleaved({"torch DataLoader(TensorDataset)": lambda loader=ref: _consume(loader),
                                  "dlzoo BatchLoader": run_ours}, rounds=args.rounds, inner=3, warmup=2)
        ref_t, ours_t = times["torch DataLoader(TensorDataset)"], times["dlzoo BatchLoader"]
        rows.append({"input": f"digits train 1259x{tuple(ds.x.shape[1:])}, batch 64",
                     "torch_dataloader_ms": ref_t * 1e3, "dlzoo_batchloader_ms": ours_t * 1e3,
                     "ratio_ref_over_ours": ref_t / ours_t})
    meta = environment(rounds=args.rounds, note="shared 2-core machine: timings are noisy")
    print(write_results(
        out / "data_loader_cpu", "whole-batch BatchLoader vs DataLoader(TensorDataset), CPU",
        [("input", "input", "{}"), ("torch DataLoader (ms/epoch)", "torch_dataloader_ms", "{:.2f}"),
         ("dlzoo BatchLoader (ms/epoch)", "dlzoo_batchloader_ms", "{:.2f}"),
         ("ratio (torch / ours)", "ratio_ref_over_ours", "{:.1f}x")],
        rows, meta, notes=[str(meta)],
    ))

if __name__ == "__main__":
    main()
