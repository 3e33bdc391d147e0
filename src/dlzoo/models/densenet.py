"""DenseNet-121 (DenseNet-BC), torchvision layout.

Huang, Liu, van der Maaten, Weinberger, "Densely Connected Convolutional Networks", CVPR 2017,
arXiv:1608.06993. Layer ``l`` of a dense block sees the concatenation of all earlier feature maps
(eq. 2): ``x_l = H_l([x_0, x_1, ..., x_{l-1}])`` with the bottleneck
``H_l = conv3x3(relu(norm(conv1x1(relu(norm(.))))))`` producing ``growth_rate`` (k = 32) maps from a
``bn_size * k`` wide 1x1 layer. Transitions halve channels (compression 0.5) and resolution::

    features: conv0 7x7/2 (64) norm0 relu0 pool0 3x3/2            (N, 64, H/4, W/4)
              denseblock1 (6 layers) transition1 ... denseblock4 (16 layers) norm5   (N, 1024, H/32, W/32)
    head:     relu -> global avg pool -> classifier Linear(1024, classes)

Keys follow torchvision (``features.denseblock1.denselayer1.norm1``, ``features.transition1.conv``,
logits ``classifier``), so torchvision checkpoints load strictly. ``drop_rate`` is the dropout before the
classifier (timm's name); ``block_drop_rate`` the dropout inside each dense layer (torchvision's
``drop_rate``). ``act_layer`` names the activation (ReLU); ``global_pool`` the pooling type.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from ..nn import (
    AvgPool2d,
    Conv2d,
    Dropout,
    GlobalPool,
    Linear,
    MaxPool2d,
    create_act,
    create_fc,
    get_norm_layer,
)
from ..nn.create_act import ActSpec
from ..nn.factory import NormSpec
from . import register_model
from ._base import ClassifierMixin
from ._cnn import CNN_SOURCE_TV, check_image_input

__all__ = ["DenseNet", "DenseLayer", "DenseBlock", "Transition"]


class DenseLayer(nn.Module):
    """``H_l``: norm-relu-conv1x1 (bn_size * k) -> norm-relu-conv3x3 (k) [-> dropout]."""

    def __init__(
        self, num_input_features: int, growth_rate: int, bn_size: int, drop_rate: float, norm,
        act_layer: ActSpec = "relu",
    ) -> None:
        super().__init__()
        self.norm1 = norm(num_input_features)
        self.relu1 = create_act(act_layer)
        self.conv1 = Conv2d(num_input_features, bn_size * growth_rate, 1, bias=False)
        self.norm2 = norm(bn_size * growth_rate)
        self.relu2 = create_act(act_layer)
        self.conv2 = Conv2d(bn_size * growth_rate, growth_rate, 3, padding=1, bias=False)
        self.dropout = Dropout(drop_rate)

    def forward(self, features: list[Tensor]) -> Tensor:
        x = torch.cat(features, dim=1)  # [x_0, ..., x_{l-1}]: (N, sum of channels, H, W)
        x = self.conv1(self.relu1(self.norm1(x)))
        return self.dropout(self.conv2(self.relu2(self.norm2(x))))  # (N, k, H, W)


class DenseBlock(nn.ModuleDict):
    """``num_layers`` dense layers; returns all feature maps concatenated."""

    def __init__(
        self, num_layers: int, num_input_features: int, bn_size: int, growth_rate: int, drop_rate: float,
        norm, act_layer: ActSpec = "relu",
    ) -> None:
        super().__init__()
        for i in range(num_layers):
            layer = DenseLayer(num_input_features + i * growth_rate, growth_rate, bn_size, drop_rate, norm,
                               act_layer)
            self.add_module(f"denselayer{i + 1}", layer)

    def forward(self, x: Tensor) -> Tensor:
        features = [x]
        for layer in self.values():
            features.append(layer(features))
        return torch.cat(features, dim=1)  # (N, C_in + num_layers * k, H, W)


class Transition(nn.Sequential):
    """norm -> relu -> conv1x1 (compression) -> avgpool 2x2."""

    def __init__(self, num_input_features: int, num_output_features: int, norm,
                 act_layer: ActSpec = "relu") -> None:
        super().__init__()
        self.norm = norm(num_input_features)
        self.relu = create_act(act_layer)
        self.conv = Conv2d(num_input_features, num_output_features, 1, bias=False)
        self.pool = AvgPool2d(2, stride=2)


class DenseNet(ClassifierMixin, nn.Module):
    """DenseNet-BC (torchvision layout).

    ``forward_features``: (N, C_in, H, W) -> (N, C, H/32, W/32) after ``norm5``; head (torchvision's
    forward): ``act -> global_pool -> drop -> classifier``, pre-logits width ``num_features = C``.
    """

    classifier_name = "classifier"
    global_pool_name = "global_pool"

    def __init__(
        self,
        growth_rate: int = 32,
        block_config: Sequence[int] = (6, 12, 24, 16),
        num_init_features: int = 64,
        bn_size: int = 4,
        num_classes: int = 1000,
        in_chans: int = 3,
        img_size: int | None = None,
        norm_layer: NormSpec = "batchnorm",
        norm_kwargs: dict[str, Any] | None = None,
        drop_rate: float = 0.0,
        block_drop_rate: float = 0.0,
        act_layer: ActSpec = "relu",
        global_pool: str = "avg",
    ) -> None:
        super().__init__()
        norm = get_norm_layer(norm_layer, channels_first=True, **(norm_kwargs or {}))
        self.img_size = img_size  # informational: adaptive pooling takes any input size
        self.in_chans, self.num_classes = in_chans, num_classes
        layers: OrderedDict[str, nn.Module] = OrderedDict(
            conv0=Conv2d(in_chans, num_init_features, 7, stride=2, padding=3, bias=False),
            norm0=norm(num_init_features),
            relu0=create_act(act_layer),
            pool0=MaxPool2d(3, stride=2, padding=1),
        )
        channels = num_init_features
        for i, num_layers in enumerate(block_config):
            layers[f"denseblock{i + 1}"] = DenseBlock(
                num_layers, channels, bn_size, growth_rate, block_drop_rate, norm, act_layer
            )
            channels += num_layers * growth_rate
            if i != len(block_config) - 1:
                layers[f"transition{i + 1}"] = Transition(channels, channels // 2, norm, act_layer)
                channels //= 2
        layers["norm5"] = norm(channels)
        self.features = nn.Sequential(layers)
        self.num_features = channels
        self.act = create_act(act_layer)  # torchvision's F.relu after norm5
        self.global_pool = GlobalPool(global_pool)
        self.drop = Dropout(drop_rate)
        self.classifier = create_fc(channels, num_classes)
        for m in self.modules():  # torchvision: kaiming_normal_ (fan_in) convs, zero linear bias
            if isinstance(m, Conv2d):
                nn.init.kaiming_normal_(m.weight)
        self.init_classifier(self.classifier)

    def init_classifier(self, fc: nn.Module) -> None:
        """torchvision's DenseNet init of the logits layer: default weight init, zero bias."""
        if isinstance(fc, Linear):
            nn.init.zeros_(fc.bias)

    def forward_features(self, x: Tensor) -> Tensor:
        """``(N, C_in, H, W)`` -> ``(N, 1024, H/32, W/32)`` (after ``norm5``)."""
        check_image_input("DenseNet", x, self.in_chans)
        return self.features(x)

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        x = self.drop(self.global_pool(self.act(x)))  # (N, 1024)
        return x if pre_logits else self.classifier(x)


@register_model(
    family="densenet",
    paper="Densely Connected Convolutional Networks",
    year=2017,
    arxiv="1608.06993",
    input_size=(3, 224, 224),
    reference_params=7_978_856,
    source=CNN_SOURCE_TV,
    test_input_size=(3, 32, 32),  # 1x1 after the last transition
)
def densenet121(**kwargs: Any) -> DenseNet:
    return DenseNet(32, (6, 12, 24, 16), 64, **kwargs)
