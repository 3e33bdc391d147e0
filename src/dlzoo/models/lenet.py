"""LeNet-5: the 1998 original and the common modern variant.

LeCun, Bottou, Bengio, Haffner, "Gradient-Based Learning Applied to Document Recognition",
Proc. IEEE 86(11), 1998 (Sec. II.B). ``lenet5`` follows the paper on a 32x32 input::

    C1: conv 5x5, 6 maps            -> (N, 6, 28, 28)     156 params
    S2: 2x2 sum * coeff + bias      -> (N, 6, 14, 14)      12 params  (one coefficient + bias per map)
    C3: conv 5x5, 16 maps, sparse   -> (N, 16, 10, 10)   1516 params  (Table I connection scheme)
    S4: 2x2 sum * coeff + bias      -> (N, 16, 5, 5)       32 params
    C5: conv 5x5, 120 maps          -> (N, 120, 1, 1)   48120 params
    F6: Linear(120, 84)             -> (N, 84)          10164 params
    output: Euclidean RBF units     -> (N, classes)     y_i = sum_j (x_j - w_ij)^2, w fixed +-1

Every layer up to F6 is followed by the squashing function ``f(a) = A tanh(S a)``, A = 1.7159,
S = 2/3 (Appendix A). The RBF centres (:class:`EuclideanRBF`, the logits layer ``output``, its ``weight``
(classes, 84) a buffer) are fixed, not trained: the paper's "60,000 trainable free parameters"; the
paper drew them as stylized 7x12 bitmaps, here they are a fixed random +-1 code (seeded). The model
returns ``-y`` so larger is better, like logits. ``reset_classifier(k)`` makes a new fixed code.

``lenet5_modern`` is the variant of today's tutorials (e.g. Zhang et al., Dive into Deep Learning,
Sec. 7.6; the PyTorch 60-minute blitz): dense C3, max pooling, ReLU (``act_layer``), linear output
``fc3``; 61,706 params.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from ..nn import AvgPool2d, Conv2d, Identity, Linear, MaxPool2d, create_act, create_fc
from ..nn.classifier import check_num_classes
from ..nn.create_act import ActSpec
from ..nn.mode import use_fused
from . import register_model
from ._base import ClassifierMixin

__all__ = ["LeNet5", "LeNet5Modern", "C3_TABLE", "Subsampling", "SparseConv2d", "Squash", "EuclideanRBF"]

# Table I of the paper: for each C3 feature map, the S2 feature maps it is connected to.
C3_TABLE: tuple[tuple[int, ...], ...] = (
    (0, 1, 2),
    (1, 2, 3),
    (2, 3, 4),
    (3, 4, 5),
    (4, 5, 0),
    (5, 0, 1),
    (0, 1, 2, 3),
    (1, 2, 3, 4),
    (2, 3, 4, 5),
    (3, 4, 5, 0),
    (4, 5, 0, 1),
    (5, 0, 1, 2),
    (0, 1, 3, 4),
    (1, 2, 4, 5),
    (0, 2, 3, 5),
    (0, 1, 2, 3, 4, 5),
)


class Squash(nn.Module):
    """``f(a) = A tanh(S a)`` with A = 1.7159, S = 2/3 (LeCun et al. 1998, Appendix A)."""

    def __init__(self, amplitude: float = 1.7159, slope: float = 2.0 / 3.0) -> None:
        super().__init__()
        self.amplitude, self.slope = amplitude, slope

    def forward(self, x: Tensor) -> Tensor:
        return self.amplitude * torch.tanh(self.slope * x)


class Subsampling(nn.Module):
    """S2/S4: per map, ``y = coeff * (sum of a 2x2 window) + bias`` (stride 2)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.pool = AvgPool2d(2)

    def forward(self, x: Tensor) -> Tensor:
        window_sum = self.pool(x) * 4.0  # (N, C, H/2, W/2)
        return window_sum * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)


