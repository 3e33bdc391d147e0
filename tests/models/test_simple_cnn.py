"""The seed's small CNNs: equal to the same network written with torch.nn layers (same weights, float64),
counts from the closed form, and the plain net's structure (6n + 2 weighted layers, no shortcuts)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import dlzoo
from dlzoo import nn as dnn
from dlzoo.models.simple_cnn import DeepPlainCNN, plain_cnn_params


def _torch_simple_cnn() -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 10))


def _copy(ours: nn.Module, ref: nn.Module) -> None:
    mine = [p for p in ours.state_dict().values()]
    theirs = list(ref.state_dict().values())
    assert [t.shape for t in mine] == [t.shape for t in theirs]
    ref.load_state_dict(dict(zip(ref.state_dict(), mine)))


def test_simple_cnn_equals_torch_nn_forward_and_grads():
    torch.manual_seed(0)
    ours = dlzoo.create_model("simple_cnn").double()
    ref = _torch_simple_cnn().double()
    _copy(ours, ref)
    x = torch.randn(4, 1, 8, 8, dtype=torch.float64)
    out, want = ours(x), ref(x)
    torch.testing.assert_close(out, want, rtol=1e-12, atol=1e-12)
    out.square().sum().backward()
    want.square().sum().backward()
    for p, q in zip(ours.parameters(), ref.parameters()):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-10, atol=1e-12)


def test_simple_fully_cnn_is_a_per_class_1x1_conv_then_global_average():
    torch.manual_seed(0)
    ours = dlzoo.create_model("simple_fully_cnn").double()
    convs = [m for m in ours.features if isinstance(m, dnn.Conv2d)]
    assert [c.stride for c in convs] == [(1, 1), (2, 2), (2, 2)]
    x = torch.randn(3, 1, 8, 8, dtype=torch.float64)
    h = ours.features(x)
    conv1x1 = nn.functional.conv2d(h, ours.fc.weight[:, :, None, None], ours.fc.bias)  # (N, classes, h, w)
    torch.testing.assert_close(ours(x), conv1x1.mean(dim=(2, 3)), rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="SimpleFullyCNN: expected input"):
        ours(torch.randn(2, 3, 8, 8, dtype=torch.float64))


@pytest.mark.parametrize("depth", [8, 20, 56])
def test_deep_plain_cnn_depth_counts_and_no_shortcut(depth):
    with torch.device("meta"):
        model = DeepPlainCNN(depth=depth, in_chans=3)
    weighted = [m for m in model.modules() if isinstance(m, (dnn.Conv2d, dnn.Linear))]
    assert len(weighted) == depth  # He et al. count: 6n + 2 weighted layers
    assert sum(p.numel() for p in model.parameters()) == plain_cnn_params(depth, in_chans=3)
    # a plain net is a pure composition: Sequential of conv-BN-ReLU units, no residual add anywhere
    assert all(type(m).__name__ in ("Conv2d", "BatchNorm2d", "ReLU") for m in model.features)


def test_plain_20_at_cifar_size_matches_resnet20_count_minus_nothing():
    # He et al. Table 6: ResNet-20 has 0.27M parameters; with option-A (parameter-free) shortcuts the plain
    # counterpart has exactly the same weights.
    assert round(plain_cnn_params(20, in_chans=3) / 1e6, 2) == 0.27


def test_deep_plain_cnn_rejects_bad_depth():
    with pytest.raises(ValueError, match=r"DeepPlainCNN: depth must be 6n \+ 2"):
        DeepPlainCNN(depth=21)
    with pytest.raises(TypeError, match="DeepPlainCNN: depth"):
        DeepPlainCNN(depth=2.0)


@pytest.mark.slow
def test_simple_cnn_trains_on_digits():
    from dlzoo.data.digits import digits

    torch.manual_seed(0)
    data = digits()
    model = dlzoo.create_model("simple_cnn")
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(3):
        for i in range(0, len(data.train), 64):
            x, y = data.train.x[i:i + 64], data.train.y[i:i + 64]
            opt.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        acc = (model(data.test.x).argmax(1) == data.test.y).float().mean().item()
    assert acc > 0.9, acc
