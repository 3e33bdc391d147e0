"""Run schedulers one after another (``torch.optim.lr_scheduler.SequentialLR``-compatible).

With milestones m_1 < m_2 < ..., scheduler k drives the lr for epochs in [m_k, m_{k+1}); at each milestone
the next scheduler restarts from its own epoch 0 (its closed form at t = 0, e.g. ``LinearLR`` warmup then
``CosineAnnealingLR`` decay).
"""

from __future__ import annotations

from bisect import bisect_right
from typing import Any

from torch import Tensor
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

from .plateau import ReduceLROnPlateau

__all__ = ["SequentialLR"]


class SequentialLR(LRScheduler):
    """Switch from ``schedulers[k]`` to ``schedulers[k + 1]`` at ``milestones[k]``."""

    def __init__(
        self, optimizer: Optimizer, schedulers: list[LRScheduler], milestones: list[int], last_epoch: int = -1
    ) -> None:
        if len(schedulers) < 1:
            raise ValueError("SequentialLR: expected at least one scheduler")
        for i, sched in enumerate(schedulers):
            if isinstance(sched, ReduceLROnPlateau) or type(sched).__name__ == "ReduceLROnPlateau":
                raise ValueError(f"SequentialLR: scheduler {i} is a ReduceLROnPlateau, which needs a metric")
            if getattr(sched, "optimizer", None) is not optimizer:
                raise ValueError(
                    f"SequentialLR: scheduler {i} ({type(sched).__name__}) belongs to another optimizer"
                )
        if len(milestones) != len(schedulers) - 1:
            raise ValueError(
                f"SequentialLR: expected {len(schedulers) - 1} milestones for {len(schedulers)} "
                f"schedulers, got {len(milestones)}"
            )
        self._schedulers = schedulers
        self._milestones = list(milestones)
        self.last_epoch = last_epoch + 1
        self.optimizer = optimizer
        # constructing the sub-schedulers stepped each once: undo that and restart the first one
        for group in optimizer.param_groups:
            group["lr"] = group["initial_lr"]
        self._undo_construction_step(self)
        first = self._schedulers[bisect_right(self._milestones, 0)]
        first._initial_step()
        self._last_lr = first.get_last_lr()

    def _undo_construction_step(self, sched: Any) -> None:
        if hasattr(sched, "_schedulers"):
            for sub in sched._schedulers:
                self._undo_construction_step(sub)
        elif hasattr(sched, "last_epoch"):
            sched.last_epoch -= 1

    def step(self) -> None:  # type: ignore[override]
        self.last_epoch += 1
        k = bisect_right(self._milestones, self.last_epoch)
        sched = self._schedulers[k]
        if k > 0 and self._milestones[k - 1] == self.last_epoch:
            _restart(sched)
        else:
            sched.step()
        self._last_lr = sched.get_last_lr()

    def get_lr(self) -> list[float]:
        return list(self._last_lr)

    def state_dict(self) -> dict[str, Any]:
        state = {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "_schedulers")}
        state["_schedulers"] = [s.state_dict() for s in self._schedulers]
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        state = dict(state_dict)
        subs = state.pop("_schedulers")
        self.__dict__.update(state)
        for sched, sub in zip(self._schedulers, subs):
            sched.load_state_dict(sub)


def _restart(sched: LRScheduler) -> None:
    """Put ``sched`` at its epoch 0 and set the lr from its closed form there."""
    sched.last_epoch = 0
    closed = getattr(sched, "_get_closed_form_lr", None)
    values = closed() if closed is not None else sched.get_lr()
    for group, lr in zip(sched.optimizer.param_groups, values):
        if isinstance(group["lr"], Tensor):
            group["lr"].fill_(lr)
        else:
            group["lr"] = lr
    sched._last_lr = [group["lr"] for group in sched.optimizer.param_groups]
