"""By-name optimizer factory for configs: ``create_optimizer("adamw", model.parameters(), lr=1e-3)``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from torch import nn
from torch.optim import Optimizer

from ..registry import Registry
from .param_groups import weight_decay_groups

__all__ = ["OPTIMIZERS", "create_optimizer"]

OPTIMIZERS: Registry = Registry("optimizer")


def create_optimizer(name: str, params: Iterable[Any] | nn.Module, **kwargs: Any) -> Optimizer:
    """Build the optimizer registered as ``name`` (case-insensitive: "adamw", "SGD", "lion", ...).

    ``params`` is what ``torch.optim`` takes (tensors, param-group dicts or (name, tensor) pairs). As in
    timm's ``create_optimizer_v2``, an ``nn.Module`` may be passed instead: its parameters are then split
    with :func:`weight_decay_groups` (no decay on biases and 1-d params) when ``weight_decay`` > 0.

    Raises:
        ValueError: unknown name (the message lists the valid names) or invalid hyper-parameters.
    """
    key = str(name).strip().lower()
    if key not in OPTIMIZERS:
        valid = ", ".join(OPTIMIZERS.names())
        raise ValueError(f"create_optimizer: unknown optimizer {name!r}; valid names: {valid}")
    cls = OPTIMIZERS.get(key)
    if isinstance(params, nn.Module):
        wd = float(kwargs.get("weight_decay", 0.0) or 0.0)
        module = params
        trainable = [p for p in module.parameters() if p.requires_grad]
        params = weight_decay_groups(module, wd) if wd > 0 else trainable
    try:
        return cls(params, **kwargs)
    except TypeError as err:
        raise ValueError(f"create_optimizer({name!r}): bad arguments {sorted(kwargs)}: {err}") from err
