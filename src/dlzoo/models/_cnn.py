"""Small helpers shared by the classic CNN families (norm resolution, torchvision-style init).

The CNNs use out-of-place ReLUs (torchvision uses ``inplace=True``): with ``norm_layer`` swappable,
the layer before a ReLU may be a custom autograd kernel whose output must not be modified in place.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from ..nn import Conv2d, Linear, get_norm_layer
from ..nn.factory import NormSpec

__all__ = [
    "resolve_norm",
    "init_conv_kaiming",
    "check_image_input",
    "PooledMlpClassifier",
    "CNN_SOURCE_TV",
    "CNN_SOURCE_TIMM",
]

CNN_SOURCE_TV = "torchvision model docs (num_params)"
CNN_SOURCE_TIMM = "timm; Cadene pretrainedmodels n_params; pytorchcv weight_count tests"


def resolve_norm(
    norm_layer: NormSpec, norm_kwargs: dict[str, Any] | None, **defaults: Any
) -> Callable[[int], nn.Module]:
    """Channels-first norm maker ``make(C)`` from a name/class/partial plus ``norm_kwargs``.

    ``defaults`` (e.g. GoogLeNet's BatchNorm ``eps=1e-3``) apply only when ``norm_layer`` is the
    default ``"batchnorm"`` and the caller did not set them.
    """
    kw = dict(norm_kwargs or {})
    if isinstance(norm_layer, str) and norm_layer.lower().replace("_", "") == "batchnorm":
        for key, value in defaults.items():
            kw.setdefault(key, value)
    return get_norm_layer(norm_layer, channels_first=True, **kw)


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


def fan_in_uniform_(weight, bias=None) -> None:
    """U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and bias (torch's default Linear/Conv rule)."""
    fan_in = math.prod(weight.shape[1:])
    bound = 1 / math.sqrt(fan_in)
    nn.init.uniform_(weight, -bound, bound)
    if bias is not None:
        nn.init.uniform_(bias, -bound, bound)


def check_image_input(owner: str, x: Tensor, in_chans: int) -> None:
    """Raise ``ValueError`` naming ``owner`` unless ``x`` is an image batch ``(N, in_chans, H, W)``."""
    if x.dim() != 4 or x.shape[1] != in_chans:
        raise ValueError(f"{owner}: expected input of shape (N, {in_chans}, H, W), got {list(x.shape)}")


class PooledMlpClassifier(nn.Module):
    """torchvision's AlexNet/VGG layout: ``features`` -> ``avgpool`` -> flatten -> ``classifier``.

    Subclasses set ``in_chans``, ``num_classes``, ``num_features`` (pre-logits width) and the modules
    ``features`` (N, C_in, H, W) -> (N, C, h, w), ``avgpool`` (-> (N, C, p, p)) and ``classifier``, an
    ``nn.Sequential`` over (N, C * p * p) whose last layer is the logits ``Linear``.
    """

    def forward_features(self, x: Tensor) -> Tensor:
        """``(N, C_in, H, W)`` -> ``(N, C, h, w)``."""
        check_image_input(type(self).__name__, x, self.in_chans)
        return self.features(x)

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        x = torch.flatten(self.avgpool(x), 1)  # (N, C * pool_size**2)
        x = self.classifier[:-1](x)  # (N, num_features)
        return x if pre_logits else self.classifier[-1](x)

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))

    def reset_classifier(self, num_classes: int) -> None:
        self.num_classes = num_classes
        self.classifier[-1] = Linear(self.num_features, num_classes)
