"""dlzoo's ResNet beyond the reference checkpoints: its structure arguments, bad input, and the classifier
contract (pooling switch, dropout before ``fc``) checked against torch's own ops.

Numerical parity with torchvision / timm / HF lives in tests/interop/test_parity_resnet.py and
tests/interop/test_hf_resnet.py.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import dlzoo
from dlzoo.models.resnet import ResNet

SMALL = dict(layers=(1, 1, 1), widths=(8, 16, 8), stem_width=8)


@pytest.mark.parametrize(
    "kwargs,error,match",
    [(dict(block="preact"), ValueError, "ResNet: block must be 'basic' or 'bottleneck', got 'preact'"),
     (dict(layers=()), TypeError, "ResNet: layers must be a non-empty sequence"),
     (dict(layers=3), TypeError, "ResNet: layers must be a non-empty sequence"),
     (dict(layers=(1, 0, 1)), ValueError, "ResNet: layers must be a positive int, got 0"),
     (dict(widths=(8, 16)), ValueError, "one entry per stage"),
     (dict(strides=(1, 2.5, 2)), TypeError, "ResNet: strides must be a positive int, got 2.5"),
     (dict(stem_width=0), ValueError, "ResNet: stem_width must be a positive int, got 0"),
     (dict(block="basic", groups=2), ValueError, "BasicBlock: only groups=1"),
     (dict(num_classes=-1), ValueError, "num_classes"),
     (dict(global_pool="mean"), ValueError, "global_pool must be one of"),
     (dict(act_layer="relu7"), KeyError, "relu7")],
)
def test_bad_structure_is_reported(kwargs, error, match):
    with pytest.raises(error, match=match):
        ResNet(**{**SMALL, **kwargs})


def test_structure_arguments_shape_the_network():
    model = ResNet("bottleneck", layers=(2, 1, 1), stem_width=12, widths=(4, 8, 2), strides=(2, 1, 2),
                   groups=2, width_per_group=32, stride_in_1x1=True, num_classes=3)
    assert (model.conv1.out_channels, model.num_features) == (12, 8)
    assert not hasattr(model, "layer4") and len(model.layer1) == 2
    first = model.layer1[0]
    assert first.conv1.stride == (2, 2) and first.conv2.stride == (1, 1)  # stride on the 1x1 (v1)
    assert (first.conv2.groups, first.conv2.out_channels) == (2, 4)  # int(4 * 32 / 64) * 2
    assert model.layer2[0].downsample is not None  # width change without stride still projects
    x = torch.randn(2, 3, 64, 64)
    assert model.forward_features(x).shape == (2, 8, 4, 4)  # 64 / (2 * 2) / (2 * 1 * 2)


@pytest.mark.parametrize("pool,reference", [
    ("avg", lambda f: F.adaptive_avg_pool2d(f, 1).flatten(1)),
    ("max", lambda f: F.adaptive_max_pool2d(f, 1).flatten(1)),
    ("avgmax", lambda f: 0.5 * (F.adaptive_avg_pool2d(f, 1) + F.adaptive_max_pool2d(f, 1)).flatten(1)),
    ("", lambda f: f),
])
def test_reset_classifier_switches_the_global_pool(pool, reference):
    model = dlzoo.create_model("seresnet50", num_classes=4, **SMALL).double().eval()
    x = torch.randn(2, 3, 64, 64, dtype=torch.float64)
    model.reset_classifier(0, global_pool=pool)
    assert isinstance(model.get_classifier(), dlzoo.nn.Identity) and model.get_classifier() is model.fc
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference(model.forward_features(x)), rtol=0, atol=0)
    if pool:
        model.reset_classifier(5)  # a new fc on the model's dtype, the pool type kept
        assert model.fc.weight.dtype == torch.float64
        with torch.no_grad():
            torch.testing.assert_close(model(x), model.fc(reference(model.forward_features(x))))


def test_drop_rate_is_applied_to_the_pooled_features_before_fc():
    model = dlzoo.create_model("resnet18", num_classes=4, drop_rate=0.5, **SMALL).train()
    feats = model.forward_features(torch.randn(3, 3, 32, 32))
    torch.manual_seed(7)
    expected = F.dropout(feats.mean(dim=(2, 3)), 0.5, training=True)
    torch.manual_seed(7)
    got = model.forward_head(feats, pre_logits=True)
    torch.testing.assert_close(got, expected)
    assert (got == 0).any()
    torch.manual_seed(7)
    torch.testing.assert_close(model.forward_head(feats), model.fc(expected))
    model.eval()
    torch.testing.assert_close(model.forward_head(feats, pre_logits=True), feats.mean(dim=(2, 3)))
