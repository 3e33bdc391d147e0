"""``dlzoo bench analysis``: :func:`dlzoo.analysis.weight_spectra` vs weightwatcher 0.7.7 ``analyze()``.

Both analyse the same model (default resnet50, random init with a fixed seed): weightwatcher with its
defaults, ours with the same defaults. Before timing, the two are checked to agree layer by layer (the
largest relative alpha difference and the largest absolute log-norm difference are recorded). Timings
are medians of interleaved rounds (one weightwatcher run, then one of ours, per round; a run takes
seconds, so there is no inner repeat); the ratio is ours / weightwatcher measured in
the same run. Results: ``analysis.json`` and ``analysis.md`` under ``--out`` (where and ``--dry-run``:
:mod:`dlzoo.bench.output`).
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import time
import warnings
from pathlib import Path
from typing import Any

import torch

from ..errors import UsageError
from .output import add_output_args, dry_run, resolve_out
from .report import environment, write_results

__all__ = ["main", "run"]

COLUMNS = [("model", "model", "{}"), ("layers", "layers", "{}"), ("eigenvalues", "num_evals", "{}"),
           ("weightwatcher s", "ww_s", "{:.2f}"), ("dlzoo s", "dlzoo_s", "{:.2f}"),
           ("ratio", "ratio", "{:.3f}"), ("max rel alpha diff", "max_rel_alpha", "{:.1e}"),
           ("max abs norm diff", "max_abs_norm", "{:.1e}")]


def _parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="dlzoo bench analysis", description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=["resnet50"], help="registered model names")
    p.add_argument("--rounds", type=int, default=2, help="interleaved timing rounds (median reported)")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: unchanged)")
    p.add_argument("--seed", type=int, default=0)
    add_output_args(p, "analysis<suffix>.json / .md")
    p.add_argument("--suffix", default="", help="file names analysis<suffix>.json etc. (e.g. _threads1)")
    return p.parse_args(argv)


def _weightwatcher(model: torch.nn.Module):
    try:
        import weightwatcher as ww
    except ImportError as exc:  # pragma: no cover - dev extra
        raise UsageError("dlzoo bench analysis needs weightwatcher (the dev extra)") from exc
    logging.getLogger("weightwatcher").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ww.WeightWatcher(model=model).analyze()


def _agreement(details: Any, ours: list) -> tuple[float, float]:
    names = list(details["longname"])
    if names != [s.name for s in ours]:
        raise RuntimeError(f"bench analysis: layer lists differ: ww {names[:3]}... vs ours "
                           f"{[s.name for s in ours][:3]}...")
    rel_alpha = max(abs(s.alpha - float(a)) / abs(float(a)) for s, a in zip(ours, details["alpha"]))
    keys = ("log_norm", "log_spectral_norm", "alpha_weighted")
    abs_norm = max(abs(getattr(s, k) - float(r[k]))
                   for s, (_, r) in zip(ours, details.iterrows()) for k in keys)
    return rel_alpha, abs_norm


def run(model_name: str, rounds: int, seed: int) -> dict[str, Any]:
    """Time both on ``model_name`` in interleaved rounds, check agreement on the last round; one row."""
    import dlzoo
    from dlzoo.analysis import weight_spectra

    torch.manual_seed(seed)
    model = dlzoo.create_model(model_name).eval()
    samples: dict[str, list[float]] = {"ww": [], "dlzoo": []}
    for _ in range(rounds):  # interleaved: one weightwatcher run, then one of ours, per round
        start = time.perf_counter()
        details = _weightwatcher(model)
        samples["ww"].append(time.perf_counter() - start)
        start = time.perf_counter()
        ours = weight_spectra(model)
        samples["dlzoo"].append(time.perf_counter() - start)
    rel_alpha, abs_norm = _agreement(details, ours)
    ww_s, ours_s = statistics.median(samples["ww"]), statistics.median(samples["dlzoo"])
    return {"model": model_name, "layers": len(ours), "num_evals": sum(s.num_evals for s in ours),
            "ww_s": ww_s, "dlzoo_s": ours_s, "ratio": ours_s / ww_s, "max_rel_alpha": rel_alpha,
            "max_abs_norm": abs_norm, "ww_samples": samples["ww"], "dlzoo_samples": samples["dlzoo"]}


def main(argv: list[str]) -> int:
    args = _parse(argv)
    if args.rounds < 1:
        raise UsageError("--rounds must be >= 1")
    if args.threads is not None and args.threads < 1:
        raise UsageError("--threads must be >= 1")
    if dry_run("analysis", args):
        return 0
    resolve_out(args)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    rows = []
    for name in args.models:
        row = run(name, args.rounds, args.seed)
        rows.append(row)
        print(f"{name}: weightwatcher {row['ww_s']:.2f} s, dlzoo {row['dlzoo_s']:.2f} s, "
              f"ratio {row['ratio']:.3f}; "
              f"max rel alpha diff {row['max_rel_alpha']:.1e}, max abs norm diff {row['max_abs_norm']:.1e}",
              flush=True)
    load_after = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    meta = environment("cpu", rounds=args.rounds, seed=args.seed, cpus=os.cpu_count(),
                       loadavg_1min=[load_before, load_after])
    notes = [f"Median wall time of one full analysis over {args.rounds} interleaved rounds (weightwatcher "
             "0.7.7 `WeightWatcher(model).analyze()` with its defaults vs `dlzoo.analysis.weight_spectra`), "
             f"same model and weights, random init (seed {args.seed}); ratio = dlzoo / weightwatcher.",
             "Agreement checked in the same run: largest relative alpha difference and largest absolute "
             "difference of log_norm / log_spectral_norm / alpha_weighted over all layers.",
             f"torch threads {torch.get_num_threads()}; weightwatcher runs its SVDs in SciPy (CPU); "
             f"{os.cpu_count()} CPUs, 1-min load average {load_before} before and {load_after} after "
             "(other jobs share the machine: both tools slow down alike within a round)."]
    md = write_results(Path(args.out) / f"analysis{args.suffix}", "Weight spectra: dlzoo vs weightwatcher",
                       COLUMNS, rows, meta, notes)
    print(md)
    return 0
