"""Cosine annealing: Loshchilov & Hutter, "SGDR: Stochastic Gradient Descent with Warm Restarts", ICLR 2017,
arXiv:1608.03983, Eq. (5)::

    eta_t = eta_min + (eta_max - eta_min) * (1 + cos(pi * T_cur / T_i)) / 2

``CosineAnnealingLR`` is one half-period of length ``T_max`` (continuing periodically past it, like torch);
``CosineAnnealingWarmRestarts`` restarts with ``T_cur = 0`` after ``T_i`` epochs and grows
``T_i <- T_i * T_mult`` at each restart.
"""

from __future__ import annotations

import math

from torch import Tensor
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

__all__ = ["CosineAnnealingLR", "CosineAnnealingWarmRestarts"]


def _cosine(eta_min: float, eta_max: float, t: float, period: float) -> float:
    return eta_min + (eta_max - eta_min) * (1.0 + math.cos(math.pi * t / period)) / 2.0


class CosineAnnealingLR(LRScheduler):
    """Cosine annealing from each group's base lr to ``eta_min`` over ``T_max`` epochs.

    The lr is updated in the chainable form (from the current ``group["lr"]``):
    ``eta_t - eta_min = (eta_{t-1} - eta_min) * (1 + cos(pi t / T)) / (1 + cos(pi (t - 1) / T))``;
    where the denominator vanishes (t - 1 = T, 3T, ...) the additive step
    ``eta_t = eta_{t-1} + (eta_0 - eta_min)(1 - cos(pi / T)) / 2`` is used instead.
    """

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0, last_epoch: int = -1) -> None:
        if T_max <= 0:
            raise ValueError(f"CosineAnnealingLR: T_max must be positive, got {T_max}")
        self.T_max = T_max
        self.eta_min = eta_min
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        t, T, eta_min = self.last_epoch, self.T_max, self.eta_min
        current = [group["lr"] for group in self.optimizer.param_groups]
        if getattr(self, "_is_initial", False):
            return current
        if self._step_count == 1 and t > 0:  # resumed with last_epoch > 0: closed form
            return self._get_closed_form_lr()
        if (t - 1 - T) % (2 * T) == 0:  # leaving the trough: additive step
            return [
                lr + (base - eta_min) * (1.0 - math.cos(math.pi / T)) / 2.0
                for lr, base in zip(current, self.base_lrs)
            ]
        ratio = (1.0 + math.cos(math.pi * t / T)) / (1.0 + math.cos(math.pi * (t - 1) / T))
        return [ratio * (lr - eta_min) + eta_min for lr in current]

    def _get_closed_form_lr(self) -> list[float]:
        return [_cosine(self.eta_min, base, self.last_epoch, self.T_max) for base in self.base_lrs]


class CosineAnnealingWarmRestarts(LRScheduler):
    """SGDR: cosine annealing restarted every ``T_i`` epochs, ``T_0`` first, then ``T_i *= T_mult``.

    ``step(epoch)`` accepts fractional epochs (call it per batch with ``epoch + i / iters``), as in torch.
    """

    def __init__(
        self, optimizer: Optimizer, T_0: int, T_mult: int = 1, eta_min: float = 0.0, last_epoch: int = -1
    ) -> None:
        if not isinstance(T_0, int) or T_0 <= 0:
            raise ValueError(f"CosineAnnealingWarmRestarts: expected a positive integer T_0, got {T_0}")
        if not isinstance(T_mult, int) or T_mult < 1:
            raise ValueError(f"CosineAnnealingWarmRestarts: expected an integer T_mult >= 1, got {T_mult}")
        self.T_0 = T_0
        self.T_i = T_0
        self.T_mult = T_mult
        self.eta_min = eta_min
        self.T_cur = last_epoch
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        return [_cosine(self.eta_min, base, self.T_cur, self.T_i) for base in self.base_lrs]

    def step(self, epoch: float | None = None) -> None:  # type: ignore[override]
        if epoch is None and self.last_epoch < 0:
            epoch = 0
        if epoch is None:
            epoch = self.last_epoch + 1
            self.T_cur = self.T_cur + 1
            if self.T_cur >= self.T_i:  # restart
                self.T_cur = self.T_cur % self.T_i
                self.T_i = self.T_i * self.T_mult
        elif epoch < 0:
            raise ValueError(f"CosineAnnealingWarmRestarts: expected a non-negative epoch, got {epoch}")
        elif epoch < self.T_0:
            self.T_i, self.T_cur = self.T_0, epoch
        elif self.T_mult == 1:
            self.T_cur = epoch % self.T_0
        else:
            # cycles completed before `epoch`: T_0 (1 + m + ... + m^(n-1)) <= epoch  =>  n = floor(log_m(...))
            n = int(math.log(epoch / self.T_0 * (self.T_mult - 1) + 1, self.T_mult))
            self.T_cur = epoch - self.T_0 * (self.T_mult**n - 1) / (self.T_mult - 1)
            self.T_i = self.T_0 * self.T_mult**n
        self.last_epoch = math.floor(epoch)
        self._step_count = getattr(self, "_step_count", 0) + 1
        for group, lr in zip(self.optimizer.param_groups, self.get_lr()):
            if isinstance(group["lr"], Tensor):
                group["lr"].fill_(lr)
            else:
                group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]
