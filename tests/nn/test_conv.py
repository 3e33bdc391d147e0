"""Conv1d/2d/3d and ConvTranspose1d/2d/3d against torch.nn (same weights: outputs, input and weight grads).

Both of our paths are checked: the fused default and the explicit im2col/einsum math under
``dlzoo.reference_mode()``.
"""

from __future__ import annotations

import pytest
import torch

import dlzoo
from dlzoo.nn import Conv1d, Conv2d, Conv3d, ConvTranspose1d, ConvTranspose2d, ConvTranspose3d

DT = torch.float64
TOL = {"atol": 1e-10, "rtol": 1e-10}


def _transplant(ours, ref):
    with torch.no_grad():
        for p in ref.parameters():
            p.copy_(torch.randn_like(p))
    missing = ours.load_state_dict(ref.state_dict())
    assert not missing.missing_keys and not missing.unexpected_keys


def _check(ours, ref, shape, **fwd):
    _transplant(ours, ref)
    x = torch.randn(shape, dtype=DT, requires_grad=True)
    expected = ref(x, **fwd)
    g = torch.randn_like(expected)
    ref_grads = torch.autograd.grad(expected, [x, *ref.parameters()], g)
    for reference in (False, True):
        with dlzoo.reference_mode(reference):
            out = ours(x, **fwd)
        assert out.shape == expected.shape
        torch.testing.assert_close(out, expected, **TOL)
        grads = torch.autograd.grad(out, [x, *ours.parameters()], g)
        for a, b in zip(grads, ref_grads):
            torch.testing.assert_close(a, b, **TOL)


CONV_CASES = [
    dict(kernel_size=3),
    dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=(3, 2), stride=(2, 1), padding=(1, 0), dilation=(2, 1)),
    dict(kernel_size=4, padding="same", dilation=2),  # even kernel: asymmetric 'same' padding
    dict(kernel_size=3, padding="valid", bias=False),
    dict(kernel_size=3, padding=1, groups=2),
    dict(kernel_size=3, padding=1, groups=4),  # depthwise (in=out=groups)
    dict(kernel_size=3, padding=2, padding_mode="reflect"),
    dict(kernel_size=3, padding=1, padding_mode="replicate", stride=2),
    dict(kernel_size=3, padding=1, padding_mode="circular"),
]


@pytest.mark.parametrize("kw", CONV_CASES)
def test_conv2d_matches_torch(kw):
    ours = Conv2d(4, 8 if kw.get("groups", 1) != 4 else 4, dtype=DT, **kw)
    ref = torch.nn.Conv2d(4, ours.out_channels, dtype=DT, **kw)
    _check(ours, ref, (2, 4, 9, 8))


CONV1D_CASES = [
    dict(kernel_size=3, stride=2, padding=1, dilation=2),
    dict(kernel_size=5, padding="same", groups=2),
    dict(kernel_size=2, padding=1, padding_mode="circular"),
]
CONV3D_CASES = [
    dict(kernel_size=3, padding=1),
    dict(kernel_size=(1, 3, 2), stride=(1, 2, 2), padding=(0, 1, 1), dilation=(1, 1, 2), groups=2),
    dict(kernel_size=3, padding="same", padding_mode="replicate"),
]


@pytest.mark.parametrize("kw", CONV1D_CASES)
def test_conv1d_matches_torch(kw):
    _check(Conv1d(4, 6, dtype=DT, **kw), torch.nn.Conv1d(4, 6, dtype=DT, **kw), (3, 4, 11))


@pytest.mark.parametrize("kw", CONV3D_CASES)
def test_conv3d_matches_torch(kw):
    _check(Conv3d(2, 4, dtype=DT, **kw), torch.nn.Conv3d(2, 4, dtype=DT, **kw), (2, 2, 5, 6, 7))


TRANSPOSE_CASES = [
    dict(kernel_size=3),
    dict(kernel_size=2, stride=2),
    dict(kernel_size=3, stride=2, padding=1, output_padding=1),
    dict(kernel_size=(3, 4), stride=(3, 2), padding=(2, 1), output_padding=(1, 0), dilation=(1, 2)),
    dict(kernel_size=3, stride=2, padding=4, groups=2, bias=False),  # padding > d*(k-1): output is cropped
]


