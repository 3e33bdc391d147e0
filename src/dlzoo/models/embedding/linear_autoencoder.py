"""Linear autoencoder: ``x_hat = W_d (W_e x + b_e) + b_d`` trained on the squared reconstruction error.

Baldi & Hornik, "Neural networks and principal component analysis: Learning from examples without local
minima", Neural Networks 2(1), 1989: with a ``k``-unit linear bottleneck, every local minimum of

    1/2 mean_i || x_i - W_d (W_e x_i + b_e) - b_d ||^2

is global, and at it the decoder's columns span the top-``k`` principal subspace of the (centred) data
(the same subspace as PCA's first ``k`` components; the basis inside it is arbitrary). :meth:`principal_
subspace` returns an orthonormal basis of ``span(W_d)``. Layers are :class:`dlzoo.nn.Linear` (keys
``encoder.weight`` ``(k, F)``, ``decoder.weight`` ``(F, k)``). Shapes: input ``(B, F)``; code ``(B, k)``;
reconstruction ``(B, F)``. Parameters ``2 F k + k + F``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from ...nn import Linear
from ...nn.channel_affine import check_positive_int
from .. import register_model

__all__ = ["LinearAutoencoder", "linear_autoencoder"]


class LinearAutoencoder(nn.Module):
    """Linear encoder ``F -> k`` and decoder ``k -> F`` (see module docstring)."""

    def __init__(self, in_features: int = 64, latent_dim: int = 8, bias: bool = True) -> None:
        super().__init__()
        self.in_features = check_positive_int("LinearAutoencoder", "in_features", in_features)
        self.latent_dim = check_positive_int("LinearAutoencoder", "latent_dim", latent_dim)
        if latent_dim > in_features:
            raise ValueError(f"LinearAutoencoder: latent_dim must be <= in_features={in_features}, got "
                             f"{latent_dim}")
        self.out_features = in_features
        self.encoder = Linear(in_features, latent_dim, bias=bias)
        self.decoder = Linear(latent_dim, in_features, bias=bias)

    def _check(self, x: object) -> Tensor:
        ok = isinstance(x, Tensor) and x.is_floating_point() and x.dim() == 2
        if not ok or x.shape[1] != self.in_features:
            got = (f"{tuple(x.shape)} {x.dtype}" if isinstance(x, Tensor) else type(x).__name__)
            raise ValueError(f"LinearAutoencoder: expected float input (B, {self.in_features}), got {got}")
        return x

    def encode(self, x: Tensor) -> Tensor:
        return self.encoder(self._check(x))  # (B, k)

    def decode(self, z: Tensor) -> Tensor:
        return self.decoder(z)  # (B, F)

    def forward(self, x: Tensor) -> Tensor:
        """Reconstruction ``(B, F) -> (B, F)``."""
        return self.decode(self.encode(x))

    def objective(self, x: Tensor) -> Tensor:
        """``1/2 mean_i ||x_i - x_hat_i||^2``."""
        return 0.5 * ((self(x) - x) ** 2).sum(1).mean()

    def fit(self, x: Tensor, max_iter: int = 500, tol: float = 1e-10) -> LinearAutoencoder:
        """Full-batch :class:`dlzoo.optim.LBFGS` (strong Wolfe) on :meth:`objective`. Returns ``self``."""
        from ...optim import LBFGS

        x = self._check(x)
        opt = LBFGS(self.parameters(), lr=1, max_iter=max_iter, max_eval=max_iter * 5 // 4,
                    tolerance_grad=tol, tolerance_change=1e-15, history_size=20,
                    line_search_fn="strong_wolfe")

        def closure() -> Tensor:
            opt.zero_grad()
            loss = self.objective(x)
            loss.backward()
            return loss

        opt.step(closure)
        return self

    @torch.no_grad()
    def principal_subspace(self) -> Tensor:
        """Orthonormal basis ``(F, k)`` of the decoder's column space."""
        q, _ = torch.linalg.qr(self.decoder.weight)
        return q

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, latent_dim={self.latent_dim}"


@register_model(family="autoencoder", paper="Neural networks and principal component analysis: Learning from "
                "examples without local minima", year=1989, arxiv="Neural Networks 2(1):53-58",
                input_size=(64,), test_input_size=(10,), task="reconstruction",
                reference_params=2 * 64 * 8 + 8 + 64,
                source="closed form: 2 F k + k + F, F = 64 (8x8 digits), k = 8",
                test_kwargs={"in_features": 10, "latent_dim": 3})
def linear_autoencoder(**kwargs: Any) -> LinearAutoencoder:
    """64 -> 8 -> 64 linear autoencoder (8x8 digits)."""
    return LinearAutoencoder(**kwargs)
