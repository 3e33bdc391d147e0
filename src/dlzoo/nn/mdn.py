"""Mixture density head: a Gaussian mixture over the targets, predicted from features.

Bishop, "Mixture Density Networks", Aston University NCRG/94/004, 1994 (diagonal-Gaussian form, Eq. 22-23):
a linear layer maps features ``h`` to, for ``K = num_components`` components over ``D = out_features``,

    pi_logits (N, K),   mu (N, K, D),   sigma = softplus(raw) + min_sigma (N, K, D)   (> 0)

``p(y | h) = sum_k softmax(pi_logits)_k prod_d N(y_d | mu_kd, sigma_kd^2)``. :meth:`MixtureDensityHead.nll`
is the existing :func:`dlzoo.losses.mdn_nll` (one implementation), :meth:`sample` draws a component from
``pi`` then a Gaussian from it.

Shapes: ``h (N, in_features)`` -> ``(pi_logits (N, K), mu (N, K, D), sigma (N, K, D))``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .channel_affine import check_positive_int
from .linear import Linear

__all__ = ["MixtureDensityHead"]


class MixtureDensityHead(nn.Module):
    """Linear mixture-density output layer (see module docstring)."""

    def __init__(self, in_features: int, out_features: int, num_components: int, min_sigma: float = 1e-4
                 ) -> None:
        super().__init__()
        self.in_features = check_positive_int("MixtureDensityHead", "in_features", in_features)
        self.out_features = check_positive_int("MixtureDensityHead", "out_features", out_features)
        self.num_components = check_positive_int("MixtureDensityHead", "num_components", num_components)
        if min_sigma < 0:
            raise ValueError(f"MixtureDensityHead: min_sigma must be >= 0, got {min_sigma}")
        self.min_sigma = min_sigma
        k, d = num_components, out_features
        self.pi = Linear(in_features, k)
        self.mu = Linear(in_features, k * d)
        self.sigma = Linear(in_features, k * d)

    def forward(self, h: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        if h.dim() != 2 or h.shape[1] != self.in_features:
            raise ValueError(f"MixtureDensityHead: expected (N, {self.in_features}), got {list(h.shape)}")
        n, k, d = h.shape[0], self.num_components, self.out_features
        mu = self.mu(h).view(n, k, d)  # (N, K, D)
        sigma = (F.softplus(self.sigma(h)) + self.min_sigma).view(n, k, d)  # (N, K, D), > 0
        return self.pi(h), mu, sigma

    def log_prob(self, h: Tensor, y: Tensor) -> Tensor:
        """``log p(y | h)`` per sample ``(N,)``."""
        from ..losses.mdn import mdn_log_prob  # noqa: PLC0415  (dlzoo.losses imports dlzoo.nn)

        return mdn_log_prob(*self(h), y)

    def nll(self, h: Tensor, y: Tensor, reduction: str = "mean") -> Tensor:
        """Mixture negative log-likelihood (:func:`dlzoo.losses.mdn_nll`)."""
        from ..losses.mdn import mdn_nll  # noqa: PLC0415

        return mdn_nll(*self(h), y, reduction=reduction)

    @torch.no_grad()
    def sample(self, h: Tensor, num_samples: int = 1, generator: torch.Generator | None = None) -> Tensor:
        """Draws ``(num_samples, N, D)`` from the predicted mixtures."""
        pi_logits, mu, sigma = self(h)
        n = h.shape[0]
        comp = torch.multinomial(torch.softmax(pi_logits, 1), num_samples, replacement=True,
                                 generator=generator).T  # (S, N)
        idx = torch.arange(n, device=h.device)
        m, s = mu[idx, comp], sigma[idx, comp]  # (S, N, D)
        return m + s * torch.randn(m.shape, generator=generator, dtype=m.dtype, device=m.device)
