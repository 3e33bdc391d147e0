"""Bad sizes and inputs get a ValueError/TypeError naming the layer, the argument and what was received,
never a deep torch traceback (ZeroDivisionError, "Trying to create tensor with negative dimension") or a
silently empty layer."""

from __future__ import annotations

import re

import pytest
import torch

from dlzoo.nn import BatchNorm1d, BatchNorm2d, DyT, GroupNorm, LayerNorm, LayerNorm2d, RMSNorm
from dlzoo.nn.attention import scaled_dot_product_attention
from dlzoo.nn.attention.window import WindowAttention
from dlzoo.nn.batchnorm import BatchNormChannelsLast
from dlzoo.nn.derf import Derf
from dlzoo.nn.grn import GlobalResponseNorm
from dlzoo.nn.groupnorm import GroupNormChannelsLast, InstanceNorm2d, LocalResponseNorm
from dlzoo.nn.norms_extra import BandRMS, PartialRMSNorm

BAD_SIZES = [
    (lambda: DyT(0), ValueError, "DyT: num_features must be a positive int, got 0"),
    (lambda: DyT(-3), ValueError, "DyT: num_features must be a positive int, got -3"),
    (lambda: DyT(2.5), TypeError, "DyT: num_features must be a positive int, got 2.5 (float)"),
    (lambda: DyT(True), TypeError, "DyT: num_features must be a positive int, got True (bool)"),
    (lambda: Derf(0), ValueError, "Derf: num_features must be a positive int, got 0"),
    (lambda: GroupNorm(0, 8), ValueError, "GroupNorm: num_groups must be a positive int, got 0"),
    (lambda: GroupNorm(2, 0), ValueError, "GroupNorm: num_channels must be a positive int, got 0"),
    (lambda: GroupNorm(3, 8), ValueError, "GroupNorm: num_channels (8) must be divisible by num_groups (3)"),
    (lambda: GroupNormChannelsLast(-1, 8), ValueError, "GroupNormChannelsLast: num_groups must be a"),
    (lambda: LayerNorm(0), ValueError, "LayerNorm: normalized_shape must be a positive int, got 0"),
    (lambda: LayerNorm([4, 0]), ValueError, "LayerNorm: normalized_shape must be a positive int, got 0"),
    (lambda: LayerNorm([]), ValueError, "LayerNorm: normalized_shape must have at least one dim, got []"),
    (lambda: LayerNorm("8"), TypeError, "LayerNorm: normalized_shape must be an int or a sequence of ints"),
    (lambda: LayerNorm2d(-2), ValueError, "LayerNorm2d: normalized_shape must be a positive int, got -2"),
    (lambda: RMSNorm(0), ValueError, "RMSNorm: normalized_shape must be a positive int, got 0"),
    (lambda: RMSNorm((3, 1.5)), TypeError, "RMSNorm: normalized_shape must be a positive int, got 1.5"),
    (lambda: BatchNorm2d(0), ValueError, "BatchNorm2d: num_features must be a positive int, got 0"),
    (lambda: BatchNorm1d(-4), ValueError, "BatchNorm1d: num_features must be a positive int, got -4"),
    (lambda: BatchNormChannelsLast(0), ValueError, "BatchNormChannelsLast: num_features must be a positive"),
    (lambda: InstanceNorm2d(0), ValueError, "InstanceNorm2d: num_features must be a positive int, got 0"),
    (lambda: LocalResponseNorm(0), ValueError, "LocalResponseNorm: size must be a positive int, got 0"),
    (lambda: PartialRMSNorm(0), ValueError, "PartialRMSNorm: num_features must be a positive int, got 0"),
    (lambda: BandRMS(0), ValueError, "BandRMS: num_features must be a positive int, got 0"),
    (lambda: GlobalResponseNorm(0), ValueError, "GlobalResponseNorm: dim must be a positive int, got 0"),
    (lambda: WindowAttention(8, num_heads=0), ValueError, "WindowAttention: num_heads must be a positive"),
    (lambda: WindowAttention(8, 2, window_size=0), ValueError, "WindowAttention: window_size must be a"),
]


@pytest.mark.parametrize("build,error,message", BAD_SIZES, ids=[m[:40] for _, _, m in BAD_SIZES])
def test_bad_constructor_sizes_name_the_layer_and_argument(build, error, message):
    with pytest.raises(error, match=re.escape(message)):
        build()


def test_good_sizes_still_build():
    assert DyT(torch.tensor(4).item()).num_features == 4
    assert LayerNorm(torch.Size([2, 3])).normalized_shape == (2, 3)
    assert RMSNorm([5]).normalized_shape == (5,)
    assert GroupNorm(2, 8).num_groups == 2


def test_sdpa_bad_mask_and_dropout_are_named():
    q, k, v = torch.randn(2, 3, 4, 8), torch.randn(2, 3, 5, 8), torch.randn(2, 3, 5, 8)
    with pytest.raises(ValueError, match=r"attn_mask of shape \[4, 4\] does not broadcast .* \[2, 3, 4, 5\]"):
        scaled_dot_product_attention(q, k, v, attn_mask=torch.ones(4, 4, dtype=torch.bool))
    with pytest.raises(TypeError, match="attn_mask must be bool .* or float .*, got torch.int64"):
        scaled_dot_product_attention(q, k, v, attn_mask=torch.ones(4, 5, dtype=torch.long))
    with pytest.raises(ValueError, match=r"dropout_p must be in \[0, 1\], got 1.5"):
        scaled_dot_product_attention(q, k, v, dropout_p=1.5)


def test_window_attention_mask_shape_is_named():
    attn = WindowAttention(8, num_heads=2, window_size=2)
    x = torch.randn(4, 4, 8)
    for mask in (torch.zeros(3, 4, 4), torch.zeros(4, 4), torch.zeros(0, 4, 4)):
        with pytest.raises(ValueError, match=r"WindowAttention: mask must be \(nW, 4, 4\)"):
            attn(x, mask)
