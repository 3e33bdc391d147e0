"""Vision Transformer vs timm (the reference of every registered name it has): strict load of timm's state
dict, float64 eval logits and training-mode gradients (fixture ``reference_parity``, interop/conftest.py).

``img_size=32`` is passed to both (a 2x2 grid of 16x16 patches). The conv-stem ViTs (vit_*_convstem, Xiao
et al. 2021) and vit_tiny_digits have no timm twin and are not compared here (tests/models/test_vit.py
checks their blocks against torch.nn.TransformerEncoderLayer).
"""

from __future__ import annotations

import pytest
import torch

import dlzoo

timm = pytest.importorskip("timm")

NUM_CLASSES = 5
NAMES = ["vit_tiny_patch16_224", pytest.param("vit_small_patch16_224", marks=pytest.mark.slow),
         pytest.param("vit_base_patch16_224", marks=pytest.mark.slow)]
REDUCED = dict(img_size=32, embed_dim=32, depth=2, num_heads=4, num_classes=NUM_CLASSES)


@pytest.mark.parametrize("name", NAMES)
def test_parity_with_timm(name, reference_parity):
    kw = dict(img_size=32, num_classes=NUM_CLASSES)
    ref, ours = timm.create_model(name, pretrained=False, **kw), dlzoo.create_model(name, **kw)
    reference_parity(ref, ours, (3, 32, 32))


@pytest.mark.parametrize("kw", [
    dict(global_pool="avg"),  # fc_norm instead of the final norm; the class token is kept (timm's default)
    dict(global_pool="avgmax", class_token=False),
    dict(global_pool="max", fc_norm=False),
    dict(init_values=0.1, qkv_bias=False, mlp_ratio=2.0),  # layer scale ls1/ls2.gamma
    dict(patch_size=8, in_chans=1),
])
def test_parity_reduced_width(kw, reference_parity):
    kw = {**REDUCED, **kw}
    ref = timm.create_model("vit_tiny_patch16_224", pretrained=False, **kw)
    ours = dlzoo.create_model("vit_tiny_patch16_224", **kw)
    reference_parity(ref, ours, (kw.get("in_chans", 3), 32, 32))


def test_global_pool_switch_by_reset_classifier_as_timm(reference_parity):
    """reset_classifier(k, global_pool="avg") on a class-token model: both pool the patch tokens and keep
    the norms they were built with."""
    ref = timm.create_model("vit_tiny_patch16_224", pretrained=False, **REDUCED)
    ours = dlzoo.create_model("vit_tiny_patch16_224", **REDUCED)
    ref.reset_classifier(NUM_CLASSES, global_pool="avg")
    ours.reset_classifier(NUM_CLASSES, global_pool="avg")
    assert ours.global_pool == "avg"
    reference_parity(ref, ours, (3, 32, 32))


def test_no_weight_decay_as_timm():
    with torch.device("meta"):
        ref = timm.create_model("vit_tiny_patch16_224", img_size=32)
        ours = dlzoo.create_model("vit_tiny_patch16_224", img_size=32)
    params = dict(ours.named_parameters())
    assert ours.no_weight_decay() == {n for n in ref.no_weight_decay() if n in params}
