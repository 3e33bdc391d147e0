"""The native (gcc-built, ctypes-called) CPU DyT kernels of dlzoo.kernels.dyt_cpu, against float64 torch.tanh
and autograd of the DyT equation (float64), and against the compiled backend's math (run uncompiled).

No torch.compile here; the library is built once per source hash (~1 s with gcc) into a cache directory.
"""

from __future__ import annotations

import warnings

import pytest
import torch

from dlzoo.kernels import dyt_cpu
from dlzoo.kernels import dyt_fused as kdyt

pytestmark = pytest.mark.skipif(not dyt_cpu.available(), reason="native DyT kernel unavailable (no gcc)")


def _equation64(x, alpha, weight, bias, channels_last):
    view = (-1,) if channels_last else (-1, *([1] * (x.dim() - 2)))
    y = torch.tanh(alpha * x)
    y = y * weight.reshape(view) if weight is not None else y
    return y + bias.reshape(view) if bias is not None else y


def _inputs(shape, channels_last, weight=True, bias=True, scale=3.0, seed=0):
    gen = torch.Generator().manual_seed(seed)
    c = shape[-1] if channels_last else shape[1]
    x = (torch.randn(shape, generator=gen) * scale).requires_grad_()
    alpha = torch.tensor([0.7], requires_grad=True)
    w = torch.randn(c, generator=gen).requires_grad_() if weight else None
    b = torch.randn(c, generator=gen).requires_grad_() if bias else None
    return x, alpha, w, b


def _check_against_float64(x, a, w, b, channels_last, threads=1):
    params = [t for t in (x, a, w, b) if t is not None]
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        out = kdyt.dyt(x, a, w, b, channels_last, backend="native")
        g = torch.randn_like(out)
        grads = torch.autograd.grad(out, params, g)
    finally:
        torch.set_num_threads(previous)
    ref_in = [t.detach().double().requires_grad_() for t in params]
    it = iter(ref_in)
    r = [next(it), next(it), next(it) if w is not None else None, next(it) if b is not None else None]
    expected = _equation64(*r, channels_last)
    ref_grads = torch.autograd.grad(expected, ref_in, g.double())
    assert out.dtype == torch.float32 and out.shape == x.shape
    wmax = w.abs().max().item() if w is not None else 1.0
    assert (out.double() - expected).abs().max().item() < 1e-6 * (wmax + 1) + 1e-6
    # d_alpha = sum dy w x (1 - t^2): float32 t (error ~4e-7) gives 1 - t^2 an absolute error ~1e-6 per
    # element, so its bound scales with sum |dy w x|; the others are relative to their magnitude
    wv = w.detach().reshape((-1,) if channels_last else (-1, *([1] * (x.dim() - 2)))) if w is not None else 1
    alpha_bound = 3e-6 * (g * wv * x.detach()).abs().sum().item()
    for i, (got, want) in enumerate(zip(grads, ref_grads)):
        assert got.dtype == torch.float32 and got.shape == want.shape
        err = (got.double() - want).abs().max().item()
        bound = alpha_bound if i == 1 else 2e-6 * (want.abs().max().item() + 1)
        assert err < bound, (got.shape, err, bound)


CASES = [(True, (4, 3, 8)), (True, (8,)), (True, (70, 5)), (False, (2, 8, 3, 5)), (False, (3, 8)),
         (False, (2, 3, 33))]
AFFINE = [(True, True), (True, False), (False, True), (False, False)]


@pytest.mark.parametrize("weight,bias", AFFINE)
@pytest.mark.parametrize("channels_last,shape", CASES)
def test_native_matches_float64_equation(channels_last, shape, weight, bias):
    _check_against_float64(*_inputs(shape, channels_last, weight, bias), channels_last)


@pytest.mark.parametrize("channels_last,shape", [(True, (3, 300, 97)), (False, (5, 13, 40, 41))])
def test_native_two_threads_large(channels_last, shape):
    """>= 65536 elements: the OpenMP path with 2 threads (uneven row split) and FLUSH_ROWS blocks."""
    _check_against_float64(*_inputs(shape, channels_last), channels_last, threads=2)


