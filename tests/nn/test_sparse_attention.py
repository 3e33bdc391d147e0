"""Sparse Transformer patterns (Child et al. 2019, arXiv:1904.10509) and SparseMultiheadAttention.

Patterns: each equals a brute-force Python definition written here from the paper's set equations (and the
seed catalog's DiagBlock/ColumnBlock definitions); causal queries see themselves; strided and fixed connect
every position to every earlier one in two steps (the paper's claim), which neither component does alone.
Module: equal to torch.nn.MultiheadAttention and to torch SDPA under the same mask (float64, grads).
"""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F

import dlzoo
from dlzoo.nn import SparseMultiheadAttention
from dlzoo.nn.attention.gqa import causal_mask
from dlzoo.nn.attention.sparse_patterns import (
    column_block_pattern,
    diagonal_block_pattern,
    fixed_components,
    fixed_pattern,
    local_pattern,
    pattern_components,
    sliding_window_causal_mask,
    strided_components,
    strided_pattern,
)
from dlzoo.registry import UnknownNameError


def _mask(t, rule):
    return torch.tensor([[bool(rule(i, j)) for j in range(t)] for i in range(t)])


def _causal(rule, causal):
    return (lambda i, j: rule(i, j) and j <= i) if causal else rule


# the paper's sets, 0-indexed: A_i = {j : rule(i, j)}
def _local(w):
    return lambda i, j: abs(i - j) < w


def _strided_a1(l):  # noqa: E741 -- l is the paper's stride
    return lambda i, j: abs(i - j) < l


def _strided_a2(l):  # noqa: E741
    return lambda i, j: (i - j) % l == 0


def _fixed_a1(l):  # noqa: E741
    return lambda i, j: i // l == j // l


def _fixed_a2(l, c):  # noqa: E741
    return lambda i, j: j % l in range(l - c, l)


CAUSAL = pytest.mark.parametrize("causal", [True, False], ids=["causal", "bidirectional"])
SIZES = [(1, 1), (7, 1), (9, 3), (10, 3), (16, 4), (13, 5)]


@CAUSAL
@pytest.mark.parametrize("t,l", SIZES)
def test_patterns_equal_brute_force(t, l, causal):  # noqa: E741
    a1, a2 = strided_components(t, l, causal)
    assert torch.equal(a1, _mask(t, _causal(_strided_a1(l), causal)))
    assert torch.equal(a2, _mask(t, _causal(_strided_a2(l), causal)))
    assert torch.equal(strided_pattern(t, l, causal), a1 | a2)
    assert torch.equal(local_pattern(t, l + 1, causal), _mask(t, _causal(_local(l + 1), causal)))
    for c in range(1, l + 1):
        f1, f2 = fixed_components(t, l, c, causal)
        assert torch.equal(f1, _mask(t, _causal(_fixed_a1(l), causal)))
        assert torch.equal(f2, _mask(t, _causal(_fixed_a2(l, c), causal)))
        assert torch.equal(fixed_pattern(t, l, c, causal), f1 | f2)
    # the seed's DiagBlockAttention (diagonal blocks, tril) and ColumnBlockAttention (columns b-1, 2b-1, ..)
    diag = torch.zeros(t, t)
    for s in range(0, t, l):
        diag[s:s + l, s:s + l] = 1
    cols = torch.zeros(t, t)
    cols[:, torch.arange(l - 1, t, l)] = 1
    if causal:
        diag, cols = diag.tril(), cols.tril()
    assert torch.equal(diagonal_block_pattern(t, l, causal), diag.bool())
    assert torch.equal(column_block_pattern(t, l, causal), cols.bool())
    assert torch.equal(pattern_components("diagonal-block", t, l, causal=causal)[0], diag.bool())


@pytest.mark.parametrize("t,l", SIZES)
def test_causal_queries_see_themselves(t, l):  # noqa: E741
    eye = torch.eye(t, dtype=torch.bool)
    for keep in (*strided_components(t, l), fixed_pattern(t, l, 1), fixed_components(t, l)[0],
                 local_pattern(t, l), diagonal_block_pattern(t, l)):
        assert (keep & eye).equal(eye)
        assert not keep.triu(1).any()  # and nothing later
    for c in range(1, l + 1):  # the summary columns alone: row i is empty exactly while i < l - c
        empty = ~fixed_components(t, l, c)[1].any(dim=1)
        assert empty.tolist() == [i < l - c for i in range(t)]
        assert column_block_pattern(t, l, num_columns=c).equal(fixed_components(t, l, c)[1])