class EuclideanRBF(nn.Module):
    """LeNet-5's output layer (eq. 7): ``y_i = sum_j (x_j - w_ij)^2``; returns ``-y`` (N, out_features).

    ``weight`` (out_features, in_features) is a fixed buffer: a +-1 code drawn with ``seed``.
    """

    def __init__(self, in_features: int, out_features: int, seed: int = 1998) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        g = torch.Generator().manual_seed(seed)
        code = torch.randint(0, 2, (out_features, in_features), generator=g).float() * 2 - 1
        self.register_buffer("weight", code)

    def forward(self, x: Tensor) -> Tensor:
        distance = (x.unsqueeze(1) - self.weight.unsqueeze(0)).pow(2).sum(-1)  # (N, out_features)
        return -distance


class SparseConv2d(nn.Module):
    """A convolution where output map ``o`` sees only the input maps ``table[o]`` (C3 of LeNet-5).

    Only the connected kernels are parameters (``weight``: (connections, k, k)); the dense
    (C_out, C_in, k, k) kernel is assembled with zeros elsewhere before the convolution.
    """

    def __init__(self, in_channels: int, table: tuple[tuple[int, ...], ...], kernel_size: int = 5) -> None:
        super().__init__()
        self.in_channels, self.out_channels, self.kernel_size = in_channels, len(table), kernel_size
        pairs = [(o, i) for o, inputs in enumerate(table) for i in inputs]
        self.register_buffer("index", torch.tensor(pairs, dtype=torch.long), persistent=False)  # (conn, 2)
        fan_in = torch.tensor([len(t) * kernel_size**2 for t in table for _ in t], dtype=torch.float32)
        bound = (2.4 / fan_in).view(-1, 1, 1)  # paper's init: U(-2.4/F_i, 2.4/F_i)
        self.weight = nn.Parameter((torch.rand(len(pairs), kernel_size, kernel_size) * 2 - 1) * bound)
        per_map = torch.tensor([2.4 / (len(t) * kernel_size**2) for t in table])
        self.bias = nn.Parameter((torch.rand(len(table)) * 2 - 1) * per_map)

    def dense_weight(self) -> Tensor:
        k = self.kernel_size
        dense = self.weight.new_zeros(self.out_channels, self.in_channels, k, k)
        return dense.index_put((self.index[:, 0], self.index[:, 1]), self.weight)  # (C_out, C_in, k, k)

    def forward(self, x: Tensor) -> Tensor:
        return (
            nn.functional.conv2d(x, self.dense_weight(), self.bias)
            if use_fused()
            else _conv_by_table(x, self.weight, self.bias, self.index, self.out_channels)
        )


def _conv_by_table(x: Tensor, weight: Tensor, bias: Tensor, index: Tensor, out_channels: int) -> Tensor:
    """Reference: each output map is the sum of single-channel correlations over its connected inputs."""
    k = weight.shape[-1]
    patches = x.unfold(2, k, 1).unfold(3, k, 1)  # (N, C_in, H', W', k, k)
    out = [bias[o] + x.new_zeros(patches.shape[0], *patches.shape[2:4]) for o in range(out_channels)]
    for c, (o, i) in enumerate(index.tolist()):
        out[o] = out[o] + torch.einsum("nhwij,ij->nhw", patches[:, i], weight[c])
    return torch.stack(out, dim=1)  # (N, C_out, H', W')


