"""dlzoo.nn.Embedding against torch.nn.Embedding (float64, outputs, weight gradients, in-place renorm).

Both our paths are checked: the fused default (F.embedding) and the explicit lookup + row-gradient sum under
``dlzoo.reference_mode()`` (a custom autograd.Function, also checked with gradcheck).
"""

from __future__ import annotations

import contextlib

import pytest
import torch

import dlzoo
from dlzoo.nn import Embedding
from dlzoo.nn.token_embedding import EmbeddingFunction

V, D = 7, 4
DT = torch.float64
IDS = torch.tensor([[1, 2, 2, 6], [0, 2, 5, 1], [6, 6, 6, 3]])  # repeats, first/last rows, a gap (row 4)
PATHS = ["fused", "reference"]


def _path(path):
    return dlzoo.reference_mode() if path == "reference" else contextlib.nullcontext()


def _pair(**kw):
    ref = torch.nn.Embedding(V, D, dtype=DT, **kw)
    ours = Embedding(V, D, dtype=DT, **kw)
    ours.load_state_dict(ref.state_dict())
    return ours, ref


def _out_and_grad(module, ids, path="fused"):
    g = torch.linspace(-1, 1, ids.numel() * D, dtype=DT).reshape(*ids.shape, D)
    with _path(path):
        out = module(ids)
    (grad,) = torch.autograd.grad(out, [module.weight], g)
    return out.detach(), grad


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("padding_idx", [None, 2, -1, -7])
@pytest.mark.parametrize("scale_grad_by_freq", [False, True])
def test_lookup_and_gradients_match_torch(path, padding_idx, scale_grad_by_freq):
    torch.manual_seed(0)
    ours, ref = _pair(padding_idx=padding_idx, scale_grad_by_freq=scale_grad_by_freq)
    assert ours.padding_idx == ref.padding_idx  # negative counts from the end, as torch
    out_o, grad_o = _out_and_grad(ours, IDS, path)
    out_r, grad_r = _out_and_grad(ref, IDS)
    torch.testing.assert_close(out_o, out_r, rtol=0, atol=0)
    torch.testing.assert_close(grad_o, grad_r, rtol=1e-12, atol=1e-12)
    if padding_idx is not None:
        assert (ours.weight[padding_idx] == 0).all()  # padding row starts at zero
        assert (grad_o[padding_idx] == 0).all()  # and gets no gradient
        assert grad_o.abs().sum() > 0
    assert (grad_o[4] == 0).all()  # a row nobody looked up gets nothing


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.5])
def test_max_norm_renormalises_in_place_like_torch(path, norm_type):
    torch.manual_seed(0)
    ours, ref = _pair(max_norm=1.2, norm_type=norm_type, padding_idx=0)
    with torch.no_grad():
        ours.weight.mul_(3.0)
        ref.weight.mul_(3.0)
    before = ours.weight.detach().clone()
    ids = torch.tensor([[1, 3, 3], [5, 0, 1]])
    out_o, grad_o = _out_and_grad(ours, ids, path)
    out_r, grad_r = _out_and_grad(ref, ids)
    torch.testing.assert_close(out_o, out_r, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(grad_o, grad_r, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(ours.weight.detach(), ref.weight.detach(), rtol=1e-12, atol=1e-12)
    norms = ours.weight.detach().norm(p=norm_type, dim=1)
    assert (norms[[1, 3, 5]] <= 1.2 + 1e-9).all()  # looked-up rows renormalised in place
    torch.testing.assert_close(
        ours.weight.detach()[[2, 4, 6]], before[[2, 4, 6]], rtol=0, atol=0
    )  # others not


@pytest.mark.parametrize("path", PATHS)
def test_sparse_gradient_matches_torch(path):
    torch.manual_seed(0)
    ours, ref = _pair(sparse=True, padding_idx=6)
    _, grad_o = _out_and_grad(ours, IDS, path)
    _, grad_r = _out_and_grad(ref, IDS)
    assert grad_o.is_sparse and grad_r.is_sparse
    torch.testing.assert_close(grad_o.to_dense(), grad_r.to_dense(), rtol=1e-12, atol=1e-12)


def test_int32_ids_and_any_leading_shape():
    torch.manual_seed(0)
    ours, ref = _pair()
    ids = torch.randint(0, V, (2, 3, 5), dtype=torch.int32)
    for path in PATHS:
        with _path(path):
            out = ours(ids)
        assert out.shape == (2, 3, 5, D)
        torch.testing.assert_close(out, ref(ids), rtol=0, atol=0)


def test_gradcheck_of_the_explicit_function_and_its_options():
    """gradcheck on the plain lookup; padding_idx and scale_grad_by_freq change the true gradient on purpose,
    so they are checked against it: padding row zeroed, rows divided by their count in the batch."""
    ids = torch.tensor([[1, 2, 2], [0, 2, 3]])
    w = torch.randn(5, 3, dtype=DT, requires_grad=True)

    def f(w, padding_idx=None, scale=False):
        return EmbeddingFunction.apply(w, ids, padding_idx, scale, False)

    assert torch.autograd.gradcheck(f, (w,))
    assert torch.autograd.gradgradcheck(f, (w,))
    g = torch.randn(2, 3, 3, dtype=DT)
    (plain,) = torch.autograd.grad(f(w), w, g)
    (padded,) = torch.autograd.grad(f(w, padding_idx=2), w, g)
    (scaled,) = torch.autograd.grad(f(w, scale=True), w, g)
    counts = torch.tensor([1.0, 1.0, 3.0, 1.0, 1.0], dtype=DT)[:, None]  # row 4 unused: its gradient is 0
    torch.testing.assert_close(padded, plain.index_fill(0, torch.tensor([2]), 0.0), rtol=0, atol=0)
    torch.testing.assert_close(scaled, plain / counts, rtol=1e-14, atol=1e-14)


def test_same_seed_gives_torch_init():
    for kw in ({}, {"padding_idx": 3}, {"padding_idx": -2}):
        torch.manual_seed(5)
        ref = torch.nn.Embedding(V, D, **kw)
        torch.manual_seed(5)
        ours = Embedding(V, D, **kw)
        assert list(ours.state_dict()) == ["weight"]
        assert torch.equal(ours.weight, ref.weight)


def test_from_pretrained_like_torch():
    w = torch.randn(V, D, dtype=DT)
    ours = Embedding.from_pretrained(w, padding_idx=1)
    ref = torch.nn.Embedding.from_pretrained(w, padding_idx=1)
    assert not ours.weight.requires_grad and torch.equal(ours.weight, ref.weight)  # padding row kept as given
    torch.testing.assert_close(ours(IDS), ref(IDS), rtol=0, atol=0)
    trainable = Embedding.from_pretrained(w, freeze=False, padding_idx=1, scale_grad_by_freq=True)
    ref_t = torch.nn.Embedding.from_pretrained(w, freeze=False, padding_idx=1, scale_grad_by_freq=True)
    torch.testing.assert_close(_out_and_grad(trainable, IDS)[1], _out_and_grad(ref_t, IDS)[1])


def test_bad_inputs_give_clear_errors():
    emb = Embedding(V, D, padding_idx=0)
    with pytest.raises(TypeError, match="Embedding: expected integer ids"):
        emb(torch.zeros(2, 3))
    with pytest.raises(ValueError, match=r"Embedding: ids must lie in \[0, 7\), got min 0, max 7"):
        emb(torch.tensor([0, 7]))
    with pytest.raises(ValueError, match="ids must lie"):
        emb(torch.tensor([-1]))
    with pytest.raises(ValueError, match="padding_idx must be within"):
        Embedding(V, D, padding_idx=V)
    with pytest.raises(ValueError, match="padding_idx must be within"):
        Embedding(V, D, padding_idx=-V - 1)
    with pytest.raises(ValueError, match="_weight must have shape"):
        Embedding(V, D, _weight=torch.zeros(V, D + 1))
    with pytest.raises(ValueError, match="from_pretrained: embeddings must be a 2-d"):
        Embedding.from_pretrained(torch.zeros(3))
    with pytest.raises(ValueError, match="num_embeddings must be a positive int"):
        Embedding(0, D)
