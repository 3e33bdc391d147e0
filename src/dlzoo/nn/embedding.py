"""Image-to-token embeddings for vision transformers.

* PatchEmbed — Dosovitskiy et al., "An Image is Worth 16x16 Words: Transformers for Image Recognition at
  Scale", ICLR 2021, arXiv:2010.11929, eq. 1: the image x (C, H, W) is cut into N = HW / P^2 patches
  x_p (N, P^2 C), each mapped by one linear map E (P^2 C, D). That is a P x P convolution with stride P,
  which is how it is stored (``proj.weight`` of shape (D, C, P, P), as timm and HF).

      (B, C, H, W) -> proj -> (B, D, H/P, W/P) -> flatten -> (B, N, D) -> norm

  ``output_fmt="NHWC"`` keeps the grid, channels-last: (B, H/P, W/P, D) -> norm (Swin's patch embedding,
  timm's ``output_fmt``).

* ConvStem — Xiao, Singh, Mintun, Darrell, Dollar, Girshick, "Early Convolutions Help Transformers See
  Better", NeurIPS 2021, arXiv:2106.14881, sec. 3: the patchify stem is replaced by a stack of 3x3
  convolutions (stride 2, or 1 where the paper adds channels without downsampling), each followed by
  BatchNorm and ReLU, then one 1x1 convolution (with bias) to the transformer width D.
  The product of the strides equals the patch size P.

      (B, C, H, W) -> [conv3x3 -> BN -> ReLU] x k -> conv1x1 -> (B, D, H/P, W/P) -> (B, N, D)
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from torch import Tensor, nn

from .conv import Conv2d
from .create_act import ActSpec, create_act
from .factory import NormSpec, get_norm_layer
from .linear import Identity

__all__ = ["PatchEmbed", "ConvStem"]


def _pair(v: int | Sequence[int]) -> tuple[int, int]:
    return (int(v), int(v)) if isinstance(v, int) else (int(v[0]), int(v[1]))


class _ImageTokenizer(nn.Module):
    """Shared bookkeeping: image size, patch size, grid, and the input check."""

    def _setup(self, img_size: int | Sequence[int], patch_size: int | Sequence[int], in_chans: int,
               embed_dim: int) -> None:
        self.img_size = _pair(img_size)
        self.patch_size = _pair(patch_size)
        if any(i % p for i, p in zip(self.img_size, self.patch_size)):
            raise ValueError(f"{type(self).__name__}: img_size {self.img_size} must be divisible by "
                             f"patch_size {self.patch_size}")
        self.grid_size = (self.img_size[0] // self.patch_size[0], self.img_size[1] // self.patch_size[1])
        self.num_patches = self.grid_size[0] * self.grid_size[1]
        self.in_chans = in_chans
        self.embed_dim = embed_dim

    def _check(self, x: Tensor) -> None:
        expected = (self.in_chans, *self.img_size)
        if x.dim() != 4 or tuple(x.shape[1:]) != expected:
            raise ValueError(f"{type(self).__name__}: expected input (B, {expected[0]}, {expected[1]}, "
                             f"{expected[2]}), got shape {list(x.shape)}")


class PatchEmbed(_ImageTokenizer):
    """Non-overlapping P x P patches -> linear embedding (timm's ``PatchEmbed``; see module docstring)."""

    def __init__(
        self,
        img_size: int | Sequence[int] = 224,
        patch_size: int | Sequence[int] = 16,
        in_chans: int = 3,
        embed_dim: int = 768,
        norm_layer: NormSpec = None,
        flatten: bool = True,
        bias: bool = True,
        output_fmt: str | None = None,
    ) -> None:
        super().__init__()
        self._setup(img_size, patch_size, in_chans, embed_dim)
        if output_fmt not in (None, "NCHW", "NHWC"):
            raise ValueError(f"PatchEmbed: output_fmt must be None, 'NCHW' or 'NHWC', got {output_fmt!r}")
        self.output_fmt = output_fmt
        self.flatten = flatten and output_fmt is None
        p = self.patch_size
        self.proj = Conv2d(in_chans, embed_dim, kernel_size=p, stride=p, bias=bias)  # weight (D, C, P, P)
        self.norm = get_norm_layer(norm_layer)(embed_dim) if norm_layer is not None else Identity()

    def forward(self, x: Tensor) -> Tensor:
        self._check(x)
        x = self.proj(x)  # (B, D, H/P, W/P)
        if self.flatten:
            x = x.flatten(2).transpose(1, 2)  # (B, D, N) -> (B, N, D)
        elif self.output_fmt == "NHWC":
            x = x.permute(0, 2, 3, 1)  # (B, H/P, W/P, D)
        return self.norm(x)


class ConvStem(_ImageTokenizer):
    """Convolutional stem of ViT_C (Xiao et al. 2021; see module docstring).

    Args:
        stem_chs: output channels of the 3x3 conv layers (the last one usually equals ``embed_dim``).
        stem_strides: their strides (default: 2 each); their product must equal ``patch_size``.
        norm_layer: channels-first norm after each 3x3 conv (BatchNorm2d as in the paper).
        act_layer: activation after each norm (ReLU as in the paper; a name resolved by ``create_act``).
    Keys: ``stem.{3i}`` conv (no bias), ``stem.{3i+1}`` norm, ``stem.{3i+2}`` act, then ``proj`` (1x1 conv).
    """

    def __init__(
        self,
        img_size: int | Sequence[int] = 224,
        patch_size: int = 16,
        in_chans: int = 3,
        embed_dim: int = 384,
        stem_chs: Sequence[int] = (48, 96, 192, 384),
        stem_strides: Sequence[int] | None = None,
        norm_layer: NormSpec = "batchnorm",
        flatten: bool = True,
        act_layer: ActSpec = "relu",
    ) -> None:
        super().__init__()
        self._setup(img_size, patch_size, in_chans, embed_dim)
        strides = tuple(stem_strides) if stem_strides is not None else (2,) * len(stem_chs)
        if len(strides) != len(stem_chs) or math.prod(strides) != self.patch_size[0] or \
                self.patch_size[0] != self.patch_size[1]:
            raise ValueError(f"ConvStem: strides {strides} must match stem_chs {tuple(stem_chs)} in length "
                             f"and multiply to the square patch_size {self.patch_size}")
        make_norm = get_norm_layer(norm_layer, channels_first=True)
        layers: list[nn.Module] = []
        c_in = in_chans
        for c_out, s in zip(stem_chs, strides):
            conv = Conv2d(c_in, c_out, 3, stride=s, padding=1, bias=False)
            layers += [conv, make_norm(c_out), create_act(act_layer)]
            c_in = c_out
        self.stem = nn.Sequential(*layers)
        self.proj = Conv2d(c_in, embed_dim, kernel_size=1, bias=True)
        self.flatten = flatten

    def forward(self, x: Tensor) -> Tensor:
        self._check(x)
        x = self.proj(self.stem(x))  # (B, D, H/P, W/P)
        if self.flatten:
            x = x.flatten(2).transpose(1, 2)  # (B, D, N) -> (B, N, D)
        return x
