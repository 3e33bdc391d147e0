"""SqueezeExcite and CBAM vs the papers' equations written out here with explicit matrices/loops."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from dlzoo.nn.squeeze_excite import CBAM, SqueezeExcite, make_divisible

DT = torch.float64


def test_squeeze_excite_matches_paper_eqs_2_to_4():
    se = SqueezeExcite(32, rd_ratio=1 / 4).double()
    with torch.no_grad():
        for p in se.parameters():
            p.copy_(torch.randn_like(p))
    u = torch.randn(3, 32, 5, 6, dtype=DT)
    w1, b1 = se.fc1.weight[:, :, 0, 0], se.fc1.bias  # (C/r, C)
    w2, b2 = se.fc2.weight[:, :, 0, 0], se.fc2.bias  # (C, C/r)
    assert w1.shape == (8, 32)
    out = se(u)
    for n in range(3):
        z = torch.stack([u[n, c].sum() / (5 * 6) for c in range(32)])  # eq. 2
        s = 1 / (1 + torch.exp(-(w2 @ torch.clamp(w1 @ z + b1, min=0) + b2)))  # eq. 3
        for c in range(32):
            torch.testing.assert_close(out[n, c], s[c] * u[n, c])  # eq. 4


def test_se_reduced_width_matches_timm_rule():
    # timm SEModule: rd = make_divisible(C / 16, 8, round_limit=0) -> 256:16, 64:8 (min 8), 1000: 64
    assert [SqueezeExcite(c).fc1.out_channels for c in (256, 64, 1000, 2048)] == [16, 8, 64, 128]
    assert make_divisible(32 * 0.25 * 3.3, 8) == 24  # 26.4 -> 24 (>= 0.9 * 26.4)
    assert make_divisible(10, 8) == 16  # 8 < 0.9 * 10 -> bumped up


def test_cbam_matches_paper_eqs():
    m = CBAM(16, reduction=4, kernel_size=7).double()
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(torch.randn_like(p) * 0.5)
    x = torch.randn(2, 16, 9, 8, dtype=DT, requires_grad=True)
    out = m(x)
    w0, b0 = m.channel.fc1.weight[:, :, 0, 0], m.channel.fc1.bias
    w1, b1 = m.channel.fc2.weight[:, :, 0, 0], m.channel.fc2.bias

    def mlp(v):  # shared MLP W1(relu(W0 v))
        return w1 @ torch.relu(w0 @ v + b0) + b1

    k = m.spatial.conv.weight[0]  # (2, 7, 7)
    for n in range(2):
        f = x[n]
        mc = torch.sigmoid(mlp(f.mean(dim=(1, 2))) + mlp(f.flatten(1).max(dim=1).values))  # eq. 2
        f1 = mc[:, None, None] * f
        maps = torch.stack([f1.mean(dim=0), f1.max(dim=0).values])  # (2, H, W)
        padded = F.pad(maps, (3, 3, 3, 3))
        ms = torch.zeros(9, 8, dtype=DT)
        for i in range(9):  # the 7x7 correlation written as a loop
            for j in range(8):
                ms[i, j] = (padded[:, i:i + 7, j:j + 7] * k).sum()
        expected = torch.sigmoid(ms)[None] * f1  # eq. 3
        torch.testing.assert_close(out[n], expected)
    out.sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in m.parameters())


def test_bad_shape_raises():
    with pytest.raises(ValueError, match=r"SqueezeExcite: expected input of shape \(N, 8, H, W\)"):
        SqueezeExcite(8)(torch.randn(2, 4, 3, 3))
    with pytest.raises(ValueError, match="CBAM"):
        CBAM(8)(torch.randn(2, 8, 3))
