"""Shared pieces of the generative models: the seeded-draw helper and the image-batch contract."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["GenerativeMixin", "as_generator"]


def as_generator(generator: torch.Generator | int | None, device: torch.device | str = "cpu"
                 ) -> torch.Generator | None:
    """``None`` -> ``None`` (global RNG); an int -> a fresh ``torch.Generator`` seeded with it; a generator
    is returned as is."""
    if generator is None or isinstance(generator, torch.Generator):
        return generator
    if isinstance(generator, bool) or not isinstance(generator, int):
        raise TypeError(f"generator must be a torch.Generator, an int seed or None, "
                        f"got {type(generator).__name__}")
    return torch.Generator(device=device).manual_seed(generator)


class GenerativeMixin:
    """``in_chans``/``img_size`` bookkeeping, the input check, and ``forward = loss``."""

    in_chans: int
    img_size: int

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return (self.in_chans, self.img_size, self.img_size)

    def check_images(self, x: Tensor) -> None:
        """``ValueError`` naming the model unless ``x`` is (N, C, H, W) of this model's image shape."""
        if not isinstance(x, Tensor) or x.dim() != 4 or tuple(x.shape[1:]) != self.image_shape:
            got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            want = ", ".join(map(str, self.image_shape))
            raise ValueError(f"{type(self).__name__}: expected images (N, {want}) in [0, 1], got {got}")

    def randn(self, *shape: int, generator: torch.Generator | int | None = None) -> Tensor:
        """Standard normal draws on the model's device/dtype from ``generator``."""
        ref = next(iter(self.parameters()), None)  # type: ignore[attr-defined]
        if ref is None:  # e.g. a DDPM around a parameter-free denoiser: its schedule buffers
            ref = next(iter(self.buffers()))  # type: ignore[attr-defined]
        gen = as_generator(generator, ref.device)
        return torch.randn(*shape, generator=gen, device=ref.device, dtype=ref.dtype)

    def forward(self, x: Tensor, generator: torch.Generator | int | None = None) -> Tensor:
        """The training objective of the batch (see :meth:`loss`)."""
        return self.loss(x, generator=generator)  # type: ignore[attr-defined]