def _two_steps(first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
    """i reaches j through two layers: i attends some k under ``second`` and k attends j under ``first``, or
    a path of at most two locations that stays put in one layer (the residual stream carries position i)."""
    eye = torch.eye(first.shape[0], dtype=torch.bool)
    return ((second | eye).double() @ (first | eye).double()) > 0


@CAUSAL
@pytest.mark.parametrize("t,l", [(16, 4), (25, 5), (12, 3), (30, 6)])
def test_two_step_connectivity(t, l, causal):  # noqa: E741
    """Paper Sec. 4: with the two components in consecutive layers (A^(1) first), every j <= i (every j
    when bidirectional) is reachable from i by a path of at most two locations; a single component or layer
    is not enough."""
    target = torch.ones(t, t, dtype=torch.bool)
    target = target.tril() if causal else target
    for a1, a2 in (strided_components(t, l, causal), fixed_components(t, l, 1, causal),
                   fixed_components(t, l, 2, causal)):
        assert torch.equal(_two_steps(a1, a2), target)
        union = a1 | a2
        assert torch.equal(_two_steps(union, union), target)  # merged heads, two layers
        assert not union.equal(target) and not _two_steps(a1, a1).equal(target)
        assert not _two_steps(a2, a2).equal(target)


def test_sliding_window_causal_mask():
    for t, w in itertools.product([1, 5, 9], [1, 2, 4, 12]):
        keep = sliding_window_causal_mask(t, w)
        assert torch.equal(keep, _mask(t, lambda i, j, w=w: 0 <= i - j < w))
        assert torch.equal(keep, causal_mask(t, t, w))  # the GQA layer's mask agrees


def test_pattern_bad_input():
    with pytest.raises(UnknownNameError, match="unknown sparse attention pattern 'strided2'"):
        pattern_components("strided2", 8, 2)
    with pytest.raises(ValueError, match="'fixed' needs stride"):
        pattern_components("fixed", 8)
    with pytest.raises(ValueError, match=r"fixed_components: summary \(c = 5\) must be <= stride \(l = 4\)"):
        fixed_components(8, 4, 5)
    with pytest.raises(ValueError, match="local_pattern: window must be a positive int, got 0"):
        local_pattern(8, 0)
    with pytest.raises(TypeError, match="seq_len must be a positive int"):
        strided_pattern(8.0, 2)


# ---------------------------------------------------------------------------------------------- the module
CONFIGS = [
    ("strided", {"stride": 3}, "merged"),
    ("strided", {"stride": 3}, "heads"),
    ("fixed", {"stride": 4, "summary": 2}, "heads"),
    ("fixed", {"stride": 4}, "interleaved"),
    ("local", {"window": 3}, "merged"),
    ("diagonal_block", {"stride": 3}, "merged"),
    ("column_block", {"stride": 3}, "merged"),  # rows 0, 1 see nothing when causal
]


def _pair(pattern, kw, mode, causal, layer_idx=1):
    ours = SparseMultiheadAttention(8, 4, pattern=pattern, causal=causal, mode=mode, layer_idx=layer_idx,
                                    batch_first=True, **kw).double()
    ref = torch.nn.MultiheadAttention(8, 4, batch_first=True).double()
    with torch.no_grad():
        for p in ref.parameters():
            p.normal_(0, 0.5)
    ours.load_state_dict(ref.state_dict(), strict=True)
    return ours, ref


def _head_keep(ours, t):
    keep = ours.pattern_mask(t)
    return keep if keep.dim() == 3 else keep.expand(ours.num_heads, t, t)  # (H, T, T)


def _sdpa_reference(ours, x, keep):
    """Projections written out, then torch SDPA per head with the pattern as its bool mask, then W^O."""
    n, t, e = x.shape
    h, d = ours.num_heads, ours.head_dim
    qkv = x @ ours.in_proj_weight.T + ours.in_proj_bias  # (N, T, 3E)
    q, k, v = (z.view(n, t, h, d).transpose(1, 2) for z in qkv.chunk(3, dim=-1))  # (N, H, T, d)
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=keep)  # keep (H, T, T) broadcasts over N
    return ours.out_proj(out.transpose(1, 2).reshape(n, t, e))


