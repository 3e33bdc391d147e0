"""Fused DyT kernels (dlzoo.kernels) against float64 torch.tanh and the DyT equation.

* the rational tanh: max error < 1e-6 vs float64 tanh (absolute and relative), literals == the table;
* every backend's forward and fused backward (dx, d_alpha, d_gamma, d_beta) vs autograd of the equation;
* float64 gradcheck of the custom autograd.Function;
* ONE torch.compile graph in this file (compiled forward); the compiled backward's math is the same
  Python function, checked here uncompiled;
* backend selection / compile fallback; Triton on CUDA (skipped without a GPU).
"""

from __future__ import annotations

import warnings

import pytest
import torch

from dlzoo.kernels import compile as kcompile
from dlzoo.kernels import dyt_fused as kdyt
from dlzoo.kernels.tanh import P_COEFFS, Q_COEFFS, fit_tanh_rational, rational_error, tanh_rational


def _equation(x, alpha, weight, bias, channels_last):
    view = (-1,) if channels_last else (-1, *([1] * (x.dim() - 2)))
    y = torch.tanh(alpha * x)
    y = y * weight.reshape(view) if weight is not None else y
    return y + bias.reshape(view) if bias is not None else y


def _inputs(shape, channels_last, dtype=torch.float64, weight=True, bias=True, scale=3.0):
    c = shape[-1] if channels_last else shape[1]
    x = (torch.randn(shape, dtype=torch.float64) * scale).to(dtype).requires_grad_()
    alpha = torch.tensor([0.7], dtype=dtype, requires_grad=True)
    w = torch.randn(c, dtype=dtype, requires_grad=True) if weight else None
    b = torch.randn(c, dtype=dtype, requires_grad=True) if bias else None
    return x, alpha, w, b


def test_rational_tanh_error_below_1e6():
    abs_err, rel_err = rational_error(torch.float32)
    assert abs_err < 1e-6 and rel_err < 1e-6
    x = torch.tensor([0.0, -0.0, 1e-30, -1e-30, 40.0, -40.0, float("inf"), -float("inf")])
    torch.testing.assert_close(tanh_rational(x), torch.tanh(x), atol=0, rtol=1e-6)
    # the literals inside tanh_rational are the tabulated coefficients
    u = torch.linspace(0, 81, 101, dtype=torch.float64)
    p = sum(c * u**i for i, c in enumerate(P_COEFFS))
    q = sum(c * u**i for i, c in enumerate(Q_COEFFS))
    torch.testing.assert_close(tanh_rational(u.sqrt()), u.sqrt() * p / q, atol=1e-15, rtol=1e-14)


def test_eager_sigmoid_form_tanh_error_below_1e6_float32():
    """Eager backend, float32: tanh(a x) = 2 sigmoid(2 a x) - 1 within 1e-6 (absolute) of float64 tanh.

    (Near 0 the sigmoid form loses relative accuracy to cancellation, |error| stays ~1e-7; the compiled
    backend's rational tanh is accurate in both senses.)"""
    tiny = torch.logspace(-30, 1, 2001)
    x = torch.cat([torch.linspace(-30, 30, 400_001), tiny, -tiny])
    one = torch.ones(1)
    out = kdyt.dyt(x[:, None], one, None, None, True, backend="eager")[:, 0]
    assert (out.double() - torch.tanh(x.double())).abs().max().item() < 1e-6


@pytest.mark.slow
def test_rational_fit_is_reproducible():
    p, q, max_rel = fit_tanh_rational(5, 4)
    assert max_rel < 5e-8
    torch.testing.assert_close(torch.tensor(p), torch.tensor(P_COEFFS), rtol=1e-6, atol=0)
    torch.testing.assert_close(torch.tensor(q), torch.tensor(Q_COEFFS), rtol=1e-6, atol=0)


CASES = [(True, (4, 3, 8)), (True, (8,)), (False, (2, 8, 3, 5)), (False, (3, 8))]
AFFINE = [(True, True), (True, False), (False, False)]


