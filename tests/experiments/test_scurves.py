"""End-to-end ``dlzoo experiment run scurves`` with tiny overrides, checked against the trainer's own metrics,
the trained BatchNorms' running statistics and scipy's curve_fit; plus the shape classes and findings text
on chosen numbers."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch

import dlzoo
from dlzoo.analysis import find_norm_layers
from dlzoo.cli import main as dlzoo_main
from dlzoo.experiments.scurves_report import classify, format_ranges, model_findings

TINY = [
    "workers=1",
    "samples=8",
    "points=400",
    "vit.epochs=1",
    "vit.kwargs.depth=1",
    "resnet.epochs=1",
    "resnet.kwargs.layers=[1,1]",
    "resnet.kwargs.widths=[8,16]",
    "resnet.kwargs.stem_width=8",
    "deep_vit.epochs=2",
    "deep_vit.kwargs.depth=2",
    "deep_vit.kwargs.embed_dim=32",
]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("scurves")
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = dlzoo_main(["experiment", "run", "scurves", f"output_dir={tmp}", *TINY])
    assert code == 0, err.getvalue()
    run_dir = Path(out.getvalue().strip().splitlines()[-1])  # the last stdout line is the run directory
    return run_dir, json.loads((run_dir / "results.json").read_text())


def _test_images(train_run_dir: Path, n: int) -> torch.Tensor:
    from dlzoo.train import load_config
    from dlzoo.train.build import build_data

    cfg = load_config(train_run_dir / "config.yaml")  # the trainer's resolved config of that model
    return build_data(cfg.data, cfg.seed).splits.test.x[:n].float()


def test_runs_match_the_trainer_and_the_models(run):
    run_dir, res = run
    runs = {r["key"]: r for r in res["runs"]}
    assert list(runs) == ["vit", "resnet", "deep_vit"]
    for r in runs.values():
        trainer = json.loads((Path(r["run_dir"]) / "results.json").read_text())["test"]  # the trainer's file
        assert r["test_acc"] == pytest.approx(trainer["acc"]) and r["test_loss"] == pytest.approx(
            trainer["loss"]
        )
        model = dlzoo.from_pretrained(r["run_dir"])
        assert list(r["layers"]) == [n for n, _ in find_norm_layers(model)]
    assert {lay["grouping"] for lay in runs["resnet"]["layers"].values()} == {"channel"}
    assert {lay["grouping"] for lay in runs["vit"]["layers"].values()} == {"token"}


def test_batchnorm_layers_follow_their_running_statistics(run):
    _, res = run
    r = next(r for r in res["runs"] if r["key"] == "resnet")
    modules = dict(dlzoo.from_pretrained(r["run_dir"]).named_modules())
    for name, lay in r["layers"].items():
        bn = modules[name]
        slopes = 1 / torch.sqrt(bn.running_var.double() + bn.eps)  # the eval map's per-channel slope
        assert lay["stats"]["central_slope"] == pytest.approx(float(slopes.median()), rel=1e-4)
        assert lay["stats"]["linear_r2"] > 1 - 1e-8
        assert lay["stats"]["squashed_fraction"] == 0.0
        assert classify(lay["stats"], lay["tanh"]) == "linear"
    assert res["classes"][r["label"]] == dict.fromkeys(r["layers"], "linear")
    assert f"all {len(r['layers'])} layers are linear per channel" in res["findings"][1]


def test_tanh_fit_agrees_with_scipy(run):
    from scipy.optimize import curve_fit

    from dlzoo.analysis.scurve import collect_norm_io

    _, res = run
    r = next(r for r in res["runs"] if r["key"] == "deep_vit")
    name, lay = list(r["layers"].items())[-1]  # the deepest norm layer
    model = dlzoo.from_pretrained(r["run_dir"])
    images = _test_images(Path(r["run_dir"]), r["num_images"])
    pts = collect_norm_io(model, images, max_points=400, seed=0)[name]
    (a, g, b), _ = curve_fit(
        lambda t, a, g, b: g * np.tanh(a * t) + b,
        pts.x.double().numpy(),
        pts.y.double().numpy(),
        p0=[0.5, 1.0, 0.0],
        maxfev=20000,
    )
    assert lay["tanh"]["alpha"] == pytest.approx(abs(a), rel=1e-4)
    assert lay["tanh"]["gamma"] == pytest.approx(g * np.sign(a), rel=1e-4)


def test_report_files(run):
    run_dir, res = run
    md = (run_dir / "report.md").read_text()
    page = (run_dir / "report.html").read_text()
    pngs = sorted(p.name for p in (run_dir / "plots").glob("*.png"))
    assert pngs == ["depth.png", "maps_deep_vit.png", "maps_resnet.png", "maps_vit.png"]
    assert page.count('src="data:image/png;base64,') == len(pngs)
    for p in res["findings"]:
        assert p[:60] in md  # each findings paragraph is in the report
    vit = next(r for r in res["runs"] if r["key"] == "vit")
    first, lay = next(iter(vit["layers"].items()))
    row = f"| 1 | {first} | LayerNorm | pooled | {lay['stats']['linear_r2']:.4f} | {lay['tanh']['r2']:.4f} |"
    assert row in md
    assert "one image = 0.37 points" in md and "one seed" in md


def test_unknown_model_key_exits_2(capsys, tmp_path):
    assert dlzoo_main(["experiment", "run", "scurves", f"output_dir={tmp_path}", "vit.foo=1"]) == 2
    assert "vit.foo" in capsys.readouterr().err


def test_classes_and_findings_on_chosen_numbers():
    assert format_ranges([5, 1, 2, 3, 7, 8]) == "1-3, 5, 7-8"
    lin = {"linear_r2": 0.995, "squashed_fraction": 0.0, "compression": 1.0}
    curved = {"linear_r2": 0.90, "squashed_fraction": 0.12, "compression": 0.3}
    assert classify(lin, {"reach": 0.1, "r2": 0.995}) == "linear"
    assert classify(curved, {"reach": 2.0, "r2": 0.93}) == "S-shaped"  # leaves 0.07 <= 0.8 * 0.10
    assert classify(curved, {"reach": 2.0, "r2": 0.91}) == "neither"  # leaves 0.09 > 0.08
    assert classify(curved, {"reach": 0.5, "r2": 0.99}) == "neither"  # does not reach the saturation
    run = {
        "label": "M",
        "test_acc": 0.9,
        "num_test": 200,
        "num_images": 8,
        "layers": {
            "a": {"grouping": "token", "stats": lin, "tanh": {"reach": 0.1, "r2": 0.995, "alpha": 0.1}},
            "b": {"grouping": "token", "stats": lin, "tanh": {"reach": 0.1, "r2": 0.995, "alpha": 0.1}},
            "c": {"grouping": "token", "stats": curved, "tanh": {"reach": 2.0, "r2": 0.93, "alpha": 1.5}},
        },
    }
    text = model_findings(run)
    assert "one image = 0.50 points" in text and "layers 1-2 are linear" in text
    assert "layer 3 is S-shaped (tanh-fit R^2 0.930-0.930 vs 0.900-0.900" in text
    assert "squashed points 12.0-12.0%" in text
    assert "most squashed map is layer 3 (c): 12.0%" in text
