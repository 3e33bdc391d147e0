"""VGG-11/13/16/19, with and without BatchNorm.

Simonyan & Zisserman, "Very Deep Convolutional Networks for Large-Scale Image Recognition", ICLR 2015,
arXiv:1409.1556 (configurations A, B, D, E of Table 1). Stacks of 3x3 convs (stride 1, padding 1)
+ ReLU, separated by 2x2 max pools, then three fully connected layers::

    features:   [conv3x3 -> (norm) -> relu]* -> maxpool2x2, five times   (N, 512, H/32, W/32)
    avgpool:    adaptive average pool to 7x7                              (N, 512, 7, 7)
    classifier: Linear(25088, 4096) relu dropout Linear(4096, 4096) relu dropout Linear(4096, classes)

Keys follow torchvision (``features.N``, ``classifier.N``; the logits layer is ``classifier.6``), so
torchvision checkpoints load strictly. ``vgg*_bn`` add a norm after every conv (BatchNorm2d by default;
any ``norm_layer``). ``act_layer`` names the activation (ReLU). ``mlp_hidden``/``pool_size`` shrink the
classifier for tests and small images (defaults reproduce the paper); with adaptive pooling any input
of at least 32x32 works. ``num_features`` is the pre-logits width ``mlp_hidden`` (timm's convention).
"""

from __future__ import annotations

from typing import Any

from torch import nn

from ..nn import AdaptiveAvgPool2d, Conv2d, Dropout, Linear, MaxPool2d, create_act, create_fc, get_norm_layer
from ..nn.create_act import ActSpec
from ..nn.factory import NormSpec
from . import register_model
from ._cnn import CNN_SOURCE_TV, PooledMlpClassifier, init_conv_kaiming

__all__ = ["VGG", "VGG_CFGS"]

VGG_CFGS: dict[str, list[int | str]] = {
    "A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "B": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "D": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "E": [
        64,
        64,
        "M",
        128,
        128,
        "M",
        256,
        256,
        256,
        256,
        "M",
        512,
        512,
        512,
        512,
        "M",
        512,
        512,
        512,
        512,
        "M",
    ],
}


class VGG(PooledMlpClassifier):
    """VGG network (torchvision layout). ``cfg``: channel counts with ``"M"`` for max pools.

    ``features``: (N, C_in, H, W) -> (N, 512, H/32, W/32); head as ``PooledMlpClassifier``.
    """

    def __init__(
        self,
        cfg: str | list[int | str] = "D",
        batch_norm: bool = False,
        num_classes: int = 1000,
        in_chans: int = 3,
        img_size: int | None = None,
        norm_layer: NormSpec | None = None,
        norm_kwargs: dict[str, Any] | None = None,
        drop_rate: float = 0.5,
        mlp_hidden: int = 4096,
        pool_size: int = 7,
        act_layer: ActSpec = "relu",
    ) -> None:
        super().__init__()
        cfg = VGG_CFGS[cfg] if isinstance(cfg, str) else cfg
        if not batch_norm and (norm_layer is not None or norm_kwargs):
            raise ValueError(
                "VGG: this configuration has no normalization layers; use the *_bn variant "
                f"to set norm_layer={norm_layer!r}"
            )
        norm = (get_norm_layer(norm_layer or "batchnorm", channels_first=True, **(norm_kwargs or {}))
                if batch_norm else None)
        self.img_size = img_size  # informational: adaptive pooling takes any input size
        self.in_chans = in_chans
        self.num_classes = num_classes
        layers: list[nn.Module] = []
        channels = in_chans
        for v in cfg:
            if v == "M":
                layers.append(MaxPool2d(kernel_size=2, stride=2))
                continue
            layers.append(Conv2d(channels, int(v), kernel_size=3, padding=1))
            if norm is not None:
                layers.append(norm(int(v)))
            layers.append(create_act(act_layer))
            channels = int(v)
        self.features = nn.Sequential(*layers)
        self.avgpool = AdaptiveAvgPool2d((pool_size, pool_size))
        self.num_features = mlp_hidden  # width of the pre-logits features (timm convention)
        self.classifier = nn.Sequential(
            Linear(channels * pool_size * pool_size, mlp_hidden),
            create_act(act_layer),
            Dropout(drop_rate),
            Linear(mlp_hidden, mlp_hidden),
            create_act(act_layer),
            Dropout(drop_rate),
            create_fc(mlp_hidden, num_classes),
        )
        init_conv_kaiming(self, linear_std=0.01)

    def init_classifier(self, fc: nn.Module) -> None:
        """torchvision's VGG init for a new logits layer: ``N(0, 0.01)`` weights, zero bias."""
        if isinstance(fc, Linear):
            nn.init.normal_(fc.weight, 0.0, 0.01)
            nn.init.zeros_(fc.bias)


_CARD = dict(
    family="vgg",
    paper="Very Deep Convolutional Networks for Large-Scale Image Recognition",
    year=2015,
    arxiv="1409.1556",
    input_size=(3, 224, 224),
    source=CNN_SOURCE_TV,
    test_input_size=(3, 32, 32),  # 1x1 features; the adaptive pool repeats them to 7x7
)


@register_model(**_CARD, reference_params=132_863_336)
def vgg11(**kwargs: Any) -> VGG:
    return VGG("A", False, **kwargs)


@register_model(**_CARD, reference_params=132_868_840)
def vgg11_bn(**kwargs: Any) -> VGG:
    return VGG("A", True, **kwargs)


@register_model(**_CARD, reference_params=133_047_848)
def vgg13(**kwargs: Any) -> VGG:
    return VGG("B", False, **kwargs)


@register_model(**_CARD, reference_params=133_053_736)
def vgg13_bn(**kwargs: Any) -> VGG:
    return VGG("B", True, **kwargs)


@register_model(**_CARD, reference_params=138_357_544)
def vgg16(**kwargs: Any) -> VGG:
    return VGG("D", False, **kwargs)


@register_model(**_CARD, reference_params=138_365_992)
def vgg16_bn(**kwargs: Any) -> VGG:
    return VGG("D", True, **kwargs)


@register_model(**_CARD, reference_params=143_667_240)
def vgg19(**kwargs: Any) -> VGG:
    return VGG("E", False, **kwargs)


@register_model(**_CARD, reference_params=143_678_248)
def vgg19_bn(**kwargs: Any) -> VGG:
    return VGG("E", True, **kwargs)
