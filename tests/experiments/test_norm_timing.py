"""``dlzoo experiment run norm-timing`` with tiny overrides (no torch.compile).

The timed candidates are checked against torch's own functions (the thing timed is the norm it claims to
be), the floor and the findings against the rows the run recorded.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from dlzoo.cli import main as dlzoo_main
from dlzoo.errors import UsageError
from dlzoo.experiments.norm_timing import NormTimingConfig, _swap_norms, block_stack, layer_candidates, run
from dlzoo.experiments.norm_timing_report import claim_ratios, ratio_verdict
from dlzoo.nn import reference_mode

TINY = [
    "sizes=[[16,32],[64,32]]",
    "dtypes=[float32,bfloat16]",
    "rounds=1",
    "vit_dim=32",
    "vit_heads=2",
    "vit_tokens=8",
    "vit_batch=1",
    "vit_depth=1",
    "llama_dim=32",
    "llama_seq=8",
    "llama_depth=1",
]


@pytest.fixture(scope="module")
def experiment(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("norm_timing")
    assert dlzoo_main(["experiment", "run", "norm-timing", f"output_dir={tmp}", *TINY]) == 0
    out_dir = sorted((tmp / "norm-timing").iterdir())[-1]
    return out_dir, json.loads((out_dir / "results.json").read_text()), (out_dir / "report.md").read_text()


def test_rows_cover_every_candidate(experiment):
    _, results, _ = experiment
    layer = [r for r in results["rows"] if r["section"] == "layer"]
    for dtype in ("float32", "bfloat16"):
        for mode in ("forward", "forward+backward"):
            got = {
                (r["norm"], r["impl"])
                for r in layer
                if r["dtype"] == dtype and r["mode"] == mode and r["shape"] == [64, 32]
            }
            assert got == {
                ("copy", "copy"),
                ("layernorm", "eager"),
                ("layernorm", "torch"),
                ("layernorm", "fused"),
                ("rmsnorm", "eager"),
                ("rmsnorm", "torch"),
                ("rmsnorm", "fused"),
                ("dyt", "eager"),
                ("dyt", "fused"),
                ("derf", "eager"),
            }
    blocks = [r for r in results["rows"] if r["section"] == "block"]
    assert {r["stack"] for r in blocks} == {"vit_s", "llama"}
    vit = next(r for r in blocks if r["stack"] == "vit_s" and r["norm"] == "dyt")
    assert vit["norm_layers"] == 3 and vit["shape"] == [1, 8, 32]  # 2 per block + the final norm
    assert all(r["us"] > 0 for r in results["rows"])


def test_floor_is_bytes_over_measured_bandwidth(experiment):
    _, results, _ = experiment
    rows = [r for r in results["rows"] if r["section"] == "layer"]
    for r in rows:
        copy = next(
            c for c in rows if c["norm"] == "copy" and all(c[k] == r[k] for k in ("dtype", "mode", "shape"))
        )
        size = 4 if r["dtype"] == "float32" else 2
        bandwidth = 2 * r["numel"] * size / (copy["us"] * 1e-6)  # bytes/s of x.clone()
        traffic = (2 if r["mode"] == "forward" else 5) * r["numel"] * size
        assert r["floor_us"] == pytest.approx(traffic / bandwidth * 1e6)
        assert r["bandwidth_gb_s"] == pytest.approx(bandwidth / 1e9)
        if r["norm"] != "copy":
            assert r["vs_floor"] == pytest.approx(r["us"] / r["floor_us"])


def test_findings_quote_the_measured_ratios(experiment):
    _, results, md = experiment
    layer = [r for r in results["rows"] if r["section"] == "layer"]
    for dtype in ("float32", "bfloat16"):
        for mode in ("forward", "forward+backward"):
            ratios = []
            for shape in ([16, 32], [64, 32]):
                pick = {
                    (r["norm"]): r["us"]
                    for r in layer
                    if r["impl"] == "eager"
                    and r["dtype"] == dtype
                    and r["mode"] == mode
                    and r["shape"] == shape
                }
                ratios.append(pick["dyt"] / pick["rmsnorm"])
            text = f"cpu {dtype} {mode}: DyT / RMSNorm time = 16x32: {ratios[0]:.2f}, 64x32: {ratios[1]:.2f}"
            assert text in md
            geo = math.exp((math.log(ratios[0]) + math.log(ratios[1])) / 2)
            assert f"(geometric mean {geo:.2f})" in md
    assert "not tested in this run (compile=false" in md
    assert sorted(p.name for p in (experiment[0] / "plots").glob("*.png")) == [
        "blocks_cpu.png",
        "layers_cpu.png",
    ]


def test_ratio_verdicts():
    assert ratio_verdict([0.5, 0.8]) == "faster"
    assert ratio_verdict([0.95, 1.05]) == "similar"
    assert ratio_verdict([1.2, 3.0]) == "slower"
    assert ratio_verdict([0.5, 1.5]) == "mixed"
    rows = [
        {
            "section": "layer",
            "norm": n,
            "impl": "eager",
            "device": "cpu",
            "dtype": "float32",
            "mode": "forward",
            "shape": [2, 4],
            "us": us,
        }
        for n, us in (("dyt", 3.0), ("rmsnorm", 4.0))
    ]
    assert claim_ratios(rows, "eager") == {("cpu", "float32", "forward"): [([2, 4], 0.75)]}


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_candidates_compute_their_norm(dtype):
    torch.manual_seed(0)
    x = torch.randn(6, 16, dtype=dtype)
    tol = {"atol": 1e-5, "rtol": 1e-5} if dtype == torch.float32 else {"atol": 2e-2, "rtol": 2e-2}
    for norm in ("layernorm", "rmsnorm", "dyt", "derf"):
        for impl, (module, _) in layer_candidates(norm, 16, x, False, {}).items():
            params = dict(module.named_parameters())
            w = next(v for k, v in params.items() if k.endswith("weight"))
            with torch.no_grad():
                w.copy_(torch.linspace(0.5, 1.5, 16))
                got = module(x).float()
            xf, wf = x.float(), w.float()
            b = next((v.float() for k, v in params.items() if k.endswith("bias")), torch.zeros(16))
            if norm == "layernorm":
                ref = F.layer_norm(xf, (16,), wf, b, eps=1e-5)
            elif norm == "rmsnorm":
                eps = getattr(module, "eps", None) or getattr(getattr(module, "inner", None), "eps", None)
                ref = F.rms_norm(xf, (16,), wf, eps=eps)
            elif norm == "dyt":
                ref = wf * torch.tanh(0.5 * xf) + b
            else:
                ref = wf * torch.erf(0.5 * xf) + b
            torch.testing.assert_close(got, ref, **tol, msg=f"{norm} {impl}")


def test_dyt_fused_held_off_compile_for_large_bf16():
    x = torch.randn(1 << 20, 1, dtype=torch.bfloat16).view(1024, 1024)
    cands = layer_candidates("dyt", 1024, x, False, {})
    assert cands["fused"][1] == "eager (compile off)"
    with torch.no_grad():
        torch.testing.assert_close(
            cands["fused"][0](x).float(), torch.tanh(0.5 * x.float()), atol=1e-2, rtol=1e-2
        )


def test_block_stacks_keep_their_math():
    cfg = NormTimingConfig(
        vit_dim=32,
        vit_heads=2,
        vit_tokens=8,
        vit_batch=1,
        vit_depth=1,
        llama_dim=32,
        llama_seq=8,
        llama_depth=1,
    )
    for stack in ("vit_s", "llama"):
        model, shape = block_stack(stack, "rmsnorm", cfg)
        x = torch.randn(shape)
        with torch.no_grad():
            fused = model(x)
            with reference_mode():
                ref = model(x)
        torch.testing.assert_close(fused, ref, atol=1e-5, rtol=1e-5)
        # one block / decoder layer: two norms, plus the final norm
        assert _swap_norms(model, lambda _layer: torch.nn.Identity()) == 3
        assert _swap_norms(model, lambda _layer: torch.nn.Identity()) == 0


def test_bad_config(tmp_path):
    with pytest.raises(UsageError, match="norms"):
        run(NormTimingConfig(norms=["batchnorm"]), tmp_path)
    with pytest.raises(UsageError, match="dtypes"):
        run(NormTimingConfig(dtypes=["float16"]), tmp_path)
    with pytest.raises(UsageError, match="sizes"):
        run(NormTimingConfig(sizes=[[4]]), tmp_path)
    assert not (Path(tmp_path) / "results.json").exists()


def test_claim_summary_counts_groups():
    from dlzoo.experiments.norm_timing_report import claim_summary

    def row(norm, mode, us):
        return {
            "section": "layer",
            "norm": norm,
            "impl": "eager",
            "device": "cpu",
            "dtype": "float32",
            "mode": mode,
            "shape": [2, 4],
            "us": us,
        }

    rows = [
        row("dyt", "forward", 1.0),
        row("rmsnorm", "forward", 2.0),
        row("dyt", "forward+backward", 2.0),
        row("rmsnorm", "forward+backward", 2.0),
    ]
    text = claim_summary(rows, "eager", "faster")
    assert "in 1 of 2 (device, dtype, mode) groups (cpu float32 forward)" in text and "only in part" in text
    assert claim_summary(rows, "compile", "similar") == ""
