"""Helpers shared by the classic CNN families: torchvision-style init, input checks, the AlexNet/VGG head.

The CNNs use out-of-place ReLUs (torchvision uses ``inplace=True``): with ``norm_layer`` swappable,
the layer before a ReLU may be a custom autograd kernel whose output must not be modified in place.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..nn import Conv2d, Linear
from ._base import ClassifierMixin

__all__ = [
    "init_conv_kaiming",
    "check_image_input",
    "PooledMlpClassifier",
    "CNN_SOURCE_TV",
    "CNN_SOURCE_TIMM",
]

CNN_SOURCE_TV = "torchvision model docs (num_params)"
CNN_SOURCE_TIMM = "timm; Cadene pretrainedmodels n_params; pytorchcv weight_count tests"


def init_conv_kaiming(model: nn.Module, linear_std: float | None = None) -> None:
    """torchvision's CNN init: convs ``kaiming_normal_(fan_out, relu)``, zero conv biases; Linear
    layers ``N(0, linear_std)`` with zero bias when ``linear_std`` is given (VGG: 0.01)."""
    for m in model.modules():
        if isinstance(m, (Conv2d, nn.Conv2d)):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (Linear, nn.Linear)) and linear_std is not None:
            nn.init.normal_(m.weight, 0.0, linear_std)
            nn.init.zeros_(m.bias)


def check_image_input(owner: str, x: Tensor, in_chans: int) -> None:
    """Raise ``ValueError`` naming ``owner`` unless ``x`` is an image batch ``(N, in_chans, H, W)``."""
    if x.dim() != 4 or x.shape[1] != in_chans:
        raise ValueError(f"{owner}: expected input of shape (N, {in_chans}, H, W), got {list(x.shape)}")


class PooledMlpClassifier(ClassifierMixin, nn.Module):
    """torchvision's AlexNet/VGG layout: ``features`` -> ``avgpool`` -> flatten -> ``classifier``.

    Subclasses set ``in_chans``, ``num_classes``, ``num_features`` (pre-logits width) and the modules
    ``features`` (N, C_in, H, W) -> (N, C, h, w), ``avgpool`` (-> (N, C, p, p)) and ``classifier``, an
    ``nn.Sequential`` over (N, C * p * p) whose last layer (``classifier.6``, torchvision's key) is the
    logits ``Linear``. The pooling is fixed (an adaptive pool to p x p feeding the MLP), so
    ``reset_classifier(k, global_pool=...)`` refuses a new pooling type.
    """

    classifier_name = "classifier.6"
    global_pool_name = None

    def forward_features(self, x: Tensor) -> Tensor:
        """``(N, C_in, H, W)`` -> ``(N, C, h, w)``."""
        check_image_input(type(self).__name__, x, self.in_chans)
        return self.features(x)

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        x = torch.flatten(self.avgpool(x), 1)  # (N, C * pool_size**2)
        x = self.classifier[:-1](x)  # (N, num_features)
        return x if pre_logits else self.classifier[-1](x)
