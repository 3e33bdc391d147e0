"""RelativePositionBias2d (Swin's B of Eq. 4) against HF's SwinRelativePositionBias and the index formula,
and WindowAttention's state_dict keys against timm's WindowAttention after the extraction."""

from __future__ import annotations

import pytest
import torch

import dlzoo
from dlzoo.nn import RelativePositionBias2d
from dlzoo.nn.attention import WindowAttention
from dlzoo.nn.attention.relative_position import relative_position_index


@pytest.mark.parametrize("window", [(1, 1), (2, 3), (4, 4), (3, 5)])
def test_index_brute_force_rectangular(window):
    wh, ww = window
    idx = relative_position_index(window)
    pos = [(y, x) for y in range(wh) for x in range(ww)]  # row-major token order
    for i, (yi, xi) in enumerate(pos):
        for j, (yj, xj) in enumerate(pos):
            assert idx[i, j].item() == (yi - yj + wh - 1) * (2 * ww - 1) + (xi - xj + ww - 1)
    # every offset (dy, dx) in the table is used exactly by the pairs that have it: all rows are reachable
    assert sorted(idx.unique().tolist()) == list(range((2 * wh - 1) * (2 * ww - 1)))


@pytest.mark.parametrize("window", [(4, 4), (3, 5)])
def test_matches_hf_swin_relative_position_bias_values_and_grads(window):
    hf = pytest.importorskip("transformers.models.swin.modeling_swin")
    ref = hf.SwinRelativePositionBias(3, window).double()
    with torch.no_grad():
        ref.relative_position_bias_table.normal_()
    ours = RelativePositionBias2d(3, window).double()
    ours.load_state_dict(ref.state_dict(), strict=True)  # same persistent keys (the index is not saved)
    assert set(ours.state_dict()) == set(ref.state_dict()) == {"relative_position_bias_table"}
    out, expected = ours(), ref()
    assert out.shape == (1, 3, window[0] * window[1], window[0] * window[1])
    torch.testing.assert_close(out, expected, rtol=0, atol=0)
    g = torch.randn_like(out)
    (ga,) = torch.autograd.grad(out, ours.relative_position_bias_table, g)
    (gb,) = torch.autograd.grad(expected, ref.relative_position_bias_table, g)
    torch.testing.assert_close(ga, gb, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(ours.relative_position_bias(), out[0], rtol=0, atol=0)


def test_bias_is_table_lookup_by_offset():
    """B[h, i, j] = B_hat[h, dy, dx] written out from the paper, independent of the index buffer."""
    m = 3
    rpb = RelativePositionBias2d(2, m)
    table = rpb.relative_position_bias_table.detach().view(2 * m - 1, 2 * m - 1, 2)  # (dy, dx, heads)
    bias = rpb.relative_position_bias().detach()
    pos = [(y, x) for y in range(m) for x in range(m)]
    for i, (yi, xi) in enumerate(pos):
        for j, (yj, xj) in enumerate(pos):
            torch.testing.assert_close(bias[:, i, j], table[yi - yj + m - 1, xi - xj + m - 1], rtol=0, atol=0)


def test_window_attention_keys_unchanged_and_equal_to_timm():
    """The extraction keeps timm's flat keys: WindowAttention loads timm's state_dict strictly."""
    timm_swin = pytest.importorskip("timm.models.swin_transformer")
    ref = timm_swin.WindowAttention(8, num_heads=2, window_size=4)
    ours = WindowAttention(8, num_heads=2, window_size=4)
    assert isinstance(ours, RelativePositionBias2d)
    keys = ["relative_position_bias_table", "qkv.weight", "qkv.bias", "proj.weight", "proj.bias"]
    assert list(ours.state_dict()) == keys
    assert set(ours.state_dict()) == set(ref.state_dict())
    ours.load_state_dict(ref.state_dict(), strict=True)
    with torch.no_grad():
        torch.testing.assert_close(ours.relative_position_bias(), ref._get_rel_pos_bias()[0], rtol=0, atol=0)
        x = torch.randn(3, 16, 8)
        torch.testing.assert_close(ours(x), ref(x), rtol=1e-6, atol=1e-6)
    assert "relative_position_index" not in ours.state_dict()  # non-persistent, as in timm and HF


def test_exported_and_bad_input():
    assert dlzoo.nn.RelativePositionBias2d is RelativePositionBias2d
    with pytest.raises(ValueError, match="RelativePositionBias2d: window_size must be a positive int, got 0"):
        RelativePositionBias2d(2, 0)
    with pytest.raises(ValueError, match="RelativePositionBias2d: window_size must be an int or a pair"):
        RelativePositionBias2d(2, (2, 2, 2))
    with pytest.raises(TypeError, match="RelativePositionBias2d: num_heads must be a positive int"):
        RelativePositionBias2d(2.0, 3)
    with pytest.raises(ValueError, match="WindowAttention: window_size must be a positive int"):
        WindowAttention(8, num_heads=2, window_size=-1)
