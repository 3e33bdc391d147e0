"""Timing helpers for benchmarks: medians of interleaved repeats (this machine is shared and noisy).

Each candidate is timed in turn inside every round, so slow drifts in machine load hit all candidates
alike; the reported figure is the median over rounds. Ratios are taken against a reference measured in
the same run, never against a number recorded elsewhere.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch

__all__ = ["time_interleaved", "synchronize"]


def synchronize(device: torch.device | str | None = None) -> None:
    """Wait for queued GPU work (no-op on CPU)."""
    if torch.cuda.is_available() and (device is None or torch.device(device).type == "cuda"):
        torch.cuda.synchronize()


def time_interleaved(
    candidates: dict[str, Callable[[], object]],
    rounds: int = 15,
    inner: int = 5,
    warmup: int = 3,
    device: torch.device | str | None = None,
) -> dict[str, float]:
    """Median seconds per call for each candidate, over ``rounds`` interleaved rounds.

    Args:
        candidates: name -> zero-argument callable doing one unit of work.
        rounds: interleaved rounds; the median over rounds is reported.
        inner: calls per round per candidate (averaged inside the round).
        warmup: untimed calls per candidate before timing (compilation, caches).

    Under :func:`dlzoo.dryrun.planning` (an experiment's ``--dry-run``) nothing is timed: it stops there.
    """
    from ..dryrun import is_planning, stop_with_plan

    if is_planning():
        stop_with_plan([], note=f"stopped before its first timing ({', '.join(candidates)}; {rounds} rounds "
                       f"x {inner} calls); the measurements that follow are not listed")
    for fn in candidates.values():
        for _ in range(warmup):
            fn()
    synchronize(device)
    samples: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(rounds):
        for name, fn in candidates.items():
            synchronize(device)
            start = time.perf_counter()
            for _ in range(inner):
                fn()
            synchronize(device)
            samples[name].append((time.perf_counter() - start) / inner)
    return {name: statistics.median(values) for name, values in samples.items()}
