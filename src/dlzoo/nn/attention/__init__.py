"""The attention family: one implementation per variant, shared by every model.

* :mod:`.dot_product` -- ``DotProductAttention``, (scaled) dot-product attention without projections.
* :mod:`.multihead` -- scaled dot-product attention, ``MultiheadAttention`` (torch mirror), ViT ``Attention``.
* :mod:`.window` -- Swin's shifted-window attention with its relative position bias.
* :mod:`.relative_position` -- ``RelativePositionBias2d``, Swin's learned 2-D relative position bias.
* :mod:`.sparse` -- ``SparseMultiheadAttention`` under the Sparse Transformer's factorised patterns
  (:mod:`.sparse_patterns`: local, strided, fixed, diagonal/column blocks, sliding window).
* :mod:`.gqa` -- causal grouped-query self-attention (MHA / GQA / MQA, RoPE, sliding window);
  :mod:`.kv_cache` -- its preallocated key/value cache.
* :mod:`.additive` -- Bahdanau's additive attention ``v^T tanh(W_q s + W_k h)``.
"""

from .additive import AdditiveAttention
from .dot_product import DotProductAttention, valid_lens_mask
from .gqa import GroupedQueryAttention, causal_mask
from .kv_cache import KVCache
from .multihead import (
    Attention,
    MultiheadAttention,
    attention_weights,
    masked_softmax,
    scaled_dot_product_attention,
)
from .relative_position import RelativePositionBias2d, relative_position_index
from .sparse import SparseMultiheadAttention
from .sparse_patterns import (
    column_block_pattern,
    diagonal_block_pattern,
    fixed_pattern,
    local_pattern,
    pattern_components,
    sliding_window_causal_mask,
    strided_pattern,
)
from .window import WindowAttention, shifted_window_mask, window_partition, window_reverse

__all__ = [
    "AdditiveAttention",
    "DotProductAttention",
    "valid_lens_mask",
    "GroupedQueryAttention",
    "causal_mask",
    "KVCache",
    "scaled_dot_product_attention",
    "attention_weights",
    "masked_softmax",
    "MultiheadAttention",
    "Attention",
    "WindowAttention",
    "SparseMultiheadAttention",
    "local_pattern",
    "strided_pattern",
    "fixed_pattern",
    "diagonal_block_pattern",
    "column_block_pattern",
    "sliding_window_causal_mask",
    "pattern_components",
    "RelativePositionBias2d",
    "relative_position_index",
    "shifted_window_mask",
    "window_partition",
    "window_reverse",
]
