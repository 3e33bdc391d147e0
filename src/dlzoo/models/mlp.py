"""A multilayer-perceptron image classifier, small enough to train on the digits in seconds.

Rumelhart, Hinton, Williams, "Learning representations by back-propagating errors", Nature 323, 1986.
Each hidden block is ``h <- Dropout(act(Norm(h W_i^T + b_i)))`` (``act_layer``, GELU by default); the head
is ``logits = h W^T + b`` (``head``).

Shapes: input (B, C, H, W) is flattened to (B, C*H*W); features (B, hidden_dims[-1]); logits
(B, num_classes). Parameter count: ``sum_i (d_{i-1} + 1) d_i`` over the linear layers, plus each norm's
parameters (``2 d_i`` for LayerNorm, ``2 d_i + 1`` for DyT), with ``d_0 = C*H*W``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import Tensor, nn

from ..nn import Dropout, Linear, create_act, create_fc, get_norm_layer
from ..nn.create_act import ActSpec
from ..nn.factory import NormSpec
from . import register_model
from ._base import ClassifierMixin

__all__ = ["MlpClassifier", "mlp_digits"]


class MlpClassifier(ClassifierMixin, nn.Module):
    """Flatten -> [Linear -> norm -> act -> Dropout] x len(hidden_dims) -> Linear head."""

    classifier_name = "head"

    def __init__(
        self,
        num_classes: int = 10,
        in_chans: int = 1,
        img_size: int = 8,
        hidden_dims: Sequence[int] = (128, 128),
        norm_layer: NormSpec = "layernorm",
        norm_kwargs: dict[str, Any] | None = None,
        drop_rate: float = 0.0,
        act_layer: ActSpec = "gelu",
    ) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.in_chans = in_chans
        self.img_size = img_size
        self.in_features = in_chans * img_size * img_size
        make_norm = get_norm_layer(norm_layer, **(norm_kwargs or {}))
        blocks: list[nn.Module] = []
        width = self.in_features
        for dim in hidden_dims:
            blocks += [Linear(width, dim), make_norm(dim), create_act(act_layer), Dropout(drop_rate)]
            width = dim
        self.blocks = nn.Sequential(*blocks)
        self.num_features = width
        self.head_drop = Dropout(drop_rate)
        self.head = create_fc(width, num_classes)

    def forward_features(self, x: Tensor) -> Tensor:
        expected = (self.in_chans, self.img_size, self.img_size)
        if x.dim() != 4 or tuple(x.shape[1:]) != expected:
            raise ValueError(f"MlpClassifier: expected input (B, {', '.join(map(str, expected))}), "
                             f"got {tuple(x.shape)}")
        return self.blocks(x.flatten(1))  # (B, C, H, W) -> (B, C*H*W) -> (B, D)

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        x = self.head_drop(x)
        return x if pre_logits else self.head(x)


@register_model(family="mlp", paper="Learning representations by back-propagating errors", year=1986,
                arxiv="Nature 323:533-536", input_size=(1, 8, 8), test_input_size=(1, 8, 8),
                reference_params=26_634,
                source="closed form: (64+1)*128 + 2*128 + (128+1)*128 + 2*128 + (128+1)*10")
def mlp_digits(**kwargs: Any) -> MlpClassifier:
    """Two hidden layers of 128 with LayerNorm, for the 8x8 digits (10 classes)."""
    return MlpClassifier(**kwargs)


