"""ResNet, ResNeXt and SE-ResNet(X).

* ResNet — He, Zhang, Ren, Sun, "Deep Residual Learning for Image Recognition", CVPR 2016,
  arXiv:1512.03385. A block computes ``y = relu(F(x) + shortcut(x))``; ``shortcut`` is the identity,
  or a strided 1x1 conv + norm (option B) where the shape changes. The bottleneck puts the stride on
  the 3x3 conv ("ResNet v1.5", as torchvision and timm do).
* ResNeXt — Xie, Girshick, Dollar, Tu, He, "Aggregated Residual Transformations for Deep Neural
  Networks", CVPR 2017, arXiv:1611.05431: the bottleneck 3x3 is a grouped conv with ``cardinality``
  groups of ``base_width`` channels (32x4d: width = planes * 4 / 64 * 32).
* SE-ResNet(X) — Hu et al., "Squeeze-and-Excitation Networks", CVPR 2018, arXiv:1709.01507: an SE
  module rescales the residual branch before the addition (timm's ``seresnet50`` layout, ``se.fc1/fc2``).

Layout (input (N, C_in, H, W)): ``conv1`` 7x7/2 -> ``bn1`` -> relu -> ``maxpool`` 3x3/2
-> ``layer1..4`` (strides 1, 2, 2, 2) -> global avg pool -> ``fc``; output (N, num_classes).
State-dict keys follow torchvision (``layer1.0.conv1``, ``layer2.0.downsample.0``, ``fc``), so a
torchvision / timm checkpoint loads directly.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from ..nn import AdaptiveAvgPool2d, Conv2d, Dropout, DropPath, Linear, MaxPool2d, ReLU, SqueezeExcite
from ..nn.factory import NormSpec
from . import register_model
from ._cnn import CNN_SOURCE_TIMM, CNN_SOURCE_TV, check_image_input, init_conv_kaiming, resolve_norm

__all__ = ["ResNet", "BasicBlock", "Bottleneck"]


class _ResidualBlock(nn.Module):
    """What BasicBlock and Bottleneck share: the residual tail ``relu(drop_path(se(F(x))) + shortcut(x))``.

    Subclasses build their branch ``F`` (ending in norm ``last_norm``) and call ``_init_residual``.
    """

    expansion = 1
    last_norm = "bn2"  # attribute name of the branch's final norm (zeroed by ``zero_init_residual``)

    def _init_residual(
        self, out_channels: int, use_se: bool, downsample: nn.Module | None, drop_path: float
    ) -> None:
        self.se = SqueezeExcite(out_channels) if use_se else None
        self.downsample = downsample
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def _residual(self, out: Tensor, x: Tensor) -> Tensor:
        """``out = F(x)`` of shape (N, C_out, H', W') -> ``relu(drop_path(se(out)) + shortcut(x))``."""
        shortcut = x if self.downsample is None else self.downsample(x)
        if self.se is not None:
            out = self.se(out)
        return self.relu(self.drop_path(out) + shortcut)


class BasicBlock(_ResidualBlock):
    """Two 3x3 convs: ``relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))`` (ResNet-18/34)."""

    expansion = 1

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        groups: int = 1,
        base_width: int = 64,
        norm_layer=None,
        use_se: bool = False,
        drop_path: float = 0.0,
    ) -> None:
        super().__init__()
        if groups != 1 or base_width != 64:
            raise ValueError("BasicBlock: only groups=1 and base_width=64 are supported")
        self.conv1 = Conv2d(inplanes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = norm_layer(planes)
        self.relu = ReLU()
        self.conv2 = Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = norm_layer(planes)
        self._init_residual(planes, use_se, downsample, drop_path)

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        return self._residual(self.bn2(self.conv2(out)), x)


class Bottleneck(_ResidualBlock):
    """1x1 reduce -> 3x3 (stride, groups) -> 1x1 expand (x4), plus shortcut (ResNet-50+ / ResNeXt)."""

    expansion = 4
    last_norm = "bn3"

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        groups: int = 1,
        base_width: int = 64,
        norm_layer=None,
        use_se: bool = False,
        drop_path: float = 0.0,
    ) -> None:
        super().__init__()
        width = int(planes * (base_width / 64.0)) * groups
        self.conv1 = Conv2d(inplanes, width, 1, bias=False)
        self.bn1 = norm_layer(width)
        self.conv2 = Conv2d(width, width, 3, stride=stride, padding=1, groups=groups, bias=False)
        self.bn2 = norm_layer(width)
        self.conv3 = Conv2d(width, planes * self.expansion, 1, bias=False)
        self.bn3 = norm_layer(planes * self.expansion)
        self.relu = ReLU()
        self._init_residual(planes * self.expansion, use_se, downsample, drop_path)

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self._residual(self.bn3(self.conv3(out)), x)


class ResNet(nn.Module):
    """ResNet / ResNeXt / SE-ResNet backbone + linear classifier (torchvision key layout).

    Args:
        block: ``"basic"`` or ``"bottleneck"``; layers: blocks per stage, e.g. (3, 4, 6, 3).
        groups, width_per_group: ResNeXt cardinality and per-group width (1, 64 for plain ResNet).
        use_se: add an SE module to every block (SE-ResNet).
        norm_layer, norm_kwargs: any channels-first norm (default BatchNorm2d).
        drop_rate: dropout before ``fc``; drop_path_rate: stochastic depth, linear over blocks.
    """

    def __init__(
        self,
        block: str = "bottleneck",
        layers: Sequence[int] = (3, 4, 6, 3),
        num_classes: int = 1000,
        in_chans: int = 3,
        img_size: int | None = None,
        groups: int = 1,
        width_per_group: int = 64,
        use_se: bool = False,
        norm_layer: NormSpec = "batchnorm",
        norm_kwargs: dict[str, Any] | None = None,
        drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
        zero_init_residual: bool = False,
    ) -> None:
        super().__init__()
        if block not in ("basic", "bottleneck"):
            raise ValueError(f"ResNet: block must be 'basic' or 'bottleneck', got {block!r}")
        block_cls = BasicBlock if block == "basic" else Bottleneck
        norm = resolve_norm(norm_layer, norm_kwargs)
        self.num_classes = num_classes
        self.img_size = img_size  # informational: adaptive pooling takes any input size
        self.in_chans = in_chans
        self.conv1 = Conv2d(in_chans, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = norm(64)
        self.relu = ReLU()
        self.maxpool = MaxPool2d(3, stride=2, padding=1)
        total, done = sum(layers), 0
        inplanes = 64
        for i, (planes, depth) in enumerate(zip((64, 128, 256, 512), layers)):
            stride = 1 if i == 0 else 2
            blocks = []
            for j in range(depth):
                downsample = None
                if j == 0 and (stride != 1 or inplanes != planes * block_cls.expansion):
                    downsample = nn.Sequential(
                        Conv2d(inplanes, planes * block_cls.expansion, 1, stride=stride, bias=False),
                        norm(planes * block_cls.expansion),
                    )
                dpr = drop_path_rate * done / max(total - 1, 1)
                blocks.append(
                    block_cls(
                        inplanes,
                        planes,
                        stride if j == 0 else 1,
                        downsample,
                        groups,
                        width_per_group,
                        norm,
                        use_se,
                        dpr,
                    )
                )
                inplanes = planes * block_cls.expansion
                done += 1
            self.add_module(f"layer{i + 1}", nn.Sequential(*blocks))
        self.num_features = inplanes
        self.avgpool = AdaptiveAvgPool2d((1, 1))
        self.drop = Dropout(drop_rate)
        self.fc = Linear(self.num_features, num_classes) if num_classes > 0 else nn.Identity()
        init_conv_kaiming(self)
        if zero_init_residual:
            for m in self.modules():
                last = getattr(m, m.last_norm) if isinstance(m, _ResidualBlock) else None
                if getattr(last, "weight", None) is not None:
                    nn.init.zeros_(last.weight)

    def forward_features(self, x: Tensor) -> Tensor:
        """``(N, C_in, H, W)`` -> ``(N, num_features, H/32, W/32)``."""
        check_image_input("ResNet", x, self.in_chans)
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        x = torch.flatten(self.avgpool(x), 1)  # (N, num_features)
        x = self.drop(x)
        return x if pre_logits else self.fc(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))

    def reset_classifier(self, num_classes: int) -> None:
        self.num_classes = num_classes
        self.fc = Linear(self.num_features, num_classes) if num_classes > 0 else nn.Identity()


_RESNET = dict(
    family="resnet",
    paper="Deep Residual Learning for Image Recognition",
    year=2016,
    arxiv="1512.03385",
    input_size=(3, 224, 224),
)
_RESNEXT = dict(
    family="resnet",
    paper="Aggregated Residual Transformations for Deep Neural Networks",
    year=2017,
    arxiv="1611.05431",
    input_size=(3, 224, 224),
)
_SE = dict(
    family="resnet",
    paper="Squeeze-and-Excitation Networks",
    year=2018,
    arxiv="1709.01507",
    input_size=(3, 224, 224),
)


@register_model(**_RESNET, reference_params=11_689_512, source=CNN_SOURCE_TV)
def resnet18(**kwargs: Any) -> ResNet:
    return ResNet("basic", (2, 2, 2, 2), **kwargs)


@register_model(**_RESNET, reference_params=21_797_672, source=CNN_SOURCE_TV)
def resnet34(**kwargs: Any) -> ResNet:
    return ResNet("basic", (3, 4, 6, 3), **kwargs)


@register_model(**_RESNET, reference_params=25_557_032, source=CNN_SOURCE_TV)
def resnet50(**kwargs: Any) -> ResNet:
    return ResNet("bottleneck", (3, 4, 6, 3), **kwargs)


@register_model(**_RESNET, reference_params=44_549_160, source=CNN_SOURCE_TV)
def resnet101(**kwargs: Any) -> ResNet:
    return ResNet("bottleneck", (3, 4, 23, 3), **kwargs)


@register_model(**_RESNET, reference_params=60_192_808, source=CNN_SOURCE_TV)
def resnet152(**kwargs: Any) -> ResNet:
    return ResNet("bottleneck", (3, 8, 36, 3), **kwargs)


@register_model(**_RESNEXT, reference_params=25_028_904, source=CNN_SOURCE_TV + " (resnext50_32x4d)")
def resnext50_32x4d(**kwargs: Any) -> ResNet:
    return ResNet("bottleneck", (3, 4, 6, 3), groups=32, width_per_group=4, **kwargs)


@register_model(**_SE, reference_params=28_088_024, source=CNN_SOURCE_TIMM)
def seresnet50(**kwargs: Any) -> ResNet:
    return ResNet("bottleneck", (3, 4, 6, 3), use_se=True, **kwargs)


@register_model(**_SE, reference_params=27_559_896, source=CNN_SOURCE_TIMM)
def seresnext50_32x4d(**kwargs: Any) -> ResNet:
    return ResNet("bottleneck", (3, 4, 6, 3), groups=32, width_per_group=4, use_se=True, **kwargs)
