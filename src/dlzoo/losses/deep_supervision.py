"""Deep supervision: a weighted sum of the losses of auxiliary heads, weights scheduled over training.

Lee, Xie, Gallagher, Zhang, Tu, "Deeply-Supervised Nets", AISTATS 2015, arXiv:1409.5185 (companion losses
whose weight decays during training); the schedules are those of the dl_techniques library's deep
supervision utility. ``outputs[0]`` is the final (deepest) head, ``outputs[1:]`` the auxiliary heads from
deep to shallow. With training progress ``t in [0, 1]`` and ``n`` heads the weights are

* ``"constant"`` -- ``weights`` as given (default equal), normalised to sum 1;
* ``"linear_low_to_high"`` -- ``(1 - t) * uniform + t * e_0``: all heads at the start, the final head only at
  the end;
* ``"cosine"`` -- the same with ``s = (1 - cos(pi t)) / 2`` in place of ``t``;
* ``"step"`` -- uniform while ``t < step_at``, then ``e_0`` (auxiliary heads switched off).

``loss = sum_i w_i(t) criterion(outputs[i], targets[i])`` (one target shared by all heads, or one per head,
e.g. segmentation masks at each head's resolution).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

__all__ = ["DeepSupervisionLoss", "SCHEDULES"]

SCHEDULES = ("constant", "linear_low_to_high", "cosine", "step")


class DeepSupervisionLoss(nn.Module):
    """``forward(outputs, target, progress=None)`` (see module docstring); ``progress`` defaults to the
    value set by :meth:`set_progress` (0 at construction)."""

    def __init__(self, criterion: Callable[[Tensor, Tensor], Tensor], num_outputs: int,
                 schedule: str = "linear_low_to_high", weights: Sequence[float] | None = None,
                 step_at: float = 0.5) -> None:
        super().__init__()
        if schedule not in SCHEDULES:
            raise ValueError(f"DeepSupervisionLoss: schedule must be one of {SCHEDULES}, got {schedule!r}")
        if isinstance(num_outputs, bool) or not isinstance(num_outputs, int) or num_outputs < 1:
            raise ValueError(f"DeepSupervisionLoss: num_outputs must be an int >= 1, got {num_outputs!r}")
        if weights is not None and (len(weights) != num_outputs or min(weights) < 0 or sum(weights) <= 0):
            raise ValueError(f"DeepSupervisionLoss: weights must be {num_outputs} non-negative numbers "
                             f"with a positive sum, got {weights}")
        self.criterion, self.num_outputs = criterion, num_outputs
        self.schedule, self.step_at = schedule, step_at
        self.base = list(weights) if weights is not None else [1.0] * num_outputs
        self.progress = 0.0

    def set_progress(self, progress: float) -> None:
        self.progress = self._check_progress(progress)

    @staticmethod
    def _check_progress(progress: float) -> float:
        if not 0.0 <= progress <= 1.0:
            raise ValueError(f"DeepSupervisionLoss: progress must be in [0, 1], got {progress}")
        return float(progress)

    def weights(self, progress: float | None = None) -> Tensor:
        """The ``n`` head weights at ``progress`` (sum 1)."""
        t = self.progress if progress is None else self._check_progress(progress)
        n = self.num_outputs
        base = torch.tensor(self.base, dtype=torch.float64)
        base = base / base.sum()
        final = torch.zeros(n, dtype=torch.float64)
        final[0] = 1.0
        if self.schedule == "constant":
            return base
        if self.schedule == "step":
            return base if t < self.step_at else final
        s = t if self.schedule == "linear_low_to_high" else (1.0 - math.cos(math.pi * t)) / 2.0
        return (1.0 - s) * base + s * final

    def forward(self, outputs: Sequence[Tensor], target: Tensor | Sequence[Tensor],
                progress: float | None = None) -> Tensor:
        if len(outputs) != self.num_outputs:
            raise ValueError(f"DeepSupervisionLoss: expected {self.num_outputs} outputs, got {len(outputs)}")
        targets = list(target) if isinstance(target, (list, tuple)) else [target] * self.num_outputs
        if len(targets) != self.num_outputs:
            raise ValueError(f"DeepSupervisionLoss: expected 1 or {self.num_outputs} targets, "
                             f"got {len(targets)}")
        w = self.weights(progress)
        total = outputs[0].new_zeros(())
        for i, (out, tgt) in enumerate(zip(outputs, targets)):
            if float(w[i]) > 0:
                total = total + float(w[i]) * self.criterion(out, tgt)
        return total

    def extra_repr(self) -> str:
        return f"num_outputs={self.num_outputs}, schedule={self.schedule!r}, progress={self.progress}"
