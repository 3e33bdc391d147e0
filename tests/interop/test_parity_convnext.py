"""ConvNeXt V1/V2 vs timm (the reference of every registered name): strict load of timm's state dict,
float64 eval logits and training-mode gradients (fixture ``reference_parity``, tests/interop/conftest.py).

timm's small V2 models (atto, nano) use 1x1-conv MLPs with channels-first block norms (``conv_mlp=True``):
``mlp.fc1.weight`` is (4C, C, 1, 1) there, and the GRN keys are ``mlp.grn.{weight,bias}`` of shape (C,).
"""

from __future__ import annotations

import pytest
import torch

import dlzoo

timm = pytest.importorskip("timm")

NUM_CLASSES = 5
SLOW = pytest.mark.slow
# full size, every registered name (> 10M parameters: slow); the reduced-width tests below cover each
# layout (Linear MLP with layer scale, Linear MLP with GRN, 1x1-conv MLP) quickly
NAMES = [pytest.param(n, marks=SLOW) for n in ("convnext_tiny", "convnext_small", "convnext_base",
                                               "convnextv2_nano", "convnextv2_tiny", "convnextv2_base")]
NAMES.insert(0, "convnextv2_atto")
REDUCED = dict(depths=(1, 2, 1, 1), dims=(8, 16, 24, 32), num_classes=NUM_CLASSES)


@pytest.mark.parametrize("name", NAMES)
def test_parity_with_timm(name, reference_parity):
    ref = timm.create_model(name, pretrained=False, num_classes=NUM_CLASSES)
    ours = dlzoo.create_model(name, num_classes=NUM_CLASSES)
    reference_parity(ref, ours, (3, 32, 32))


@pytest.mark.parametrize("name", ["convnextv2_atto", "convnextv2_nano", "convnextv2_tiny"])
def test_mlp_layout_and_grn_keys_as_timm(name):
    with torch.device("meta"):
        ref = timm.create_model(name).state_dict()
        ours = dlzoo.create_model(name).state_dict()
    key = "stages.0.blocks.0.mlp.fc1.weight"
    assert ours[key].shape == ref[key].shape  # (4C, C, 1, 1) for atto/nano, (4C, C) for tiny
    assert ours["stages.0.blocks.0.mlp.grn.weight"].shape == ref["stages.0.blocks.0.mlp.grn.weight"].shape


@pytest.mark.parametrize("name,kw,in_chans", [
    ("convnext_tiny", {}, 3),  # Linear MLP, layer scale
    ("convnextv2_tiny", {}, 3),  # Linear MLP, GRN channels-last, no layer scale
    # 1x1-conv MLP on V1 with layer scale, max pooling, one input channel
    ("convnext_tiny", dict(conv_mlp=True, ls_init_value=0.5, global_pool="max"), 1),
])
def test_parity_reduced_width(name, kw, in_chans, reference_parity):
    """The registered builders at reduced width vs timm's builder of the same name with the same knobs."""
    kw = {**REDUCED, **kw, "in_chans": in_chans}
    ref = timm.create_model(name, pretrained=False, **kw)
    reference_parity(ref, dlzoo.create_model(name, **kw), (in_chans, 32, 32))
