"""Swin Transformer vs timm (the reference of every registered name): strict load of timm's state dict,
float64 eval logits and training-mode gradients (fixture ``reference_parity``, tests/interop/conftest.py).

Both take ``img_size`` and ``window_size`` overrides. At ``img_size=32`` with the default window 7 the
first stage's 8x8 map is zero-padded to 14x14 for the (shifted, masked) window attention, as timm does.
"""

from __future__ import annotations

import pytest
import torch

import dlzoo

timm = pytest.importorskip("timm")

NUM_CLASSES = 5
NAMES = ["swin_tiny_patch4_window7_224", "swin_small_patch4_window7_224", "swin_base_patch4_window7_224"]
REDUCED = dict(embed_dim=16, depths=(2, 2, 2, 2), num_heads=(1, 2, 4, 4), num_classes=NUM_CLASSES,
               drop_path_rate=0.0)


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_parity_with_timm_full_size(name, reference_parity):
    kw = dict(img_size=32, num_classes=NUM_CLASSES, drop_path_rate=0.0)
    ref, ours = timm.create_model(name, pretrained=False, **kw), dlzoo.create_model(name, **kw)
    reference_parity(ref, ours, (3, 32, 32))


@pytest.mark.parametrize("kw", [
    # 16 -> 8 -> 4 -> 2 grids, window 4: shifted, masked windows in the first two stages
    dict(img_size=64, window_size=4),
    # 8x8 map, window 7: padded to 14x14 with the shift mask of the padded map; max pooling
    dict(img_size=32, global_pool="max"),
    # patch 2, no qkv bias, one input channel, mlp_ratio 2
    dict(img_size=32, patch_size=2, window_size=4, qkv_bias=False, in_chans=1, mlp_ratio=2.0),
])
def test_parity_reduced_width(kw, reference_parity):
    name = NAMES[0]
    kw = {**REDUCED, **kw}
    ref = timm.create_model(name, pretrained=False, **kw)
    ours = dlzoo.create_model(name, **kw)
    size = kw["img_size"]
    reference_parity(ref, ours, (kw.get("in_chans", 3), size, size))


def test_no_weight_decay_as_timm():
    with torch.device("meta"):
        ref = timm.create_model(NAMES[0], img_size=32)
        ours = dlzoo.create_model(NAMES[0], img_size=32)
    assert ours.no_weight_decay() == ref.no_weight_decay()
    assert len(ours.no_weight_decay()) == 12  # one relative position bias table per block
