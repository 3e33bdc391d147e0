"""End-to-end ``dlzoo experiment run norm-comparison`` with tiny overrides; the report is checked against
the metrics the trainer wrote on its own (each run's ``results.json`` and ``metrics.jsonl``)."""

from __future__ import annotations

import json
import re
import statistics
from pathlib import Path

import pytest

import dlzoo
from dlzoo.analysis import find_norm_layers
from dlzoo.cli import main as dlzoo_main


def _run(capsys, tmp_path, *overrides: str) -> tuple[Path, str, str]:
    code = dlzoo_main(["experiment", "run", "norm-comparison", f"output_dir={tmp_path}", *overrides])
    out, err = capsys.readouterr()
    assert code == 0, err
    run_dir = Path(out.strip().splitlines()[-1])  # the LAST stdout line is the run directory
    assert run_dir.is_dir() and run_dir.parent == tmp_path / "norm-comparison"
    return run_dir, out, err


def _trainer_metrics(run: dict) -> dict:
    return json.loads((Path(run["run_dir"]) / "results.json").read_text())["test"]


def test_norm_comparison_end_to_end(capsys, tmp_path):
    run_dir, out, err = _run(capsys, tmp_path, "seeds=[0]", "epochs=1", "norms=[layernorm,dyt]",
                             "dyt_alphas=[1.0]", "workers=1", "scurve_samples=16")
    assert f"report: {run_dir / 'report.html'}" in out
    assert "[run 1/2] layernorm seed 0" in err and "[run 2/2] dyt(alpha=1.0) seed 0" in err
    results = json.loads((run_dir / "results.json").read_text())
    md = (run_dir / "report.md").read_text()
    page = (run_dir / "report.html").read_text()
    runs = {r["label"]: r for r in results["runs"]}
    assert list(runs) == ["layernorm", "dyt(alpha=1.0)"]
    for label, r in runs.items():
        test = _trainer_metrics(r)  # written by the trainer, not by the experiment
        assert r["test_acc"] == pytest.approx(test["acc"]) and r["test_loss"] == pytest.approx(test["loss"])
        acc, loss = f"{100 * test['acc']:.2f}", f"{test['loss']:.4f}"
        ece = f"{100 * r['test_ece']:.2f}"
        assert f"| {label} | 1 | {acc} | {loss} | {ece} | {r['wall_time']:.1f} |" in md  # summary (1 seed)
        assert re.search(rf"\| {re.escape(label)} \| 0 \| {acc} \| {loss} \| {ece} \|", md)  # per-run
        assert f"<td class=\"txt\">{label}</td><td class=\"num\">1</td><td class=\"num\">{acc}</td>" in page
        lines = (Path(r["run_dir"]) / "metrics.jsonl").read_text().splitlines()
        history = [json.loads(line) for line in lines]
        assert [h["val_acc"] for h in history if "val_acc" in h] == [h["val_acc"] for h in r["history"]]
    best = max(runs.values(), key=lambda r: r["test_acc"])
    assert f"{best['label']} reached the highest mean test accuracy, {100 * best['test_acc']:.2f}%" in md
    assert "single seed" in md
    # DyT alpha table: the final alpha the trainer logged for every DyT layer
    alpha_keys = [k for k in runs["dyt(alpha=1.0)"]["history"][-1] if k.endswith("alpha")]
    model = dlzoo.create_model("vit_tiny_digits", norm_layer="dyt")
    assert len(alpha_keys) == len(find_norm_layers(model)) > 0
    for k in alpha_keys:
        assert f"| {k[len('param/'):]} | 1 | {runs['dyt(alpha=1.0)']['history'][-1][k]:.4f} |" in md
    # S-curves: one entry per norm layer of the model, figures inlined in the HTML
    assert set(runs["layernorm"]["scurve_stats"]) == {n for n, _ in find_norm_layers(dlzoo.create_model(
        "vit_tiny_digits"))}
    pngs = sorted(p.name for p in (run_dir / "plots").glob("*.png"))
    assert pngs == ["alpha.png", "curves.png", "error_rate.png", "scurve_dyt_alpha1.0.png",
                    "scurve_layernorm.png"]
    assert page.count('src="data:image/png;base64,') == len(pngs) and 'src="plots/' not in page
    for name in pngs:
        assert f"](plots/{name})" in md


@pytest.mark.slow
def test_norm_comparison_worker_pool(capsys, tmp_path):
    run_dir, _, err = _run(capsys, tmp_path, "model=mlp_digits", "seeds=[0,1]", "epochs=1",
                           "norms=[layernorm]", "workers=2", "scurve_samples=8")
    assert "[run 2/2]" in err
    # stderr is not a terminal here: plain lines (no tqdm carriage-return frames), workers announced
    assert "\r" not in err
    assert "[runner] starting 2 worker processes (1 torch thread(s) each) for 2 runs" in err
    results = json.loads((run_dir / "results.json").read_text())
    assert results["meta"]["workers"] == 2
    accs = [r["test_acc"] for r in results["runs"]]
    assert accs == [pytest.approx(_trainer_metrics(r)["acc"]) for r in results["runs"]]
    s = results["summary"]["layernorm"]
    assert s["acc_mean"] == pytest.approx(statistics.mean(accs))
    assert s["acc_std"] == pytest.approx(statistics.stdev(accs))
    md = (run_dir / "report.md").read_text()
    assert f"{100 * s['acc_mean']:.2f} +- {100 * s['acc_std']:.2f}" in md


def test_diverged_run_is_reported_not_fatal(capsys, tmp_path, monkeypatch):
    import dlzoo.train as dtrain

    real_train = dtrain.train

    def flaky_train(cfg, **kw):
        if cfg.model.kwargs["norm_layer"] == "dyt":
            raise dtrain.TrainingDiverged("training diverged at epoch 1, step 3: loss is nan")
        return real_train(cfg, **kw)

    monkeypatch.setattr(dtrain, "train", flaky_train)
    run_dir, _, err = _run(capsys, tmp_path, "model=mlp_digits", "seeds=[0]", "epochs=1",
                           "norms=[layernorm,dyt]", "dyt_alphas=[2.0]", "workers=1", "scurve_samples=8")
    assert "dyt(alpha=2.0) seed 0: FAILED (training diverged" in err
    md = (run_dir / "report.md").read_text()
    assert "1 run(s) failed" in md and "- dyt(alpha=2.0) seed 0: training diverged at epoch 1" in md
    results = json.loads((run_dir / "results.json").read_text())
    assert [r["label"] for r in results["runs"]] == ["layernorm"]
    with pytest.raises(RuntimeError, match="every run failed"):
        dlzoo_main(["experiment", "run", "norm-comparison", f"output_dir={tmp_path}", "model=mlp_digits",
                    "seeds=[0]", "epochs=1", "norms=[dyt]", "workers=1"])
