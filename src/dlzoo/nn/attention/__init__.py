"""The attention family: one implementation per variant, shared by every model.

* :mod:`.multihead` -- scaled dot-product attention, ``MultiheadAttention`` (torch mirror), ViT ``Attention``.
* :mod:`.window` -- Swin's shifted-window attention with its relative position bias.
"""

from .multihead import Attention, MultiheadAttention, attention_weights, masked_softmax, scaled_dot_product_attention
from .window import WindowAttention, shifted_window_mask, window_partition, window_reverse

__all__ = ["scaled_dot_product_attention", "attention_weights", "masked_softmax", "MultiheadAttention", "Attention",
           "WindowAttention", "shifted_window_mask", "window_partition", "window_reverse"]