@pytest.mark.parametrize("reference", [False, True], ids=["default", "reference_mode"])
@pytest.mark.parametrize("causal", [True, False], ids=["causal", "bidirectional"])
@pytest.mark.parametrize("pattern,kw,mode", CONFIGS, ids=[f"{p}-{m}" for p, _, m in CONFIGS])
def test_module_equals_dense_masked_attention(pattern, kw, mode, causal, reference):
    ours, ref = _pair(pattern, kw, mode, causal)
    t = 9
    x = torch.randn(2, t, 8, dtype=torch.float64, requires_grad=True)
    keep = _head_keep(ours, t)  # (H, T, T)
    # the mask is the brute-force definition of the chosen components
    if pattern == "strided" and mode == "heads":
        comps = [_mask(t, _causal(_strided_a1(3), causal)), _mask(t, _causal(_strided_a2(3), causal))]
        assert all(keep[h].equal(comps[h % 2]) for h in range(4))
    if pattern == "fixed" and mode == "interleaved":  # layer 1 -> A^(2), the summary columns
        assert keep[0].equal(_mask(t, _causal(_fixed_a2(4, 1), causal)))
    with dlzoo.reference_mode(reference):
        out, w = ours(x)
        out_fast, _ = ours(x, need_weights=False)
    sdpa = _sdpa_reference(ours, x, keep)
    blocked = (~keep).repeat(2, 1, 1)  # (N*H, T, T), torch's True = not allowed
    expected, ref_w = ref(x, x, x, attn_mask=blocked, need_weights=False)
    assert torch.isfinite(out).all()
    for o in (out, out_fast, sdpa):
        torch.testing.assert_close(o, expected, rtol=1e-11, atol=1e-12)
    assert w.shape == (2, t, t) and (w[:, ~keep.any(0)] == 0).all()  # no weight outside the pattern
    params = [x, *ours.parameters()]
    g = torch.randn_like(out)
    ref_grads = torch.autograd.grad(expected, [x, *ref.parameters()], g)
    for got in (torch.autograd.grad(out, params, g, retain_graph=True),
                torch.autograd.grad(out_fast, params, g, retain_graph=True),
                torch.autograd.grad(sdpa, params, g)):
        for a, b in zip(got, ref_grads, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-11)


def test_module_with_padding_attn_mask_and_seq_first_layout():
    ours, ref = _pair("fixed", {"stride": 3}, "merged", True)
    ours.batch_first = ref.batch_first = False
    x = torch.randn(7, 2, 8, dtype=torch.float64)  # (T, N, E)
    pad = torch.zeros(2, 7, dtype=torch.bool)
    pad[1, 2] = True
    extra = torch.zeros(7, 7, dtype=torch.float64)
    extra[3, 0] = -1.5  # an additive float mask on top of the pattern
    out, _ = ours(x, key_padding_mask=pad, attn_mask=extra)
    float_mask = torch.zeros(7, 7, dtype=torch.float64).masked_fill(~ours.pattern_mask(7), float("-inf"))
    pad_f = torch.zeros(2, 7, dtype=torch.float64).masked_fill(pad, float("-inf"))  # same mask type (torch)
    expected, _ = ref(x, x, x, key_padding_mask=pad_f, attn_mask=float_mask + extra, need_weights=False)
    torch.testing.assert_close(out, expected, rtol=1e-11, atol=1e-12)


def test_module_bad_input_and_export():
    assert dlzoo.nn.SparseMultiheadAttention is SparseMultiheadAttention
    with pytest.raises(ValueError, match="SparseMultiheadAttention: mode must be one of"):
        SparseMultiheadAttention(8, 2, stride=2, mode="mixed")
    with pytest.raises(ValueError, match="'strided' needs stride"):
        SparseMultiheadAttention(8, 2)
    with pytest.raises(UnknownNameError, match="did you mean 'fixed'"):
        SparseMultiheadAttention(8, 2, pattern="fixd", stride=2)
    attn = SparseMultiheadAttention(8, 2, stride=2, batch_first=True)
    with pytest.raises(ValueError, match="SparseMultiheadAttention: self-attention over one sequence"):
        attn(torch.randn(1, 4, 8), torch.randn(1, 5, 8))
