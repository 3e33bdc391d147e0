"""``--dry-run``: an experiment plans its jobs exactly as a real run does, then stops before training.

``dlzoo experiment run NAME ... --dry-run`` calls the experiment's own ``run(cfg, out_dir)`` inside
:func:`planning`, on a temporary ``out_dir``. Everything a real run checks before training (the config,
every trainer config of its jobs) is checked by the same code; the first call that would start training or
timing, :func:`dlzoo.experiments.runner.run_jobs`, a :class:`dlzoo.train.trainer.Trainer` or
:func:`dlzoo.bench.timing.time_interleaved`, calls
:func:`stop_with_plan` instead, which raises :class:`DryRunStop` carrying the :class:`Plan` (the jobs,
workers and threads). The CLI prints that plan and deletes the temporary directory, so nothing is written.

:class:`DryRunStop` derives from ``BaseException`` so an experiment's ``except Exception`` (a failed run is
a result to report) does not swallow it.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn

__all__ = ["Plan", "DryRunStop", "planning", "is_planning", "stop_with_plan"]

_ACTIVE: contextvars.ContextVar[bool] = contextvars.ContextVar("dlzoo_dry_run", default=False)


@dataclass
class Plan:
    """What a run would do: its jobs (dicts with ``label``, ``seed``, ``epochs``, ``run_dir``, ...)."""

    jobs: list[dict[str, Any]] = field(default_factory=list)
    workers: int = 1
    threads: int = 1
    note: str = ""  # what stopped it when that was not a training job (e.g. a benchmark's first timing)


class DryRunStop(BaseException):
    """Raised where training would start during :func:`planning`; ``.plan`` holds what would run."""

    def __init__(self, plan: Plan) -> None:
        super().__init__(f"dry run: {len(plan.jobs)} job(s) planned")
        self.plan = plan


@contextlib.contextmanager
def planning() -> Iterator[None]:
    """While active, :func:`is_planning` is true and training entry points stop with their plan."""
    token = _ACTIVE.set(True)
    try:
        yield
    finally:
        _ACTIVE.reset(token)


def is_planning() -> bool:
    """Whether a dry run is being planned in this context."""
    return _ACTIVE.get()


def stop_with_plan(
    jobs: Sequence[dict[str, Any]], workers: int = 1, threads: int = 1, note: str = ""
) -> NoReturn:
    """Raise :class:`DryRunStop` with the jobs that would run now (and a ``note`` on where it stopped)."""
    raise DryRunStop(Plan([dict(j) for j in jobs], int(workers), int(threads), note))