def test_native_tanh_error_below_1e6():
    """alpha = 1, no affine: the kernel's tanh within 1e-6 (abs and rel) of float64 tanh, incl. +-inf/0."""
    tiny = torch.logspace(-30, 1, 2001)
    x = torch.cat([torch.linspace(-30, 30, 400_001), tiny, -tiny, torch.tensor([0.0, float("inf"),
                                                                             -float("inf")])])
    out = dyt_cpu.dyt_forward(x.reshape(-1, 1, 1), torch.ones(1), None, None).reshape(-1)
    ref = torch.tanh(x.double())
    err = (out.double() - ref).abs()
    assert err.max().item() < 1e-6
    assert (err / ref.abs().clamp_min(1e-300))[ref != 0].max().item() < 1e-6
    assert torch.isnan(dyt_cpu.dyt_forward(torch.full((1, 1, 1), float("nan")), torch.ones(1), None,
                                           None)).all()


def test_native_matches_compiled_math():
    """Same rational tanh as the compiled backend's math (uncompiled here): near-identical float32 results."""
    x, a, w, b = (t.detach() for t in _inputs((40, 24), True))
    x3, dy = x.reshape(-1, 24, 1), torch.randn(40, 24, 1)
    torch.testing.assert_close(dyt_cpu.dyt_forward(x3, a, w, b), kdyt._forward_rational(x3, a, w, b),
                               atol=1e-6, rtol=1e-6)
    native = dyt_cpu.dyt_backward(dy, x3, a, w, True)
    rational = kdyt._backward_rational(kdyt._blocked(dy), kdyt._blocked(x3), a, w, True)
    # 1 - t^2 cancels near |t| = 1 (gcc contracts to FMA, torch does not): compare absolutely
    torch.testing.assert_close(native[0], rational[0].view(x3.shape), atol=1e-5, rtol=0)
    for got, want in zip(native[1:], rational[1:]):
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def test_native_noncontiguous_input_and_inplace_on_output():
    x, a, w, b = _inputs((6, 5, 8), True)
    xt = x.detach().transpose(0, 1).requires_grad_()  # (5, 6, 8), not contiguous
    out = kdyt.dyt(xt, a, w, b, True, backend="native")
    expected = _equation64(xt.detach().double(), a.double(), w.double(), b.double(), True)
    assert (out.double() - expected).abs().max().item() < 1e-5
    out.relu_()  # the output is not a view made inside the Function
    out.sum().backward()
    assert xt.grad is not None and xt.grad.shape == xt.shape


def test_native_forced_on_other_dtypes_runs_eager():
    x = torch.randn(3, 4, dtype=torch.float64)
    out = kdyt.dyt(x, torch.ones(1, dtype=torch.float64), None, None, True, backend="native")
    torch.testing.assert_close(out, torch.tanh(x), atol=1e-13, rtol=1e-13)


def test_native_bad_input_errors():
    with pytest.raises(TypeError, match="float32"):
        dyt_cpu.dyt_forward(torch.zeros(2, 3, 1, dtype=torch.float64), torch.ones(1), None, None)
    with pytest.raises(ValueError, match="dy shape"):
        dyt_cpu.dyt_backward(torch.zeros(2, 3, 1), torch.zeros(2, 4, 1), torch.ones(1), None, False)


def test_auto_selects_native_for_cpu_float32():
    x = torch.randn(4, 8)
    assert kdyt.select_backend(x) == "native"  # the default, in tests as in production
    assert kdyt.select_backend(x.double()) == "eager"


