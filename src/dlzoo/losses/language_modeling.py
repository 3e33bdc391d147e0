"""Next-token cross-entropy over logits with any leading dims: ``(B, T, V)`` against targets ``(B, T)``.

The mean over all B*T positions of ``-log softmax(logits)[target]`` (positions equal to ``ignore_index``
skipped), i.e. ``cross_entropy(logits.reshape(-1, V), target.reshape(-1))`` as HF's ``ForCausalLMLoss``
computes it after its shift (the blocks of :class:`dlzoo.data.text.LMBlockDataset` come shifted already).
Registered as loss ``lm_cross_entropy`` (what language-modelling configs use).
"""

from __future__ import annotations

from torch import Tensor

from .classification import CrossEntropyLoss
from .factory import register_loss

__all__ = ["LMCrossEntropyLoss"]


@register_loss("lm_cross_entropy", paper="(next-token cross-entropy of a causal language model)")
class LMCrossEntropyLoss(CrossEntropyLoss):
    """:class:`dlzoo.losses.CrossEntropyLoss` with the class dim last: input (..., V), target (...)."""

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        if input.dim() < 2 or target.shape != input.shape[:-1]:
            raise ValueError(f"lm_cross_entropy: expected logits (..., V) and targets of their leading "
                             f"shape, got logits {tuple(input.shape)} and targets {tuple(target.shape)}")
        return super().forward(input.reshape(-1, input.shape[-1]), target.reshape(-1))  # (B*T, V), (B*T,)
