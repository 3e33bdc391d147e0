"""Swin pieces: window partition, relative position index, shift mask, WindowAttention, PatchMerging."""

from __future__ import annotations

import pytest
import torch

import dlzoo
from dlzoo.nn.attention.window import (
    WindowAttention,
    relative_position_index,
    shifted_window_mask,
    window_partition,
    window_reverse,
)
from dlzoo.nn.patch_merging import PatchMerging


def test_window_partition_round_trip_and_content():
    x = torch.randn(2, 8, 12, 3)
    win = window_partition(x, 4)
    assert win.shape == (2 * 2 * 3, 4, 4, 3)
    torch.testing.assert_close(window_reverse(win, 4, 8, 12), x, rtol=0, atol=0)
    # window k of sample b is the slice rows [4r, 4r+4), cols [4c, 4c+4), row-major over windows
    for b in range(2):
        for r in range(2):
            for c in range(3):
                k = b * 6 + r * 3 + c
                torch.testing.assert_close(win[k], x[b, 4 * r:4 * r + 4, 4 * c:4 * c + 4], rtol=0, atol=0)
    with pytest.raises(ValueError, match="window_partition"):
        window_partition(torch.randn(1, 6, 8, 3), 4)


@pytest.mark.parametrize("m", [1, 2, 3, 7])
def test_relative_position_index_brute_force(m):
    idx = relative_position_index(m)
    pos = [(y, x) for y in range(m) for x in range(m)]  # row-major token order
    expected = torch.empty(m * m, m * m, dtype=torch.long)
    for i, (yi, xi) in enumerate(pos):
        for j, (yj, xj) in enumerate(pos):
            expected[i, j] = (yi - yj + m - 1) * (2 * m - 1) + (xi - xj + m - 1)
    assert torch.equal(idx, expected)
    assert idx.max() == (2 * m - 1) ** 2 - 1


def test_shifted_window_mask_brute_force():
    """A pair may attend iff both tokens, mapped back through the roll, lie in the same original region."""
    h, w, m, s = 8, 8, 4, 2
    mask = shifted_window_mask(h, w, m, s)
    assert mask.shape == ((h // m) * (w // m), m * m, m * m)

    def region(coord: int, size: int) -> int:  # which of the 3 strips along one axis
        return 0 if coord < size - m else (1 if coord < size - s else 2)

    for win_r in range(h // m):
        for win_c in range(w // m):
            k = win_r * (w // m) + win_c
            toks = [(win_r * m + a, win_c * m + b) for a in range(m) for b in range(m)]
            for i, (yi, xi) in enumerate(toks):
                for j, (yj, xj) in enumerate(toks):
                    same = region(yi, h) == region(yj, h) and region(xi, w) == region(xj, w)
                    assert mask[k, i, j].item() == (0.0 if same else -100.0)


def _explicit_window_attention(attn: WindowAttention, x: torch.Tensor, mask: torch.Tensor | None):
    """Eq. 4 of arXiv:2103.14030 written out per window and head."""
    bw, n, c = x.shape
    h, d = attn.num_heads, attn.head_dim
    w_qkv, b_qkv = attn.qkv.weight, attn.qkv.bias
    table = attn.relative_position_bias_table
    out = torch.empty(bw, n, c, dtype=x.dtype)
    m = attn.window_size
    for k in range(bw):
        q_all = x[k] @ w_qkv[:c].T + b_qkv[:c]
        k_all = x[k] @ w_qkv[c:2 * c].T + b_qkv[c:2 * c]
        v_all = x[k] @ w_qkv[2 * c:].T + b_qkv[2 * c:]
        heads = []
        for head in range(h):
            sl = slice(head * d, (head + 1) * d)
            scores = q_all[:, sl] @ k_all[:, sl].T / d ** 0.5
            bias = torch.empty(n, n, dtype=x.dtype)
            for i in range(n):
                for j in range(n):
                    dy, dx = i // m - j // m, i % m - j % m
                    bias[i, j] = table[(dy + m - 1) * (2 * m - 1) + dx + m - 1, head]
            scores = scores + bias
            if mask is not None:
                scores = scores + mask[k % mask.shape[0]]
            heads.append(torch.softmax(scores, dim=-1) @ v_all[:, sl])
        out[k] = torch.cat(heads, dim=-1) @ attn.proj.weight.T + attn.proj.bias
    return out


@pytest.mark.parametrize("with_mask", [False, True])
def test_window_attention_matches_equation(with_mask):
    attn = WindowAttention(8, num_heads=2, window_size=2).double().eval()
    with torch.no_grad():
        attn.relative_position_bias_table.normal_()
    x = torch.randn(2 * 4, 4, 8, dtype=torch.float64)  # B=2, nW=4 windows of 2x2
    mask = shifted_window_mask(4, 4, 2, 1).double() if with_mask else None
    expected = _explicit_window_attention(attn, x, mask)
    for ref in (False, True):
        with dlzoo.reference_mode(ref):
            torch.testing.assert_close(attn(x, mask), expected)


def test_window_attention_gradcheck_and_errors():
    attn = WindowAttention(4, num_heads=2, window_size=2).double()
    x = torch.randn(2, 4, 4, dtype=torch.float64, requires_grad=True)
    mask = shifted_window_mask(2, 4, 2, 1).double()  # nW = 2
    with dlzoo.reference_mode():
        assert torch.autograd.gradcheck(lambda t: attn(t, mask), (x,))
    out = attn(x, mask)
    out.sum().backward()
    assert attn.relative_position_bias_table.grad.abs().sum() > 0
    with pytest.raises(ValueError, match=r"WindowAttention: expected \(B\*nW, 4, 4\)"):
        attn(torch.randn(2, 9, 4, dtype=torch.float64))
    with pytest.raises(ValueError, match="divisible by num_heads"):
        WindowAttention(6, num_heads=4)


def test_relative_position_bias_matches_hf():
    hf = pytest.importorskip("transformers.models.swin.modeling_swin")
    ref = hf.SwinRelativePositionBias(3, (4, 4))
    with torch.no_grad():
        ref.relative_position_bias_table.normal_()
    ours = WindowAttention(6, num_heads=3, window_size=4)
    with torch.no_grad():
        ours.relative_position_bias_table.copy_(ref.relative_position_bias_table)
    torch.testing.assert_close(ours.relative_position_bias().unsqueeze(0), ref())


def test_patch_merging_matches_hf():
    hf = pytest.importorskip("transformers.models.swin.modeling_swin")
    ref = hf.SwinPatchMerging(dim=6)
    ours = PatchMerging(6)
    with torch.no_grad():
        for p in ref.parameters():
            p.normal_()
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(2, 4, 6, 6, requires_grad=True)
    out = ours(x)
    assert out.shape == (2, 2, 3, 12)
    expected = ref(x.reshape(2, 24, 6), (4, 6)).reshape(2, 2, 3, 12)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)
    odd = torch.randn(2, 3, 5, 6)  # odd H and W: zero-padded bottom/right first, as HF and timm
    torch.testing.assert_close(ours(odd), ref(odd.reshape(2, 15, 6), (3, 5)).reshape(2, 2, 3, 12),
                               atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match=r"PatchMerging: expected \(B, H, W, 6\)"):
        ours(torch.randn(2, 4, 6, 5))
