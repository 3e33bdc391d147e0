"""Shared classifier pieces: GlobalPool and ClassifierHead against torch's pooling and linear ops, and the
ClassifierMixin contract on a small model."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dlzoo.models._base import ClassifierMixin
from dlzoo.nn import ClassifierHead, GlobalPool, LayerNorm, Linear, create_fc


@pytest.mark.parametrize("shape", [(2, 3, 5, 4), (2, 3, 4, 5, 6), (2, 3, 7)])
def test_global_pool_matches_torch_adaptive_pools(shape):
    x = torch.randn(*shape, dtype=torch.float64)
    n = len(shape) - 2
    avg = getattr(F, f"adaptive_avg_pool{n}d")(x, 1).flatten(1)
    mx = (F.adaptive_max_pool1d(x, 1) if n == 1 else
          F.adaptive_max_pool2d(x, 1) if n == 2 else F.adaptive_max_pool3d(x, 1)).flatten(1)
    torch.testing.assert_close(GlobalPool("avg")(x), avg)
    torch.testing.assert_close(GlobalPool("max")(x), mx)
    torch.testing.assert_close(GlobalPool("avgmax")(x), 0.5 * (avg + mx))
    assert GlobalPool("")(x) is x
    assert GlobalPool("avg", flatten=False)(x).shape == (*shape[:2],) + (1,) * n
    nhwc = x.movedim(1, -1)  # (N, *spatial, C)
    torch.testing.assert_close(GlobalPool("avg", input_fmt="NHWC")(nhwc), avg)


def test_global_pool_rejects_unknown_types_and_flat_input():
    with pytest.raises(ValueError, match="global_pool must be one of"):
        GlobalPool("mean")
    with pytest.raises(ValueError, match="input_fmt"):
        GlobalPool("avg", input_fmt="NDHWC")
    with pytest.raises(ValueError, match=r"GlobalPool: expected"):
        GlobalPool("avg")(torch.randn(2, 3))


def test_classifier_head_equals_pool_norm_linear():
    head = ClassifierHead(6, 4, norm=LayerNorm(6, eps=1e-6)).double().eval()
    x = torch.randn(3, 6, 5, 5, dtype=torch.float64)
    pooled = F.layer_norm(x.mean((2, 3)), (6,), head.norm.weight, head.norm.bias, 1e-6)
    torch.testing.assert_close(head(x, pre_logits=True), pooled)
    torch.testing.assert_close(head(x), F.linear(pooled, head.fc.weight, head.fc.bias))
    assert sorted(head.state_dict()) == ["fc.bias", "fc.weight", "norm.bias", "norm.weight"]  # timm's keys


@pytest.mark.parametrize("bad", [-1, 2.5, "10", True, None])
def test_num_classes_is_validated(bad):
    with pytest.raises(ValueError, match="num_classes must be an integer >= 0"):
        create_fc(8, bad)
    with pytest.raises(ValueError, match="num_classes must be an integer >= 0"):
        ClassifierHead(8, bad)


class _Tiny(ClassifierMixin, nn.Module):
    classifier_name = "head.fc"
    global_pool_name = "head"

    def __init__(self, num_classes: int = 3) -> None:
        super().__init__()
        self.num_classes, self.num_features = num_classes, 8
        self.conv = nn.Conv2d(2, 8, 3)
        self.head = ClassifierHead(8, num_classes)

    def forward_features(self, x):
        return self.conv(x)

    def forward_head(self, x, pre_logits=False):
        return self.head(x, pre_logits=pre_logits)


def test_mixin_contract_on_a_small_model():
    model = _Tiny().double()
    x = torch.randn(2, 2, 6, 6, dtype=torch.float64)
    feats = model.forward_features(x)
    assert model.get_classifier() is model.head.fc
    torch.testing.assert_close(model(x), model.head.fc(feats.mean((2, 3))))
    model.reset_classifier(0)
    torch.testing.assert_close(model(x), feats.mean((2, 3)))  # pooled features, width num_features
    model.reset_classifier(5, global_pool="max")
    fc = model.get_classifier()
    assert isinstance(fc, Linear) and fc.weight.dtype == torch.float64 and model.num_classes == 5
    torch.testing.assert_close(model(x), fc(feats.amax((2, 3))))
    with pytest.raises(ValueError, match="global_pool must be one of"):
        model.reset_classifier(5, global_pool="median")


def test_fixed_pooling_is_refused_clearly():
    class Fixed(_Tiny):
        global_pool_name = None

    with pytest.raises(ValueError, match="Fixed: global pooling is fixed"):
        Fixed().reset_classifier(3, global_pool="max")
