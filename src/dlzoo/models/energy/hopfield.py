"""Hopfield networks: binary associative memories with Hebbian or pseudo-inverse storage.

Hopfield, "Neural networks and physical systems with emergent collective computational abilities", PNAS
79(8), 1982. States ``s in {-1, +1}^N``; storing ``P`` patterns ``xi^mu`` with the Hebbian rule::

    W = 1/N sum_mu xi^mu xi^mu^T,   W_ii = 0                                   (symmetric, zero diagonal)
    E(s) = -1/2 s^T W s                                                        (energy)
    s_i <- sgn(sum_j W_ij s_j)        (a zero field keeps s_i)

Asynchronous updates (one unit at a time, random order) never increase ``E``: flipping ``s_i`` against a
field ``h_i`` changes the energy by ``dE = -(s_i' - s_i) h_i <= 0`` because W is symmetric with a zero
diagonal. Synchronous updates (all units at once) may cycle with period two. Random patterns are stable
up to a load ``P / N ~ 0.138`` (Amit, Gutfreund, Sompolinsky, "Storing infinite numbers of patterns in a
spin-glass model of neural networks", PRL 55, 1985); :func:`recall_rate` measures the capacity curve.

:class:`HopfieldNetworkOptimized` stores with the pseudo-inverse (projection) rule of Personnaz, Guyon,
Dreyfus, "Information storage and retrieval in spin-glass like neural networks", J. Physique Lettres 46,
1985: ``W = Xi^T (Xi Xi^T)^+ Xi`` (the projector on the patterns' span, diagonal zeroed), which makes
correlated patterns (digits) stable well beyond 0.138 N, and recalls asynchronously by keeping the local
fields ``h = W s`` up to date (``h += W[:, i] (s_i' - s_i)``, O(N) per update, no mat-vec per unit).

The weights are buffers (set by :meth:`store`, not by backprop). Shapes: states ``(B, N)``;
``forward(s)`` is synchronous recall to a fixed point (at most ``max_iter`` sweeps), ``(B, N)``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from ...nn.channel_affine import check_positive_int
from .. import register_model

__all__ = ["HopfieldNetwork", "HopfieldNetworkOptimized", "recall_rate", "capacity_curve", "hopfield_network",
           "hopfield_network_optimized"]


def _sign_keep(h: Tensor, s: Tensor) -> Tensor:
    """``sgn(h)``, keeping ``s`` where ``h == 0``."""
    return torch.where(h == 0, s, torch.sign(h))


class HopfieldNetwork(nn.Module):
    """Hopfield network with Hebbian storage (see module docstring)."""

    rule = "hebbian"

    def __init__(self, num_units: int = 64, max_iter: int = 100) -> None:
        super().__init__()
        name = type(self).__name__
        self.num_units = check_positive_int(name, "num_units", num_units)
        self.max_iter = check_positive_int(name, "max_iter", max_iter)
        self.register_buffer("weight", torch.zeros(num_units, num_units))  # (N, N)
        self.register_buffer("num_patterns", torch.zeros((), dtype=torch.long))

    def check_states(self, s: object, what: str = "states") -> Tensor:
        """``s`` must be a floating tensor ``(B, N)`` of +-1."""
        name = type(self).__name__
        if not isinstance(s, Tensor) or not s.is_floating_point():
            raise TypeError(f"{name}: expected float {what} (B, {self.num_units}) of -1/+1, got "
                            f"{s.dtype if isinstance(s, Tensor) else type(s).__name__}")
        if s.dim() != 2 or s.shape[1] != self.num_units:
            raise ValueError(f"{name}: expected {what} (B, {self.num_units}), got {tuple(s.shape)}")
        if s.device.type != "meta" and not bool(((s == 1) | (s == -1)).all()):
            raise ValueError(f"{name}: {what} must be -1/+1 (bipolar), got other values")
        return s

    @torch.no_grad()
    def store(self, patterns: Tensor) -> HopfieldNetwork:
        """Set ``W`` from patterns ``(P, N)`` of +-1 (replacing what was stored). Returns ``self``."""
        xi = self.check_states(patterns, "patterns").to(self.weight.dtype)
        self.weight.copy_(self._rule(xi))
        self.weight.fill_diagonal_(0)
        self.num_patterns.fill_(xi.shape[0])
        return self

    def _rule(self, xi: Tensor) -> Tensor:
        return xi.t() @ xi / self.num_units  # (N, P) @ (P, N): 1/N sum_mu xi xi^T

    def energy(self, s: Tensor) -> Tensor:
        """``E(s) = -1/2 s^T W s`` per state, ``(B,)``."""
        s = self.check_states(s)
        return -0.5 * ((s @ self.weight) * s).sum(1)

    def step(self, s: Tensor) -> Tensor:
        """One synchronous update of every unit: ``s <- sgn(W s)``."""
        return _sign_keep(s @ self.weight.t(), s)  # (B, N)

    def recall(self, s: Tensor, mode: str = "sync", max_iter: int | None = None,
               generator: torch.Generator | None = None) -> Tensor:
        """Update until a fixed point or ``max_iter`` sweeps. ``mode="sync"``: all units at once;
        ``"async"``: one unit at a time in a fresh random order (from ``generator``) per sweep."""
        s = self.check_states(s)
        sweeps = self.max_iter if max_iter is None else max_iter
        if mode == "sync":
            for _ in range(sweeps):
                new = self.step(s)
                if torch.equal(new, s):
                    break
                s = new
            return s
        if mode != "async":
            raise ValueError(f"{type(self).__name__}: mode must be 'sync' or 'async', got {mode!r}")
        for _ in range(sweeps):
            new = self.async_sweep(s, generator)
            if torch.equal(new, s):
                break
            s = new
        return s

    def async_sweep(self, s: Tensor, generator: torch.Generator | None = None,
                    trace: list[Tensor] | None = None) -> Tensor:
        """One asynchronous sweep: every unit once, in a random order; ``trace`` (if given) receives the
        energy ``(B,)`` after every single-unit update."""
        s = s.clone()
        for i in torch.randperm(self.num_units, generator=generator).tolist():
            h = s @ self.weight[i]  # (B,) field on unit i
            s[:, i] = _sign_keep(h, s[:, i])
            if trace is not None:
                trace.append(self.energy(s))
        return s

    def forward(self, s: Tensor) -> Tensor:
        """Synchronous recall ``(B, N) -> (B, N)``."""
        return self.recall(s, "sync")

    def extra_repr(self) -> str:
        return f"num_units={self.num_units}, rule={self.rule!r}, num_patterns={int(self.num_patterns)}"


class HopfieldNetworkOptimized(HopfieldNetwork):
    """Pseudo-inverse (projection) storage and incremental-field asynchronous recall (module docstring)."""

    rule = "pseudo_inverse"

    def _rule(self, xi: Tensor) -> Tensor:
        return xi.t() @ torch.linalg.pinv(xi @ xi.t()) @ xi  # (N, N) projector on span{xi^mu}

    def async_sweep(self, s: Tensor, generator: torch.Generator | None = None,
                    trace: list[Tensor] | None = None) -> Tensor:
        s = s.clone()
        h = s @ self.weight.t()  # (B, N) local fields, kept current below
        for i in torch.randperm(self.num_units, generator=generator).tolist():
            new = _sign_keep(h[:, i], s[:, i])
            delta = new - s[:, i]  # (B,) in {-2, 0, 2}
            if bool(delta.any()):
                h += delta[:, None] * self.weight[:, i][None, :]  # W symmetric: column i == row i
                s[:, i] = new
            if trace is not None:
                trace.append(self.energy(s))
        return s


@torch.no_grad()
def recall_rate(model: HopfieldNetwork, num_patterns: int, flip_fraction: float = 0.05, trials: int = 1,
                mode: str = "sync", seed: int = 0) -> float:
    """Fraction of random +-1 patterns recovered exactly after storing ``num_patterns`` of them and
    starting recall from each with ``flip_fraction`` of its bits flipped (averaged over ``trials`` draws)."""
    g = torch.Generator().manual_seed(seed)
    n, hits = model.num_units, 0
    flips = int(round(flip_fraction * n))
    for _ in range(trials):
        xi = torch.randint(0, 2, (num_patterns, n), generator=g).to(model.weight.dtype) * 2 - 1  # (P, N)
        model.store(xi)
        noisy = xi.clone()
        for p in range(num_patterns):
            noisy[p, torch.randperm(n, generator=g)[:flips]] *= -1
        out = model.recall(noisy, mode=mode, generator=g)
        hits += int((out == xi).all(1).sum())
    return hits / (num_patterns * trials)


def capacity_curve(model: HopfieldNetwork, loads: tuple[float, ...] = (0.05, 0.1, 0.138, 0.2, 0.3),
                   flip_fraction: float = 0.05, trials: int = 2, seed: int = 0) -> list[tuple[float, float]]:
    """``(P / N, recall rate)`` for each load: the capacity curve to read against ``0.138 N``."""
    n = model.num_units
    return [(load, recall_rate(model, max(1, round(load * n)), flip_fraction, trials, seed=seed))
            for load in loads]


_CARD = dict(input_size=(64,), test_input_size=(16,),
             task="associative-memory", reference_params=0,
             source="closed form: 0 trainable parameters; W (N x N, N = 64: binarised 8x8 digits) is a "
             "buffer",
             test_kwargs={"num_units": 16})


@register_model(family="hopfield", paper="Neural networks and physical systems with emergent collective "
                "computational abilities", year=1982, arxiv="PNAS 79(8):2554-2558", **_CARD)
def hopfield_network(**kwargs: Any) -> HopfieldNetwork:
    """64 units (binarised 8x8 digits), Hebbian storage."""
    return HopfieldNetwork(**kwargs)


@register_model(family="hopfield", paper="Information storage and retrieval in spin-glass like neural "
                "networks", year=1985, arxiv="J. Physique Lettres 46(8):359-365", **_CARD)
def hopfield_network_optimized(**kwargs: Any) -> HopfieldNetworkOptimized:
    """64 units, pseudo-inverse storage, incremental-field asynchronous recall."""
    return HopfieldNetworkOptimized(**kwargs)
