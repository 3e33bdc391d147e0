"""Negative log-likelihood of a mixture density network (Gaussian mixture with diagonal covariances).

Bishop, "Mixture Density Networks", Aston University NCRG/94/004, 1994, Eqs. 22-23 (diagonal-Gaussian
form). For a target ``y`` in R^D and mixture parameters predicted by a network,

    p(y | x) = sum_k pi_k(x) prod_d N(y_d | mu_{k,d}(x), sigma_{k,d}(x)^2)
    NLL      = -log p(y | x) = -logsumexp_k [ log pi_k + sum_d ( -0.5 ((y_d - mu_{k,d}) / sigma_{k,d})^2
                                                              - log sigma_{k,d} - 0.5 log(2 pi) ) ]

``pi`` comes as unnormalised logits (``log pi = log_softmax(logits)``), the log-sum-exp keeps it stable.
Shapes: ``pi_logits (N, K)``, ``mu (N, K, D)``, ``sigma (N, K, D)`` (> 0), ``y (N, D)``; with ``D = 1`` the
trailing dim may be dropped (``mu``/``sigma`` ``(N, K)``, ``y`` ``(N,)``).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ._base import check_reduction, reduce_loss
from .classification import log_softmax
from .factory import register_loss

__all__ = ["mdn_log_prob", "mdn_nll", "MDNLoss"]

_LOG_2PI = math.log(2.0 * math.pi)


def mdn_log_prob(pi_logits: Tensor, mu: Tensor, sigma: Tensor, y: Tensor) -> Tensor:
    """``log p(y | x)`` per sample, shape ``(N,)``."""
    if mu.dim() == 2:  # scalar targets: (N, K) -> (N, K, 1)
        mu, sigma = mu.unsqueeze(-1), sigma.unsqueeze(-1)
        y = y.unsqueeze(-1) if y.dim() == 1 else y
    ok = pi_logits.dim() == 2 and mu.dim() == 3 and mu.shape[:2] == pi_logits.shape
    if not ok or sigma.shape != mu.shape or y.shape != (mu.shape[0], mu.shape[2]):
        raise ValueError(
            f"mdn_nll: expected pi_logits (N, K), mu/sigma (N, K, D), y (N, D); got pi_logits "
            f"{list(pi_logits.shape)}, mu {list(mu.shape)}, sigma {list(sigma.shape)}, y {list(y.shape)}"
        )
    if bool((sigma <= 0).any()):
        raise ValueError("mdn_nll: sigma must be > 0 (e.g. exp or softplus of the network output)")
    z = (y.unsqueeze(1) - mu) / sigma  # (N, K, D)
    log_normal = (-0.5 * z * z - sigma.log() - 0.5 * _LOG_2PI).sum(-1)  # (N, K): log prod_d N(y_d | ...)
    return torch.logsumexp(log_softmax(pi_logits, 1) + log_normal, dim=1)  # (N,)


def mdn_nll(pi_logits: Tensor, mu: Tensor, sigma: Tensor, y: Tensor, reduction: str = "mean") -> Tensor:
    """``-log p(y | x)`` of the Gaussian mixture, reduced over the batch."""
    check_reduction(reduction, "mdn_nll")
    return reduce_loss(-mdn_log_prob(pi_logits, mu, sigma, y), reduction)


@register_loss("mdn", paper="Mixture Density Networks", year=1994, arxiv="NCRG/94/004")
class MDNLoss(nn.Module):
    """``forward(pi_logits, mu, sigma, y)`` -> mixture NLL (see :func:`mdn_nll`)."""

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = check_reduction(reduction, "MDNLoss")

    def forward(self, pi_logits: Tensor, mu: Tensor, sigma: Tensor, y: Tensor) -> Tensor:
        return mdn_nll(pi_logits, mu, sigma, y, self.reduction)
