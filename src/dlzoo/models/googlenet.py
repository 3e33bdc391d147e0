"""GoogLeNet (Inception v1), torchvision layout.

Szegedy et al., "Going Deeper with Convolutions", CVPR 2015, arXiv:1409.4842 (Table 1). An Inception
module concatenates four branches along channels::

    [ 1x1 | 1x1 -> 3x3 | 1x1 -> 3x3* | maxpool3x3/1 -> 1x1 ]      (N, c1 + c3 + c5 + pool_proj, H, W)

(*) torchvision's GoogLeNet (and so its 6,624,904-parameter count) uses a 3x3 conv where Table 1 has
5x5; we keep torchvision's layout so its checkpoints load. Every conv is ``BasicConv2d``: conv (no
bias) -> norm (BatchNorm eps=1e-3 by default, family data :data:`NORM_DEFAULTS`) -> activation (ReLU).
Stem: conv7x7/2 -> pool -> conv1x1 -> conv3x3 -> pool; then 3a 3b pool 4a-4e pool 5a 5b -> global avg
pool -> dropout 0.2 -> fc (N, classes).

Options, as torchvision's ``GoogLeNet``:

* ``aux_logits``: the two auxiliary classifiers of Sec. 5 on 4a and 4d (avgpool to 4x4 -> conv1x1 128
  -> fc 1024 -> act -> dropout 0.7 -> fc). In training mode ``forward`` then returns
  :class:`GoogLeNetOutputs` ``(logits, aux_logits2, aux_logits1)`` (torchvision's order and field names,
  so code written for torchvision works); ``outputs.loss(criterion, target)`` is the paper's training
  loss ``L(main) + 0.3 * (L(aux1) + L(aux2))``. In eval mode, and always with ``aux_logits=False`` (our
  default: the published parameter count has no aux heads), it returns the logits tensor.
* ``transform_input``: the original weights were trained on inputs scaled as ``(x - 0.5) / 0.5``;
  with ``transform_input=True`` an ImageNet-normalised input ``x = (r - mean) / std`` is mapped back to
  that scale per channel, ``x' = x * std / 0.5 + (mean - 0.5) / 0.5`` (mean 0.485 0.456 0.406, std
  0.229 0.224 0.225). Off by default (torchvision's default for fresh models); needed with torchvision's
  pretrained checkpoint.
* ``init_weights``: torchvision's init (truncated normal, std 0.01, for conv and linear weights); with
  ``False`` the layers keep torch's default init.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from ..nn import (
    AdaptiveAvgPool2d,
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

__all__ = ["GoogLeNet", "Inception", "InceptionAux", "BasicConv2d", "GoogLeNetOutputs", "NORM_DEFAULTS"]

NORM_DEFAULTS: dict[str, dict[str, Any]] = {"batchnorm": {"eps": 1e-3}}  # torchvision's BatchNorm eps

# ImageNet channel statistics (torchvision's transform_input constants)
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)

AUX_LOSS_WEIGHT = 0.3  # Szegedy et al. 2015, Sec. 5: "weighted by 0.3"


class GoogLeNetOutputs(NamedTuple):
    """Training-mode outputs with auxiliary heads (torchvision's fields and order)."""

    logits: Tensor
    aux_logits2: Tensor | None
    aux_logits1: Tensor | None

    def loss(self, criterion: Callable[[Tensor, Tensor], Tensor], target: Tensor,
             aux_weight: float = AUX_LOSS_WEIGHT) -> Tensor:
        """``criterion(logits) + aux_weight * (criterion(aux1) + criterion(aux2))`` (paper Sec. 5)."""
        total = criterion(self.logits, target)
        for aux in (self.aux_logits1, self.aux_logits2):
            if aux is not None:
                total = total + aux_weight * criterion(aux, target)
        return total


class BasicConv2d(nn.Module):
    """conv (bias=False) -> norm -> activation."""

    def __init__(self, in_channels: int, out_channels: int, norm_layer, act_layer: ActSpec = "relu",
                 **conv_kwargs: Any) -> None:
        super().__init__()
        self.conv = Conv2d(in_channels, out_channels, bias=False, **conv_kwargs)
        self.bn = norm_layer(out_channels)
        self.relu = create_act(act_layer)

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
        act_layer: ActSpec = "relu",
    ) -> None:
        super().__init__()
        conv = lambda cin, cout, **kw: BasicConv2d(cin, cout, norm_layer, act_layer, **kw)  # noqa: E731
        self.branch1 = conv(in_channels, ch1x1, kernel_size=1)
        self.branch2 = nn.Sequential(
            conv(in_channels, ch3x3red, kernel_size=1), conv(ch3x3red, ch3x3, kernel_size=3, padding=1)
        )
        self.branch3 = nn.Sequential(
            conv(in_channels, ch5x5red, kernel_size=1), conv(ch5x5red, ch5x5, kernel_size=3, padding=1)
        )
        self.branch4 = nn.Sequential(
            MaxPool2d(3, stride=1, padding=1, ceil_mode=True), conv(in_channels, pool_proj, kernel_size=1)
        )

    def forward(self, x: Tensor) -> Tensor:
        branches = [self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)]
        return torch.cat(branches, dim=1)  # (N, ch1x1 + ch3x3 + ch5x5 + pool_proj, H, W)


