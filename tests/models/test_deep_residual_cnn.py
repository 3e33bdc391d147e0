"""deep_residual_cnn: He et al. 2016's CIFAR ResNet (option A shortcuts) equals the same network written with
torch.nn layers and F.pad (same weights, float64), and has exactly deep_plain_cnn's parameters."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn import functional as F

import dlzoo
from dlzoo.models.simple_cnn import ShortcutA, plain_cnn_params


class _TorchBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.c1, self.b1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout)
        self.c2, self.b2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout)
        self.cin, self.cout, self.stride = cin, cout, stride

    def forward(self, x):
        out = self.b2(self.c2(F.relu(self.b1(self.c1(x)))))
        short = x[:, :, :: self.stride, :: self.stride]  # option A: subsample, pad channels with zeros
        short = torch.cat([short, short.new_zeros(short.shape[0], self.cout - self.cin, *short.shape[2:])], 1)
        return F.relu(out + short)


def _torch_resnet(depth: int) -> nn.Sequential:
    n = (depth - 2) // 6
    layers: list[nn.Module] = [nn.Conv2d(1, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU()]
    cin = 16
    for s, w in enumerate((16, 32, 64)):
        for i in range(n):
            layers.append(_TorchBlock(cin, w, 2 if s > 0 and i == 0 else 1))
            cin = w
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10))


@pytest.mark.parametrize("train_mode", [True, False])
def test_deep_residual_cnn_equals_torch_nn_resnet(train_mode):
    torch.manual_seed(0)
    ours = dlzoo.create_model("deep_residual_cnn", depth=14).double().train(train_mode)
    ref = _torch_resnet(14).double().train(train_mode)
    mine, theirs = list(ours.state_dict().values()), list(ref.state_dict())
    assert [t.shape for t in mine] == [ref.state_dict()[k].shape for k in theirs]
    ref.load_state_dict(dict(zip(theirs, mine)))
    x = torch.randn(3, 1, 8, 8, dtype=torch.float64)
    out, want = ours(x), ref(x)
    torch.testing.assert_close(out, want, rtol=1e-12, atol=1e-12)
    out.square().sum().backward()
    want.square().sum().backward()
    for p, q in zip(ours.parameters(), ref.parameters()):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("depth", [20, 56])
def test_residual_and_plain_nets_have_the_same_parameters(depth):
    with torch.device("meta"):
        plain = dlzoo.create_model("deep_plain_cnn", depth=depth)
        res = dlzoo.create_model("deep_residual_cnn", depth=depth)
    count = sum(p.numel() for p in res.parameters())
    assert count == sum(p.numel() for p in plain.parameters()) == plain_cnn_params(depth)
    assert not list(ShortcutA(16, 32, 2).parameters())
    with pytest.raises(ValueError, match="ShortcutA: cannot shrink"):
        ShortcutA(32, 16, 1)
