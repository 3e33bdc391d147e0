"""dlzoo.nn.init.orthonormal_: W W^T = I (wide) / W^T W = I (tall), conv weights, seeded, Haar signs."""

import pytest
import torch

import dlzoo.nn.init
from dlzoo.nn.init import orthonormal_


@pytest.mark.parametrize("shape", [(4, 9), (9, 4), (6, 6), (8, 3, 3, 3)])
def test_orthonormal_rows_or_columns(shape):
    w = orthonormal_(torch.empty(shape, dtype=torch.float64), generator=torch.Generator().manual_seed(0))
    m = w.reshape(shape[0], -1)
    g = m @ m.T if m.shape[0] <= m.shape[1] else m.T @ m
    torch.testing.assert_close(g, torch.eye(g.shape[0], dtype=torch.float64))
    assert torch.linalg.svdvals(m).sub(1).abs().max() < 1e-12


def test_seeded_and_not_degenerate():
    a = orthonormal_(torch.empty(5, 5), generator=torch.Generator().manual_seed(1))
    b = orthonormal_(torch.empty(5, 5), generator=torch.Generator().manual_seed(1))
    c = orthonormal_(torch.empty(5, 5), generator=torch.Generator().manual_seed(2))
    assert torch.equal(a, b) and not torch.equal(a, c)
    # Haar: the diagonal of a Haar orthogonal matrix has mean 0 (QR without sign fix would bias it to > 0)
    diag = torch.stack([orthonormal_(torch.empty(3, 3), generator=torch.Generator().manual_seed(s)).diag()
                        for s in range(200)])
    assert abs(float(diag.mean())) < 0.08
    assert dlzoo.nn.init.orthonormal_ is orthonormal_


def test_bad_input():
    with pytest.raises(ValueError, match="orthonormal_: expected a tensor with >= 2 dims"):
        orthonormal_(torch.empty(4))