class InceptionAux(nn.Module):
    """Auxiliary classifier: avgpool 4x4 -> 1x1 conv 128 -> fc 1024 -> act -> dropout 0.7 -> fc."""

    def __init__(self, in_channels: int, num_classes: int, norm_layer, dropout: float = 0.7,
                 act_layer: ActSpec = "relu") -> None:
        super().__init__()
        self.conv = BasicConv2d(in_channels, 128, norm_layer, act_layer, kernel_size=1)
        self.fc1 = Linear(2048, 1024)
        self.act = create_act(act_layer)
        self.fc2 = create_fc(1024, num_classes)
        self.dropout = Dropout(dropout)
        self.pool = AdaptiveAvgPool2d((4, 4))

    def forward(self, x: Tensor) -> Tensor:
        x = torch.flatten(self.conv(self.pool(x)), 1)  # (N, 128 * 4 * 4)
        return self.fc2(self.dropout(self.act(self.fc1(x))))  # (N, classes)


class GoogLeNet(ClassifierMixin, nn.Module):
    """GoogLeNet / Inception v1 (torchvision keys: conv1.conv, inception3a.branch2.1.bn, aux1.fc2, fc).

    ``forward_features``: (N, C_in, H, W) -> (N, 1024, H/32, W/32) (after ``transform_input``);
    ``forward_head``: global pool -> dropout -> ``fc``. See the module docstring for the options.
    """

    classifier_name = "fc"
    global_pool_name = "avgpool"

    def __init__(
        self,
        num_classes: int = 1000,
        in_chans: int = 3,
        img_size: int | None = None,
        aux_logits: bool = False,
        transform_input: bool = False,
        init_weights: bool = True,
        norm_layer: NormSpec = "batchnorm",
        norm_kwargs: dict[str, Any] | None = None,
        drop_rate: float = 0.2,
        aux_drop_rate: float = 0.7,
        act_layer: ActSpec = "relu",
        global_pool: str = "avg",
    ) -> None:
        super().__init__()
        if transform_input and in_chans != 3:
            raise ValueError("GoogLeNet: transform_input re-normalises 3 ImageNet channels, "
                             f"got in_chans={in_chans}")
        norm = get_norm_layer(norm_layer, channels_first=True, defaults=NORM_DEFAULTS, **(norm_kwargs or {}))
        self.img_size = img_size  # informational: adaptive pooling takes any input size
        self.in_chans, self.num_classes = in_chans, num_classes
        self.aux_logits, self.transform_input = aux_logits, transform_input
        conv = lambda cin, cout, **kw: BasicConv2d(cin, cout, norm, act_layer, **kw)  # noqa: E731
        incep = lambda *chs: Inception(*chs, norm, act_layer)  # noqa: E731
        self.conv1 = conv(in_chans, 64, kernel_size=7, stride=2, padding=3)
        self.maxpool1 = MaxPool2d(3, stride=2, ceil_mode=True)
        self.conv2 = conv(64, 64, kernel_size=1)
        self.conv3 = conv(64, 192, kernel_size=3, padding=1)
        self.maxpool2 = MaxPool2d(3, stride=2, ceil_mode=True)
        self.inception3a = incep(192, 64, 96, 128, 16, 32, 32)
        self.inception3b = incep(256, 128, 128, 192, 32, 96, 64)
        self.maxpool3 = MaxPool2d(3, stride=2, ceil_mode=True)
        self.inception4a = incep(480, 192, 96, 208, 16, 48, 64)
        self.inception4b = incep(512, 160, 112, 224, 24, 64, 64)
        self.inception4c = incep(512, 128, 128, 256, 24, 64, 64)
        self.inception4d = incep(512, 112, 144, 288, 32, 64, 64)
        self.inception4e = incep(528, 256, 160, 320, 32, 128, 128)
        self.maxpool4 = MaxPool2d(2, stride=2, ceil_mode=True)
        self.inception5a = incep(832, 256, 160, 320, 32, 128, 128)
        self.inception5b = incep(832, 384, 192, 384, 48, 128, 128)
        if aux_logits:
            self.aux1 = InceptionAux(512, num_classes, norm, aux_drop_rate, act_layer)
            self.aux2 = InceptionAux(528, num_classes, norm, aux_drop_rate, act_layer)
        else:
            self.aux1 = self.aux2 = None
        self.avgpool = GlobalPool(global_pool)
        self.dropout = Dropout(drop_rate)
        self.num_features = 1024
        self.fc = create_fc(1024, num_classes)
        self.init_weights = init_weights
        self.apply(self.init_classifier)

    def init_classifier(self, fc: nn.Module) -> None:
        """torchvision's init (when ``init_weights``) of conv and linear layers: truncated normal
        (std 0.01, cut at +-2) weights, biases keep torch's default."""
        if self.init_weights and isinstance(fc, (Conv2d, Linear)):
            nn.init.trunc_normal_(fc.weight, mean=0.0, std=0.01, a=-2, b=2)

    def reset_classifier(self, num_classes: int, global_pool: str | None = None) -> None:
        """New ``fc`` (see :class:`ClassifierMixin`); the auxiliary heads' ``fc2`` get the new classes too."""
        super().reset_classifier(num_classes, global_pool)
        for aux in (self.aux1, self.aux2):
            if aux is not None:
                ref = aux.fc1.weight
                aux.fc2 = create_fc(1024, num_classes).to(device=ref.device, dtype=ref.dtype)
                self.init_classifier(aux.fc2)

    def _transform_input(self, x: Tensor) -> Tensor:
        """ImageNet-normalised -> ``(x - 0.5) / 0.5`` scale, per channel (see module docstring)."""
        scale = x.new_tensor([s / 0.5 for s in _IMAGENET_STD]).view(1, 3, 1, 1)
        shift = x.new_tensor([(m - 0.5) / 0.5 for m in _IMAGENET_MEAN]).view(1, 3, 1, 1)
        return x * scale + shift

    def _features(self, x: Tensor) -> tuple[Tensor, Tensor | None, Tensor | None]:
        """Features and, in training with aux heads, the aux logits on 4a and 4d."""
        check_image_input("GoogLeNet", x, self.in_chans)
        if self.transform_input:
            x = self._transform_input(x)
        x = self.maxpool1(self.conv1(x))  # (N, 64, H/4, W/4)
        x = self.maxpool2(self.conv3(self.conv2(x)))  # (N, 192, H/8, W/8)
        x = self.maxpool3(self.inception3b(self.inception3a(x)))  # (N, 480, H/16, W/16)
        x = self.inception4a(x)  # (N, 512, H/16, W/16)
        aux1 = self.aux1(x) if self.aux1 is not None and self.training else None
        x = self.inception4d(self.inception4c(self.inception4b(x)))  # (N, 528, H/16, W/16)
        aux2 = self.aux2(x) if self.aux2 is not None and self.training else None
        x = self.maxpool4(self.inception4e(x))  # (N, 832, H/32, W/32)
        return self.inception5b(self.inception5a(x)), aux1, aux2  # (N, 1024, H/32, W/32)

    def forward_features(self, x: Tensor) -> Tensor:
        """``(N, C_in, H, W)`` -> ``(N, 1024, H/32, W/32)`` (no auxiliary heads)."""
        return self._features(x)[0]

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        x = self.dropout(self.avgpool(x))  # (N, 1024)
        return x if pre_logits else self.fc(x)

    def forward(self, x: Tensor) -> Tensor | GoogLeNetOutputs:
        """Logits ``(N, classes)``; in training with ``aux_logits``, :class:`GoogLeNetOutputs`."""
        feats, aux1, aux2 = self._features(x)
        logits = self.forward_head(feats)
        if self.training and self.aux_logits:
            return GoogLeNetOutputs(logits, aux2, aux1)
        return logits


@register_model(
    family="googlenet",
    paper="Going Deeper with Convolutions",
    year=2015,
    arxiv="1409.4842",
    input_size=(3, 224, 224),
    reference_params=6_624_904,
    source=CNN_SOURCE_TV + " (without aux heads)",
    test_input_size=(3, 32, 32),  # 1x1 after maxpool4
)
def googlenet(**kwargs: Any) -> GoogLeNet:
    return GoogLeNet(**kwargs)
