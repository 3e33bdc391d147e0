"""3-D U-Net: the paper's parameter count (19,069,955) from an independent formula, shapes, gradients."""

from __future__ import annotations

import pytest
import torch

import dlzoo
from dlzoo.models.unet3d import UNet3D
from dlzoo.nn import BatchNorm3d, DyT


def _count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _formula(cin: int, cout: int, b: int, depth: int, bn_affine: bool) -> int:
    """Count written from the paper's description, layer by layer (k^3 * in * out + bias)."""
    conv = lambda i, o, k=3: k ** 3 * i * o + o  # noqa: E731
    total, prev, norm_ch = 0, cin, 0
    for i in range(depth):  # analysis: b*2^i then b*2^(i+1)
        c1, c2 = b * 2 ** i, b * 2 ** (i + 1)
        total += conv(prev, c1) + conv(c1, c2)
        norm_ch += c1 + c2
        prev = c2
    for i in reversed(range(depth - 1)):  # synthesis: up-conv (no bias), concat, two convs
        below, skip = b * 2 ** (i + 2), b * 2 ** (i + 1)
        total += 2 ** 3 * below * below
        total += conv(below + skip, skip) + conv(skip, skip)
        norm_ch += 2 * skip
    total += conv(2 * b, cout, k=1)
    return total + (2 * norm_ch if bn_affine else 0)


def test_paper_parameter_count():
    assert dlzoo.model_info("unet3d").reference_params == 19_069_955
    with torch.device("meta"):
        model = dlzoo.create_model("unet3d")
        affine = dlzoo.create_model("unet3d", norm_kwargs={"affine": True})
    assert _count(model) == _formula(3, 3, 32, 4, bn_affine=False) == 19_069_955
    assert _count(affine) == _formula(3, 3, 32, 4, bn_affine=True)
    assert dlzoo.model_info("unet3d_tiny").reference_params == _formula(1, 1, 4, 3, bn_affine=True)
    for depth, b in [(2, 4), (3, 8), (5, 2)]:
        m = UNet3D(in_channels=2, out_channels=5, base_channels=b, depth=depth)
        assert _count(m) == _formula(2, 5, b, depth, bn_affine=True)


def test_paper_valid_conv_output_size():
    """Valid convolutions: 132x132x116 -> 44x44x28 in the paper (shape arithmetic on the meta device)."""
    with torch.device("meta"):
        model = dlzoo.create_model("unet3d", padding=0)
        out = model(torch.empty(1, 3, 132, 132, 116, device="meta"))
    assert tuple(out.shape) == (1, 3, 44, 44, 28)


def test_valid_padding_tiny_real_forward():
    model = dlzoo.create_model("unet3d_tiny", padding=0).eval()
    out = model(torch.randn(1, 1, 44, 44, 44))
    assert out.shape == (1, 1, 4, 4, 4) and torch.isfinite(out).all()


@pytest.mark.parametrize("shape", [(2, 1, 8, 16, 16), (1, 1, 4, 8, 12)])  # volumes and (T, H, W) clips
def test_forward_backward_same_padding(shape):
    model = dlzoo.create_model("unet3d_tiny", out_channels=3)
    x = torch.randn(*shape)
    out = model(x)
    assert out.shape == (shape[0], 3, *shape[2:])
    torch.nn.functional.cross_entropy(out, torch.randint(0, 3, (shape[0], *shape[2:]))).backward()
    for n, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), n


def test_regression_and_norm_swap():
    model = dlzoo.create_model("unet3d_tiny", in_channels=2, out_channels=1, norm_layer="dyt")
    assert not any(isinstance(m, BatchNorm3d) for m in model.modules())
    assert all(not m.channels_last for m in model.modules() if isinstance(m, DyT))
    x = torch.randn(2, 2, 4, 8, 8)
    out = model(x)
    torch.nn.functional.mse_loss(out, torch.randn_like(out)).backward()
    assert all(p.grad is not None for p in model.parameters())
    gn = dlzoo.create_model("unet3d_tiny", norm_layer="groupnorm", norm_kwargs={"num_groups": 2})
    assert gn(torch.randn(1, 1, 4, 4, 4)).shape == (1, 1, 4, 4, 4)


def test_reference_mode_agrees():
    model = dlzoo.create_model("unet3d_tiny").eval()
    x = torch.randn(1, 1, 4, 8, 8)
    with dlzoo.reference_mode():
        ref = model(x)
    torch.testing.assert_close(model(x), ref, atol=1e-4, rtol=1e-4)


def test_errors():
    model = dlzoo.create_model("unet3d_tiny")
    with pytest.raises(ValueError, match=r"UNet3D: expected \(N, 1, D, H, W\)"):
        model(torch.randn(1, 2, 8, 8, 8))
    with pytest.raises(ValueError, match="divisible by 4"):
        model(torch.randn(1, 1, 6, 8, 8))
    with pytest.raises(ValueError, match="depth"):
        UNet3D(depth=1)