@pytest.mark.parametrize("weight,bias", AFFINE)
@pytest.mark.parametrize("channels_last,shape", CASES)
def test_eager_backend_matches_equation_float64(channels_last, shape, weight, bias):
    x, a, w, b = _inputs(shape, channels_last, weight=weight, bias=bias)
    params = [t for t in (x, a, w, b) if t is not None]
    out = kdyt.dyt(x, a, w, b, channels_last, backend="eager")
    expected = _equation(x, a, w, b, channels_last)
    torch.testing.assert_close(out, expected, atol=1e-13, rtol=1e-13)
    g = torch.randn_like(out)
    for got, ref in zip(torch.autograd.grad(out, params, g), torch.autograd.grad(expected, params, g)):
        torch.testing.assert_close(got, ref, atol=1e-12, rtol=1e-12)


@pytest.mark.parametrize("weight,bias", AFFINE)
@pytest.mark.parametrize("channels_last,shape", [CASES[0], CASES[2]])
def test_dyt_function_gradcheck_float64(channels_last, shape, weight, bias):
    x, a, w, b = _inputs(shape, channels_last, weight=weight, bias=bias, scale=1.0)
    x3 = kdyt._as_acb(x.detach(), channels_last).requires_grad_()
    args = [t for t in (x3, a, w, b) if t is not None]

    def f(*tensors):
        it = iter(tensors)
        return kdyt.DyTFunction.apply(next(it), next(it), next(it) if weight else None,
                                      next(it) if bias else None, "eager")

    assert torch.autograd.gradcheck(f, tuple(args))


@pytest.mark.parametrize("dtype,tol", [(torch.float32, 2e-6), (torch.float64, 1e-12)])
@pytest.mark.parametrize("channels_last,shape", CASES)
def test_rational_backward_math_matches_autograd(channels_last, shape, dtype, tol):
    """The function the compiled backend compiles, run eagerly: one pass for dx, d_alpha, d_gamma, d_beta."""
    x, a, w, b = _inputs(shape, channels_last, dtype=dtype)
    x3 = kdyt._as_acb(x.detach(), channels_last)
    dy = torch.randn_like(x3)
    blocked = kdyt._blocked  # (A, C, B) -> (R, K, C, B), as the compiled backend calls it
    dx, da, dw, db = kdyt._backward_rational(blocked(dy), blocked(x3), a.detach(), w.detach(), True)
    dx = dx.view(x3.shape)
    x64, a64, w64, b64 = (t.detach().double().requires_grad_() for t in (x3, a, w, b))
    y = _equation(x64, a64, w64, b64, False)  # (A, C, B): parameters on dim 1
    ref = torch.autograd.grad(y, [x64, a64, w64, b64], dy.double())
    scale = {"atol": tol * 20, "rtol": tol * 20}
    for got, want in zip((dx, da, dw, db), ref):
        assert got.dtype == dtype
        torch.testing.assert_close(got.double(), want, **scale)


def test_bfloat16_storage_float32_math():
    x, a, w, b = _inputs((4, 5, 8), True, dtype=torch.float32)
    xb = x.detach().bfloat16().requires_grad_()
    out = kdyt.dyt(xb, a, w, b, True, backend="eager")
    assert out.dtype == torch.bfloat16
    expected = _equation(xb.detach().double(), a.double(), w.double(), b.double(), True)
    torch.testing.assert_close(out.double(), expected, atol=2e-2, rtol=1e-2)  # bf16 output rounding
    out.float().sum().backward()
    assert xb.grad.dtype == torch.bfloat16 and a.grad.dtype == torch.float32


