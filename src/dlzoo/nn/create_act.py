"""The one activation registry: every ``act_layer=`` string in dlzoo resolves here to a dlzoo class.

Models, :class:`~dlzoo.nn.Mlp`, :class:`~dlzoo.nn.SqueezeExcite` and configs name activations by string;
resolving them all through :data:`ACTIVATIONS` means ``dlzoo.reference_mode()`` reaches every
activation of every model (they are dlzoo's own layers, not ``torch.nn``'s). Names are matched with
:func:`dlzoo.registry.canonical_name` (case, ``-`` and ``_`` ignored: ``"GELU"``, ``"leaky_relu"``).

    get_act_layer("gelu")          # -> dlzoo.nn.GELU (a class, called per layer)
    get_act_layer("gelu_tanh")()   # -> GELU(approximate="tanh")
    create_act("silu")             # -> SiLU()
    get_act_layer(torch.nn.ReLU)   # classes and factories pass through unchanged
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from torch import nn

from ..registry import Registry
from .activations import (
    GELU,
    GLU,
    Hardsigmoid,
    Hardswish,
    LeakyReLU,
    Mish,
    QuickGELU,
    ReLU,
    ReLU6,
    Sigmoid,
    SiLU,
    Tanh,
)
from .linear import Identity

__all__ = ["ACTIVATIONS", "ActSpec", "get_act_layer", "create_act"]

ActSpec = str | Callable[..., nn.Module] | None

ACTIVATIONS: Registry[Callable[..., nn.Module]] = Registry("activation", loose_names=True)

for _name, _factory, _paper, _year, _arxiv in (
    ("relu", ReLU, "Rectified Linear Units Improve Restricted Boltzmann Machines", 2010, "ICML 2010"),
    ("relu6", ReLU6, "Convolutional Deep Belief Networks on CIFAR-10", 2010, "Krizhevsky 2010"),
    ("leaky_relu", LeakyReLU, "Rectifier Nonlinearities Improve Neural Network Acoustic Models", 2013,
     "ICML 2013"),
    ("gelu", GELU, "Gaussian Error Linear Units (GELUs)", 2016, "1606.08415"),
    ("gelu_tanh", functools.partial(GELU, approximate="tanh"), "Gaussian Error Linear Units (GELUs)", 2016,
     "1606.08415"),
    ("quick_gelu", QuickGELU, "Gaussian Error Linear Units (GELUs)", 2016, "1606.08415"),
    ("silu", SiLU, "Sigmoid-Weighted Linear Units for Neural Network Function Approximation", 2017,
     "1702.03118"),
    ("swish", SiLU, "Searching for Activation Functions", 2017, "1710.05941"),
    ("hardswish", Hardswish, "Searching for MobileNetV3", 2019, "1905.02244"),
    ("hardsigmoid", Hardsigmoid, "Searching for MobileNetV3", 2019, "1905.02244"),
    ("sigmoid", Sigmoid, "", None, ""),
    ("tanh", Tanh, "", None, ""),
    ("identity", Identity, "", None, ""),
    ("mish", Mish, "Mish: A Self Regularized Non-Monotonic Activation Function", 2019, "1908.08681"),
    ("glu", GLU, "Language Modeling with Gated Convolutional Networks", 2016, "1612.08083"),
):
    ACTIVATIONS.add(_name, _factory, family="activation", paper=_paper, year=_year, arxiv=_arxiv)


def get_act_layer(spec: ActSpec) -> Callable[..., nn.Module] | None:
    """Resolve ``spec`` to a layer factory: a registered name -> dlzoo's class (or partial);
    ``"none"`` -> :class:`Identity`; a class or callable passes through; ``None`` stays ``None``."""
    if spec is None:
        return None
    if isinstance(spec, str):
        return Identity if spec.lower() == "none" else ACTIVATIONS.get(spec)
    if callable(spec):
        return spec
    raise TypeError(f"act_layer must be a name, a class or a callable, got {type(spec).__name__} {spec!r}")


def create_act(spec: ActSpec, **kwargs: Any) -> nn.Module:
    """One activation module from ``spec`` (see :func:`get_act_layer`); ``None`` gives :class:`Identity`."""
    factory = get_act_layer(spec)
    return Identity() if factory is None else factory(**kwargs)
