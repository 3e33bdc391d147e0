"""Generative models on images in [0, 1]: VAE, DCGAN, DDPM (task ``"generative"``).

Contract (checked by tests/models/test_registry.py): ``model.loss(x, generator=None)`` is the training
objective of a batch ``x`` (N, C, H, W) in [0, 1]; ``model(x, generator)`` returns the same scalar so every
parameter gets a gradient (a GAN's forward sums its discriminator and generator losses);
``model.sample(n, generator=None)`` returns (n, C, H, W) images in [0, 1]. ``generator`` is a
``torch.Generator`` or an int seed (the draws are then reproducible), ``None`` uses the global RNG.
"""

from ._common import GenerativeMixin, as_generator

__all__ = ["GenerativeMixin", "as_generator"]
