"""By-name optimizer factory for configs: ``create_optimizer("adamw", model.parameters(), lr=1e-3)``."""

from __future__ import annotations

import inspect
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
    timm's ``create_optimizer_v2``, an ``nn.Module`` may be passed instead: when the weight decay (the
    ``weight_decay`` given, else the optimizer's default, e.g. AdamW's 0.01) is > 0, its parameters are
    split with :func:`weight_decay_groups`: no decay on biases and other 1-d parameters (norm weights) nor
    on the names the model's ``no_weight_decay()`` returns (timm's convention, e.g. ViT's ``pos_embed``).

    Raises:
        ValueError: unknown name (the message lists the valid names) or invalid hyper-parameters.
    """
    key = str(name).strip().lower()
    if key not in OPTIMIZERS:
        valid = ", ".join(OPTIMIZERS.names())
        raise ValueError(f"create_optimizer: unknown optimizer {name!r}; valid names: {valid}")
    cls = OPTIMIZERS.get(key)
    if isinstance(params, nn.Module):
        module = params
        wd = kwargs.get("weight_decay", _default_weight_decay(cls))
        trainable = [p for p in module.parameters() if p.requires_grad]
        params = weight_decay_groups(module, wd) if wd else trainable
    try:
        return cls(params, **kwargs)
    except TypeError as err:
        raise ValueError(f"create_optimizer({name!r}): bad arguments {sorted(kwargs)}: {err}") from err


def _default_weight_decay(cls: type) -> float:
    """The ``weight_decay`` default of ``cls`` (0 if it takes none: Rprop, LBFGS)."""
    param = inspect.signature(cls.__init__).parameters.get("weight_decay")
    return 0.0 if param is None or param.default is inspect.Parameter.empty else param.default
