"""The small CNNs of the "deep learning from scratch" seed: simple_cnn, simple_fully_cnn, deep_plain_cnn.

* ``simple_cnn`` (LeCun et al. 1998 style, "Gradient-Based Learning Applied to Document Recognition"):
  ``[conv3x3 -> act -> maxpool2] x len(channels)`` then ``Linear(C h w, hidden) -> act -> Linear(hidden,
  classes)``. On the 8x8 digits with channels (32, 64), hidden 128: (N, 1, 8, 8) -> (N, 64, 2, 2) -> (N, 128)
  -> (N, 10).
* ``simple_fully_cnn`` (Long, Shelhamer, Darrell, "Fully Convolutional Networks for Semantic Segmentation",
  CVPR 2015, arXiv:1411.4038; all-conv classifier as in Springenberg et al. 2015, arXiv:1412.6806): only
  convolutions, the last one a 1x1 conv with one map per class, globally averaged:
  ``logits_k = mean_{h,w} (W_k . x_{:,h,w} + b_k)``. Averaging commutes with the linear 1x1 conv, so the
  head is ``Linear(C, classes)`` applied to the averaged features (the same function, and a standard
  classifier for ``get_classifier``/``reset_classifier``).
* ``deep_plain_cnn`` (He, Zhang, Ren, Sun, "Deep Residual Learning for Image Recognition", CVPR 2016,
  arXiv:1512.03385, Sec. 4.2 CIFAR "plain" nets): ``depth = 6n + 2`` weighted layers: conv3x3(16) -> BN ->
  ReLU, then three stages of 2n conv3x3-BN-ReLU with 16, 32, 64 maps (stride 2 at the first conv of stages
  2 and 3),
  global average pooling, ``Linear(64, classes)``. No shortcuts: the network whose training error grows with
  depth, which is what motivated residual learning.
* ``deep_residual_cnn`` (the same paper, Sec. 4.2 "ResNet", Fig. 6): the same ``6n + 2`` layers, every pair of
  3x3 convs after the stem wrapped as ``y = ReLU(BN(conv(ReLU(BN(conv x)))) + shortcut(x))`` with the
  parameter-free shortcut of option A (identity; where the width doubles and the stride is 2: ``x[:, :, ::2,
  ::2]`` zero-padded with the extra channels), so it has exactly the plain net's parameters.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import Tensor, nn

from ..nn import Conv2d, GlobalPool, Linear, MaxPool2d, create_act, create_fc, get_norm_layer
from ..nn.channel_affine import check_positive_int
from ..nn.create_act import ActSpec
from ..nn.factory import NormSpec
from . import register_model
from ._base import ClassifierMixin
from ._cnn import check_image_input

__all__ = ["SimpleCNN", "SimpleFullyCNN", "DeepPlainCNN", "DeepResidualCNN", "ShortcutA", "plain_cnn_params"]


class SimpleCNN(ClassifierMixin, nn.Module):
    """conv-act-maxpool stages, then a two-layer MLP head (``fc1`` hidden, ``fc`` logits)."""

    classifier_name = "fc"

    def __init__(self, num_classes: int = 10, in_chans: int = 1, img_size: int = 8,
                 channels: Sequence[int] = (32, 64), hidden_dim: int = 128,
                 act_layer: ActSpec = "relu") -> None:
        super().__init__()
        self.in_chans, self.num_classes, self.img_size = in_chans, num_classes, img_size
        side = img_size
        layers: list[nn.Module] = []
        cin = in_chans
        for c in channels:
            layers += [Conv2d(cin, c, 3, padding=1), create_act(act_layer), MaxPool2d(2)]
            cin, side = c, side // 2
        if side < 1:
            raise ValueError(f"SimpleCNN: img_size={img_size} is too small for {len(channels)} 2x2 poolings")
        self.features = nn.Sequential(*layers)
        self.fc1 = Linear(cin * side * side, hidden_dim)
        self.act = create_act(act_layer)
        self.num_features = hidden_dim
        self.fc = create_fc(hidden_dim, num_classes)

    def forward_features(self, x: Tensor) -> Tensor:
        """``(N, C_in, H, W)`` -> ``(N, C, H / 2^k, W / 2^k)``."""
        check_image_input("SimpleCNN", x, self.in_chans)
        return self.features(x)

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        x = self.act(self.fc1(x.flatten(1)))  # (N, C h w) -> (N, hidden)
        return x if pre_logits else self.fc(x)


class SimpleFullyCNN(ClassifierMixin, nn.Module):
    """Convolutions only: conv3x3-act layers (stride 2 after the first), per-class 1x1 conv, global mean."""

    classifier_name = "fc"
    global_pool_name = "global_pool"

    def __init__(self, num_classes: int = 10, in_chans: int = 1, img_size: int | None = 8,
                 channels: Sequence[int] = (32, 64, 64), act_layer: ActSpec = "relu", global_pool: str = "avg"
                 ) -> None:
        super().__init__()
        self.in_chans, self.num_classes, self.img_size = in_chans, num_classes, img_size
        layers: list[nn.Module] = []
        cin = in_chans
        for i, c in enumerate(channels):
            layers += [Conv2d(cin, c, 3, stride=1 if i == 0 else 2, padding=1), create_act(act_layer)]
            cin = c
        self.features = nn.Sequential(*layers)
        self.num_features = cin
        self.global_pool = GlobalPool(global_pool)
        self.fc = create_fc(cin, num_classes)  # == the per-class 1x1 conv, moved after the (linear) average

    def forward_features(self, x: Tensor) -> Tensor:
        check_image_input("SimpleFullyCNN", x, self.in_chans)
        return self.features(x)  # (N, C, h, w)

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        x = self.global_pool(x)  # (N, C)
        return x if pre_logits else self.fc(x)


class DeepPlainCNN(ClassifierMixin, nn.Module):
    """He et al. 2016's CIFAR plain network of ``depth = 6n + 2`` layers (no shortcut connections)."""

    classifier_name = "fc"
    global_pool_name = "global_pool"

    def __init__(self, num_classes: int = 10, in_chans: int = 1, img_size: int | None = 8, depth: int = 20,
                 widths: Sequence[int] = (16, 32, 64), norm_layer: NormSpec = "batchnorm",
                 act_layer: ActSpec = "relu", global_pool: str = "avg") -> None:
        super().__init__()
        depth = check_positive_int("DeepPlainCNN", "depth", depth)
        if (depth - 2) % 6:
            raise ValueError(f"DeepPlainCNN: depth must be 6n + 2 (8, 14, 20, 32, 44, 56, ...), got {depth}")
        n = (depth - 2) // 6
        self.in_chans, self.num_classes, self.img_size, self.depth = in_chans, num_classes, img_size, depth
        make_norm = get_norm_layer(norm_layer, channels_first=True)

        def unit(cin: int, cout: int, stride: int) -> list[nn.Module]:
            conv = Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
            return [conv, make_norm(cout), create_act(act_layer)]

        layers = unit(in_chans, widths[0], 1)
        cin = widths[0]
        for s, w in enumerate(widths):
            for i in range(2 * n):
                layers += unit(cin, w, 2 if (s > 0 and i == 0) else 1)
                cin = w
        self.features = nn.Sequential(*layers)
        self.num_features = cin
        self.global_pool = GlobalPool(global_pool)
        self.fc = create_fc(cin, num_classes)
        for m in self.modules():  # He et al. 2015 init (the paper's Sec. 3.4 / ref [13])
            if isinstance(m, Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward_features(self, x: Tensor) -> Tensor:
        check_image_input("DeepPlainCNN", x, self.in_chans)
        return self.features(x)  # (N, 64, H/4, W/4)

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        x = self.global_pool(x)  # (N, 64)
        return x if pre_logits else self.fc(x)


class ShortcutA(nn.Module):
    """He et al. 2016's option A shortcut: ``x[:, :, ::s, ::s]`` with ``cout - cin`` zero channels appended
    (identity when ``stride == 1`` and ``cin == cout``); no parameters.
    (N, cin, H, W) -> (N, cout, H/s, W/s)."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        if cout < cin:
            raise ValueError(f"ShortcutA: cannot shrink channels ({cin} -> {cout}) without parameters")
        self.pad, self.stride = cout - cin, stride

    def forward(self, x: Tensor) -> Tensor:
        if self.stride > 1:
            x = x[:, :, :: self.stride, :: self.stride]  # (N, cin, H/s, W/s)
        return nn.functional.pad(x, (0, 0, 0, 0, 0, self.pad)) if self.pad else x


class _ResidualPair(nn.Module):
    """``act(bn2(conv2(act(bn1(conv1 x)))) + shortcut(x))`` (two of the plain net's conv-BN units)."""

    def __init__(self, cin: int, cout: int, stride: int, make_norm: Any, act_layer: ActSpec) -> None:
        super().__init__()
        self.conv1 = Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = make_norm(cout)
        self.act1 = create_act(act_layer)
        self.conv2 = Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = make_norm(cout)
        self.shortcut = ShortcutA(cin, cout, stride)
        self.act2 = create_act(act_layer)

    def forward(self, x: Tensor) -> Tensor:
        out = self.bn2(self.conv2(self.act1(self.bn1(self.conv1(x)))))
        return self.act2(out + self.shortcut(x))


class DeepResidualCNN(DeepPlainCNN):
    """:class:`DeepPlainCNN` with option-A identity shortcuts around each pair of stage convs
    (ResNet-``depth`` of He et al. 2016, Sec. 4.2): same layers, same parameter count,
    ``features`` = stem + ``3n`` pairs."""

    def __init__(self, num_classes: int = 10, in_chans: int = 1, img_size: int | None = 8, depth: int = 20,
                 widths: Sequence[int] = (16, 32, 64), norm_layer: NormSpec = "batchnorm",
                 act_layer: ActSpec = "relu", global_pool: str = "avg") -> None:
        super().__init__(num_classes, in_chans, img_size, depth, widths, norm_layer, act_layer, global_pool)
        n = (self.depth - 2) // 6
        make_norm = get_norm_layer(norm_layer, channels_first=True)
        stem = list(self.features)[:3]  # conv3x3(16) -> BN -> ReLU, kept from the plain build
        pairs: list[nn.Module] = []
        cin = widths[0]
        for s, w in enumerate(widths):
            for i in range(n):
                pairs.append(_ResidualPair(cin, w, 2 if (s > 0 and i == 0) else 1, make_norm, act_layer))
                cin = w
        self.features = nn.Sequential(*stem, *pairs)
        for m in self.modules():  # the plain net's init (He et al. 2015) on the new convs
            if isinstance(m, Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward_features(self, x: Tensor) -> Tensor:
        check_image_input("DeepResidualCNN", x, self.in_chans)
        return self.features(x)  # (N, 64, H/4, W/4)


def plain_cnn_params(depth: int = 20, in_chans: int = 1, num_classes: int = 10,
                     widths: Sequence[int] = (16, 32, 64)) -> int:
    """Closed-form parameter count of :class:`DeepPlainCNN` (3x3 convs without bias, BN weight+bias)."""
    n = (depth - 2) // 6
    total, cin = 9 * in_chans * widths[0] + 2 * widths[0], widths[0]
    for w in widths:
        for _ in range(2 * n):
            total += 9 * cin * w + 2 * w
            cin = w
    return total + cin * num_classes + num_classes


_CARD = dict(input_size=(1, 8, 8), test_input_size=(1, 8, 8))


@register_model(family="simple_cnn", paper="Gradient-Based Learning Applied to Document Recognition",
                year=1998, arxiv="Proc. IEEE 86(11)", **_CARD, reference_params=53_002,
                source="closed form: (9*1+1)*32 + (9*32+1)*64 + (64*2*2+1)*128 + (128+1)*10")
def simple_cnn(**kwargs: Any) -> SimpleCNN:
    """Two conv-ReLU-maxpool stages (32, 64) and a 128-wide hidden layer, for the 8x8 digits."""
    return SimpleCNN(**kwargs)


@register_model(family="simple_cnn", paper="Fully Convolutional Networks for Semantic Segmentation",
                year=2015, arxiv="1411.4038", **_CARD, reference_params=56_394,
                source="closed form: (9*1+1)*32 + (9*32+1)*64 + (9*64+1)*64 + (64+1)*10")
def simple_fully_cnn(**kwargs: Any) -> SimpleFullyCNN:
    """Three 3x3 conv-ReLU layers (32, 64/2, 64/2) and a per-class 1x1 conv, globally averaged."""
    return SimpleFullyCNN(**kwargs)


@register_model(family="simple_cnn", paper="Deep Residual Learning for Image Recognition", year=2016,
                arxiv="1512.03385", **_CARD, reference_params=269_434,
                source="closed form plain_cnn_params(20): 9*1*16 + 2*16 + sum over the 18 stage convs of "
                       "(9 c_in c_out + 2 c_out) + (64+1)*10, at in_chans=1")
def deep_plain_cnn(**kwargs: Any) -> DeepPlainCNN:
    """The 20-layer plain CIFAR network of He et al. 2016 (Sec. 4.2), sized for the 8x8 digits by default."""
    return DeepPlainCNN(**kwargs)


@register_model(family="simple_cnn", paper="Deep Residual Learning for Image Recognition", year=2016,
                arxiv="1512.03385", **_CARD, reference_params=269_434,
                source="closed form plain_cnn_params(20) (option A shortcuts have no parameters: the paper's "
                       "plain/residual pair of Fig. 6 has equal counts), at in_chans=1")
def deep_residual_cnn(**kwargs: Any) -> DeepResidualCNN:
    """ResNet-20 of He et al. 2016 (Sec. 4.2, option A): ``deep_plain_cnn`` with identity shortcuts."""
    return DeepResidualCNN(**kwargs)
