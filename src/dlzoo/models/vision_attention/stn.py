"""Spatial transformer network classifier for small images.

Jaderberg, Simonyan, Zisserman, Kavukcuoglu, "Spatial Transformer Networks", NeurIPS 2015, arXiv:1506.02025.
A :class:`dlzoo.nn.SpatialTransformer` (affine, identity-initialised) warps the input, then a small CNN
classifies the warped image (the paper's ST-CNN, Sec. 4.1)::

    localisation: conv3x3(8) -> maxpool2 -> ReLU -> conv3x3(10) -> maxpool2 -> ReLU -> Linear(10 h/4 w/4, 32)
                  -> ReLU -> fc_loc Linear(32, 6) = theta
    classifier:   [conv3x3 -> ReLU -> maxpool2] x (32, 64) -> Linear(64 h/4 w/4, 128) -> ReLU -> fc

Shapes at 8x8: (N, 1, 8, 8) -> warped (N, 1, 8, 8) -> (N, 64, 2, 2) -> (N, 128) -> (N, classes).
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from ...nn import Conv2d, Linear, MaxPool2d, ReLU, SpatialTransformer, create_fc
from .. import register_model
from .._base import ClassifierMixin
from .._cnn import check_image_input

__all__ = ["SpatialTransformerNet", "spatial_transformer_net"]


class SpatialTransformerNet(ClassifierMixin, nn.Module):
    """ST-CNN: ``stn`` (localisation net + sampler) then conv features, ``fc1`` and the logits ``fc``."""

    classifier_name = "fc"

    def __init__(self, num_classes: int = 10, in_chans: int = 1, img_size: int = 8, loc_hidden: int = 32,
                 channels: tuple[int, int] = (32, 64), hidden_dim: int = 128, padding_mode: str = "zeros",
                 align_corners: bool = False) -> None:
        super().__init__()
        if img_size % 4:
            raise ValueError(f"SpatialTransformerNet: img_size must be a multiple of 4, got {img_size}")
        self.in_chans, self.num_classes, self.img_size = in_chans, num_classes, img_size
        side = img_size // 4
        localization = nn.Sequential(
            Conv2d(in_chans, 8, 3, padding=1), MaxPool2d(2), ReLU(),
            Conv2d(8, 10, 3, padding=1), MaxPool2d(2), ReLU(),
            nn.Flatten(), Linear(10 * side * side, loc_hidden), ReLU(),
        )
        self.stn = SpatialTransformer(localization, loc_hidden, padding_mode=padding_mode,
                                      align_corners=align_corners)
        c1, c2 = channels
        self.features = nn.Sequential(
            Conv2d(in_chans, c1, 3, padding=1), ReLU(), MaxPool2d(2),
            Conv2d(c1, c2, 3, padding=1), ReLU(), MaxPool2d(2),
        )
        self.fc1 = Linear(c2 * side * side, hidden_dim)
        self.act = ReLU()
        self.num_features = hidden_dim
        self.fc = create_fc(hidden_dim, num_classes)

    def forward_features(self, x: Tensor) -> Tensor:
        """``(N, C, H, W)`` -> warped -> ``(N, c2, H/4, W/4)``."""
        check_image_input("SpatialTransformerNet", x, self.in_chans)
        return self.features(self.stn(x))

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        x = self.act(self.fc1(x.flatten(1)))  # (N, hidden)
        return x if pre_logits else self.fc(x)


@register_model(family="spatial_transformer", paper="Spatial Transformer Networks", year=2015,
                arxiv="1506.02025", input_size=(1, 8, 8), test_input_size=(1, 8, 8), reference_params=55_322,
                source="closed form at 8x8: localisation (9+1)8 + (72+1)10 + (40+1)32 + fc_loc (32+1)6; "
                       "classifier (9+1)32 + (288+1)64 + (256+1)128 + (128+1)10")
def spatial_transformer_net(**kwargs: Any) -> SpatialTransformerNet:
    """ST-CNN on the 8x8 digits (affine transformer, identity init)."""
    return SpatialTransformerNet(**kwargs)
