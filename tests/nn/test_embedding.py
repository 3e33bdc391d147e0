"""PatchEmbed vs torch.nn.Conv2d and vs the paper's patch-flatten-matmul (eq. 1); ConvStem vs torch layers."""

from __future__ import annotations

import pytest
import torch

import dlzoo
from dlzoo.nn import ConvStem, PatchEmbed


def _tol(dtype):
    return 1e-10 if dtype == torch.float64 else 1e-5


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_patch_embed_matches_torch_conv_and_eq1(dtype):
    B, C, H, W, P, D = 2, 3, 8, 12, 4, 5
    ours = PatchEmbed((H, W), P, C, D).to(dtype)
    assert list(ours.state_dict()) == ["proj.weight", "proj.bias"]
    assert ours.proj.weight.shape == (D, C, P, P) and ours.num_patches == 6 and ours.grid_size == (2, 3)
    ref = torch.nn.Conv2d(C, D, P, stride=P, dtype=dtype)
    ref.load_state_dict(ours.proj.state_dict())
    x = torch.randn(B, C, H, W, dtype=dtype, requires_grad=True)
    expected = ref(x).flatten(2).transpose(1, 2)  # (B, N, D)
    # eq. 1 written out: x_p (B, N, P*P*C) times E (P*P*C, D), patches in row-major grid order
    x_p = x.reshape(B, C, H // P, P, W // P, P).permute(0, 2, 4, 3, 5, 1).reshape(B, 6, P * P * C)
    E = ref.weight.permute(0, 2, 3, 1).reshape(D, P * P * C).T
    torch.testing.assert_close(x_p @ E + ref.bias, expected, atol=_tol(dtype), rtol=_tol(dtype))
    g = torch.randn_like(expected)
    ref_grads = torch.autograd.grad(expected, [x, ref.weight, ref.bias], g)
    for reference in (False, True):
        with dlzoo.reference_mode(reference):
            out = ours(x)
        torch.testing.assert_close(out, expected, atol=_tol(dtype), rtol=_tol(dtype))
        grads = torch.autograd.grad(out, [x, ours.proj.weight, ours.proj.bias], g)
        for a, b in zip(grads, ref_grads, strict=True):
            torch.testing.assert_close(a, b, atol=_tol(dtype) * 10, rtol=_tol(dtype) * 10)


def test_patch_embed_norm_flatten_and_errors():
    pe = PatchEmbed(8, 2, 1, 16, norm_layer="layernorm")
    x = torch.randn(3, 1, 8, 8)
    out = pe(x)
    torch.testing.assert_close(out, torch.nn.functional.layer_norm(
        pe.proj(x).flatten(2).transpose(1, 2), (16,), pe.norm.weight, pe.norm.bias))
    assert PatchEmbed(8, 2, 1, 16, flatten=False)(x).shape == (3, 16, 4, 4)
    with pytest.raises(ValueError, match=r"PatchEmbed: expected input \(B, 1, 8, 8\), got shape \[3, 1, 9"):
        pe(torch.randn(3, 1, 9, 8))
    with pytest.raises(ValueError, match="divisible"):
        PatchEmbed(10, 4, 1, 16)


@pytest.mark.parametrize("train", [True, False])
def test_conv_stem_matches_torch_layers(train):
    chs, strides = (4, 8, 8, 16), (2, 2, 1, 2)
    ours = ConvStem(16, 8, 3, 12, chs, strides).double()
    layers, c = [], 3
    for co, s in zip(chs, strides):
        layers += [torch.nn.Conv2d(c, co, 3, s, 1, bias=False), torch.nn.BatchNorm2d(co), torch.nn.ReLU()]
        c = co
    ref = torch.nn.Sequential(*layers, torch.nn.Conv2d(c, 12, 1)).double()
    with torch.no_grad():
        for p in ref.parameters():
            p.copy_(torch.randn_like(p) * 0.5)
    sd = {k.replace(f"{len(layers)}.", "proj.", 1) if k.startswith(f"{len(layers)}.") else f"stem.{k}": v
          for k, v in ref.state_dict().items()}
    ours.load_state_dict(sd)
    ours.train(train)
    ref.train(train)
    x = torch.randn(2, 3, 16, 16, dtype=torch.float64, requires_grad=True)
    expected = ref(x).flatten(2).transpose(1, 2)  # (2, 4, 12): 16 / 8 = 2x2 tokens
    out = ours(x)
    assert out.shape == (2, 4, 12)
    torch.testing.assert_close(out, expected)
    g = torch.randn_like(out)
    for a, b in zip(torch.autograd.grad(out, [x, *ours.parameters()], g),
                    torch.autograd.grad(expected, [x, *ref.parameters()], g), strict=True):
        torch.testing.assert_close(a, b)
    if train:
        torch.testing.assert_close(ours.stem[1].running_mean, ref[1].running_mean)
    with pytest.raises(ValueError, match="ConvStem: strides"):
        ConvStem(16, 16, 3, 12, chs, strides)
