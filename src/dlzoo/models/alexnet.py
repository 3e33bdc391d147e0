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

Keys follow torchvision (``features.N``, ``classifier.N``; logits ``classifier.6``). ``act_layer`` names the
activation (ReLU); ``norm_layer`` replaces the LRN of ``alexnet_original`` (the single tower has none).
"""

from __future__ import annotations

from typing import Any

from torch import nn

from ..nn import AdaptiveAvgPool2d, Conv2d, Dropout, Linear, MaxPool2d, create_act, create_fc, get_norm_layer
from ..nn.create_act import ActSpec
from ..nn.factory import NormSpec
from . import register_model
from ._cnn import CNN_SOURCE_TV, PooledMlpClassifier

__all__ = ["AlexNet"]

# the paper's LRN constants in torch's convention (alpha is divided by size inside the layer): family
# defaults of get_norm_layer, used when the norm is "lrn", under the caller's norm_kwargs
_NORM_DEFAULTS = {"lrn": {"size": 5, "alpha": 5e-4, "beta": 0.75, "k": 2.0}}


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
        norm_layer: NormSpec | None = None,
        norm_kwargs: dict[str, Any] | None = None,
        mlp_hidden: int = 4096,
        pool_size: int = 6,
        act_layer: ActSpec = "relu",
    ) -> None:
        super().__init__()
        if not original and (norm_layer is not None or norm_kwargs):
            raise ValueError("AlexNet: the single-tower network has no normalization layers; use "
                             f"alexnet_original (LRN) to set norm_layer={norm_layer!r}")
        act = lambda: create_act(act_layer)  # noqa: E731
        self.img_size = img_size  # informational: adaptive pooling takes any input size
        self.in_chans = in_chans
        self.num_classes = num_classes
        if original:
            norm = get_norm_layer(norm_layer or "lrn", channels_first=True, defaults=_NORM_DEFAULTS,
                                  **(norm_kwargs or {}))
            self.features = nn.Sequential(
                Conv2d(in_chans, 96, 11, stride=4),
                act(),
                norm(96),
                MaxPool2d(3, 2),
                Conv2d(96, 256, 5, padding=2, groups=2),
                act(),
                norm(256),
                MaxPool2d(3, 2),
                Conv2d(256, 384, 3, padding=1),
                act(),
                Conv2d(384, 384, 3, padding=1, groups=2),
                act(),
                Conv2d(384, 256, 3, padding=1, groups=2),
                act(),
                MaxPool2d(3, 2),
            )
        else:
            self.features = nn.Sequential(
                Conv2d(in_chans, 64, 11, stride=4, padding=2),
                act(),
                MaxPool2d(3, 2),
                Conv2d(64, 192, 5, padding=2),
                act(),
                MaxPool2d(3, 2),
                Conv2d(192, 384, 3, padding=1),
                act(),
                Conv2d(384, 256, 3, padding=1),
                act(),
                Conv2d(256, 256, 3, padding=1),
                act(),
                MaxPool2d(3, 2),
            )
        self.avgpool = AdaptiveAvgPool2d((pool_size, pool_size))
        self.num_features = mlp_hidden
        self.classifier = nn.Sequential(
            Dropout(drop_rate),
            Linear(256 * pool_size * pool_size, mlp_hidden),
            act(),
            Dropout(drop_rate),
            Linear(mlp_hidden, mlp_hidden),
            act(),
            create_fc(mlp_hidden, num_classes),
        )


_CARD = dict(
    family="alexnet",
    paper="ImageNet Classification with Deep Convolutional Neural Networks",
    year=2012,
    arxiv="NeurIPS 2012",
)
# the smallest inputs giving 1x1 features (the adaptive pool repeats them to pool_size x pool_size)
_TEST = {"alexnet": (3, 63, 63), "alexnet_original": (3, 67, 67)}


@register_model(
    **_CARD,
    input_size=(3, 224, 224),
    reference_params=61_100_840,
    test_input_size=_TEST["alexnet"],
    source=CNN_SOURCE_TV,
    extra={"variant": "single tower (arXiv:1404.5997)"},
)
def alexnet(**kwargs: Any) -> AlexNet:
    return AlexNet(**kwargs)


@register_model(
    **_CARD,
    input_size=(3, 227, 227),
    reference_params=60_965_224,
    test_input_size=_TEST["alexnet_original"],
    source="paper's layer sizes (Fig. 2); Caffe bvlc_alexnet count",
    extra={"variant": "two-group original with LRN"},
)
def alexnet_original(**kwargs: Any) -> AlexNet:
    return AlexNet(original=True, **kwargs)
