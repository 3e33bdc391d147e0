"""count_macs against a hand count and against torchvision's published GFLOPS (conv + linear MACs)."""

from __future__ import annotations

import pytest
import torch

import dlzoo
from dlzoo.models.profile import count_macs
from dlzoo.nn import Conv2d, ConvTranspose2d, Linear


def test_tiny_net_hand_count():
    net = torch.nn.Sequential(
        Conv2d(3, 8, 3, padding=1),  # out 8x8x8 = 512 outputs, each 3*9 MACs      -> 13,824
        torch.nn.ReLU(),
        Conv2d(8, 16, 3, stride=2, padding=1, groups=2),  # out 16x4x4 = 256, each 4*9 -> 9,216
        ConvTranspose2d(16, 4, 2, stride=2),  # 16*4*4 inputs, each into 4*2*2 outputs   -> 4,096
        torch.nn.Conv2d(4, 2, 1),  # torch's own conv: out 2x8x8 = 128, each 4          -> 512
        torch.nn.Flatten(),
        Linear(128, 10),  # 1,280
        torch.nn.Linear(10, 3),  # 30
    )
    expected = 13_824 + 9_216 + 4_096 + 512 + 1_280 + 30
    assert count_macs(net, (3, 8, 8)) == expected
    assert count_macs(net, (3, 8, 8), batch_size=4) == expected  # per sample


# torchvision model docs, "GFLOPS" column (they count multiply-accumulates of conv + linear layers)
TORCHVISION_GMACS = {"resnet18": 1.81, "resnet50": 4.09, "vgg16": 15.47, "alexnet": 0.71, "googlenet": 1.50,
                     "densenet121": 2.83, "resnext50_32x4d": 4.23, "vgg11_bn": 7.61}


@pytest.mark.parametrize("name", sorted(TORCHVISION_GMACS))
def test_published_gmacs(name):
    with torch.device("meta"):
        model = dlzoo.create_model(name)
    assert round(count_macs(model, (3, 224, 224)) / 1e9, 2) == TORCHVISION_GMACS[name]


def test_complex_layers_count_their_real_pair_block_weight():
    """A complex conv / linear costs what the real block weight [[A, -B], [B, A]] costs: a real layer with
    twice the input and output width, counted by the real rule."""
    import torch.nn as tnn

    from dlzoo.nn.complex import ComplexConv2d, ComplexLinear

    class Cplx(tnn.Module):
        def __init__(self, layer):
            super().__init__()
            self.layer = layer

        def forward(self, x):
            return self.layer(torch.complex(x, x))

    conv = count_macs(Cplx(ComplexConv2d(2, 3, 3, padding=1)), (2, 8, 8))
    assert conv == count_macs(tnn.Conv2d(4, 6, 3, padding=1), (4, 8, 8)) == 4 * 3 * 64 * 2 * 9
    lin = count_macs(Cplx(ComplexLinear(5, 7)), (4, 5))
    assert lin == count_macs(tnn.Linear(10, 14), (4, 10)) == 4 * 4 * 5 * 7
