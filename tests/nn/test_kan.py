"""KANLinear (Liu et al. 2024): Cox-de Boor bases and the whole layer vs scipy.interpolate.BSpline in
float64 (values and d/dx), grid update from data, out-of-grid input."""

import numpy as np
import pytest
import torch
from scipy.interpolate import BSpline

from dlzoo.nn import KANLinear
from dlzoo.nn.kan import b_spline_basis


@pytest.mark.parametrize("order", [1, 2, 3])
def test_basis_equals_scipy_design_matrix(order):
    knots = torch.tensor([-2.0, -1.3, -0.7, -0.2, 0.1, 0.5, 1.2, 1.6, 2.4, 3.0], dtype=torch.float64)
    x = torch.linspace(float(knots[order]), float(knots[-order - 1]) - 1e-9, 41, dtype=torch.float64)
    ours = b_spline_basis(x[:, None], knots[None], order)[:, 0]  # (N, n_basis)
    ref = BSpline.design_matrix(x.numpy(), knots.numpy(), order).toarray()
    np.testing.assert_allclose(ours.numpy(), ref, rtol=1e-12, atol=1e-12)


def test_layer_equals_scipy_splines_plus_silu_base_with_input_gradient():
    torch.manual_seed(0)
    m = KANLinear(3, 2, grid_size=4, spline_order=3).double()
    x = (torch.rand(20, 3, dtype=torch.float64) * 1.9 - 0.95).requires_grad_(True)
    y = m(x)
    t = m.grid.numpy()
    c = m.scaled_spline_weight.detach().numpy()  # (out, in, G + k)
    xn = x.detach().numpy()
    silu = xn / (1 + np.exp(-xn))
    dsilu = 1 / (1 + np.exp(-xn)) * (1 + xn * (1 - 1 / (1 + np.exp(-xn))))
    wb = m.base_weight.detach().numpy()
    ref = silu @ wb.T
    for o in range(2):
        for i in range(3):
            ref[:, o] += BSpline(t[i], c[o, i], 3)(xn[:, i])
    np.testing.assert_allclose(y.detach().numpy(), ref, rtol=1e-10, atol=1e-12)
    g = torch.randn_like(y)
    (gx,) = torch.autograd.grad(y, x, g)
    gn = g.numpy()
    ref_gx = np.zeros_like(xn)
    for i in range(3):
        for o in range(2):
            d_spline = BSpline(t[i], c[o, i], 3).derivative()(xn[:, i])
            ref_gx[:, i] += gn[:, o] * (wb[o, i] * dsilu[:, i] + d_spline)
    np.testing.assert_allclose(gx.numpy(), ref_gx, rtol=1e-8, atol=1e-10)


def test_weight_gradients_by_gradcheck():
    torch.manual_seed(1)
    m = KANLinear(2, 2, grid_size=3).double()
    x = torch.rand(5, 2, dtype=torch.float64) * 1.6 - 0.8
    params = (m.base_weight, m.spline_weight, m.spline_scaler)

    def f(*ps):
        names = ("base_weight", "spline_weight", "spline_scaler")
        return torch.func.functional_call(m, dict(zip(names, ps)), (x,))

    assert torch.autograd.gradcheck(f, params)


def test_update_grid_follows_data_and_keeps_the_function():
    torch.manual_seed(2)
    m = KANLinear(2, 3, grid_size=8).double()
    x = torch.randn(400, 2, dtype=torch.float64) * 0.3
    y = m(x).detach()
    m.update_grid(x)
    k = m.spline_order
    torch.testing.assert_close(m.grid[:, k], x.min(0).values - 0.01 * m.grid_eps)
    assert float((m(x).detach() - y).abs().max()) < 0.05 * float(y.abs().max())
    wide = torch.tensor([[2.0, 0.0]], dtype=torch.float64)
    with pytest.raises(ValueError, match="KANLinear: input outside the spline grid"):
        m(wide)


def test_bad_input():
    with pytest.raises(ValueError, match="KANLinear: expected input"):
        KANLinear(3, 2)(torch.zeros(4, 2))
    with pytest.raises(ValueError, match="KANLinear: input outside"):
        KANLinear(3, 2)(torch.full((4, 3), 1.5))
    assert KANLinear(3, 2, check_range=False)(torch.full((4, 3), 1.5)).shape == (4, 2)
