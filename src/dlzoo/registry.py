"""One generic name -> builder registry, used by every family (models, norms, optimizers, experiments).

Modelled on timm's ``register_model``: a decorator records a builder under a name together with a
*card* of metadata, and lookups support fnmatch patterns and close-match suggestions on typos.
"""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

T = TypeVar("T", bound=Callable[..., Any])


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
    extra: dict[str, Any] = field(default_factory=dict)


class Registry(Generic[T]):
    """A named collection of builders with cards.

    >>> MODELS = Registry("model")
    >>> @MODELS.register(family="demo")
    ... def tiny(**kw): ...
    >>> MODELS.names("ti*")
    ['tiny']
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._builders: dict[str, T] = {}
        self._cards: dict[str, Card] = {}

    def register(self, name: str | None = None, **card: Any) -> Callable[[T], T]:
        """Decorator registering ``fn`` under ``name`` (default: the function's name)."""

        def decorator(fn: T) -> T:
            key = name or fn.__name__
            if key in self._builders:
                raise ValueError(f"{self.kind} {key!r} is already registered")
            self._builders[key] = fn
            self._cards[key] = Card(name=key, **card)
            return fn

        return decorator

    def add(self, name: str, fn: T, **card: Any) -> None:
        """Register ``fn`` under ``name`` without the decorator syntax."""
        self.register(name, **card)(fn)

    def __contains__(self, name: object) -> bool:
        return name in self._builders

    def __len__(self) -> int:
        return len(self._builders)

    def names(self, pattern: str = "*") -> list[str]:
        """Sorted names matching an fnmatch ``pattern``."""
        return sorted(n for n in self._builders if fnmatch.fnmatchcase(n, pattern))

    def _missing(self, name: str) -> KeyError:
        close = difflib.get_close_matches(name, list(self._builders), n=3)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        return KeyError(f"unknown {self.kind} {name!r}{hint}")

    def get(self, name: str) -> T:
        """The builder registered under ``name``; ``KeyError`` with suggestions otherwise."""
        if name not in self._builders:
            raise self._missing(name)
        return self._builders[name]

    def card(self, name: str) -> Card:
        """The card registered under ``name``."""
        if name not in self._cards:
            raise self._missing(name)
        return self._cards[name]
