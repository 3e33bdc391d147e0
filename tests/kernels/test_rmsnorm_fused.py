"""The fused RMSNorm (dlzoo.kernels.rmsnorm_fused / rmsnorm_cpu: gcc-built native kernels called through
ctypes) against torch.nn.functional.rms_norm and autograd of the equation in float64, against our pure-torch
reference, and float64 gradcheck of the autograd.Function. No torch.compile here.
"""

from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.functional as F

import dlzoo
from dlzoo.kernels import rmsnorm_cpu
from dlzoo.kernels import rmsnorm_fused as krms
from dlzoo.nn import RMSNorm

pytestmark = pytest.mark.skipif(not rmsnorm_cpu.available(),
                                reason="native RMSNorm kernel unavailable (no gcc)")


def _inputs(shape, normalized, weight=True, dtype=torch.float32, seed=0, scale=3.0):
    gen = torch.Generator().manual_seed(seed)
    x = (torch.randn(shape, generator=gen, dtype=torch.float64) * scale + 0.5).to(dtype).requires_grad_()
    w = (torch.randn(normalized, generator=gen, dtype=torch.float64) + 1).to(dtype).requires_grad_() \
        if weight else None
    return x, w


def _grads(out, x, w, g):
    return torch.autograd.grad(out, [x] + ([w] if w is not None else []), g)


def _uses_function(out) -> bool:
    """True when the autograd graph of ``out`` goes through RMSNormFunction (under the final view)."""
    nodes = [out.grad_fn, *(fn for fn, _ in out.grad_fn.next_functions if fn is not None)]
    return any(type(n).__name__ == "RMSNormFunctionBackward" for n in nodes)


