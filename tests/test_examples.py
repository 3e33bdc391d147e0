"""Every script in examples/ runs (in-process, through its ``main(argv)``, small settings) and does its job.

In-process so tests/conftest.py's torchvision shim applies to transformers' import and the interpreter start
is paid once; each script is loaded from its file exactly as ``python examples/NAME.py`` would run it.
"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest

import dlzoo

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def load(name: str):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_example_is_tested():
    tested = {"swap_norms", "load_hf_weights", "train_tiny_gpt", "compare_runs"}
    assert {p.stem for p in EXAMPLES.glob("*.py")} == tested


def test_swap_norms_replaces_every_layernorm_with_dyt(capsys):
    model = dlzoo.create_model("vit_tiny_digits")
    n_layernorms = sum(type(m).__name__ == "LayerNorm" for m in model.modules())
    assert n_layernorms > 0
    assert load("swap_norms").main([]) == 0
    out = capsys.readouterr().out
    assert f"replaced {n_layernorms} layer(s), skipped 0" in out
    assert f"LayerNorm -> DyT: {n_layernorms}" in out
    assert "now uses ['DyT']" in out


def test_load_hf_weights_matches_transformers_logits(capsys):
    pytest.importorskip("transformers")
    assert load("load_hf_weights").main([]) == 0
    out = capsys.readouterr().out
    diffs = {arch: float(d) for arch, d in re.findall(r"^(\w+): transformers .* max \|diff\| = (\S+)$", out,
                                                        flags=re.M)}
    assert set(diffs) == {"gpt2", "llama"} and max(diffs.values()) < 1e-4, out


@pytest.mark.slow
def test_train_tiny_gpt_lowers_the_validation_loss_and_samples(capsys):
    assert load("train_tiny_gpt").main(["--steps", "8", "--batch-size", "8", "--block-size", "32"]) == 0
    out = capsys.readouterr().out
    start, end = map(float, re.search(r"val loss (\S+) -> (\S+)", out).groups())
    assert end < start < 6.0  # from about ln 257 = 5.55 (uniform) downwards
    assert re.search(r"^sample: 'The for statement", out, flags=re.M), out


@pytest.mark.slow
def test_compare_runs_trains_two_runs_and_reports_their_difference(capsys, tmp_path):
    example = load("compare_runs")
    assert example.main(["--epochs", "1", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    differ = re.findall(r"^  (\S+): .* \(A\) vs .* \(B\)$", out.split("config keys that differ:")[1]
                        .split("\n\n")[0], flags=re.M)
    assert differ == ["model.kwargs.norm_layer"]
    runs = {p.parent.parent.name: json.loads(p.read_text()) for p in tmp_path.glob("*/*/results.json")}
    assert set(runs) == {"mlp-digits-layernorm", "mlp-digits-dyt"}
    acc = lambda r: r.get("test", r)["acc"]
    assert (f"acc: {acc(runs['mlp-digits-layernorm']):.4f} (A) vs {acc(runs['mlp-digits-dyt']):.4f} (B)"
            in out)
    # and on two existing directories, without training
    dirs = sorted(p.parent for p in tmp_path.glob("*/*/results.json"))
    assert example.main([str(d) for d in dirs]) == 0
    assert "model.kwargs.norm_layer" in capsys.readouterr().out
