"""Learning-rate schedules (``torch.optim.lr_scheduler``-compatible), written from their equations.

Each scheduler subclasses ``torch.optim.lr_scheduler.LRScheduler`` for the bookkeeping (``last_epoch``,
``base_lrs``, ``state_dict``); the schedule math in ``get_lr`` is dlzoo's.
"""

from __future__ import annotations

from .factory import SCHEDULERS, create_scheduler
from .warmup import ConstantSchedule, WarmupCosineLR, warmup_cosine

SCHEDULERS.add("warmup_cosine", WarmupCosineLR, paper="Accurate, Large Minibatch SGD + SGDR", year=2017)
SCHEDULERS.add("none", ConstantSchedule)

__all__ = ["SCHEDULERS", "create_scheduler", "ConstantSchedule", "WarmupCosineLR", "warmup_cosine"]
