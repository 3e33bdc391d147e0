"""Variational autoencoder with a Gaussian encoder and a Bernoulli or Gaussian decoder.

Kingma & Welling, "Auto-Encoding Variational Bayes", ICLR 2014, arXiv:1312.6114 (Sec. 2.4, Appendix B, C).

Encoder (Appendix C.2): ``h = tanh(W_1 x + b_1)``, ``mu = W_2 h + b_2``, ``log sigma^2 = W_3 h + b_3``
(``q(z|x) = N(mu, diag sigma^2)``). Reparameterisation (eq. 10): ``z = mu + sigma * eps``, ``eps ~ N(0, I)``.
Decoder: ``h' = tanh(W_4 z + b_4)``; Bernoulli (C.1): logits ``W_5 h' + b_5``; Gaussian (C.2): mean
``sigmoid(W_5 h' + b_5)`` and ``log sigma^2 = W_6 h' + b_6``.

ELBO (eq. 10 with the analytic KL of Appendix B), per example::

    L(x) = -KL(q(z|x) || N(0, I)) + 1/L sum_l log p(x | z_l)
    -KL  = 1/2 sum_j (1 + log sigma_j^2 - mu_j^2 - sigma_j^2)

``loss(x) = -mean_batch L(x)`` (nats). Images (N, C, H, W) in [0, 1] are flattened to (N, C*H*W); the
Bernoulli log-likelihood is the (continuous) binary cross-entropy, as usual for grey-level pixels.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ...nn import Linear
from ...nn.channel_affine import check_positive_int
from .. import register_model
from ._common import GenerativeMixin

__all__ = ["VAE", "gaussian_kl", "vae"]


def gaussian_kl(mu: Tensor, logvar: Tensor) -> Tensor:
    """``KL(N(mu, diag exp(logvar)) || N(0, I))`` summed over the last dim (Appendix B): (N, J) -> (N,)."""
    return -0.5 * (1 + logvar - mu.square() - logvar.exp()).sum(-1)


class VAE(GenerativeMixin, nn.Module):
    """MLP VAE of Kingma & Welling (Appendix C); ``decoder="bernoulli"`` or ``"gaussian"``."""

    def __init__(self, in_chans: int = 1, img_size: int = 8, hidden_dim: int = 200, latent_dim: int = 8,
                 decoder: str = "bernoulli") -> None:
        super().__init__()
        if decoder not in ("bernoulli", "gaussian"):
            raise ValueError(f"VAE: decoder must be 'bernoulli' or 'gaussian', got {decoder!r}")
        self.in_chans = check_positive_int("VAE", "in_chans", in_chans)
        self.img_size = check_positive_int("VAE", "img_size", img_size)
        self.hidden_dim = check_positive_int("VAE", "hidden_dim", hidden_dim)
        self.latent_dim = check_positive_int("VAE", "latent_dim", latent_dim)
        self.decoder = decoder
        d = in_chans * img_size * img_size
        self.enc_hidden = Linear(d, hidden_dim)
        self.enc_mu = Linear(hidden_dim, latent_dim)
        self.enc_logvar = Linear(hidden_dim, latent_dim)
        self.dec_hidden = Linear(latent_dim, hidden_dim)
        self.dec_out = Linear(hidden_dim, d)  # Bernoulli logits, or the Gaussian mean before the sigmoid
        self.dec_logvar = Linear(hidden_dim, d) if decoder == "gaussian" else None
        for m in self.modules():  # the paper: weights from N(0, 0.01), zero biases (Sec. 5)
            if isinstance(m, Linear):
                nn.init.normal_(m.weight, 0.0, 0.01)
                nn.init.zeros_(m.bias)

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Images (N, C, H, W) -> ``(mu, logvar)``, each (N, latent_dim)."""
        self.check_images(x)
        h = torch.tanh(self.enc_hidden(x.flatten(1)))  # (N, hidden)
        return self.enc_mu(h), self.enc_logvar(h)

    def decode(self, z: Tensor) -> tuple[Tensor, Tensor | None]:
        """Latents (N, J) -> Bernoulli logits (N, D) and ``None``, or Gaussian ``(mean, logvar)`` (N, D)."""
        h = torch.tanh(self.dec_hidden(z))
        out = self.dec_out(h)
        if self.dec_logvar is None:
            return out, None
        return torch.sigmoid(out), self.dec_logvar(h)

    def log_likelihood(self, x_flat: Tensor, z: Tensor) -> Tensor:
        """``log p(x | z)`` summed over pixels: (N, D), (N, J) -> (N,)."""
        out, logvar = self.decode(z)
        if logvar is None:
            return -F.binary_cross_entropy_with_logits(out, x_flat, reduction="none").sum(-1)
        return -0.5 * (math.log(2 * math.pi) + logvar + (x_flat - out).square() / logvar.exp()).sum(-1)

    def elbo(self, x: Tensor, generator: torch.Generator | int | None = None, num_samples: int = 1) -> Tensor:
        """Per-example ELBO (N,) with ``num_samples`` reparameterised draws (eq. 10), in nats."""
        mu, logvar = self.encode(x)
        x_flat = x.flatten(1)  # (N, D)
        rec = x_flat.new_zeros(x.shape[0])
        for _ in range(num_samples):
            eps = self.randn(*mu.shape, generator=generator)
            z = mu + (0.5 * logvar).exp() * eps  # reparameterisation trick
            rec = rec + self.log_likelihood(x_flat, z)
        return rec / num_samples - gaussian_kl(mu, logvar)

    def loss(self, x: Tensor, generator: torch.Generator | int | None = None) -> Tensor:
        """Negative ELBO averaged over the batch (a scalar, nats per image)."""
        return -self.elbo(x, generator=generator).mean()

    def reconstruct(self, x: Tensor) -> Tensor:
        """Decoder mean at the posterior mean: (N, C, H, W) -> (N, C, H, W) in [0, 1]."""
        mu, _ = self.encode(x)
        out, logvar = self.decode(mu)
        mean = torch.sigmoid(out) if logvar is None else out
        return mean.view(-1, *self.image_shape)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | int | None = None) -> Tensor:
        """``z ~ N(0, I)`` -> decoder mean, (n, C, H, W) in [0, 1]."""
        n = check_positive_int("VAE.sample", "n", n)
        out, logvar = self.decode(self.randn(n, self.latent_dim, generator=generator))
        mean = torch.sigmoid(out) if logvar is None else out.clamp(0, 1)
        return mean.view(n, *self.image_shape)


@register_model(family="vae", paper="Auto-Encoding Variational Bayes", year=2014, arxiv="1312.6114",
                input_size=(1, 8, 8), test_input_size=(1, 8, 8), task="generative", reference_params=30_880,
                source="closed form (D=64, H=200, J=8, Bernoulli): (D+1)H + 2(H+1)J + (J+1)H + (H+1)D")
def vae(**kwargs: Any) -> VAE:
    """MLP VAE for the 8x8 digits: 200 tanh hidden units, 8 latent dimensions, Bernoulli decoder."""
    return VAE(**kwargs)
