"""GLU and Mish against torch.nn.GLU / torch.nn.Mish (float64 outputs and gradients, both dlzoo paths)."""

from __future__ import annotations

import contextlib

import pytest
import torch

import dlzoo
from dlzoo.nn import GLU, Mish, create_act

DT = torch.float64


def _check(ours, ref, x, path):
    g = torch.linspace(-1, 1, ref(x).numel(), dtype=DT).reshape(ref(x).shape)
    xs = [x.detach().clone().requires_grad_(True) for _ in range(2)]
    with dlzoo.reference_mode() if path == "reference" else contextlib.nullcontext():
        out_o = ours(xs[0])
    out_r = ref(xs[1])
    torch.testing.assert_close(out_o, out_r, rtol=1e-12, atol=1e-12)
    (g_o,), (g_r,) = torch.autograd.grad(out_o, xs[0], g), torch.autograd.grad(out_r, xs[1], g)
    torch.testing.assert_close(g_o, g_r, rtol=1e-12, atol=1e-12)
    assert torch.isfinite(g_o).all()


@pytest.mark.parametrize("path", ["fused", "reference"])
def test_mish_matches_torch_including_large_inputs(path):
    x = torch.cat(
        [
            torch.randn(64, dtype=DT) * 3,
            torch.tensor([-800.0, -50.0, -20.0, 0.0, 20.0, 50.0, 800.0], dtype=DT),
        ]
    )
    _check(Mish(), torch.nn.Mish(), x, path)


@pytest.mark.parametrize("path", ["fused", "reference"])
@pytest.mark.parametrize("dim", [-1, 0, 1])
def test_glu_matches_torch(path, dim):
    x = torch.randn(4, 6, 8, dtype=DT)
    _check(GLU(dim), torch.nn.GLU(dim), x, path)


def test_registry_names_and_defaults():
    assert isinstance(create_act("mish"), Mish) and isinstance(create_act("GLU"), GLU)
    assert GLU().dim == -1 and Mish().inplace is False
    y = torch.randn(3, 5)
    torch.testing.assert_close(create_act("mish")(y), torch.nn.functional.mish(y))


def test_glu_paper_equation():
    a, b = torch.randn(2, 3, dtype=DT), torch.randn(2, 3, dtype=DT)
    torch.testing.assert_close(GLU()(torch.cat([a, b], dim=-1)), a / (1 + torch.exp(-b)))


def test_glu_bad_shape():
    with pytest.raises(
        ValueError, match=r"GLU: dim -1 of the input must exist and have an even size, got shape \[2, 5\]"
    ):
        GLU()(torch.randn(2, 5))
    with pytest.raises(ValueError, match="GLU: dim 3"):
        GLU(3)(torch.randn(2, 4))
