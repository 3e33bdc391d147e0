"""GoogLeNet (Inception v1), torchvision layout.

Szegedy et al., "Going Deeper with Convolutions", CVPR 2015, arXiv:1409.4842 (Table 1). An Inception
module concatenates four branches along channels::

    [ 1x1 | 1x1 -> 3x3 | 1x1 -> 3x3* | maxpool3x3/1 -> 1x1 ]      (N, c1 + c3 + c5 + pool_proj, H, W)

(*) torchvision's GoogLeNet (and so its 6,624,904-parameter count) uses a 3x3 conv where Table 1 has
5x5; we keep torchvision's layout so its checkpoints load. Every conv is ``BasicConv2d``: conv (no
bias) -> norm (BatchNorm eps=1e-3 by default) -> ReLU. Stem: conv7x7/2 -> pool -> conv1x1 -> conv3x3
-> pool; then 3a 3b pool 4a-4e pool 5a 5b -> global avg pool -> dropout 0.2 -> fc. Optional auxiliary
classifiers (``aux_logits=True``) on 4a and 4d: avgpool to 4x4 -> conv1x1 128 -> fc 1024 -> dropout 0.7
-> fc; in training mode the model then returns ``(logits, aux2, aux1)``.
"""

from __future__ import annotations

from collections import namedtuple
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..nn import AdaptiveAvgPool2d, Conv2d, Dropout, Linear, MaxPool2d, ReLU
from ..nn.factory import NormSpec
from . import register_model
from ._cnn import CNN_SOURCE_TV, check_image_input, resolve_norm

__all__ = ["GoogLeNet", "Inception", "InceptionAux", "BasicConv2d", "GoogLeNetOutputs"]

GoogLeNetOutputs = namedtuple("GoogLeNetOutputs", ["logits", "aux_logits2", "aux_logits1"])


class BasicConv2d(nn.Module):
    """conv (bias=False) -> norm -> ReLU."""

    def __init__(self, in_channels: int, out_channels: int, norm_layer, **conv_kwargs: Any) -> None:
        super().__init__()
        self.conv = Conv2d(in_channels, out_channels, bias=False, **conv_kwargs)
        self.bn = norm_layer(out_channels)
        self.relu = ReLU()

    def forward(self, x: Tensor) -> Tensor:
        return self.relu(self.bn(self.conv(x)))


class Inception(nn.Module):
    """Four parallel branches concatenated on channels (Szegedy et al. 2015, Fig. 2b)."""

    def __init__(
        self,
        in_channels: int,
        ch1x1: int,
        ch3x3red: int,
        ch3x3: int,
        ch5x5red: int,
        ch5x5: int,
        pool_proj: int,
        norm_layer,
    ) -> None:
        super().__init__()
        self.branch1 = BasicConv2d(in_channels, ch1x1, norm_layer, kernel_size=1)
        self.branch2 = nn.Sequential(
            BasicConv2d(in_channels, ch3x3red, norm_layer, kernel_size=1),
            BasicConv2d(ch3x3red, ch3x3, norm_layer, kernel_size=3, padding=1),
        )
        self.branch3 = nn.Sequential(
            BasicConv2d(in_channels, ch5x5red, norm_layer, kernel_size=1),
            BasicConv2d(ch5x5red, ch5x5, norm_layer, kernel_size=3, padding=1),
        )
        self.branch4 = nn.Sequential(
            MaxPool2d(3, stride=1, padding=1, ceil_mode=True),
            BasicConv2d(in_channels, pool_proj, norm_layer, kernel_size=1),
        )

    def forward(self, x: Tensor) -> Tensor:
        branches = [self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)]
        return torch.cat(branches, dim=1)  # (N, ch1x1 + ch3x3 + ch5x5 + pool_proj, H, W)


class InceptionAux(nn.Module):
    """Auxiliary classifier: avgpool 4x4 -> 1x1 conv 128 -> fc 1024 -> dropout 0.7 -> fc."""

    def __init__(self, in_channels: int, num_classes: int, norm_layer, dropout: float = 0.7) -> None:
        super().__init__()
        self.conv = BasicConv2d(in_channels, 128, norm_layer, kernel_size=1)
        self.fc1 = Linear(2048, 1024)
        self.fc2 = Linear(1024, num_classes)
        self.dropout = Dropout(dropout)
        self.pool = AdaptiveAvgPool2d((4, 4))

    def forward(self, x: Tensor) -> Tensor:
        x = torch.flatten(self.conv(self.pool(x)), 1)  # (N, 128 * 4 * 4)
        return self.fc2(self.dropout(F.relu(self.fc1(x))))


