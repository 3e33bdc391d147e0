"""ResNet family vs the independent references: torchvision (resnet*, resnext50_32x4d) and timm (seresnet*).

For each model: the reference is built with random weights, its BatchNorm layers get non-trivial running
statistics and affine parameters, its state dict loads into ours with ``strict=True`` (so every key and
shape matches), and in float64 the eval-mode logits and the training-mode gradients of every parameter
(by name) and of the input agree. Reduced-width configurations are compared against timm's ResNet, which
takes the same ``layers`` / ``channels`` knobs as our ``layers`` / ``widths``.
"""

from __future__ import annotations

import pytest

import dlzoo

NUM_CLASSES = 5

TORCHVISION = ["resnet18", "resnet34", "resnet50", pytest.param("resnet101", marks=pytest.mark.slow),
               pytest.param("resnet152", marks=pytest.mark.slow), "resnext50_32x4d"]


@pytest.mark.parametrize("name", TORCHVISION)
def test_parity_with_torchvision(name, reference_parity):
    tvm = pytest.importorskip("torchvision.models")
    ref = getattr(tvm, name)(num_classes=NUM_CLASSES)
    reference_parity(ref, dlzoo.create_model(name, num_classes=NUM_CLASSES), (3, 48, 48))


@pytest.mark.parametrize("name", ["seresnet50", "seresnext50_32x4d"])
def test_parity_with_timm(name, reference_parity):
    timm = pytest.importorskip("timm")
    ref = timm.create_model(name, pretrained=False, num_classes=NUM_CLASSES)
    assert any(".se.fc1." in k for k in ref.state_dict())  # the SE layout really is compared
    reference_parity(ref, dlzoo.create_model(name, num_classes=NUM_CLASSES), (3, 48, 48))


@pytest.mark.parametrize(
    "name,layers,widths",
    [("resnet18", (1, 2, 1, 1), (16, 40, 24, 48)),
     ("seresnext50_32x4d", (1, 1, 2, 1), (32, 16, 64, 32)),
     ("resnet50", (2, 1, 1, 1), (8, 16, 32, 8))],
)
def test_parity_with_timm_at_other_widths_and_depths(name, layers, widths, reference_parity):
    """timm's ``channels`` / ``layers`` = our ``widths`` / ``layers``. timm's 7x7 stem is always 64 wide and
    it builds exactly 4 stages: ``stem_width`` and other stage counts are checked against HF's ResNet in
    test_hf_resnet.py."""
    timm = pytest.importorskip("timm")
    ref = timm.create_model(name, pretrained=False, num_classes=NUM_CLASSES, layers=layers, channels=widths)
    ours = dlzoo.create_model(name, num_classes=NUM_CLASSES, layers=layers, widths=widths)
    assert ours.num_features == ref.num_features
    reference_parity(ref, ours, (3, 48, 48))


def test_global_pool_switch_matches_timm(reference_parity):
    """``reset_classifier(k, global_pool="max")`` pools like timm's ResNet with ``global_pool="max"``."""
    timm = pytest.importorskip("timm")
    small = dict(layers=(1, 1, 1, 1), widths=(8, 16, 16, 32))
    ref = timm.create_model("resnet18", pretrained=False, num_classes=NUM_CLASSES, global_pool="max",
                            layers=small["layers"], channels=small["widths"])
    ours = dlzoo.create_model("resnet18", num_classes=3, **small)
    ours.reset_classifier(NUM_CLASSES, global_pool="max")
    reference_parity(ref, ours, (3, 48, 48))


@pytest.mark.parametrize("name", ["resnet18", "seresnet50"])
def test_act_layer_by_name_matches_timm(name, reference_parity):
    """``act_layer="silu"`` reaches the stem and every block act (the SE module keeps its ReLU, as timm's)."""
    timm = pytest.importorskip("timm")
    small = dict(layers=(1, 1, 2, 1), widths=(16, 8, 16, 32))
    ref = timm.create_model(name, pretrained=False, num_classes=NUM_CLASSES, act_layer="silu",
                            layers=small["layers"], channels=small["widths"])
    ours = dlzoo.create_model(name, num_classes=NUM_CLASSES, act_layer="silu", **small)
    reference_parity(ref, ours, (3, 48, 48))
