"""Network in Network (CIFAR-10 configuration).

Lin, Chen, Yan, "Network In Network", ICLR 2014, arXiv:1312.4400. Each "mlpconv" layer is a
spatial convolution followed by two 1x1 convolutions (a small MLP shared over positions, Sec. 3.1),
all with ReLU; the classifier is global average pooling over one map per class (Sec. 3.2)::

    mlpconv1: conv5x5 192, 1x1 160, 1x1 96  -> maxpool 3/2 -> dropout   (N, 96, 16, 16) at 32x32
    mlpconv2: conv5x5 192, 1x1 192, 1x1 192 -> avgpool 3/2 -> dropout   (N, 192, 8, 8)
    mlpconv3: conv3x3 192, 1x1 192, 1x1 classes -> global avg pool      (N, classes)

Widths follow the authors' released CIFAR-10 model (pools in Caffe's ceil mode); 966,986 parameters.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from ..nn import AdaptiveAvgPool2d, AvgPool2d, Conv2d, Dropout, MaxPool2d, ReLU
from . import register_model
from ._cnn import check_image_input

__all__ = ["NiN"]


def _mlpconv(in_chans: int, widths: tuple[int, int, int], kernel: int, padding: int) -> list[nn.Module]:
    a, b, c = widths
    return [
        Conv2d(in_chans, a, kernel, padding=padding),
        ReLU(),
        Conv2d(a, b, 1),
        ReLU(),
        Conv2d(b, c, 1),
        ReLU(),
    ]


class NiN(nn.Module):
    """Network in Network; ``forward_features`` ends before the per-class 1x1 conv."""

    def __init__(
        self, num_classes: int = 10, in_chans: int = 3, drop_rate: float = 0.5, img_size: int | None = None
    ) -> None:
        super().__init__()
        self.in_chans, self.num_classes = in_chans, num_classes
        self.img_size = img_size  # informational: global average pooling takes any input size
        self.features = nn.Sequential(
            *_mlpconv(in_chans, (192, 160, 96), 5, 2),
            MaxPool2d(3, 2, ceil_mode=True),
            Dropout(drop_rate),
            *_mlpconv(96, (192, 192, 192), 5, 2),
            AvgPool2d(3, 2, ceil_mode=True),
            Dropout(drop_rate),
            Conv2d(192, 192, 3, padding=1),
            ReLU(),
            Conv2d(192, 192, 1),
            ReLU(),
        )
        self.num_features = 192
        self.classifier = Conv2d(192, num_classes, 1)
        self.act = ReLU()
        self.pool = AdaptiveAvgPool2d(1)
        for m in self.modules():  # the authors' Caffe init: N(0, 0.05) weights, zero biases
            if isinstance(m, Conv2d):
                nn.init.normal_(m.weight, 0.0, 0.05)
                nn.init.zeros_(m.bias)

    def forward_features(self, x: Tensor) -> Tensor:
        """``(N, C_in, H, W)`` -> ``(N, 192, H/4, W/4)``."""
        check_image_input("NiN", x, self.in_chans)
        return self.features(x)

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        if pre_logits:
            return torch.flatten(self.pool(x), 1)  # (N, 192)
        return torch.flatten(self.pool(self.act(self.classifier(x))), 1)  # (N, classes): one map per class

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))

    def reset_classifier(self, num_classes: int) -> None:
        self.num_classes = num_classes
        self.classifier = Conv2d(self.num_features, num_classes, 1)


@register_model(
    family="nin",
    paper="Network In Network",
    year=2014,
    arxiv="1312.4400",
    input_size=(3, 32, 32),
    reference_params=966_986,
    source="layer sizes of the authors' CIFAR-10 model (no total is printed in the paper)",
)
def nin_cifar10(**kwargs: Any) -> NiN:
    return NiN(**kwargs)
