"""``create_loss(name, **kw)``: build any registered loss by name (a :class:`dlzoo.registry.Registry`).

Names are matched case-insensitively with ``-``/``_`` ignored and an optional trailing ``loss``, so
``"cross_entropy"``, ``"CrossEntropyLoss"`` and ``"cross-entropy"`` are the same entry. Configs are
JSON/YAML, so a name plus keyword arguments is always enough::

    create_loss("cross_entropy", label_smoothing=0.1)
    create_loss("focal", gamma=2.0)
    create_loss("anyloss_f1", L=73)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from ..registry import Registry

__all__ = ["LOSSES", "create_loss", "list_losses", "register_loss"]

LossBuilder = Callable[..., nn.Module]

LOSSES: Registry[LossBuilder] = Registry("loss")


def _key(name: str) -> str:
    key = name.lower().replace("-", "").replace("_", "").replace(" ", "")
    return key[: -len("loss")] if key.endswith("loss") and len(key) > len("loss") else key


def register_loss(name: str, **card: Any) -> Callable[[LossBuilder], LossBuilder]:
    """Decorator registering a loss class/builder under ``name`` (plus a card: paper, year, arxiv)."""
    return LOSSES.register(name, family="loss", **card)


def list_losses(pattern: str = "*") -> list[str]:
    """Registered loss names matching an fnmatch ``pattern``."""
    return LOSSES.names(pattern)


def create_loss(name: str, **kwargs: Any) -> nn.Module:
    """Instantiate the loss registered under ``name`` (see module docstring for matching rules)."""
    if not isinstance(name, str):
        raise TypeError(f"create_loss: name must be a string, got {type(name).__name__}")
    if name not in LOSSES:
        matches = [n for n in LOSSES.names() if _key(n) == _key(name)]
        if matches:
            name = matches[0]
    return LOSSES.get(name)(**kwargs)
