"""CoShNet: a fixed complex shearlet front end followed by a small complex-valued CNN.

Ko, Panchal, Andrade-Loarca, Mendez-Vazquez, "CoShNet: A Hybrid Complex Valued Neural Network using
Shearlets", 2022, arXiv:2208.06882 (Sec. 3-4; reference code github.com/Ujjawal-K-Panchal/coshnet,
``fashionRecipes.kCoShNetRecipe``). The default configuration is that recipe, on 32x32 grayscale
(Fashion-MNIST zero-padded from 28x28):

    ShearletTransform (fixed)   (N, 1, 32, 32) real -> (N, 20, 32, 32) complex   2 scales x 10 shears
    ComplexConv2d 20->30 5x5, CReLU, ComplexAvgPool 2   -> (N, 30, 14, 14)       30,060 params
    ComplexConv2d 30->50 5x5, CReLU, ComplexAvgPool 2   -> (N, 50, 5, 5)         75,100 params
    flatten, ComplexLinear 1250->500, CReLU             -> (N, 500)           1,251,000 params
    ComplexLinear 500->10, CReLU                        -> (N, 10)               10,020 params
    ComplexToReal [Re, Im]                              -> (N, 20)  = forward_features / pre-logits
    fc: Linear 20 -> num_classes                        -> (N, num_classes)         210 params

Every complex layer counts its real and imaginary parts (weights and biases), as the reference code's
``CplxConv2d`` / ``CplxLinear``: 1,366,390 real parameters in total, of which the shearlet bank has none.
CReLU is the split ReLU ``ReLU(Re z) + i ReLU(Im z)`` (Trabelsi et al. 2018); ``act_layer="modrelu"``
swaps in modReLU (Arjovsky et al. 2016). The paper's 49.9k-parameter headline is its *tiny* variant, whose
fc1 is a tensor-train layer and whose convolutions are DCF (Fourier-Bessel) layers; those are not built
here. The front end is :class:`dlzoo.nn.shearlets.ShearletTransform`, a shearlet-tiled complex filter
bank whose generating functions differ from CoShREM's (its docstring says exactly how).

``forward(x (N, in_chans, img_size, img_size)) -> logits (N, num_classes)``; timm's classifier contract
(``forward_features`` -> the real (N, 2 * embed_dim) vector, ``fc`` the logits layer).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ..nn.classifier import check_num_classes, create_fc
from ..nn.complex import ComplexAvgPool2d, ComplexConv2d, ComplexLinear, ComplexReLU, ComplexToReal, ModReLU
from ..nn.shearlets import ShearletTransform
from . import register_model
from ._base import ClassifierMixin
from ._cnn import check_image_input

__all__ = ["CoShNet", "coshnet"]

_ACTS = ("crelu", "modrelu")


def _act(name: str, features: int, dim: int) -> nn.Module:
    return ComplexReLU() if name == "crelu" else ModReLU(features, dim=dim)


class CoShNet(ClassifierMixin, nn.Module):
    """Ko et al.'s CoShNet (module docstring): fixed shearlets -> complex convs -> complex MLP -> real fc."""

    classifier_name = "fc"
    global_pool_name = None

    def __init__(
        self,
        num_classes: int = 10,
        in_chans: int = 1,
        img_size: int = 32,
        scales: int = 2,
        shear_level: int = 3,
        alpha: float = 0.5,
        conv_channels: Sequence[int] = (30, 50),
        kernel_size: int = 5,
        padding: int = 0,
        pool: int = 2,
        hidden: int = 500,
        embed_dim: int = 10,
        act_layer: str = "crelu",
    ) -> None:
        super().__init__()
        self.num_classes = check_num_classes(num_classes)
        if act_layer not in _ACTS:
            raise ValueError(f"CoShNet: act_layer must be one of {_ACTS}, got {act_layer!r}")
        if not conv_channels:
            raise ValueError("CoShNet: conv_channels must name at least one convolution")
        self.in_chans, self.img_size = in_chans, img_size
        self.shearlets = ShearletTransform(img_size, scales, shear_level, alpha)
        width, side = in_chans * self.shearlets.num_filters, img_size
        stages: list[nn.Module] = []
        for out in conv_channels:
            stages += [
                ComplexConv2d(width, out, kernel_size, padding=padding),
                _act(act_layer, out, 1),
                ComplexAvgPool2d(pool),
            ]
            side = (side + 2 * padding - kernel_size + 1) // pool
            if side < 1:
                raise ValueError(
                    f"CoShNet: img_size={img_size} is too small for {len(conv_channels)} stages "
                    f"of {kernel_size}x{kernel_size} conv (padding {padding}) + {pool}x{pool} pool"
                )
            width = out
        self.features = nn.Sequential(*stages)
        self.flat_features = width * side * side
        self.fc1 = ComplexLinear(self.flat_features, hidden)
        self.act1 = _act(act_layer, hidden, -1)
        self.fc2 = ComplexLinear(hidden, embed_dim)
        self.act2 = _act(act_layer, embed_dim, -1)
        self.to_real = ComplexToReal()
        self.num_features = 2 * embed_dim
        self.fc = create_fc(self.num_features, self.num_classes)

    def forward_features(self, x: Tensor) -> Tensor:
        """(N, in_chans, H, W) real -> (N, 2 * embed_dim) real ``[Re, Im]`` of the complex embedding."""
        check_image_input("CoShNet", x, self.in_chans)
        if x.shape[-2:] != (self.img_size, self.img_size):
            raise ValueError(f"CoShNet: expected {self.img_size}x{self.img_size} images, got {list(x.shape)}")
        z = self.features(self.shearlets(x))  # (N, C, s, s) complex
        z = self.act1(self.fc1(torch.flatten(z, 1)))  # (N, hidden)
        return self.to_real(self.act2(self.fc2(z)))  # (N, 2 * embed_dim)

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        return x if pre_logits else self.fc(x)


@register_model(
    "coshnet",
    family="coshnet",
    paper="CoShNet: A Hybrid Complex Valued Neural Network using Shearlets",
    year=2022,
    arxiv="2208.06882",
    input_size=(1, 32, 32),
    reference_params=1_366_390,
    source="closed form of the reference code's kCoShNetRecipe (complex layers count real and imaginary "
    "parts); the paper's 49.9k is its tensor-train 'tiny' variant, not built here",
    test_input_size=(1, 8, 8),
    test_kwargs={
        "img_size": 8,
        "conv_channels": (4, 6),
        "kernel_size": 3,
        "padding": 1,
        "hidden": 16,
        "embed_dim": 4,
    },
)
def coshnet(**kwargs) -> CoShNet:
    """The reference CoShNet on 32x32 grayscale; the card's test kwargs size it for the 8x8 digits."""
    return CoShNet(**kwargs)