@pytest.mark.compile
def test_compiled_forward_matches_float64_equation():
    """The single torch.compile graph of this test suite: the compiled rational-tanh forward (float32)."""
    if not kcompile.compile_available():
        pytest.skip("torch.compile unavailable (no C++ compiler)")
    x, a, w, b = _inputs((6, 7, 40), True, dtype=torch.float32)
    with torch.no_grad():
        out = kdyt.dyt(x, a, w, b, True, backend="compiled")
    assert not kdyt._forward_compiled.failed
    expected = _equation(x.detach().double(), a.double(), w.double(), b.double(), True)
    bound = 1e-6 * (w.abs().max().item() + 1) + 1e-6
    assert (out.double() - expected).abs().max().item() < bound


def test_backend_selection_and_forcing():
    native = kdyt.dyt_cpu.available()
    compiled = kcompile.compile_available()
    small, big = torch.randn(4, 8), torch.empty(kdyt.COMPILE_MIN_NUMEL, 1)
    assert kdyt.select_backend(small) == ("native" if native else "eager")
    assert kdyt.select_backend(big) == ("native" if native else "compiled" if compiled else "eager")
    assert kdyt.select_backend(small.double()) == "eager"  # the native kernel is float32 only
    assert kdyt.select_backend(big.double()) == ("compiled" if compiled else "eager")
    previous = kdyt.set_dyt_backend("eager")
    try:
        assert kdyt.select_backend(big) == "eager"
    finally:
        kdyt.set_dyt_backend(previous)
    with kdyt.dyt_backend("reference"):
        assert kdyt.select_backend(big) == "reference"
        with kdyt.dyt_backend("eager"):
            assert kdyt.select_backend(small) == "eager"
        assert kdyt.select_backend(small) == "reference"
    assert kdyt.select_backend(small) == ("native" if native else "eager")  # restored
    with pytest.raises(ValueError, match="DyT backend must be one of"):
        kdyt.set_dyt_backend("cuda-magic")
    with pytest.raises(ValueError, match="dyt: backend must be one of"):
        kdyt.dyt(small, torch.ones(1), backend="cuda-magic")


def test_auto_choice_is_the_same_under_pytest_and_outside(monkeypatch):
    """The automatic backend depends on the tensor only, never on the test runner's environment."""
    tensors = [torch.randn(4, 8), torch.randn(3, 5).double(), torch.empty(kdyt.COMPILE_MIN_NUMEL, 1)]
    monkeypatch.setenv("PYTEST_CURRENT_TEST", "tests/x.py::test (call)")
    inside = [kdyt.select_backend(t) for t in tensors]
    monkeypatch.delenv("PYTEST_CURRENT_TEST")
    assert [kdyt.select_backend(t) for t in tensors] == inside


def test_library_never_reads_the_test_runner_environment():
    from pathlib import Path

    import dlzoo

    src = Path(dlzoo.__file__).parent
    offenders = [str(p.relative_to(src)) for p in src.rglob("*.py") if "PYTEST_CURRENT_TEST" in p.read_text()]
    assert offenders == []


def test_bad_backend_from_the_environment_is_named_on_use(monkeypatch):
    """DLZOO_DYT_BACKEND is read at import (import never fails on it); a bad value is named on first use."""
    monkeypatch.setattr(kdyt, "_backend", "fastest")  # what DLZOO_DYT_BACKEND=fastest leaves at import
    with pytest.raises(ValueError, match="DLZOO_DYT_BACKEND / set_dyt_backend must be one of .*'fastest'"):
        kdyt.select_backend(torch.randn(2, 3))