def _run_native(x, normalized, w, eps, threads=1):
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        out = krms.rms_norm(x, normalized, w, eps, backend="native")
        g = torch.randn(out.shape, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
        grads = _grads(out, x, w, g.to(out.dtype))
    finally:
        torch.set_num_threads(previous)
    return out, grads, g


def _expected64(x, normalized, w, eps, g):
    """torch's F.rms_norm in float64 on the same (float32-representable) inputs, and its autograd grads.
    eps=None means float32's epsilon for float32 inputs: passed explicitly to the float64 call."""
    e = eps if eps is not None else torch.finfo(x.dtype).eps
    x64 = x.detach().double().requires_grad_()
    w64 = w.detach().double().requires_grad_() if w is not None else None
    out = F.rms_norm(x64, normalized, w64, e)
    return out, _grads(out, x64, w64, g)


CASES = [((4, 3, 8), (8,)), ((70, 5), (5,)), ((2, 3, 4, 6), (4, 6)), ((6, 97), (97,)), ((1, 1), (1,)),
         ((33,), (33,)), ((5, 2, 1024), (1024,))]


@pytest.mark.parametrize("eps", [None, 1e-6, 0.1])
@pytest.mark.parametrize("weight", [True, False], ids=["weight", "no_weight"])
@pytest.mark.parametrize("shape,normalized", CASES)
def test_native_float32_matches_float64_torch_rms_norm(shape, normalized, weight, eps):
    """Outputs and grads (x, weight) of the float32 kernel within float32 rounding of torch's float64
    result."""
    x, w = _inputs(shape, normalized, weight)
    out, grads, g = _run_native(x, normalized, w, eps)
    expected, ref_grads = _expected64(x, normalized, w, eps, g)
    assert out.dtype == torch.float32 and out.shape == x.shape
    torch.testing.assert_close(out.double(), expected, atol=2e-6, rtol=2e-6)
    for got, want in zip(grads, ref_grads):
        assert got.dtype == torch.float32 and got.shape == want.shape
        bound = 5e-6 * (want.abs().max().item() + 1)  # dweight sums over rows: relative to its magnitude
        assert (got.double() - want).abs().max().item() < bound


@pytest.mark.parametrize("shape,normalized", [((3, 300, 97), (97,)), ((200, 512), (512,))])
def test_native_two_threads(shape, normalized):
    """>= 65536 elements: the OpenMP path with 2 threads (uneven row split, FLUSH_ROWS blocks)."""
    x, w = _inputs(shape, normalized)
    out, grads, g = _run_native(x, normalized, w, 1e-5, threads=2)
    expected, ref_grads = _expected64(x, normalized, w, 1e-5, g)
    torch.testing.assert_close(out.double(), expected, atol=2e-6, rtol=2e-6)
    for got, want in zip(grads, ref_grads):
        assert (got.double() - want).abs().max().item() < 5e-6 * (want.abs().max().item() + 1)
    # the weight gradient is summed per thread in a fixed order: bitwise the same on a rerun
    assert torch.equal(_run_native(x, normalized, w, 1e-5, threads=2)[1][1], grads[1])


@pytest.mark.parametrize("weight", [True, False], ids=["weight", "no_weight"])
@pytest.mark.parametrize("shape,normalized", [((4, 3, 8), (8,)), ((2, 3, 4, 6), (4, 6)), ((9, 33), (33,))])
def test_native_float64_equals_torch_and_reference(shape, normalized, weight):
    """float64: the kernel equals F.rms_norm and our pure-torch reference to float64 rounding (outputs and
    grads)."""
    x, w = _inputs(shape, normalized, weight, dtype=torch.float64)
    out, grads, g = _run_native(x, normalized, w, None)
    for fn in (F.rms_norm, krms.rms_norm_reference):
        expected = fn(x, normalized, w, None)
        torch.testing.assert_close(out, expected, atol=1e-13, rtol=1e-13)
        for got, want in zip(grads, _grads(expected, x, w, g)):
            torch.testing.assert_close(got, want, atol=1e-12, rtol=1e-12)


@pytest.mark.parametrize("weight", [True, False], ids=["weight", "no_weight"])
def test_gradcheck_float64(weight):
    x, w = _inputs((5, 7), (7,), weight, dtype=torch.float64, scale=1.0)
    args = (x.reshape(5, 7), w, 1e-6)
    assert torch.autograd.gradcheck(krms.RMSNormFunction.apply, args, eps=1e-6, atol=1e-8)


@pytest.mark.parametrize("weight", [True, False], ids=["weight", "no_weight"])
def test_double_backward_float64(weight):
    """create_graph=True: the backward differentiates the equation, so gradgradcheck holds."""
    x, w = _inputs((4, 6), (6,), weight, dtype=torch.float64, scale=1.0)
    args = (x, w, 1e-6)
    assert torch.autograd.gradgradcheck(krms.RMSNormFunction.apply, args, eps=1e-6, atol=1e-7)


def test_torch_func_transforms_use_torch_op():
    """torch.func.grad / vmap cannot trace the ctypes kernel: under them rms_norm runs F.rms_norm, with the
    same gradient as autograd through the native kernel."""
    x, w = _inputs((3, 8), (8,), dtype=torch.float64)
    layer = RMSNorm(8, dtype=torch.float64)

    def loss(weight, inp):
        return (torch.func.functional_call(layer, {"weight": weight}, (inp,)) ** 3).sum()

    got = torch.func.grad(loss)(w.detach(), x.detach())
    (want,) = torch.autograd.grad(loss(w, x), w)
    torch.testing.assert_close(got, want, atol=1e-12, rtol=1e-12)
    batched = torch.vmap(lambda inp: krms.rms_norm(inp, (8,), w.detach()))(x.detach())
    torch.testing.assert_close(batched, F.rms_norm(x.detach(), (8,), w.detach()), atol=1e-13, rtol=1e-13)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_module_default_path_is_native_and_equals_reference_mode(dtype):
    """nn.RMSNorm: the default (fused) path runs the native kernel and equals the explicit math."""
    layer = RMSNorm((4, 6), eps=1e-5, dtype=dtype)
    with torch.no_grad():
        layer.weight.copy_(torch.randn(4, 6, generator=torch.Generator().manual_seed(3)))
    x = torch.randn(3, 5, 4, 6, dtype=dtype, requires_grad=True)
    assert krms.select_rmsnorm_backend(x, layer.weight) == "native"
    out = layer(x)
    assert _uses_function(out)
    with dlzoo.reference_mode():
        ref = layer(x)
    g = torch.randn_like(out)
    tol = 1e-12 if dtype == torch.float64 else 2e-6
    torch.testing.assert_close(out, ref, atol=tol, rtol=tol)
    for got, want in zip(_grads(out, x, layer.weight, g), _grads(ref, x, layer.weight, g)):
        torch.testing.assert_close(got, want, atol=tol * 10, rtol=tol * 10)


def test_noncontiguous_input_and_inplace_on_output():
    x, w = _inputs((6, 5, 8), (8,))
    xt = x.detach().transpose(0, 1).requires_grad_()  # (5, 6, 8), not contiguous
    out = krms.rms_norm(xt, (8,), w, 1e-6, backend="native")
    g = torch.randn(out.shape, dtype=torch.float64)
    expected, ref_grads = _expected64(xt, (8,), w, 1e-6, g)
    torch.testing.assert_close(out.double(), expected, atol=2e-6, rtol=2e-6)
    got = _grads(out, xt, w, g.float())
    for a, b in zip(got, ref_grads):
        torch.testing.assert_close(a.double(), b, atol=1e-5, rtol=1e-5)
    # a non-contiguous trailing dim (C strided) goes through the same kernel after a copy
    xs = torch.randn(4, 16, dtype=torch.float64)[:, ::2].float()
    torch.testing.assert_close(krms.rms_norm(xs, (8,), w.detach(), 1e-6, backend="native").double(),
                               F.rms_norm(xs.double(), (8,), w.detach().double(), 1e-6), atol=2e-6, rtol=2e-6)
    out2 = krms.rms_norm(xt, (8,), w, 1e-6, backend="native")
    out2.relu_()  # the output is not a view made inside the Function
    out2.sum().backward()
    assert xt.grad is not None and xt.grad.shape == xt.shape


@pytest.mark.parametrize("param_dtype", [torch.bfloat16, torch.float32])
def test_bfloat16_within_one_ulp_and_grads(param_dtype):
    """bfloat16: float32 math rounded once (as our reference) and within a bfloat16 ulp of torch's F.rms_norm;
    grads vs float64 autograd on the bfloat16 values, to bfloat16 precision."""
    x, w = _inputs((6, 4, 64), (64,), dtype=torch.bfloat16)
    w = w.detach().to(param_dtype).requires_grad_()
    out = krms.rms_norm(x, (64,), w, None, backend="native")
    assert out.dtype == torch.bfloat16
    eps = torch.finfo(torch.bfloat16).eps
    ref = krms.rms_norm_reference(x, (64,), w, None)
    torch.testing.assert_close(out.float(), ref.float(), atol=eps, rtol=eps)
    torch.testing.assert_close(out.float(), F.rms_norm(x, (64,), w).float(), atol=eps, rtol=eps)
    g = torch.randn(out.shape, dtype=torch.float64).to(torch.bfloat16)
    gx, gw = _grads(out, x, w, g)
    assert gx.dtype == torch.bfloat16 and gw.dtype == param_dtype
    expected, (rx, rw) = _expected64(x, (64,), w, torch.finfo(torch.float32).eps, g.double())
    assert (gx.double() - rx).abs().max().item() <= 2 * eps * (rx.abs().max().item() + 1)
    assert (gw.double() - rw).abs().max().item() <= 2 * eps * (rw.abs().max().item() + 1)


def test_inference_path_equals_autograd_path():
    """Under no_grad rms_norm() skips the autograd.Function (no rstd saved): bitwise the same output."""
    x, w = _inputs((4, 3, 8), (8,))
    with_grad = krms.rms_norm(x, (8,), w, 1e-6)
    with torch.no_grad():
        no_grad = krms.rms_norm(x, (8,), w, 1e-6)
    assert no_grad.grad_fn is None and with_grad.grad_fn is not None
    assert torch.equal(no_grad, with_grad)


def test_backend_selection_and_forcing():
    x = torch.randn(4, 8)
    for dtype in (torch.float32, torch.float64, torch.bfloat16):
        assert krms.select_rmsnorm_backend(x.to(dtype)) == "native"  # the default, in tests as in production
    assert krms.select_rmsnorm_backend(x.half()) == "torch"
    assert krms.select_rmsnorm_backend(x, torch.ones(8, dtype=torch.float16)) == "torch"
    with krms.rmsnorm_backend("torch"):
        assert krms.select_rmsnorm_backend(x) == "torch"
        assert not _uses_function(krms.rms_norm(x.requires_grad_(), (8,)))
    assert _uses_function(krms.rms_norm(x, (8,)))
    with krms.rmsnorm_backend("native"):  # forced on float16: falls back to torch
        assert krms.select_rmsnorm_backend(x.half()) == "torch"
        torch.testing.assert_close(krms.rms_norm(x.half(), (8,)), F.rms_norm(x.half(), (8,)))
    with krms.rmsnorm_backend("reference"):
        torch.testing.assert_close(krms.rms_norm(x, (8,)), krms.rms_norm_reference(x, (8,)))
    assert krms.select_rmsnorm_backend(x) == "native"
    with pytest.raises(ValueError, match="RMSNorm backend must be one of"):
        krms.set_rmsnorm_backend("fast")
    with pytest.raises(ValueError, match="rms_norm: backend must be one of"):
        krms.rms_norm(x, (8,), backend="fast")


def test_empty_and_shape_errors():
    x = torch.zeros(0, 8, requires_grad=True)
    assert krms.rms_norm(x, (8,), torch.ones(8)).shape == (0, 8)
    with pytest.raises(RuntimeError):  # torch's own message for a wrong trailing shape
        krms.rms_norm(torch.randn(3, 5), (8,))
    with pytest.raises(ValueError, match="RMSNorm: expected input with trailing shape"):
        RMSNorm(8)(torch.randn(3, 5))


def test_kernel_bad_input_errors():
    with pytest.raises(TypeError, match="rmsnorm_cpu: x must be a contiguous 2-d"):
        rmsnorm_cpu.rms_norm_forward(torch.zeros(2, 3, dtype=torch.float16), None, 1e-6)
    with pytest.raises(TypeError, match="rmsnorm_cpu: x must be a contiguous 2-d"):
        rmsnorm_cpu.rms_norm_forward(torch.zeros(4, 6).t(), None, 1e-6)
    _, rstd = rmsnorm_cpu.rms_norm_forward(torch.ones(2, 3), None, 1e-6)
    with pytest.raises(ValueError, match="dy shape"):
        rmsnorm_cpu.rms_norm_backward(torch.zeros(2, 4), torch.zeros(2, 3), None, rstd)
    with pytest.raises(ValueError, match="weight has 4 elements"):
        rmsnorm_cpu.rms_norm_forward(torch.zeros(2, 3), torch.ones(4), 1e-6)


def test_build_failure_falls_back_with_one_warning(monkeypatch, tmp_path):
    """No compiler on PATH and an empty cache: available() is False after one warning; rms_norm uses torch."""
    monkeypatch.setenv("DLZOO_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path))  # no gcc / cc here
    rmsnorm_cpu._library.cache_clear()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            assert not rmsnorm_cpu.available()
            assert not rmsnorm_cpu.available()
        assert sum("native RMSNorm kernel unavailable" in str(w.message) for w in caught) == 1
        x = torch.randn(3, 4)
        assert krms.select_rmsnorm_backend(x) == "torch"
        torch.testing.assert_close(krms.rms_norm(x, (4,), backend="native"), F.rms_norm(x, (4,)))
    finally:
        rmsnorm_cpu._library.cache_clear()
