"""ResNet family vs the independent references: torchvision (resnet*, resnext50_32x4d) and timm (seresnet*).

For each model: the reference is built with random weights, its BatchNorm layers get non-trivial running
statistics and affine parameters, its state dict loads into ours with ``strict=True`` (so every key and
shape matches), and in float64 the eval-mode logits and the training-mode gradients of every parameter
(by name) and of the input agree. Reduced-width configurations are compared against timm's ResNet, which
takes the same ``layers`` / ``channels`` knobs as our ``layers`` / ``widths``.
"""

from __future__ import annotations

import pytest
import torch

import dlzoo

NUM_CLASSES = 5


def randomize_norms(model: torch.nn.Module) -> None:
    """Random BN running stats (var in [0.5, 2]) and affine params, so eval mode exercises every buffer."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.running_mean.normal_(0, 0.2)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.normal_(1, 0.2)
                m.bias.normal_(0, 0.1)


def assert_parity(ref: torch.nn.Module, ours: torch.nn.Module, size: int = 48) -> None:
    """Strict load of ``ref``'s weights into ``ours``; float64 eval logits and train-mode grads agree."""
    randomize_norms(ref)
    ref.double()
    ours.load_state_dict(ref.state_dict(), strict=True)
    ours.double()
    x = torch.randn(2, 3, size, size, dtype=torch.float64)
    ref.eval()
    ours.eval()
    with torch.no_grad():
        expected = ref(x)
        got = ours(x)
    assert expected.shape == (2, NUM_CLASSES)
    torch.testing.assert_close(got, expected, rtol=1e-9, atol=1e-10)

    ref.train()
    ours.train()
    w = torch.randn(2, NUM_CLASSES, dtype=torch.float64)
    xr, xo = x.clone().requires_grad_(), x.clone().requires_grad_()
    (ref(xr) * w).sum().backward()
    (ours(xo) * w).sum().backward()
    torch.testing.assert_close(xo.grad, xr.grad, rtol=1e-8, atol=1e-10)
    ref_grads = {n: p.grad for n, p in ref.named_parameters()}
    our_grads = {n: p.grad for n, p in ours.named_parameters()}
    assert our_grads.keys() == ref_grads.keys()
    for name, g in ref_grads.items():
        assert our_grads[name] is not None, name
        torch.testing.assert_close(our_grads[name], g, rtol=1e-8, atol=1e-10,
                                   msg=lambda m, n=name: f"{n}: {m}")
    # training also updated the running statistics the same way
    ref_buffers = dict(ref.named_buffers())
    for name, b in ours.named_buffers():
        torch.testing.assert_close(b, ref_buffers[name], rtol=1e-9, atol=1e-12)


TORCHVISION = ["resnet18", "resnet34", "resnet50", pytest.param("resnet101", marks=pytest.mark.slow),
               pytest.param("resnet152", marks=pytest.mark.slow), "resnext50_32x4d"]


@pytest.mark.parametrize("name", TORCHVISION)
def test_parity_with_torchvision(name):
    tvm = pytest.importorskip("torchvision.models")
    ref = getattr(tvm, name)(num_classes=NUM_CLASSES)
    assert_parity(ref, dlzoo.create_model(name, num_classes=NUM_CLASSES))


@pytest.mark.parametrize("name", ["seresnet50", "seresnext50_32x4d"])
def test_parity_with_timm(name):
    timm = pytest.importorskip("timm")
    ref = timm.create_model(name, pretrained=False, num_classes=NUM_CLASSES)
    assert any(".se.fc1." in k for k in ref.state_dict())  # the SE layout really is compared
    assert_parity(ref, dlzoo.create_model(name, num_classes=NUM_CLASSES))


@pytest.mark.parametrize(
    "name,layers,widths",
    [("resnet18", (1, 2, 1, 1), (16, 40, 24, 48)),
     ("seresnext50_32x4d", (1, 1, 2, 1), (32, 16, 64, 32)),
     ("resnet50", (2, 1, 1, 1), (8, 16, 32, 8))],
)
def test_parity_with_timm_at_other_widths_and_depths(name, layers, widths):
    """timm's ``channels`` / ``layers`` = our ``widths`` / ``layers``. timm's 7x7 stem is always 64 wide and
    it builds exactly 4 stages: ``stem_width`` and other stage counts are checked against HF's ResNet in
    test_hf_resnet.py."""
    timm = pytest.importorskip("timm")
    ref = timm.create_model(name, pretrained=False, num_classes=NUM_CLASSES, layers=layers, channels=widths)
    ours = dlzoo.create_model(name, num_classes=NUM_CLASSES, layers=layers, widths=widths)
    assert ours.num_features == ref.num_features
    assert_parity(ref, ours)


def test_global_pool_switch_matches_timm():
    """``reset_classifier(k, global_pool="max")`` pools like timm's ResNet with ``global_pool="max"``."""
    timm = pytest.importorskip("timm")
    small = dict(layers=(1, 1, 1, 1), widths=(8, 16, 16, 32))
    ref = timm.create_model("resnet18", pretrained=False, num_classes=NUM_CLASSES, global_pool="max",
                            layers=small["layers"], channels=small["widths"])
    ours = dlzoo.create_model("resnet18", num_classes=3, **small)
    ours.reset_classifier(NUM_CLASSES, global_pool="max")
    assert_parity(ref, ours)


@pytest.mark.parametrize("name", ["resnet18", "seresnet50"])
def test_act_layer_by_name_matches_timm(name):
    """``act_layer="silu"`` reaches the stem and every block act (the SE module keeps its ReLU, as timm's)."""
    timm = pytest.importorskip("timm")
    small = dict(layers=(1, 1, 2, 1), widths=(16, 8, 16, 32))
    ref = timm.create_model(name, pretrained=False, num_classes=NUM_CLASSES, act_layer="silu",
                            layers=small["layers"], channels=small["widths"])
    ours = dlzoo.create_model(name, num_classes=NUM_CLASSES, act_layer="silu", **small)
    assert_parity(ref, ours)