def test_lazy_compile_falls_back_to_eager(monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("no compiler here")

    monkeypatch.setattr(torch, "compile", boom)
    monkeypatch.setattr(kcompile, "compile_available", lambda: True)
    wrapped = kcompile.lazy_compile(lambda t: t * 2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = wrapped(torch.ones(3))
    assert torch.equal(out, torch.full((3,), 2.0)) and wrapped.failed
    assert any("falls back" in str(w.message) or "eager" in str(w.message) for w in caught)
    assert torch.equal(wrapped(torch.ones(2)), torch.full((2,), 2.0))  # stays eager, no second warning


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("channels_last,shape", [(True, (3, 37, 200)), (False, (2, 24, 9, 11)),
                                                 (True, (5, 64))])
def test_triton_matches_equation(channels_last, shape, dtype):
    from dlzoo.kernels.dyt_triton import dyt_triton, triton_available

    if not triton_available():
        pytest.skip("Triton not installed")
    x, a, w, b = (t.detach().cuda().to(dtype).requires_grad_() for t in _inputs(shape, channels_last))
    out = dyt_triton(x, a, w, b, channels_last)
    ref_in = [t.detach().double().requires_grad_() for t in (x, a, w, b)]
    expected = _equation(*ref_in, channels_last)
    tol = {"atol": 1e-5, "rtol": 1e-5} if dtype == torch.float32 else {"atol": 3e-2, "rtol": 2e-2}
    torch.testing.assert_close(out.double(), expected, **tol)
    g = torch.randn_like(out)
    got = torch.autograd.grad(out, [x, a, w, b], g)
    want = torch.autograd.grad(expected, ref_in, g.double())
    for gt, wt in zip(got, want):
        assert gt.dtype == dtype
        scale = wt.abs().max().item() + 1
        assert (gt.double() - wt).abs().max().item() < (1e-4 if dtype == torch.float32 else 5e-2) * scale


_INTERPRETER_SCRIPT = r"""
import types, torch
torch.cuda.get_device_properties = lambda d: types.SimpleNamespace(multi_processor_count=4)
from dlzoo.kernels.dyt_triton import DyTTritonFunction
torch.manual_seed(0)
for channels_last, shape in [(True, (3, 37, 200)), (False, (2, 24, 9, 11)), (True, (300, 40))]:
    c = shape[-1] if channels_last else shape[1]
    for dtype, tol in ((torch.float32, 2e-5), (torch.bfloat16, 2e-2)):
        x = (torch.randn(shape, dtype=torch.float64) * 3).to(dtype).requires_grad_()
        a = torch.tensor([0.7], dtype=dtype, requires_grad=True)
        w = torch.randn(c, dtype=dtype, requires_grad=True)
        b = torch.randn(c, dtype=dtype, requires_grad=True)
        out = DyTTritonFunction.apply(x, a, w, b, channels_last)
        ref_in = [t.detach().double().requires_grad_() for t in (x, a, w, b)]
        view = (-1,) if channels_last else (-1, *([1] * (x.dim() - 2)))
        expected = torch.tanh(ref_in[1] * ref_in[0]) * ref_in[2].view(view) + ref_in[3].view(view)
        g = torch.randn_like(out)
        got = [out, *torch.autograd.grad(out, [x, a, w, b], g)]
        want = [expected, *torch.autograd.grad(expected, ref_in, g.double())]
        for gt, wt in zip(got, want):
            assert gt.dtype == dtype, (gt.dtype, dtype)
            err = (gt.double() - wt).abs().max().item()
            assert err <= tol * (wt.abs().max().item() + 1), (channels_last, shape, dtype, err)
print("ok")
"""


@pytest.mark.slow
def test_triton_kernels_in_interpreter():
    """Runs the Triton kernels on CPU tensors with TRITON_INTERPRET=1 in a fresh process (the flag must be
    set before triton is first imported), against the float64 equation; skipped where Triton is absent."""
    import importlib.util
    import os
    import subprocess
    import sys

    if importlib.util.find_spec("triton") is None:
        pytest.skip("Triton not installed")
    env = {**os.environ, "TRITON_INTERPRET": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", _INTERPRETER_SCRIPT], env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0 and proc.stdout.strip().endswith("ok"), proc.stderr[-3000:]


def test_double_backward_is_refused_not_wrong():
    x, a, w, b = _inputs((3, 8), True)
    y = kdyt.dyt(x, a, w, b, True, backend="eager")
    (gx,) = torch.autograd.grad(y.sum(), x, create_graph=True)
    with pytest.raises(RuntimeError, match="once_differentiable|does not require grad|not have a grad_fn"):
        torch.autograd.grad(gx.sum(), x)
