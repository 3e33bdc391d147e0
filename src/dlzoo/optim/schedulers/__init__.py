"""Learning-rate schedules (``torch.optim.lr_scheduler``-compatible), written from their equations.

Each scheduler subclasses ``torch.optim.lr_scheduler.LRScheduler`` for the bookkeeping (``last_epoch``,
``base_lrs``, ``state_dict``); the schedule math in ``get_lr`` is dlzoo's.
"""

from __future__ import annotations

from .cosine import CosineAnnealingLR, CosineAnnealingWarmRestarts
from .factory import SCHEDULERS, create_scheduler
from .onecycle import OneCycleLR
from .plateau import ReduceLROnPlateau
from .sequential import SequentialLR
from .step import ExponentialLR, LinearLR, MultiStepLR, StepLR
from .warmup import ConstantSchedule, WarmupCosineLR, warmup_cosine

for _name, _cls in (
    ("warmup_cosine", WarmupCosineLR),
    ("none", ConstantSchedule),
    ("cosine", CosineAnnealingLR),
    ("cosine_restarts", CosineAnnealingWarmRestarts),
    ("step", StepLR),
    ("multistep", MultiStepLR),
    ("exponential", ExponentialLR),
    ("linear", LinearLR),
    ("onecycle", OneCycleLR),
    ("plateau", ReduceLROnPlateau),
    ("sequential", SequentialLR),
):
    SCHEDULERS.add(_name, _cls)

__all__ = [
    "SCHEDULERS",
    "create_scheduler",
    "ConstantSchedule",
    "WarmupCosineLR",
    "warmup_cosine",
    "StepLR",
    "MultiStepLR",
    "ExponentialLR",
    "LinearLR",
    "CosineAnnealingLR",
    "CosineAnnealingWarmRestarts",
    "OneCycleLR",
    "ReduceLROnPlateau",
    "SequentialLR",
]
