"""ResNet, ResNeXt and SE-ResNet(X).

* ResNet — He, Zhang, Ren, Sun, "Deep Residual Learning for Image Recognition", CVPR 2016,
  arXiv:1512.03385. A block computes ``y = act(F(x) + shortcut(x))`` (eq. 1, ``y = F(x, {W_i}) + x``);
  ``shortcut`` is the identity, or a strided 1x1 conv + norm (option B, eq. 2) where the shape changes.
  The bottleneck puts the stride on the 3x3 conv ("ResNet v1.5", torchvision's and timm's default);
  ``stride_in_1x1=True`` puts it on the first 1x1 conv as in the paper (v1; HF's
  ``downsample_in_bottleneck``).
* ResNeXt — Xie, Girshick, Dollar, Tu, He, "Aggregated Residual Transformations for Deep Neural
  Networks", CVPR 2017, arXiv:1611.05431: the bottleneck 3x3 is a grouped conv with ``groups``
  (cardinality) groups of ``width_per_group`` channels: width = int(planes * width_per_group / 64) * groups.
* SE-ResNet(X) — Hu et al., "Squeeze-and-Excitation Networks", CVPR 2018, arXiv:1709.01507: an SE
  module rescales the residual branch before the addition (timm's ``seresnet50`` layout, ``se.fc1/fc2``).

Layout (input (N, C_in, H, W)): ``conv1`` 7x7/2 (``stem_width``) -> ``bn1`` -> act -> ``maxpool`` 3x3/2
-> ``layer1..layerS`` (S = len(layers); stage i has ``layers[i]`` blocks of ``widths[i]`` planes, output
``widths[i] * expansion`` channels, first block strided by ``strides[i]``, default 1, 2, 2, ...)
-> ``global_pool`` -> dropout -> ``fc``; output (N, num_classes).
State-dict keys follow torchvision (``layer1.0.conv1``, ``layer2.0.downsample.0``, ``fc``) and timm
(``layer1.0.se.fc1``), so torchvision / timm checkpoints load strictly.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import Tensor, nn

from ..nn import Conv2d, DropPath, MaxPool2d, SqueezeExcite, get_norm_layer
from ..nn.channel_affine import check_positive_int
from ..nn.classifier import GlobalPool, create_fc
from ..nn.create_act import ActSpec, create_act
from ..nn.factory import NormSpec
from ..nn.regularization import Dropout, drop_path_rates
from . import register_model
from ._base import ClassifierMixin
from ._cnn import CNN_SOURCE_TIMM, CNN_SOURCE_TV, check_image_input, init_conv_kaiming

__all__ = ["ResNet", "BasicBlock", "Bottleneck"]


class _ResidualBlock(nn.Module):
    """What BasicBlock and Bottleneck share: the residual tail ``act(drop_path(se(F(x))) + shortcut(x))``.

    Subclasses build their branch ``F`` (ending in norm ``last_norm``) and call ``_init_residual``.
    """

    expansion = 1
    last_norm = "bn2"  # attribute name of the branch's final norm (zeroed by ``zero_init_residual``)

    def _init_residual(
        self, out_channels: int, use_se: bool, downsample: nn.Module | None, drop_path: float,
        act_layer: ActSpec,
    ) -> None:
        self.act = create_act(act_layer)
        self.se = SqueezeExcite(out_channels) if use_se else None
        self.downsample = downsample
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def _residual(self, out: Tensor, x: Tensor) -> Tensor:
        """``out = F(x)`` of shape (N, C_out, H', W') -> ``act(drop_path(se(out)) + shortcut(x))``."""
        shortcut = x if self.downsample is None else self.downsample(x)
        if self.se is not None:
            out = self.se(out)
        return self.act(self.drop_path(out) + shortcut)


class BasicBlock(_ResidualBlock):
    """Two 3x3 convs: ``act(bn2(conv2(act(bn1(conv1(x))))) + shortcut(x))`` (ResNet-18/34)."""

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
        act_layer: ActSpec = "relu",
        stride_in_1x1: bool = False,
    ) -> None:
        super().__init__()
        if groups != 1 or base_width != 64:
            raise ValueError(f"BasicBlock: only groups=1 and width_per_group=64 are supported, got groups="
                             f"{groups}, width_per_group={base_width}")
        # stride_in_1x1 only moves a bottleneck's stride; a basic block has no 1x1 conv (HF ignores it too)
        self.conv1 = Conv2d(inplanes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = norm_layer(planes)
        self.conv2 = Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = norm_layer(planes)
        self._init_residual(planes, use_se, downsample, drop_path, act_layer)

    def forward(self, x: Tensor) -> Tensor:
        out = self.act(self.bn1(self.conv1(x)))
        return self._residual(self.bn2(self.conv2(out)), x)


class Bottleneck(_ResidualBlock):
    """1x1 reduce -> 3x3 (groups) -> 1x1 expand (x4), plus shortcut (ResNet-50+ / ResNeXt).

    The stride sits on the 3x3 (v1.5) or, with ``stride_in_1x1``, on the first 1x1 (the paper's v1).
    """

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
        act_layer: ActSpec = "relu",
        stride_in_1x1: bool = False,
    ) -> None:
        super().__init__()
        width = int(planes * (base_width / 64.0)) * groups
        s1, s3 = (stride, 1) if stride_in_1x1 else (1, stride)
        self.conv1 = Conv2d(inplanes, width, 1, stride=s1, bias=False)
        self.bn1 = norm_layer(width)
        self.conv2 = Conv2d(width, width, 3, stride=s3, padding=1, groups=groups, bias=False)
        self.bn2 = norm_layer(width)
        self.conv3 = Conv2d(width, planes * self.expansion, 1, bias=False)
        self.bn3 = norm_layer(planes * self.expansion)
        self._init_residual(planes * self.expansion, use_se, downsample, drop_path, act_layer)

    def forward(self, x: Tensor) -> Tensor:
        out = self.act(self.bn1(self.conv1(x)))
        out = self.act(self.bn2(self.conv2(out)))
        return self._residual(self.bn3(self.conv3(out)), x)


def _int_list(name: str, value: Any) -> list[int]:
    """A non-empty sequence of positive ints, else ``TypeError``/``ValueError`` naming ``ResNet: name``."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) == 0:
        raise TypeError(f"ResNet: {name} must be a non-empty sequence of positive ints, got {value!r}")
    return [check_positive_int("ResNet", name, v) for v in value]


class ResNet(ClassifierMixin, nn.Module):
    """ResNet / ResNeXt / SE-ResNet backbone + linear classifier (torchvision / timm key layout).

    The defaults (stem 64, widths 64/128/256/512, strides 1/2/2/2) reproduce the published networks;
    every width, depth and stride is a constructor argument (timm's ``stem_width`` / ``channels``).

    Args:
        block: ``"basic"`` (expansion 1) or ``"bottleneck"`` (expansion 4).
        layers: blocks per stage, e.g. (3, 4, 6, 3); any number of stages.
        stem_width: output channels of the 7x7 stem conv.
        widths: planes per stage (stage output = planes * expansion); default 64 * 2**i.
        strides: stride of each stage's first block; default (1, 2, 2, ...).
        groups, width_per_group: ResNeXt cardinality and per-group width (1, 64 for plain ResNet).
        stride_in_1x1: bottleneck stride on the first 1x1 conv (ResNet v1) instead of the 3x3 (v1.5).
        use_se: an SE module in every block (SE-ResNet).
        act_layer: activation name or class (default ReLU); norm_layer, norm_kwargs: any channels-first norm.
        global_pool: ``"avg"``, ``"max"``, ``"avgmax"`` or ``""`` (see :class:`GlobalPool`).
        drop_rate: dropout before ``fc``; drop_path_rate: stochastic depth, linear over blocks.
        zero_init_residual: zero the last norm's weight of every block (Goyal et al. 2017).
    """

    classifier_name = "fc"
    global_pool_name = "global_pool"

    def __init__(
        self,
        block: str = "bottleneck",
        layers: Sequence[int] = (3, 4, 6, 3),
        num_classes: int = 1000,
        in_chans: int = 3,
        img_size: int | None = None,
        stem_width: int = 64,
        widths: Sequence[int] | None = None,
        strides: Sequence[int] | None = None,
        groups: int = 1,
        width_per_group: int = 64,
        stride_in_1x1: bool = False,
        use_se: bool = False,
        act_layer: ActSpec = "relu",
        norm_layer: NormSpec = "batchnorm",
        norm_kwargs: dict[str, Any] | None = None,
        global_pool: str = "avg",
        drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
        zero_init_residual: bool = False,
    ) -> None:
        super().__init__()
        if block not in ("basic", "bottleneck"):
            raise ValueError(f"ResNet: block must be 'basic' or 'bottleneck', got {block!r}")
        block_cls = BasicBlock if block == "basic" else Bottleneck
        layers = _int_list("layers", layers)
        widths = _int_list("widths", [64 * 2**i for i in range(len(layers))] if widths is None else widths)
        strides = _int_list("strides", [1] + [2] * (len(layers) - 1) if strides is None else strides)
        if not len(layers) == len(widths) == len(strides):
            raise ValueError(f"ResNet: layers, widths and strides need one entry per stage, got layers="
                             f"{layers}, widths={widths}, strides={strides}")
        norm = get_norm_layer(norm_layer, channels_first=True, **(norm_kwargs or {}))
        self.num_classes = num_classes
        self.img_size = img_size  # informational: global pooling takes any input size
        self.in_chans = check_positive_int("ResNet", "in_chans", in_chans)
        stem_width = check_positive_int("ResNet", "stem_width", stem_width)
        self.conv1 = Conv2d(in_chans, stem_width, 7, stride=2, padding=3, bias=False)
        self.bn1 = norm(stem_width)
        self.act1 = create_act(act_layer)
        self.maxpool = MaxPool2d(3, stride=2, padding=1)
        rates = drop_path_rates(drop_path_rate, layers)
        inplanes = stem_width
        for i, (planes, depth, stride) in enumerate(zip(widths, layers, strides)):
            out = planes * block_cls.expansion
            blocks = []
            for j in range(depth):
                downsample = None
                if j == 0 and (stride != 1 or inplanes != out):
                    downsample = nn.Sequential(Conv2d(inplanes, out, 1, stride=stride, bias=False), norm(out))
                blocks.append(block_cls(
                    inplanes, planes, stride if j == 0 else 1, downsample, groups, width_per_group, norm,
                    use_se, rates[i][j], act_layer, stride_in_1x1,
                ))
                inplanes = out
            self.add_module(f"layer{i + 1}", nn.Sequential(*blocks))
        self.num_stages = len(layers)
        self.num_features = inplanes
        self.global_pool = GlobalPool(global_pool, flatten=True)
        self.drop = Dropout(drop_rate)
        self.fc = create_fc(self.num_features, num_classes)
        init_conv_kaiming(self)
        if zero_init_residual:
            for m in self.modules():
                last = getattr(m, m.last_norm) if isinstance(m, _ResidualBlock) else None
                if getattr(last, "weight", None) is not None:
                    nn.init.zeros_(last.weight)

    def forward_features(self, x: Tensor) -> Tensor:
        """``(N, C_in, H, W)`` -> ``(N, num_features, H / s, W / s)``, s = 4 * prod(strides)."""
        check_image_input("ResNet", x, self.in_chans)
        x = self.maxpool(self.act1(self.bn1(self.conv1(x))))
        for i in range(self.num_stages):
            x = self.get_submodule(f"layer{i + 1}")(x)
        return x

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        """``(N, num_features, h, w)`` -> logits ``(N, num_classes)`` (pooled ``(N, num_features)``)."""
        x = self.drop(self.global_pool(x))
        return x if pre_logits else self.fc(x)


_CARD = dict(family="resnet", input_size=(3, 224, 224), test_input_size=(3, 32, 32), test_kwargs={})
_RESNET = dict(_CARD, paper="Deep Residual Learning for Image Recognition", year=2016, arxiv="1512.03385")
_RESNEXT = dict(_CARD, paper="Aggregated Residual Transformations for Deep Neural Networks", year=2017,
                arxiv="1611.05431")
_SE = dict(_CARD, paper="Squeeze-and-Excitation Networks", year=2018, arxiv="1709.01507")
_RESNEXT_32X4D = dict(groups=32, width_per_group=4)


def _create(defaults: dict[str, Any], kwargs: dict[str, Any]) -> ResNet:
    """``ResNet(**defaults)`` with the caller's overrides on top (timm's ``dict(model_args, **kwargs)``)."""
    return ResNet(**{**defaults, **kwargs})


@register_model(**_RESNET, reference_params=11_689_512, source=CNN_SOURCE_TV)
def resnet18(**kwargs: Any) -> ResNet:
    return _create(dict(block="basic", layers=(2, 2, 2, 2)), kwargs)


@register_model(**_RESNET, reference_params=21_797_672, source=CNN_SOURCE_TV)
def resnet34(**kwargs: Any) -> ResNet:
    return _create(dict(block="basic", layers=(3, 4, 6, 3)), kwargs)


@register_model(**_RESNET, reference_params=25_557_032, source=CNN_SOURCE_TV)
def resnet50(**kwargs: Any) -> ResNet:
    return _create(dict(block="bottleneck", layers=(3, 4, 6, 3)), kwargs)


@register_model(**_RESNET, reference_params=44_549_160, source=CNN_SOURCE_TV)
def resnet101(**kwargs: Any) -> ResNet:
    return _create(dict(block="bottleneck", layers=(3, 4, 23, 3)), kwargs)


@register_model(**_RESNET, reference_params=60_192_808, source=CNN_SOURCE_TV)
def resnet152(**kwargs: Any) -> ResNet:
    return _create(dict(block="bottleneck", layers=(3, 8, 36, 3)), kwargs)


@register_model(**_RESNEXT, reference_params=25_028_904, source=CNN_SOURCE_TV + " (resnext50_32x4d)")
def resnext50_32x4d(**kwargs: Any) -> ResNet:
    return _create(dict(block="bottleneck", layers=(3, 4, 6, 3), **_RESNEXT_32X4D), kwargs)


@register_model(**_SE, reference_params=28_088_024, source=CNN_SOURCE_TIMM)
def seresnet50(**kwargs: Any) -> ResNet:
    return _create(dict(block="bottleneck", layers=(3, 4, 6, 3), use_se=True), kwargs)


@register_model(**_SE, reference_params=27_559_896, source=CNN_SOURCE_TIMM)
def seresnext50_32x4d(**kwargs: Any) -> ResNet:
    return _create(dict(block="bottleneck", layers=(3, 4, 6, 3), use_se=True, **_RESNEXT_32X4D), kwargs)
