"""By-name scheduler factory for configs:
``create_scheduler("warmup_cosine", opt, warmup_steps=100, total_steps=1000)``."""

from __future__ import annotations

from typing import Any

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

from ...registry import Registry

__all__ = ["SCHEDULERS", "create_scheduler"]

SCHEDULERS: Registry = Registry("scheduler")

_ALIASES = {
    "constant": "none",
    "cosine_annealing": "cosine",
    "steplr": "step",
    "multisteplr": "multistep",
    "exponentiallr": "exponential",
    "cosineannealinglr": "cosine",
    "onecyclelr": "onecycle",
    "reducelronplateau": "plateau",
    "linearlr": "linear",
    "sequentiallr": "sequential",
    "cosineannealingwarmrestarts": "cosine_restarts",
    "sgdr": "cosine_restarts",
    "warmupcosine": "warmup_cosine",
    "warmupcosinelr": "warmup_cosine",
}


def create_scheduler(name: str | None, optimizer: Optimizer, **kwargs: Any) -> LRScheduler:
    """Build the scheduler registered as ``name`` (case-insensitive; ``None``/"none" = constant lr).

    Registered names and their arguments (torch's names where torch has the scheduler):
    ``warmup_cosine(warmup_steps, total_steps, min_lr_ratio=0.0)``, ``cosine(T_max, eta_min=0)``,
    ``cosine_restarts(T_0, T_mult=1, eta_min=0)``, ``step(step_size, gamma=0.1)``,
    ``multistep(milestones, gamma=0.1)``, ``exponential(gamma)``,
    ``linear(start_factor, end_factor, total_iters)``,
    ``onecycle(max_lr, total_steps, ...)``, ``plateau(mode="min", factor=0.1, patience=10, ...)``, ``none``.

    Raises:
        ValueError: unknown name (the message lists the valid ones) or bad arguments.
    """
    key = "none" if name is None else str(name).strip().lower().replace("-", "_")
    key = _ALIASES.get(key, key)
    if key not in SCHEDULERS:
        valid = ", ".join(SCHEDULERS.names())
        raise ValueError(f"create_scheduler: unknown scheduler {name!r}; valid names: {valid}")
    try:
        return SCHEDULERS.get(key)(optimizer, **kwargs)
    except TypeError as err:
        raise ValueError(f"create_scheduler({name!r}): bad arguments {sorted(kwargs)}: {err}") from err
