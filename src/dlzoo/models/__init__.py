"""The model zoo: every family registers its builders in :data:`MODELS` on import.

Builders take keyword overrides (``num_classes``, ``in_chans``, ``img_size``, ``norm_layer``, ...)
and return an ``nn.Module``. :func:`create_model` records the name and overrides on the model as
``model.dlzoo_config`` so :func:`dlzoo.save_pretrained` can rebuild it later.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from ..registry import Card, Registry

__all__ = ["MODELS", "register_model", "create_model", "list_models", "model_info"]

MODELS: Registry = Registry("model")


def register_model(name: str | None = None, **card: Any):
    """Decorator: register a model builder with its card (paper, year, reference_params, ...)."""
    return MODELS.register(name, **card)


def create_model(name: str, **overrides: Any) -> nn.Module:
    """Build the registered model ``name`` with keyword ``overrides`` (e.g. ``num_classes=10``)."""
    _import_families()
    model = MODELS.get(name)(**overrides)
    model.dlzoo_config = {"name": name, "kwargs": dict(overrides)}
    return model


def list_models(pattern: str = "*") -> list[str]:
    """Registered model names matching an fnmatch ``pattern``, sorted."""
    _import_families()
    return MODELS.names(pattern)


def model_info(name: str) -> Card:
    """The card of a registered model: paper, year, family, input size, reference parameter count."""
    _import_families()
    return MODELS.card(name)


def _import_families() -> None:
    """Import every family module once so their ``@register_model`` decorators run."""
    from . import families  # noqa: F401
