"""Network in Network (CIFAR-10 configuration).

Lin, Chen, Yan, "Network In Network", ICLR 2014, arXiv:1312.4400. Each "mlpconv" layer is a
spatial convolution followed by two 1x1 convolutions (a small MLP shared over positions, Sec. 3.1),
all with ReLU; the classifier is global average pooling over one map per class (Sec. 3.2)::

    mlpconv1: conv5x5 192, 1x1 160, 1x1 96  -> maxpool 3/2 -> dropout   (N, 96, 16, 16) at 32x32
    mlpconv2: conv5x5 192, 1x1 192, 1x1 192 -> avgpool 3/2 -> dropout   (N, 192, 8, 8)
    mlpconv3: conv3x3 192, 1x1 192, 1x1 classes -> global avg pool      (N, classes)

Widths follow the authors' released CIFAR-10 model (pools in Caffe's ceil mode); 966,986 parameters.

The per-class 1x1 convolution is the logits layer ``classifier``: a 1x1 conv is a linear map applied at
every position, so it is kept as a ``Linear(192, classes)`` over channels-last maps, which makes it a
standard classifier (``get_classifier`` / ``reset_classifier``). Head, Sec. 3.2::

    logits_k = mean_{h,w} act(sum_c W_kc x_chw + b_k)                  (N, classes)

``pre_logits`` (and ``num_classes=0``) give the pooled features ``mean_{h,w} x`` (N, 192).
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from ..nn import AvgPool2d, Conv2d, Dropout, GlobalPool, Identity, Linear, MaxPool2d, create_act, create_fc
from ..nn.create_act import ActSpec
from . import register_model
from ._base import ClassifierMixin
from ._cnn import check_image_input

__all__ = ["NiN"]


def _mlpconv(in_chans: int, widths: tuple[int, ...], kernel: int, padding: int, act_layer: ActSpec
             ) -> list[nn.Module]:
    """conv kxk -> act -> (conv1x1 -> act)*: one mlpconv layer (Sec. 3.1), ``len(widths)`` convs."""
    layers: list[nn.Module] = [Conv2d(in_chans, widths[0], kernel, padding=padding), create_act(act_layer)]
    for cin, cout in zip(widths[:-1], widths[1:]):
        layers += [Conv2d(cin, cout, 1), create_act(act_layer)]
    return layers


class NiN(ClassifierMixin, nn.Module):
    """Network in Network; ``forward_features`` ends before the per-class 1x1 conv (``classifier``)."""

    classifier_name = "classifier"
    global_pool_name = "global_pool"

    def __init__(
        self, num_classes: int = 10, in_chans: int = 3, drop_rate: float = 0.5, img_size: int | None = None,
        act_layer: ActSpec = "relu", global_pool: str = "avg",
    ) -> None:
        super().__init__()
        self.in_chans, self.num_classes = in_chans, num_classes
        self.img_size = img_size  # informational: global average pooling takes any input size
        self.features = nn.Sequential(
            *_mlpconv(in_chans, (192, 160, 96), 5, 2, act_layer),
            MaxPool2d(3, 2, ceil_mode=True),
            Dropout(drop_rate),
            *_mlpconv(96, (192, 192, 192), 5, 2, act_layer),
            AvgPool2d(3, 2, ceil_mode=True),
            Dropout(drop_rate),
            *_mlpconv(192, (192, 192), 3, 1, act_layer),
        )
        self.num_features = 192
        self.classifier = create_fc(192, num_classes)  # the last 1x1 conv, applied channels-last
        self.act = create_act(act_layer)
        self.global_pool = GlobalPool(global_pool, input_fmt="NHWC")
        for m in self.modules():  # the authors' Caffe init: N(0, 0.05) weights, zero biases
            if isinstance(m, (Conv2d, Linear)):
                self.init_classifier(m)

    def init_classifier(self, fc: nn.Module) -> None:
        """The authors' Caffe init: ``N(0, 0.05)`` weights, zero biases."""
        if isinstance(fc, (Conv2d, Linear)):
            nn.init.normal_(fc.weight, 0.0, 0.05)
            nn.init.zeros_(fc.bias)

    def forward_features(self, x: Tensor) -> Tensor:
        """``(N, C_in, H, W)`` -> ``(N, 192, H/4, W/4)``."""
        check_image_input("NiN", x, self.in_chans)
        return self.features(x)

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        x = x.permute(0, 2, 3, 1)  # (N, h, w, 192): the 1x1 conv as a Linear over channels
        if pre_logits or isinstance(self.classifier, Identity):
            return self.global_pool(x)  # (N, 192)
        return self.global_pool(self.act(self.classifier(x)))  # (N, classes): one map per class


@register_model(
    family="nin",
    paper="Network In Network",
    year=2014,
    arxiv="1312.4400",
    input_size=(3, 32, 32),
    reference_params=966_986,
    source="layer sizes of the authors' CIFAR-10 model (no total is printed in the paper)",
    test_input_size=(3, 32, 32),
)
def nin_cifar10(**kwargs: Any) -> NiN:
    return NiN(**kwargs)
