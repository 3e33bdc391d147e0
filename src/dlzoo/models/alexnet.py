"""AlexNet: torchvision's single-tower layout and the original two-group (two-GPU) network.

Krizhevsky, Sutskever, Hinton, "ImageNet Classification with Deep Convolutional Neural Networks",
NeurIPS 2012 (and Krizhevsky, "One weird trick for parallelizing convolutional neural networks",
2014, arXiv:1404.5997, the single-tower 64-192-384-256-256 variant torchvision ships).

``alexnet`` (torchvision, 61,100,840 params)::

    features:   conv11x11/4 (64) relu pool3/2, conv5x5 (192) relu pool, conv3x3 (384) relu,
                conv3x3 (256) relu, conv3x3 (256) relu pool                     (N, 256, 6, 6) at 224
    classifier: dropout Linear(9216, 4096) relu dropout Linear(4096, 4096) relu Linear(4096, classes)

``alexnet_original`` (the 2012 paper, Fig. 2; 60,965,224 params, 227x227 input): 96-256-384-384-256
kernels, conv2/4/5 split into two groups (each GPU sees only its half of the previous layer's maps),
Local Response Normalization after the ReLUs of conv1 and conv2 (paper Sec. 3.3:
``b = a / (k + alpha * sum_{j} a_j^2)^beta`` with k=2, n=5, alpha=1e-4, beta=0.75; torch's LRN divides
alpha by n, so alpha=5e-4 is passed), max pools 3x3/2 ("overlapping pooling").
"""

from __future__ import annotations

from typing import Any

from torch import nn

from ..nn import AdaptiveAvgPool2d, Conv2d, Dropout, Linear, MaxPool2d, ReLU, get_norm_layer
from ..nn.factory import NormSpec
from . import register_model
from ._cnn import CNN_SOURCE_TV, PooledMlpClassifier

__all__ = ["AlexNet"]

# the paper's LRN constants in torch's convention (alpha is divided by size inside the layer)
_PAPER_LRN = {"size": 5, "alpha": 5e-4, "beta": 0.75, "k": 2.0}


class AlexNet(PooledMlpClassifier):
    """AlexNet; ``original=True`` builds the 2012 two-group network with LRN (``norm_layer``).

    ``features``: (N, C_in, H, W) -> (N, 256, h, w) (6x6 at 224 / 227); head as ``PooledMlpClassifier``.
    """

    def __init__(
        self,
        num_classes: int = 1000,
        in_chans: int = 3,
        img_size: int | None = None,
        drop_rate: float = 0.5,
        original: bool = False,
        norm_layer: NormSpec = "lrn",
        norm_kwargs: dict[str, Any] | None = None,
        mlp_hidden: int = 4096,
        pool_size: int = 6,
    ) -> None:
        super().__init__()
        self.img_size = img_size  # informational: adaptive pooling takes any input size
        self.in_chans = in_chans
        self.num_classes = num_classes
        if original:
            if norm_kwargs is None and isinstance(norm_layer, str) and norm_layer.lower() == "lrn":
                norm_kwargs = _PAPER_LRN
            norm = get_norm_layer(norm_layer, channels_first=True, **(norm_kwargs or {}))
            self.features = nn.Sequential(
                Conv2d(in_chans, 96, 11, stride=4),
                ReLU(),
                norm(96),
                MaxPool2d(3, 2),
                Conv2d(96, 256, 5, padding=2, groups=2),
                ReLU(),
                norm(256),
                MaxPool2d(3, 2),
                Conv2d(256, 384, 3, padding=1),
                ReLU(),
                Conv2d(384, 384, 3, padding=1, groups=2),
                ReLU(),
                Conv2d(384, 256, 3, padding=1, groups=2),
                ReLU(),
                MaxPool2d(3, 2),
            )
        else:
            self.features = nn.Sequential(
                Conv2d(in_chans, 64, 11, stride=4, padding=2),
                ReLU(),
                MaxPool2d(3, 2),
                Conv2d(64, 192, 5, padding=2),
                ReLU(),
                MaxPool2d(3, 2),
                Conv2d(192, 384, 3, padding=1),
                ReLU(),
                Conv2d(384, 256, 3, padding=1),
                ReLU(),
                Conv2d(256, 256, 3, padding=1),
                ReLU(),
                MaxPool2d(3, 2),
            )
        self.avgpool = AdaptiveAvgPool2d((pool_size, pool_size))
        self.num_features = mlp_hidden
        self.classifier = nn.Sequential(
            Dropout(drop_rate),
            Linear(256 * pool_size * pool_size, mlp_hidden),
            ReLU(),
            Dropout(drop_rate),
            Linear(mlp_hidden, mlp_hidden),
            ReLU(),
            Linear(mlp_hidden, num_classes),
        )


_CARD = dict(
    family="alexnet",
    paper="ImageNet Classification with Deep Convolutional Neural Networks",
    year=2012,
    arxiv="NeurIPS 2012",
)


@register_model(
    **_CARD,
    input_size=(3, 224, 224),
    reference_params=61_100_840,
    source=CNN_SOURCE_TV,
    extra={"variant": "single tower (arXiv:1404.5997)"},
)
def alexnet(**kwargs: Any) -> AlexNet:
    return AlexNet(**kwargs)


@register_model(
    **_CARD,
    input_size=(3, 227, 227),
    reference_params=60_965_224,
    source="paper's layer sizes (Fig. 2); Caffe bvlc_alexnet count",
    extra={"variant": "two-group original with LRN"},
)
def alexnet_original(**kwargs: Any) -> AlexNet:
    return AlexNet(original=True, **kwargs)
