"""The fixed shearlet-like bank: FFT filtering equals the direct circular convolution sum, the filters are
Hilbert pairs (even real part, odd imaginary part), a plane wave gets the closed-form analytic response
and lands on the filter of its orientation; 2^l + 2 orientations per scale, no parameters."""

import numpy as np
import pytest
import torch

from dlzoo.nn.shearlets import ShearletTransform, shearlet_bank


def test_fft_filtering_equals_direct_circular_convolution():
    torch.manual_seed(0)
    t = ShearletTransform(8, scales=1, shear_level=2).double()
    x = torch.randn(1, 2, 8, 8, dtype=torch.float64)
    out = t(x)  # (1, 2 * F, 8, 8)
    psi = t.spatial_filters().numpy()  # (F, 8, 8)
    xs = x.numpy()
    n = t.num_filters
    for c in range(2):
        for f in (0, n // 2, n - 1):
            ref = np.zeros((8, 8), dtype=complex)
            for p in range(8):
                for q in range(8):
                    # y[p, q] = sum_{a, b} x[a, b] psi[(p - a) mod 8, (q - b) mod 8]
                    rows = (p - np.arange(8)) % 8
                    cols = (q - np.arange(8)) % 8
                    ref[p, q] = (xs[0, c] * psi[f][np.ix_(rows, cols)]).sum()
            np.testing.assert_allclose(out[0, c * n + f].numpy(), ref, atol=1e-10)


def test_filters_are_hilbert_pairs_with_unit_norm():
    t = ShearletTransform(16).double()
    psi = t.spatial_filters()  # (F, 16, 16)
    flipped = torch.roll(psi.flip(-1, -2), shifts=(1, 1), dims=(-2, -1))  # psi(-x) on the circular grid
    torch.testing.assert_close(flipped, psi.conj())  # real part even, imaginary part odd
    assert psi.imag.abs().amax() > 0.05  # a genuinely complex (edge + ridge) pair
    torch.testing.assert_close(psi.abs().pow(2).sum((-2, -1)), torch.ones(t.num_filters, dtype=torch.float64))


@pytest.mark.parametrize("level,expected", [(2, 6), (3, 10), (4, 18)])
def test_orientation_count_per_scale(level, expected):
    bank, index = shearlet_bank(16, 16, scales=2, shear_level=level)
    assert bank.shape == (2 * expected, 16, 16) and len(index) == 2 * expected  # CoShREM: 2^l + 2
    assert (bank >= 0).all()


@pytest.mark.parametrize(
    "kx,ky,expected",
    [(8, 4, ("h", 0, 0.5)), (4, 8, ("v", 0, 0.5)), (8, -8, ("h", 0, -1.0)), (8, 0, ("h", 0, 0.0))],
)
def test_plane_wave_closed_form_response(kx, ky, expected):
    size = 32
    t = ShearletTransform(size).double()
    yy, xx = torch.meshgrid(
        torch.arange(size, dtype=torch.float64), torch.arange(size, dtype=torch.float64), indexing="ij"
    )
    wave = torch.cos(2 * torch.pi * (kx * xx + ky * yy) / size).view(1, 1, size, size)
    out = t(wave)[0]  # (F, H, W)
    # cos = (e^{i w.x} + e^{-i w.x}) / 2, psi_hat vanishes on one half-plane: |c| = psi_hat(w) / 2 everywhere
    gain = t.filters[:, ky % size, kx % size] / 2  # (F,)
    gain = torch.maximum(gain, t.filters[:, (-ky) % size, (-kx) % size] / 2)
    torch.testing.assert_close(out.abs(), gain.view(-1, 1, 1).expand_as(out), atol=1e-10, rtol=1e-8)
    assert t.index[int(out.abs().mean((-2, -1)).argmax())] == expected


def test_fixed_bank_has_no_parameters_and_is_not_saved():
    t = ShearletTransform(8)
    assert list(t.parameters()) == [] and t.state_dict() == {}
    with pytest.raises(ValueError, match=r"ShearletTransform: expected a real \(N, C, 8, 8\)"):
        t(torch.randn(1, 1, 9, 8))
    with pytest.raises(ValueError, match="shear_level"):
        shearlet_bank(8, 8, shear_level=1)
