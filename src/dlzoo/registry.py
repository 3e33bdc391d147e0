"""One generic name -> builder registry, used by every family (models, norms, optimizers, experiments).

Modelled on timm's ``register_model``: a decorator records a builder under a name together with a
*card* of metadata, and lookups support fnmatch patterns and close-match suggestions on typos.

Registries of layer kinds that configs name by string (norms, activations) are created with
``loose_names=True``: lookups then go through :func:`canonical_name`, the one name normaliser of the
library, so ``"batch-norm"``, ``"BatchNorm"`` and ``"batch_norm"`` all find ``"batchnorm"``.
"""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

T = TypeVar("T", bound=Callable[..., Any])


def canonical_name(name: str) -> str:
    """Lower-case ``name`` with ``-``, ``_`` and spaces removed: ``"Layer_Norm"`` -> ``"layernorm"``."""
    return name.lower().replace("-", "").replace("_", "").replace(" ", "")


class UnknownNameError(KeyError, ValueError):
    """A name no registry entry matches. A ``KeyError`` (lookup) and a ``ValueError`` (bad config value),
    whose message prints without KeyError's quotes."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


@dataclass(frozen=True)
class Card:
    """Metadata for a registered entry.

    Attributes:
        name: registry name (timm's where timm has the model).
        family: group name, e.g. ``"vit"``, ``"resnet"``, ``"norm"``.
        paper: title of the paper the component comes from.
        year: publication year.
        arxiv: arXiv id or venue.
        input_size: default input size ``(C, H, W)`` for image models, ``(T,)`` for sequence models.
        reference_params: published parameter count the default configuration must reproduce.
        source: where ``reference_params`` comes from (torchvision docs, timm, HF, paper).
        task: what the model's outputs mean, and so which contract it meets: ``"classification"``
            (timm's classifier API), ``"segmentation"`` (dense logits per voxel/pixel), ``"causal-lm"``...
        test_input_size: the small input the whole-registry test runs (default ``input_size``).
        test_kwargs: overrides that input needs (e.g. ``{"img_size": 32}`` for a ViT).
        extra: anything else worth showing in ``dlzoo info``.
    """

    name: str
    family: str = ""
    paper: str = ""
    year: int | None = None
    arxiv: str = ""
    input_size: tuple[int, ...] | None = None
    reference_params: int | None = None
    source: str = ""
    task: str = "classification"
    test_input_size: tuple[int, ...] | None = None
    test_kwargs: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


class Registry(Generic[T]):
    """A named collection of builders with cards.

    >>> MODELS = Registry("model")
    >>> @MODELS.register(family="demo")
    ... def tiny(**kw): ...
    >>> MODELS.names("ti*")
    ['tiny']
    """

    def __init__(self, kind: str, loose_names: bool = False) -> None:
        self.kind = kind
        self.loose_names = loose_names
        self._builders: dict[str, T] = {}
        self._cards: dict[str, Card] = {}
        self._canonical: dict[str, str] = {}  # canonical_name(name) -> registered name (loose_names only)

    def resolve(self, name: str) -> str:
        """The registered spelling of ``name`` (through :func:`canonical_name` when ``loose_names``);
        ``KeyError`` with suggestions when nothing matches."""
        if not isinstance(name, str):
            raise TypeError(f"{self.kind} name must be a string, got {type(name).__name__} {name!r}")
        if name in self._builders:
            return name
        if self.loose_names and canonical_name(name) in self._canonical:
            return self._canonical[canonical_name(name)]
        raise self._missing(name)

    def register(self, name: str | None = None, **card: Any) -> Callable[[T], T]:
        """Decorator registering ``fn`` under ``name`` (default: the function's name)."""

        def decorator(fn: T) -> T:
            key = name or fn.__name__
            if key in self._builders or (self.loose_names and canonical_name(key) in self._canonical):
                raise ValueError(f"{self.kind} {key!r} is already registered")
            self._builders[key] = fn
            if self.loose_names:
                self._canonical[canonical_name(key)] = key
            self._cards[key] = Card(name=key, **card)
            return fn

        return decorator

    def add(self, name: str, fn: T, **card: Any) -> None:
        """Register ``fn`` under ``name`` without the decorator syntax."""
        self.register(name, **card)(fn)

    def __contains__(self, name: object) -> bool:
        if name in self._builders:
            return True
        return self.loose_names and isinstance(name, str) and canonical_name(name) in self._canonical

    def __len__(self) -> int:
        return len(self._builders)

    def names(self, pattern: str = "*") -> list[str]:
        """Sorted names matching an fnmatch ``pattern``."""
        return sorted(n for n in self._builders if fnmatch.fnmatchcase(n, pattern))

    def _missing(self, name: str) -> UnknownNameError:
        close = difflib.get_close_matches(name, list(self._builders), n=3)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        return UnknownNameError(f"unknown {self.kind} {name!r}{hint}")

    def get(self, name: str) -> T:
        """The builder registered under ``name``; ``KeyError`` with suggestions otherwise."""
        return self._builders[self.resolve(name)]

    def card(self, name: str) -> Card:
        """The card registered under ``name``."""
        return self._cards[self.resolve(name)]