@pytest.mark.parametrize("kw", TRANSPOSE_CASES)
def test_conv_transpose2d_matches_torch(kw):
    ours, ref = ConvTranspose2d(4, 6, dtype=DT, **kw), torch.nn.ConvTranspose2d(4, 6, dtype=DT, **kw)
    _check(ours, ref, (2, 4, 5, 6))


@pytest.mark.parametrize("kw", [
    dict(kernel_size=2, stride=2),
    dict(kernel_size=3, stride=(1, 2, 2), padding=1, output_padding=(0, 1, 1), groups=2),
])
def test_conv_transpose3d_matches_torch(kw):
    ours, ref = ConvTranspose3d(2, 4, dtype=DT, **kw), torch.nn.ConvTranspose3d(2, 4, dtype=DT, **kw)
    _check(ours, ref, (2, 2, 3, 4, 5))


def test_conv_transpose1d_and_output_size_match_torch():
    kw = dict(kernel_size=3, stride=3, padding=1)
    _check(ConvTranspose1d(3, 5, dtype=DT, **kw), torch.nn.ConvTranspose1d(3, 5, dtype=DT, **kw), (2, 3, 7))
    ours = ConvTranspose2d(3, 5, dtype=DT, **kw)
    ref = torch.nn.ConvTranspose2d(3, 5, dtype=DT, **kw)
    _check(ours, ref, (2, 3, 4, 5), output_size=(11, 14))  # needs output_padding (1, 2)


def test_unbatched_input_and_default_init_statistics():
    conv = Conv2d(3, 5, 3)
    x = torch.randn(3, 8, 8)
    torch.testing.assert_close(conv(x), conv(x[None])[0])
    # torch's default init: weight and bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = 3 * 3 * 3
    big = Conv2d(64, 256, 3)
    bound = 1 / (64 * 9) ** 0.5
    assert big.weight.abs().max() <= bound and big.weight.abs().max() > 0.95 * bound
    assert big.bias.abs().max() <= bound
    torch.testing.assert_close(big.weight.var().item(), bound**2 / 3, rtol=0.05, atol=0)


def test_state_dict_keys_and_shapes_mirror_torch():
    for ours, ref in [(Conv2d(4, 6, 3, groups=2), torch.nn.Conv2d(4, 6, 3, groups=2)),
                      (ConvTranspose3d(4, 6, 2, groups=2), torch.nn.ConvTranspose3d(4, 6, 2, groups=2))]:
        assert {k: v.shape for k, v in ours.state_dict().items()} == {
            k: v.shape for k, v in ref.state_dict().items()}


def test_bad_input_and_arguments_raise_clear_errors():
    conv = Conv2d(3, 4, 3)
    msg = r"Conv2d: expected input of shape \(N, 3, L0, L1\), got \[2, 4, 8, 8\]"
    with pytest.raises(ValueError, match=msg):
        conv(torch.randn(2, 4, 8, 8))
    with pytest.raises(ValueError, match="Conv2d"):
        conv(torch.randn(3, 8))
    with pytest.raises(ValueError, match="divisible by groups"):
        Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="strided"):
        Conv2d(3, 4, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match="output_padding"):
        ConvTranspose2d(3, 4, 3, stride=1, output_padding=1)


@pytest.mark.gpu
def test_conv_layers_on_cuda_match_torch():
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    dev = "cuda"
    for ours, ref, shape in [
        (Conv2d(4, 8, 3, stride=2, padding=1, groups=2),
         torch.nn.Conv2d(4, 8, 3, stride=2, padding=1, groups=2), (2, 4, 9, 8)),
        (ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1),
         torch.nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1), (2, 4, 5, 6)),
    ]:
        ours, ref = ours.to(dev), ref.to(dev)
        ours.load_state_dict(ref.state_dict())
        x = torch.randn(shape, device=dev, requires_grad=True)
        expected = ref(x)
        g_ref = torch.autograd.grad(expected.sum(), [x, ref.weight])
        for reference in (False, True):
            with dlzoo.reference_mode(reference):
                out = ours(x)
            torch.testing.assert_close(out, expected, atol=1e-4, rtol=1e-4)
            for a, b in zip(torch.autograd.grad(out.sum(), [x, ours.weight]), g_ref):
                torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)
