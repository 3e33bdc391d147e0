"""MobileNetV4 Conv-Medium / Conv-Large / Hybrid-Medium against timm (independent implementation): exact
parameter counts and state-dict layout on the meta device, and for Conv-Medium and Hybrid-Medium the same
weights give the same float64 eval logits, training-mode gradients of every parameter and BN running
statistics (``reference_parity``)."""

from __future__ import annotations

import pytest
import torch

import dlzoo
from dlzoo.interop.torchvision import load_torchvision_state_dict

timm = pytest.importorskip("timm")

VARIANTS = ["mobilenetv4_conv_medium", "mobilenetv4_conv_large", "mobilenetv4_hybrid_medium"]


@pytest.mark.parametrize("name", VARIANTS)
def test_count_and_state_dict_layout_match_timm(name):
    with torch.device("meta"):
        ref = timm.create_model(name, pretrained=False)
        ours = dlzoo.create_model(name)
    ref_state, state = ref.state_dict(), ours.state_dict()
    assert list(state) == list(ref_state)
    assert all(state[k].shape == ref_state[k].shape for k in state)
    count = sum(p.numel() for p in ours.parameters())
    assert count == sum(p.numel() for p in ref.parameters()) == dlzoo.model_info(name).reference_params


def _via_converter(ours, state):
    assert list(ours.state_dict()) == list(state)
    assert load_torchvision_state_dict(ours, state) == []


def test_conv_medium_matches_timm_outputs_and_gradients(reference_parity):
    ref = timm.create_model("mobilenetv4_conv_medium", pretrained=False, num_classes=10)
    ours = dlzoo.create_model("mobilenetv4_conv_medium", num_classes=10)
    reference_parity(ref, ours, torch.randn(2, 3, 32, 32), load=_via_converter)
    x = torch.randn(2, 3, 64, 48, dtype=torch.float64)  # stride-2 convs on odd-sized maps too
    ours.eval()
    ref.eval()
    with torch.no_grad(), dlzoo.reference_mode():
        torch.testing.assert_close(ours(x), ref(x), rtol=1e-9, atol=1e-9)


@pytest.mark.slow
def test_conv_large_matches_timm_eval_logits():
    ref = timm.create_model("mobilenetv4_conv_large", pretrained=False, num_classes=10).eval().double()
    ours = dlzoo.create_model("mobilenetv4_conv_large", num_classes=10).eval().double()
    with torch.no_grad():
        for m in ref.modules():  # random BN statistics / affine so every layer matters
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.normal_(1.0, 0.3)
                m.bias.normal_(0.0, 0.3)
    _via_converter(ours, ref.state_dict())
    x = torch.randn(2, 3, 32, 32, dtype=torch.float64)
    with torch.no_grad():
        expected = ref(x)
        assert expected.std() > 1e-3
        torch.testing.assert_close(ours(x), expected, rtol=1e-9, atol=1e-9)


def test_hybrid_medium_matches_timm_outputs_and_gradients(reference_parity):
    """Mobile MQA blocks (KV downsampled in stage 3) and layer scale; the fixture gives every layer-scale
    gamma a random value, so the attention branches are not scaled down to 1e-5."""
    ref = timm.create_model("mobilenetv4_hybrid_medium", pretrained=False, num_classes=10)
    ours = dlzoo.create_model("mobilenetv4_hybrid_medium", num_classes=10)
    # input gradients reach ~1.5e3 through 2x2-pixel training-mode BatchNorms (8 values per channel): float64
    # rounding then differs by ~2e-9 absolute (1e-12 relative to the largest entry), above the default 1e-10
    reference_parity(ref, ours, torch.randn(2, 3, 64, 64), load=_via_converter, atol=1e-8)
    x = torch.randn(2, 3, 64, 96, dtype=torch.float64)
    ours.eval()
    ref.eval()
    with torch.no_grad(), dlzoo.reference_mode():  # explicit attention math instead of the fused kernel
        torch.testing.assert_close(ours(x), ref(x), rtol=1e-9, atol=1e-9)
