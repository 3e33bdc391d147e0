"""DCGAN sized for 8x8 images: transposed-conv generator, strided-conv discriminator, non-saturating loss.

Radford, Metz, Chintala, "Unsupervised Representation Learning with Deep Convolutional Generative Adversarial
Networks", ICLR 2016, arXiv:1511.06434. Architecture guidelines (Sec. 3): strided convolutions instead of
pooling, batch norm in both nets except the generator output and the discriminator input layers, ReLU in the
generator with Tanh output, LeakyReLU(0.2) in the discriminator, no fully connected hidden layers; weights
from N(0, 0.02) (Sec. 4), BN scale N(1, 0.02) (the authors' code); Adam lr 2e-4, beta1 0.5.

Shapes at img_size 8 (``base`` = 64)::

    G: z (N, nz, 1, 1) -ConvT 2/1/0-> (N, 2b, 2, 2) -ConvT 4/2/1-> (N, b, 4, 4) -ConvT 4/2/1-> (N, C, 8, 8)
    D: x (N, C, 8, 8) -Conv 4/2/1-> (N, b, 4, 4) -Conv 4/2/1-> (N, 2b, 2, 2) -Conv 2/1/0-> (N, 1, 1, 1) logits

Losses (Goodfellow et al. 2014, Sec. 3, the non-saturating generator objective)::

    L_D = -log D(x) - log(1 - D(G(z)))          L_G = -log D(G(z))

with ``D = sigmoid(logits)``; written as softplus of the logits (``-log sigmoid(a) = softplus(-a)``).
Images in [0, 1] are mapped to [-1, 1] for the tanh range and back in :meth:`DCGAN.sample`.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ...nn import BatchNorm2d, Conv2d, ConvTranspose2d, LeakyReLU, ReLU, Tanh
from ...nn.channel_affine import check_positive_int
from .. import register_model
from ._common import GenerativeMixin

__all__ = ["DCGAN", "GANLosses", "dcgan_init_", "dcgan"]


class GANLosses(NamedTuple):
    """The two players' losses of one batch (scalars)."""

    discriminator: Tensor
    generator: Tensor


def dcgan_init_(module: nn.Module) -> None:
    """DCGAN init: conv / transposed-conv weights ``N(0, 0.02)``; BN weight ``N(1, 0.02)``, bias 0."""
    for m in module.modules():
        if isinstance(m, (Conv2d, ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, 0.02)
        elif isinstance(m, BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


class DCGAN(GenerativeMixin, nn.Module):
    """``generator`` (z -> images in [-1, 1]) and ``discriminator`` (images -> one logit each)."""

    def __init__(self, in_chans: int = 1, img_size: int = 8, latent_dim: int = 32, base_width: int = 64
                 ) -> None:
        super().__init__()
        if img_size != 8:
            raise ValueError(f"DCGAN: this configuration is sized for 8x8 images, got img_size={img_size}")
        self.in_chans = check_positive_int("DCGAN", "in_chans", in_chans)
        self.img_size = img_size
        self.latent_dim = check_positive_int("DCGAN", "latent_dim", latent_dim)
        b = check_positive_int("DCGAN", "base_width", base_width)
        self.generator = nn.Sequential(
            ConvTranspose2d(latent_dim, 2 * b, 2, 1, 0, bias=False), BatchNorm2d(2 * b), ReLU(),  # 2x2
            ConvTranspose2d(2 * b, b, 4, 2, 1, bias=False), BatchNorm2d(b), ReLU(),  # (N, b, 4, 4)
            ConvTranspose2d(b, in_chans, 4, 2, 1, bias=False), Tanh(),  # (N, C, 8, 8)
        )
        self.discriminator = nn.Sequential(
            Conv2d(in_chans, b, 4, 2, 1, bias=False), LeakyReLU(0.2),  # (N, b, 4, 4); no BN at the input
            Conv2d(b, 2 * b, 4, 2, 1, bias=False), BatchNorm2d(2 * b), LeakyReLU(0.2),  # (N, 2b, 2, 2)
            Conv2d(2 * b, 1, 2, 1, 0, bias=False),  # (N, 1, 1, 1)
        )
        dcgan_init_(self)

    def generate(self, z: Tensor) -> Tensor:
        """Latents (N, nz) -> images (N, C, 8, 8) in [-1, 1]."""
        return self.generator(z.view(z.shape[0], self.latent_dim, 1, 1))

    def discriminate(self, x: Tensor) -> Tensor:
        """Images (N, C, 8, 8) in [-1, 1] -> logits (N,)."""
        return self.discriminator(x).flatten()

    def discriminator_loss(self, x: Tensor, generator: torch.Generator | int | None = None) -> Tensor:
        """``L_D`` on real ``x`` (in [0, 1]) and fresh fakes; the generator is not differentiated."""
        self.check_images(x)
        with torch.no_grad():
            fake = self.generate(self.randn(x.shape[0], self.latent_dim, generator=generator))
        real_logits, fake_logits = self.discriminate(x * 2 - 1), self.discriminate(fake)
        return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()

    def generator_loss(self, n: int, generator: torch.Generator | int | None = None) -> Tensor:
        """Non-saturating ``L_G = -log D(G(z))`` over ``n`` fresh fakes."""
        fake = self.generate(self.randn(n, self.latent_dim, generator=generator))
        return F.softplus(-self.discriminate(fake)).mean()

    def losses(self, x: Tensor, generator: torch.Generator | int | None = None) -> GANLosses:
        """Both players' losses on one batch, the fakes shared (detached for ``L_D``)."""
        self.check_images(x)
        fake = self.generate(self.randn(x.shape[0], self.latent_dim, generator=generator))
        real_logits = self.discriminate(x * 2 - 1)
        d_loss = F.softplus(-real_logits).mean() + F.softplus(self.discriminate(fake.detach())).mean()
        g_loss = F.softplus(-self.discriminate(fake)).mean()
        return GANLosses(d_loss, g_loss)

    def loss(self, x: Tensor, generator: torch.Generator | int | None = None) -> Tensor:
        """``L_D + L_G`` (a scalar that reaches every parameter; train with two optimisers on the parts)."""
        d_loss, g_loss = self.losses(x, generator)
        return d_loss + g_loss

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | int | None = None) -> Tensor:
        """``G(z)``, ``z ~ N(0, I)``, mapped to [0, 1]: (n, C, 8, 8)."""
        n = check_positive_int("DCGAN.sample", "n", n)
        return (self.generate(self.randn(n, self.latent_dim, generator=generator)) + 1) / 2


@register_model(family="dcgan", year=2016, arxiv="1511.06434",
                paper="Unsupervised Representation Learning with Deep Convolutional Generative Adversarial "
                      "Networks",
                input_size=(1, 8, 8), test_input_size=(1, 8, 8), task="generative", reference_params=281_728,
                source="closed form (nz=32, b=64, C=1): G 32*128*4 + 2*128 + 128*64*16 + 2*64 + 64*1*16, "
                       "D 1*64*16 + 64*128*16 + 2*128 + 128*1*4 (bias-free convs, BN weight+bias)")
def dcgan(**kwargs: Any) -> DCGAN:
    """DCGAN for the 8x8 digits: 32-d latent, widths 128/64 (G) and 64/128 (D)."""
    return DCGAN(**kwargs)
