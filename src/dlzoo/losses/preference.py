"""Quantisation-preference regularisers of the dl_techniques library (N. Markou): penalties that are 0 at
the preferred weight values and 1 at the worst point between them.

* :class:`BinaryPreference` -- states {0, 1}: ``r(w) = (1 - (2w - 1)^2)^2 = 16 w^2 (1 - w)^2``, maximum 1 at
  ``w = 1/2``;
* :class:`TriStatePreference` -- states {-1, 0, 1}: ``r(w) = 27/4 w^2 (1 - w^2)^2``, maximum 1 at
  ``|w| = 1/sqrt(3)``.

``penalty = multiplier * mean_w r(w)`` over every element of the given weights (a tensor, an iterable of
tensors, or a module: its parameters with >= 2 dims, i.e. weights and not biases/norm scales). Add it to
the training loss; gradient descent then pulls each weight to its nearest preferred state.
"""

from __future__ import annotations

from collections.abc import Iterable

from torch import Tensor, nn

__all__ = ["BinaryPreference", "TriStatePreference", "binary_preference", "tri_state_preference"]


def binary_preference(w: Tensor) -> Tensor:
    """Elementwise ``(1 - (2w - 1)^2)^2``."""
    return (1.0 - (2.0 * w - 1.0) ** 2) ** 2


def tri_state_preference(w: Tensor) -> Tensor:
    """Elementwise ``27/4 w^2 (1 - w^2)^2``."""
    return 6.75 * w * w * (1.0 - w * w) ** 2


def _weights(params: nn.Module | Tensor | Iterable[Tensor], owner: str) -> list[Tensor]:
    if isinstance(params, nn.Module):
        return [p for p in params.parameters() if p.dim() >= 2]
    if isinstance(params, Tensor):
        return [params]
    out = list(params)
    if not all(isinstance(t, Tensor) for t in out):
        raise TypeError(f"{owner}: expected a module, a tensor or tensors, got {type(params).__name__}")
    return out


class _Preference:
    _name = ""

    def __init__(self, multiplier: float = 1.0) -> None:
        if multiplier < 0:
            raise ValueError(f"{self._name}: multiplier must be >= 0, got {multiplier}")
        self.multiplier = multiplier

    def _r(self, w: Tensor) -> Tensor:
        raise NotImplementedError

    def __call__(self, params: nn.Module | Tensor | Iterable[Tensor]) -> Tensor:
        ws = _weights(params, self._name)
        if not ws:
            raise ValueError(f"{self._name}: no weights to regularise")
        total = sum(self._r(w).sum() for w in ws)
        return self.multiplier * total / sum(w.numel() for w in ws)

    def __repr__(self) -> str:
        return f"{self._name}(multiplier={self.multiplier})"


class BinaryPreference(_Preference):
    """``multiplier * mean (1 - (2w - 1)^2)^2``: weights pulled to {0, 1}."""

    _name = "BinaryPreference"

    def _r(self, w: Tensor) -> Tensor:
        return binary_preference(w)


class TriStatePreference(_Preference):
    """``multiplier * mean 27/4 w^2 (1 - w^2)^2``: weights pulled to {-1, 0, 1}."""

    _name = "TriStatePreference"

    def _r(self, w: Tensor) -> Tensor:
        return tri_state_preference(w)