def test_build_failure_falls_back_with_one_warning(monkeypatch, tmp_path):
    """No compiler on PATH and an empty cache: available() is False after one warning; dyt still works."""
    monkeypatch.setenv("DLZOO_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path))  # no gcc / cc here
    dyt_cpu._library.cache_clear()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            assert not dyt_cpu.available()
            assert not dyt_cpu.available()
        assert sum("native DyT kernel unavailable" in str(w.message) for w in caught) == 1
        x = torch.randn(3, 4)
        out = kdyt.dyt(x, torch.ones(1), None, None, True, backend="native")  # runs eager instead
        torch.testing.assert_close(out, torch.tanh(x), atol=1e-6, rtol=0)
    finally:
        dyt_cpu._library.cache_clear()


def test_fresh_build_into_new_cache_dir(monkeypatch, tmp_path):
    """A cold build (what a new machine pays once, ~1 s) produces a working library at library_path()."""
    monkeypatch.setenv("DLZOO_CACHE_DIR", str(tmp_path))
    dyt_cpu._library.cache_clear()
    try:
        assert dyt_cpu.available()
        assert dyt_cpu.library_path().is_file() and str(tmp_path) in str(dyt_cpu.library_path())
        x = torch.randn(2, 3, 1)
        torch.testing.assert_close(dyt_cpu.dyt_forward(x, torch.ones(1), None, None), torch.tanh(x),
                                   atol=1e-6, rtol=0)
    finally:
        dyt_cpu._library.cache_clear()


@pytest.mark.parametrize("channels_last,shape", [(True, (4, 3, 8)), (False, (2, 8, 3, 5))])
def test_native_inference_path_equals_autograd_path(channels_last, shape):
    """Under no_grad dyt() skips the autograd.Function: same output as with grad, float64 reference."""
    x, a, w, b = _inputs(shape, channels_last)
    with_grad = kdyt.dyt(x, a, w, b, channels_last, backend="native")
    with torch.no_grad():
        no_grad = kdyt.dyt(x, a, w, b, channels_last, backend="native")
    assert no_grad.grad_fn is None and with_grad.grad_fn is not None
    assert torch.equal(no_grad, with_grad)
    expected = _equation64(*(t.detach().double() for t in (x, a, w, b)), channels_last)
    assert (no_grad.double() - expected).abs().max().item() < 1e-6 * (w.abs().max().item() + 1) + 1e-6


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("shape", [(5, 7, 48), (300, 256), (3, 33)])
def test_native_streaming_store_path(monkeypatch, shape, threads):
    """The AVX-512 streaming-store kernels (opt-in, off by default; threshold lowered here), and the
    fallback when C % 16 != 0, against the float64 equation."""
    monkeypatch.setattr(dyt_cpu, "STREAM_MIN_BYTES", 0)
    lib = dyt_cpu._library()
    x = torch.empty(*shape[:-1], shape[-1])
    assert dyt_cpu._stream(lib, x.reshape(-1, shape[-1], 1)) == (lib.has_stream and shape[-1] % 16 == 0)
    _check_against_float64(*_inputs(shape, True, seed=3), True, threads=threads)


_BUILD_SCRIPT = r"""
import importlib.util, sys, time
spec = importlib.util.spec_from_file_location("dyt_cpu", sys.argv[1])
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)  # the module alone (torch only), not the whole dlzoo package
build = mod._build
def logged(path):
    with open(sys.argv[2], "a") as log:
        log.write("build\n")
    time.sleep(0.5)  # widen the window in which an unlocked second process would also build
    build(path)
mod._build = logged
with open(sys.argv[3], "a") as log:
    log.write("ready\n")
while sum(1 for _ in open(sys.argv[3])) < int(sys.argv[4]):  # start the builds together
    time.sleep(0.01)
print(mod.available())
"""


@pytest.mark.slow
def test_concurrent_processes_build_the_library_once(tmp_path):
    """Two processes needing the native kernel at once (DataLoader workers, DDP ranks, parallel tests) on a
    cold cache: one builds under the lock, the others wait and load its library."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "DLZOO_CACHE_DIR": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1"}
    log, ready, n = tmp_path / "builds.log", tmp_path / "ready.log", 2
    procs = [subprocess.Popen([sys.executable, "-c", _BUILD_SCRIPT, dyt_cpu.__file__, str(log), str(ready),
                               str(n)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(n)]
    results = [p.communicate(timeout=180) for p in procs]
    assert [out.strip() for out, _ in results] == ["True"] * n, [err[-2000:] for _, err in results]
    assert log.read_text().splitlines() == ["build"]


def test_corrupt_cached_library_is_rebuilt(monkeypatch, tmp_path):
    """A cached file that does not load (a truncated copy) is rebuilt once instead of disabling the kernel."""
    monkeypatch.setenv("DLZOO_CACHE_DIR", str(tmp_path))
    dyt_cpu._library.cache_clear()
    try:
        path = dyt_cpu.library_path()
        path.parent.mkdir(parents=True)
        path.write_bytes(b"\x7fELF truncated")
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no "native DyT kernel unavailable" warning
            assert dyt_cpu.available()
        x = torch.randn(2, 3, 1)
        torch.testing.assert_close(dyt_cpu.dyt_forward(x, torch.ones(1), None, None), torch.tanh(x),
                                   atol=1e-6, rtol=0)
    finally:
        dyt_cpu._library.cache_clear()