class GoogLeNet(nn.Module):
    """GoogLeNet / Inception v1 (torchvision keys: conv1.conv, inception3a.branch2.1.bn, fc)."""

    def __init__(
        self,
        num_classes: int = 1000,
        in_chans: int = 3,
        img_size: int | None = None,
        aux_logits: bool = False,
        norm_layer: NormSpec = "batchnorm",
        norm_kwargs: dict[str, Any] | None = None,
        drop_rate: float = 0.2,
        aux_drop_rate: float = 0.7,
    ) -> None:
        super().__init__()
        norm = resolve_norm(norm_layer, norm_kwargs, eps=1e-3)
        self.img_size = img_size  # informational: adaptive pooling takes any input size
        self.in_chans, self.num_classes, self.aux_logits = in_chans, num_classes, aux_logits
        self.conv1 = BasicConv2d(in_chans, 64, norm, kernel_size=7, stride=2, padding=3)
        self.maxpool1 = MaxPool2d(3, stride=2, ceil_mode=True)
        self.conv2 = BasicConv2d(64, 64, norm, kernel_size=1)
        self.conv3 = BasicConv2d(64, 192, norm, kernel_size=3, padding=1)
        self.maxpool2 = MaxPool2d(3, stride=2, ceil_mode=True)
        self.inception3a = Inception(192, 64, 96, 128, 16, 32, 32, norm)
        self.inception3b = Inception(256, 128, 128, 192, 32, 96, 64, norm)
        self.maxpool3 = MaxPool2d(3, stride=2, ceil_mode=True)
        self.inception4a = Inception(480, 192, 96, 208, 16, 48, 64, norm)
        self.inception4b = Inception(512, 160, 112, 224, 24, 64, 64, norm)
        self.inception4c = Inception(512, 128, 128, 256, 24, 64, 64, norm)
        self.inception4d = Inception(512, 112, 144, 288, 32, 64, 64, norm)
        self.inception4e = Inception(528, 256, 160, 320, 32, 128, 128, norm)
        self.maxpool4 = MaxPool2d(2, stride=2, ceil_mode=True)
        self.inception5a = Inception(832, 256, 160, 320, 32, 128, 128, norm)
        self.inception5b = Inception(832, 384, 192, 384, 48, 128, 128, norm)
        if aux_logits:
            self.aux1 = InceptionAux(512, num_classes, norm, aux_drop_rate)
            self.aux2 = InceptionAux(528, num_classes, norm, aux_drop_rate)
        else:
            self.aux1 = self.aux2 = None
        self.avgpool = AdaptiveAvgPool2d((1, 1))
        self.dropout = Dropout(drop_rate)
        self.num_features = 1024
        self.fc = Linear(1024, num_classes)
        for m in self.modules():  # torchvision: truncated normal(std 0.01) for conv and linear weights
            if isinstance(m, (Conv2d, Linear)):
                nn.init.trunc_normal_(m.weight, mean=0.0, std=0.01, a=-2, b=2)

    def _features(self, x: Tensor) -> tuple[Tensor, Tensor | None, Tensor | None]:
        check_image_input("GoogLeNet", x, self.in_chans)
        x = self.maxpool1(self.conv1(x))
        x = self.maxpool2(self.conv3(self.conv2(x)))
        x = self.maxpool3(self.inception3b(self.inception3a(x)))
        x = self.inception4a(x)
        aux1 = self.aux1(x) if self.aux1 is not None and self.training else None
        x = self.inception4d(self.inception4c(self.inception4b(x)))
        aux2 = self.aux2(x) if self.aux2 is not None and self.training else None
        x = self.maxpool4(self.inception4e(x))
        return self.inception5b(self.inception5a(x)), aux1, aux2

    def forward_features(self, x: Tensor) -> Tensor:
        """``(N, C_in, H, W)`` -> ``(N, 1024, H/32, W/32)``."""
        return self._features(x)[0]

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        x = self.dropout(torch.flatten(self.avgpool(x), 1))  # (N, 1024)
        return x if pre_logits else self.fc(x)

    def forward(self, x: Tensor):
        feats, aux1, aux2 = self._features(x)
        logits = self.forward_head(feats)
        if aux1 is not None:
            return GoogLeNetOutputs(logits, aux2, aux1)
        return logits

    def reset_classifier(self, num_classes: int) -> None:
        self.num_classes = num_classes
        self.fc = Linear(self.num_features, num_classes)


@register_model(
    family="googlenet",
    paper="Going Deeper with Convolutions",
    year=2015,
    arxiv="1409.4842",
    input_size=(3, 224, 224),
    reference_params=6_624_904,
    source=CNN_SOURCE_TV + " (without aux heads)",
)
def googlenet(**kwargs: Any) -> GoogLeNet:
    return GoogLeNet(**kwargs)
