"""CapsNet: conv -> primary capsules -> digit capsules routed by agreement, plus a reconstruction decoder.

Sabour, Frosst, Hinton, "Dynamic Routing Between Capsules", NeurIPS 2017, arXiv:1710.09829, Sec. 4 and
Fig. 1-2. MNIST configuration (the default): Conv1 256 9x9 ReLU -> PrimaryCaps 32 maps x 8-D, 9x9 stride 2
(1152 capsules on 28x28 input) -> DigitCaps 10 x 16-D (3 routing iterations) -> class scores ``||v_k||``;
the decoder masks all but one digit capsule (the true class when ``target`` is given, else the longest)
and maps the 160 values through FC 512 ReLU -> FC 1024 ReLU -> FC H*W*C sigmoid.

Loss (Eq. 4 + Sec. 4.1): ``margin_loss(||v||, target) + 0.0005 * sum (reconstruction - x)^2`` per sample,
batch mean (:func:`dlzoo.losses.margin_loss`).

Parameter count of the default 28x28 configuration, in closed form: conv1 81*256 + 256 = 20,992; primary
caps 81*256*256 + 256 = 5,308,672; DigitCaps W 1152*10*16*8 = 1,474,560; decoder 82,432 + 525,312 +
803,600 = 1,411,344; total 8,215,568 = the paper's "8.2M" (6,804,224 = its "6.8M" without the decoder).

``forward(x, target=None) -> CapsNetOutput(loss, logits, capsules, reconstruction)``: as Hugging Face
outputs with labels, the loss leads (``None`` without a target); ``logits`` are the capsule lengths (N, K).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import Tensor, nn

from ..losses.capsule import margin_loss
from ..nn.capsules import PrimaryCapsules, RoutingCapsules
from ..nn.conv import Conv2d
from ..nn.linear import Linear
from . import register_model
from ._cnn import check_image_input

__all__ = ["CapsNet", "CapsNetOutput", "capsnet"]


class CapsNetOutput(NamedTuple):
    loss: Tensor | None
    logits: Tensor  # (N, K): capsule lengths ||v_k||
    capsules: Tensor  # (N, K, D)
    reconstruction: Tensor  # (N, C, H, W)


class CapsNet(nn.Module):
    """Sabour et al.'s three-layer CapsNet with its reconstruction decoder (see module docstring)."""

    def __init__(self, num_classes: int = 10, in_chans: int = 1, img_size: int = 28,
                 conv_channels: int = 256, conv_kernel: int = 9, primary_capsules: int = 32,
                 primary_dim: int = 8, primary_kernel: int = 9, primary_stride: int = 2,
                 capsule_dim: int = 16,
                 routing_iterations: int = 3, decoder_hidden: Sequence[int] = (512, 1024),
                 reconstruction_weight: float = 0.0005, routing_init_std: float = 0.01) -> None:
        super().__init__()
        self.num_classes, self.in_chans, self.img_size = num_classes, in_chans, img_size
        self.reconstruction_weight = reconstruction_weight
        self.conv1 = Conv2d(in_chans, conv_channels, conv_kernel)
        self.primary = PrimaryCapsules(conv_channels, primary_capsules, primary_dim, primary_kernel,
                                       primary_stride)
        side = (img_size - conv_kernel + 1 - primary_kernel) // primary_stride + 1
        if side < 1:
            raise ValueError(f"CapsNet: img_size={img_size} is too small for conv {conv_kernel} and primary "
                             f"capsules {primary_kernel}/{primary_stride}")
        self.digit = RoutingCapsules(primary_capsules * side * side, primary_dim, num_classes, capsule_dim,
                                     routing_iterations, routing_init_std)
        layers: list[nn.Module] = []
        width = num_classes * capsule_dim
        for h in decoder_hidden:
            layers += [Linear(width, h), nn.ReLU()]
            width = h
        layers += [Linear(width, in_chans * img_size * img_size), nn.Sigmoid()]
        self.decoder = nn.Sequential(*layers)

    def forward(self, x: Tensor, target: Tensor | None = None) -> CapsNetOutput:
        check_image_input("CapsNet", x, self.in_chans)
        if x.shape[-2:] != (self.img_size, self.img_size):
            raise ValueError(f"CapsNet: expected {self.img_size}x{self.img_size} images, got {list(x.shape)}")
        v = self.digit(self.primary(torch.relu(self.conv1(x))))  # (N, K, D)
        lengths = v.norm(dim=-1)  # (N, K)
        chosen = target if target is not None else lengths.argmax(dim=1)
        mask = torch.nn.functional.one_hot(chosen, self.num_classes).to(v.dtype)  # (N, K)
        recon = self.decoder((v * mask.unsqueeze(-1)).flatten(1)).view_as(x)  # (N, C, H, W)
        loss = None
        if target is not None:
            sse = (recon - x).pow(2).flatten(1).sum(1)  # (N,)
            loss = margin_loss(lengths, target, reduction="none").add(self.reconstruction_weight * sse).mean()
        return CapsNetOutput(loss, lengths, v, recon)


@register_model(
    "capsnet", family="capsnet", paper="Dynamic Routing Between Capsules", year=2017, arxiv="1710.09829",
    input_size=(1, 28, 28), reference_params=8_215_568, task="capsule-classification",
    source="closed form of the paper's MNIST configuration (8.2M in the paper, 6.8M without the decoder)",
    test_input_size=(1, 8, 8),
    test_kwargs={"img_size": 8, "conv_channels": 16, "conv_kernel": 3, "primary_capsules": 4,
                 "primary_dim": 4, "primary_kernel": 3, "capsule_dim": 8, "decoder_hidden": (32, 64)},
)
def capsnet(**kwargs) -> CapsNet:
    """The paper's MNIST CapsNet (28x28); the card's test kwargs size it for the 8x8 digits."""
    return CapsNet(**kwargs)