class LeNet5(ClassifierMixin, nn.Module):
    """LeNet-5 as published (sparse C3, trainable subsampling, scaled tanh, fixed RBF output)."""

    classifier_name = "output"

    def __init__(self, num_classes: int = 10, in_chans: int = 1, img_size: int = 32) -> None:
        super().__init__()
        if img_size != 32:
            raise ValueError(
                f"LeNet5: the 1998 architecture needs 32x32 inputs (C5 is 1x1), got img_size={img_size}"
            )
        self.in_chans = in_chans
        self.c1 = Conv2d(in_chans, 6, 5)
        self.s2 = Subsampling(6)
        self.c3 = SparseConv2d(6, C3_TABLE, 5)
        self.s4 = Subsampling(16)
        self.c5 = Conv2d(16, 120, 5)
        self.f6 = Linear(120, 84)
        self.act = Squash()
        self.num_features = 84
        self.reset_classifier(num_classes)

    def reset_classifier(self, num_classes: int, global_pool: str | None = None) -> None:
        """A new fixed RBF code for ``num_classes`` (``Identity`` for 0); LeNet-5 has no global pooling."""
        num_classes = check_num_classes(num_classes)
        if global_pool is not None:
            self.set_global_pool(global_pool)  # raises: the pooling is fixed
        self.num_classes = num_classes
        ref = self.f6.weight
        rbf = EuclideanRBF(self.num_features, num_classes).to(ref.device, ref.dtype) if num_classes else None
        self.output = rbf if rbf is not None else Identity()

    def forward_features(self, x: Tensor) -> Tensor:
        """``(N, C_in, 32, 32)`` -> C5 maps ``(N, 120, 1, 1)``."""
        if x.dim() != 4 or x.shape[1] != self.in_chans or x.shape[-2:] != (32, 32):
            raise ValueError(
                f"LeNet5: expected input of shape (N, {self.in_chans}, 32, 32), got {list(x.shape)}"
            )
        x = self.act(self.s2(self.act(self.c1(x))))
        x = self.act(self.s4(self.act(self.c3(x))))
        return self.act(self.c5(x))

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        x = self.act(self.f6(torch.flatten(x, 1)))  # (N, 84)
        return x if pre_logits else self.output(x)  # (N, classes)


class LeNet5Modern(ClassifierMixin, nn.Module):
    """Tutorial LeNet: conv5-act-maxpool x2 (dense C3), Linear 400-120-84-classes with activations."""

    classifier_name = "fc3"

    def __init__(self, num_classes: int = 10, in_chans: int = 1, img_size: int = 32,
                 act_layer: ActSpec = "relu") -> None:
        super().__init__()
        self.in_chans, self.num_classes = in_chans, num_classes
        side = ((img_size - 4) // 2 - 4) // 2
        if side < 1:
            raise ValueError(f"LeNet5Modern: img_size must be at least 12, got {img_size}")
        self.features = nn.Sequential(
            Conv2d(in_chans, 6, 5),
            create_act(act_layer),
            MaxPool2d(2),
            Conv2d(6, 16, 5),
            create_act(act_layer),
            MaxPool2d(2),
        )
        self.fc1 = Linear(16 * side * side, 120)
        self.fc2 = Linear(120, 84)
        self.act = create_act(act_layer)
        self.num_features = 84
        self.fc3 = create_fc(84, num_classes)

    def forward_features(self, x: Tensor) -> Tensor:
        """``(N, C_in, H, W)`` -> ``(N, 16, side, side)``."""
        if x.dim() != 4 or x.shape[1] != self.in_chans:
            raise ValueError(f"LeNet5Modern: expected input (N, {self.in_chans}, H, W), got {list(x.shape)}")
        return self.features(x)

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        x = self.act(self.fc2(self.act(self.fc1(torch.flatten(x, 1)))))  # (N, 84)
        return x if pre_logits else self.fc3(x)


_CARD = dict(
    family="lenet",
    paper="Gradient-Based Learning Applied to Document Recognition",
    year=1998,
    arxiv="Proc. IEEE 86(11)",
    input_size=(1, 32, 32),
    test_input_size=(1, 32, 32),
)


@register_model(**_CARD, reference_params=60_000, source="paper, Sec. II.B: 60,000 trainable free parameters")
def lenet5(**kwargs: Any) -> LeNet5:
    return LeNet5(**kwargs)


@register_model(
    **_CARD,
    reference_params=61_706,
    source="layer list of the d2l.ai / PyTorch-tutorial LeNet (sum of conv/linear sizes)",
)
def lenet5_modern(**kwargs: Any) -> LeNet5Modern:
    return LeNet5Modern(**kwargs)
