"""Per-batch warmup + cosine schedule, and a constant schedule.

Linear warmup: Goyal et al., "Accurate, Large Minibatch SGD: Training ImageNet in 1 Hour", 2017,
arXiv:1706.02677. Cosine decay: Loshchilov & Hutter, "SGDR: Stochastic Gradient Descent with Warm
Restarts", 2016, arXiv:1608.03983 (Eq. 5, single cycle). For step ``t`` (counted in batches, t = 0 before
the first optimizer step), warmup ``W`` and total ``T`` steps, ``r = min_lr_ratio``::

    lr(t) = base_lr * t / W                                                     t < W
    lr(t) = base_lr * (r + (1 - r) * 0.5 * (1 + cos(pi * (t - W) / (T - W))))   W <= t <= T
    lr(t) = base_lr * r                                                          t > T

This is the schedule of Hugging Face's ``get_cosine_schedule_with_warmup`` (``r = 0``) and
``get_cosine_with_min_lr_schedule_with_warmup`` (``min_lr_rate = r``), held at the floor after ``T``.
"""

from __future__ import annotations

import math

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

__all__ = ["WarmupCosineLR", "warmup_cosine", "ConstantSchedule"]


class WarmupCosineLR(LRScheduler):
    """Linear warmup from 0 to each group's base lr over ``warmup_steps``, then cosine to ``min_lr_ratio``."""

    def __init__(
        self,
        optimizer: Optimizer,
        warmup_steps: int,
        total_steps: int,
        min_lr_ratio: float = 0.0,
        last_epoch: int = -1,
    ) -> None:
        if warmup_steps < 0 or total_steps <= 0 or warmup_steps > total_steps:
            raise ValueError(
                f"WarmupCosineLR: need 0 <= warmup_steps <= total_steps and total_steps > 0, "
                f"got warmup_steps={warmup_steps}, total_steps={total_steps}"
            )
        if not 0.0 <= min_lr_ratio <= 1.0:
            raise ValueError(f"WarmupCosineLR: min_lr_ratio must be in [0, 1], got {min_lr_ratio}")
        self.warmup_steps = int(warmup_steps)
        self.total_steps = int(total_steps)
        self.min_lr_ratio = float(min_lr_ratio)
        super().__init__(optimizer, last_epoch)

    def factor(self, t: int) -> float:
        """Multiplier of the base lr at step ``t`` (the equation in the module docstring)."""
        if t < self.warmup_steps:
            return t / self.warmup_steps
        span = self.total_steps - self.warmup_steps
        progress = min(1.0, (t - self.warmup_steps) / span) if span > 0 else 1.0
        r = self.min_lr_ratio
        return r + (1.0 - r) * 0.5 * (1.0 + math.cos(math.pi * progress))

    def get_lr(self) -> list[float]:
        f = self.factor(self.last_epoch)
        return [base_lr * f for base_lr in self.base_lrs]


def warmup_cosine(
    optimizer: Optimizer, warmup_steps: int, total_steps: int, min_lr_ratio: float = 0.0
) -> WarmupCosineLR:
    """Linear warmup then cosine decay, stepped once per batch; see :class:`WarmupCosineLR`."""
    return WarmupCosineLR(optimizer, warmup_steps, total_steps, min_lr_ratio)


class ConstantSchedule(LRScheduler):
    """Keeps every group's lr at its base value (``create_scheduler("none", ...)``), so a trainer can
    always call ``step()``/``state_dict()``. (Not torch's ``ConstantLR``, which scales by a factor.)"""

    def get_lr(self) -> list[float]:
        return list(self.base_lrs)
