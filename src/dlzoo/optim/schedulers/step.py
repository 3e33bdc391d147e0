"""Step-wise and multiplicative learning-rate schedules (``torch.optim.lr_scheduler``-compatible).

Each scheduler updates ``group["lr"]`` *multiplicatively* from its current value (torch's chainable form,
so several schedulers can act on one optimizer), and also exposes the closed form it follows, used when
an explicit epoch is passed to ``step``. With base rate ``eta_0`` and epoch ``t``:

* StepLR:        eta_t = eta_0 * gamma^floor(t / step_size)
* MultiStepLR:   eta_t = eta_0 * gamma^|{m in milestones : m <= t}|
* ExponentialLR: eta_t = eta_0 * gamma^t
* LinearLR:      eta_t = eta_0 * (s + (e - s) * min(t, T) / T)    (s, e = start/end factor, T = total_iters)

References: step decay as in Krizhevsky et al. 2012 / He et al. 2016 (ResNet, lr / 10 at fixed epochs);
linear warmup as in Goyal et al. 2017, arXiv:1706.02677.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter
from collections.abc import Iterable

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

__all__ = ["StepLR", "MultiStepLR", "ExponentialLR", "LinearLR"]


def _current(sched: LRScheduler) -> list[float]:
    return [group["lr"] for group in sched.optimizer.param_groups]


class StepLR(LRScheduler):
    """Multiply every group's lr by ``gamma`` every ``step_size`` epochs."""

    def __init__(
        self, optimizer: Optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1
    ) -> None:
        if int(step_size) <= 0:
            raise ValueError(f"StepLR: step_size must be a positive integer, got {step_size}")
        self.step_size = int(step_size)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        t = self.last_epoch
        if t == 0 or t % self.step_size != 0:
            return _current(self)
        return [lr * self.gamma for lr in _current(self)]  # a boundary: eta <- gamma * eta

    def _get_closed_form_lr(self) -> list[float]:
        return [base * self.gamma ** (self.last_epoch // self.step_size) for base in self.base_lrs]


class MultiStepLR(LRScheduler):
    """Multiply every group's lr by ``gamma`` at each milestone (twice if a milestone is repeated)."""

    def __init__(
        self, optimizer: Optimizer, milestones: Iterable[int], gamma: float = 0.1, last_epoch: int = -1
    ) -> None:
        self.milestones = Counter(milestones)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        hits = self.milestones.get(self.last_epoch, 0)
        if hits == 0:
            return _current(self)
        return [lr * self.gamma**hits for lr in _current(self)]

    def _get_closed_form_lr(self) -> list[float]:
        passed = bisect_right(sorted(self.milestones.elements()), self.last_epoch)
        return [base * self.gamma**passed for base in self.base_lrs]


class ExponentialLR(LRScheduler):
    """Multiply every group's lr by ``gamma`` every epoch."""

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1) -> None:
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if getattr(self, "_is_initial", False):
            return _current(self)
        return [lr * self.gamma for lr in _current(self)]

    def _get_closed_form_lr(self) -> list[float]:
        return [base * self.gamma**self.last_epoch for base in self.base_lrs]


class LinearLR(LRScheduler):
    """Scale the lr linearly from ``start_factor`` to ``end_factor`` over ``total_iters`` epochs.

    Chainable form: going from epoch t-1 to t multiplies the lr by f(t) / f(t-1), where
    f(t) = s + (e - s) * t / T, i.e. by 1 + (e - s) / (T s + (t - 1)(e - s)).
    """

    def __init__(
        self,
        optimizer: Optimizer,
        start_factor: float = 1.0 / 3,
        end_factor: float = 1.0,
        total_iters: int = 5,
        last_epoch: int = -1,
    ) -> None:
        if not 0.0 < start_factor <= 1.0:
            raise ValueError(f"LinearLR: start_factor must be in (0, 1], got {start_factor}")
        if not 0.0 <= end_factor <= 1.0:
            raise ValueError(f"LinearLR: end_factor must be in [0, 1], got {end_factor}")
        self.start_factor = start_factor
        self.end_factor = end_factor
        self.total_iters = total_iters
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        t, s, e, n = self.last_epoch, self.start_factor, self.end_factor, self.total_iters
        if t == 0:
            return [lr * s for lr in _current(self)]
        if getattr(self, "_is_initial", False) or t > n:
            return _current(self)
        ratio = 1.0 + (e - s) / (n * s + (t - 1) * (e - s))  # f(t) / f(t - 1)
        return [lr * ratio for lr in _current(self)]

    def _get_closed_form_lr(self) -> list[float]:
        s, e, n = self.start_factor, self.end_factor, self.total_iters
        return [base * (s + (e - s) * min(n, self.last_epoch) / n) for base in self.base_lrs]
