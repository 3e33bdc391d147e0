"""``dlzoo compare`` on two tiny norm-comparison runs: numbers against the trainer's own results and
scipy, penultimate features against forward_head(pre_logits=True), PCA against scikit-learn, findings text."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

import dlzoo
from dlzoo.analysis.compare_report import compare_findings
from dlzoo.analysis.embedding import logits_and_features, pca, tsne
from dlzoo.cli import main as dlzoo_main

stats = pytest.importorskip("scipy.stats")


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> list[Path]:
    out = tmp_path_factory.mktemp("nc")
    code = dlzoo_main(
        [
            "experiment",
            "run",
            "norm-comparison",
            f"output_dir={out}",
            "model=mlp_digits",
            "seeds=[0]",
            "epochs=1",
            "norms=[layernorm,dyt]",
            "dyt_alphas=[1.0]",
            "workers=1",
            "scurve_samples=8",
        ]
    )
    assert code == 0
    (exp,) = (out / "norm-comparison").iterdir()
    return [exp / "runs" / "layernorm_seed0", exp / "runs" / "dyt_alpha1.0_seed0"]


@pytest.fixture(scope="module")
def compared(runs, tmp_path_factory) -> tuple[Path, dict, str]:
    out = tmp_path_factory.mktemp("cmp") / "report"
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = dlzoo_main(
            ["compare", *map(str, runs), "--out", str(out), "--boot", "300", "--embed-samples", "60"]
        )
    assert code == 0
    assert buf.getvalue().strip().splitlines()[-1] == str(out)  # last stdout line: the report directory
    return out, json.loads((out / "results.json").read_text()), (out / "report.md").read_text()


def _test_split(run_dir: Path):
    from dlzoo.train import load_config
    from dlzoo.train.build import build_data

    cfg = load_config(run_dir / "config.yaml")
    split = build_data(cfg.data, cfg.seed).splits.test
    return split.x, split.y


def test_metrics_match_the_trainer_and_scipy(runs, compared):
    out, res, md = compared
    assert res["shared_test_set"] is True
    for run_dir, r in zip(runs, res["runs"]):
        trainer = json.loads((run_dir / "results.json").read_text())["test"]  # written by the trainer
        assert r["test_acc"] == pytest.approx(trainer["acc"], abs=1e-12)
        assert r["test_loss"] == pytest.approx(trainer["loss"], rel=1e-5)
        ci = stats.binomtest(r["num_correct"], r["num_test"]).proportion_ci(method="wilson")
        assert (r["acc_low"], r["acc_high"]) == pytest.approx((ci.low, ci.high), abs=1e-12)
        assert r["loss_low"] < r["test_loss"] < r["loss_high"]
        assert f"| {r['label']} | mlp_digits | 0 | {100 * r['test_acc']:.2f} |" in md
    # the paired test, recomputed from an independent forward pass of the saved models
    x, y = _test_split(runs[0])
    with torch.no_grad():
        right = [(dlzoo.from_pretrained(d)(x).argmax(-1) == y).numpy() for d in runs]
    b, c = int((right[0] & ~right[1]).sum()), int((~right[0] & right[1]).sum())
    (pair,) = res["pairs"]
    assert (pair["mcnemar_b"], pair["mcnemar_c"]) == (b, c)
    assert pair["p_mcnemar"] == pytest.approx(stats.binomtest(b, b + c).pvalue if b + c else 1.0, rel=1e-9)
    assert pair["acc_diff"] == pytest.approx(right[0].mean() - right[1].mean(), abs=1e-12)
    n = len(y)
    assert f"one test example = {100 / n:.2f} accuracy points" in md
    assert "significant" in res["findings"][1]  # the verdict follows the chosen test's p-value
    verdict = "not significant" if pair["p_mcnemar"] >= 0.05 else "significant at the 5% level"
    assert f"exact McNemar {verdict}" in res["findings"][1]


def test_report_files_and_figures(compared):
    out, res, md = compared
    pngs = sorted(p.name for p in (out / "plots").glob("*.png"))
    assert pngs == ["alpha_depth.png", "confidence.png", "embedding.png", "metrics.png", "reliability.png"]
    page = (out / "report.html").read_text()
    assert page.count('src="data:image/png;base64,') == len(pngs)
    assert "exact McNemar" in md and "Wilson" in md and "paired bootstrap" in md
    emb = res["embedding"]
    assert [v["samples"] for v in emb.values()] == [60, 60] and [v["feature_dim"] for v in emb.values()] == [
        128,
        128,
    ]
    assert all(r["layers_fitted"] > 0 for r in res["runs"])


@pytest.mark.parametrize("name", ["mlp_digits", "vit_tiny_digits"])
def test_penultimate_features_are_pre_logits(name):
    torch.manual_seed(0)
    model = dlzoo.create_model(name).eval()
    x = torch.randn(7, 1, 8, 8)
    logits, feats = logits_and_features(model, x, batch=3)  # several batches
    with torch.no_grad():
        ref = model.forward_head(model.forward_features(x), pre_logits=True)
        torch.testing.assert_close(feats, ref)
        torch.testing.assert_close(logits, model(x))
        torch.testing.assert_close(model.get_classifier()(feats), logits)


def test_pca_matches_sklearn():
    from sklearn.decomposition import PCA

    x = np.random.default_rng(0).normal(size=(80, 6)) @ np.diag([5.0, 3.0, 1.0, 0.5, 0.2, 0.1])
    ours = pca(x, n_components=3)
    ref = PCA(n_components=3, svd_solver="full").fit(x)
    np.testing.assert_allclose(ours.explained_variance, ref.explained_variance_, rtol=1e-10)
    np.testing.assert_allclose(ours.explained_variance_ratio, ref.explained_variance_ratio_, rtol=1e-10)
    signs = np.sign((ours.components * ref.components_).sum(1))  # a component's sign is arbitrary
    np.testing.assert_allclose(ours.components * signs[:, None], ref.components_, atol=1e-10)
    np.testing.assert_allclose(ours.scores * signs, ref.transform(x), atol=1e-9)
    with pytest.raises(ValueError, match="pca"):
        pca(x, n_components=7)


def test_tsne_keeps_clusters_apart():
    from sklearn.manifold import trustworthiness

    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(size=(20, 10)) + 8 * k for k in range(3)])
    z = tsne(x, seed=0)
    assert z.shape == (60, 2) and trustworthiness(x, z, n_neighbors=5) > 0.9


def _fake(p_mcnemar: float, shared: bool = True) -> dict:
    run = {
        "num_test": 200,
        "dataset": "digits",
        "mean_confidence": 0.95,
        "layers_fitted": 0,
        "ece_low": 0.01,
        "ece_high": 0.05,
        "loss_low": 0.2,
        "loss_high": 0.4,
        "acc_low": 0.8,
        "acc_high": 0.95,
    }
    a = {**run, "label": "a", "test_acc": 0.9, "num_correct": 180, "test_loss": 0.3, "ece": 0.03}
    b = {**run, "label": "b", "test_acc": 0.88, "num_correct": 176, "test_loss": 0.35, "ece": 0.02}
    pair = {
        "a": "a",
        "b": "b",
        "mcnemar_b": 6,
        "mcnemar_c": 2,
        "p_mcnemar_holm": p_mcnemar,
        "acc_diff": 0.02,
        "acc_diff_low": -0.01,
        "acc_diff_high": 0.05,
        "p_acc_bootstrap_holm": 0.4,
        "loss_diff": -0.05,
        "loss_diff_low": -0.1,
        "loss_diff_high": 0.01,
        "p_loss_bootstrap_holm": 0.2,
    }
    return {
        "runs": [a, b],
        "pairs": [pair] if shared else [],
        "shared_test_set": shared,
        "confidence": 0.95,
        "n_boot": 2000,
    }


def test_findings_say_not_significant_unless_the_test_does():
    text = " ".join(compare_findings(_fake(0.29)))
    assert "one test example = 0.50 accuracy points" in text and "one seed" in text
    assert "exact McNemar not significant (p = 0.29)" in text and "+2.00 points" in text
    assert "paired bootstrap not significant (p = 0.4)" in text
    assert "significant at the 5% level" not in text
    sig = " ".join(compare_findings(_fake(0.001)))
    assert "exact McNemar significant at the 5% level (p = 0.001)" in sig
    unpaired = " ".join(compare_findings(_fake(0.001, shared=False)))
    assert "no paired test" in unpaired and "McNemar" not in unpaired
    assert "over-confident (mean confidence above accuracy): a, b" in text


def test_bad_run_dirs_exit_2_with_one_line(runs, tmp_path, capsys):
    cases = [[str(tmp_path / "missing"), str(runs[0])], [str(tmp_path), str(runs[0])], [str(runs[0])]]
    for dirs in cases:
        assert dlzoo_main(["compare", *dirs, "--out", str(tmp_path / "o")]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("dlzoo compare: error:") and len(err.splitlines()) == 1
    assert dlzoo_main(["compare", "--help"]) == 0
    assert "--out" in capsys.readouterr().out


def test_runs_on_different_test_sets_get_no_paired_test(runs, tmp_path, capsys):
    import shutil

    import yaml

    other = tmp_path / "other_split"
    shutil.copytree(runs[1], other, ignore=shutil.ignore_patterns("checkpoints", "tensorboard"))
    cfg = yaml.safe_load((other / "config.yaml").read_text())
    cfg["data"]["split_seed"] = cfg["data"]["split_seed"] + 1  # same model, another test split
    (other / "config.yaml").write_text(yaml.safe_dump(cfg))
    out = tmp_path / "cmp"
    code = dlzoo_main(
        [
            "compare",
            str(runs[0]),
            str(other),
            "--out",
            str(out),
            "--boot",
            "50",
            "--no-tsne",
            "--embed-samples",
            "40",
        ]
    )
    assert code == 0, capsys.readouterr().err
    res = json.loads((out / "results.json").read_text())
    assert res["shared_test_set"] is False and res["pairs"] == []
    md = (out / "report.md").read_text()
    assert "no paired test was run" in md and "Paired tests on the shared test set" not in md
    assert sorted(p.name for p in (out / "plots").glob("*.png")) == [
        "alpha_depth.png",
        "confidence.png",
        "embedding.png",
        "metrics.png",
        "reliability.png",
    ]


def test_an_experiment_directory_stands_for_its_finished_runs(runs, tmp_path, capsys):
    import shutil

    from dlzoo.analysis.compare import expand_run_dirs
    from dlzoo.errors import UsageError

    exp = tmp_path / "exp"  # a copy of the fixture's norm-comparison output, plus one unfinished run
    shutil.copytree(runs[0].parents[1], exp, ignore=shutil.ignore_patterns("checkpoints", "tensorboard"))
    unfinished = exp / "runs" / "rmsnorm_seed0"
    unfinished.mkdir()
    shutil.copy(runs[0] / "config.yaml", unfinished)  # a diverged run: config but no final model
    finished = [exp / "runs" / "dyt_alpha1.0_seed0", exp / "runs" / "layernorm_seed0"]
    assert expand_run_dirs([exp]) == (finished, [unfinished])
    assert expand_run_dirs([runs[1], exp]) == ([runs[1], *finished], [unfinished])
    out = tmp_path / "cmp"
    args = ["--out", str(out), "--boot", "20", "--no-tsne", "--embed-samples", "5"]
    assert dlzoo_main(["compare", str(exp), *args]) == 0
    stdout = capsys.readouterr().out
    assert f"skipped {unfinished}: not a finished run" in stdout and stdout.strip().endswith(str(out))
    res = json.loads((out / "results.json").read_text())
    assert [r["label"] for r in res["runs"]] == ["dyt_alpha1.0_seed0", "layernorm_seed0"]
    assert res["skipped"] == [str(unfinished)] and res["shared_test_set"] is True
    for r, run_dir in zip(res["runs"], finished):
        assert r["run_dir"] == str(run_dir)
        trainer = json.loads((run_dir / "results.json").read_text())["test"]  # written by the trainer
        assert r["test_acc"] == pytest.approx(trainer["acc"], abs=1e-12)
    # neither a run nor an experiment with finished runs: one line naming the directory
    empty = tmp_path / "empty_exp"
    (empty / "runs" / "a").mkdir(parents=True)
    for bad, message in [
        (
            tmp_path / "cmp" / "plots",
            "is neither a run directory (config.yaml, config.json, model.safetensors)",
        ),
        (empty, "is an experiment directory but none of its 1 runs/ folders is a finished run"),
    ]:
        with pytest.raises(UsageError, match=re.escape(message)):
            expand_run_dirs([bad])
        assert dlzoo_main(["compare", str(bad), str(runs[0]), "--out", str(tmp_path / "o")]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("dlzoo compare: error:") and str(bad) in err and len(err.splitlines()) == 1
