"""``orthoblock``: the orthogonality error against numpy, the penalty against its formula, and one tiny
end-to-end run whose report numbers are checked against results.json and scipy's t-tests (digits), plus a
CIFAR-format folder run."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import numpy as np
import pytest
import torch

from dlzoo.cli import main as dlzoo_main
from dlzoo.experiments.orthoblock import OrthoMLP, orthogonality_error


def test_orthogonality_error_against_numpy():
    rng = np.random.default_rng(0)
    w = rng.normal(size=(5, 9))
    ref = np.linalg.norm(w @ w.T - np.eye(5))  # the smaller Gram (5 x 5)
    assert orthogonality_error(torch.from_numpy(w)) == pytest.approx(ref, rel=1e-12)
    assert orthogonality_error(torch.from_numpy(w.T.copy())) == pytest.approx(ref, rel=1e-12)
    q, _ = np.linalg.qr(rng.normal(size=(9, 5)))  # orthonormal columns
    assert orthogonality_error(torch.from_numpy(q)) < 1e-12


def test_penalty_and_hidden_weights():
    torch.manual_seed(0)
    m = OrthoMLP("orthoblock", 12, [6, 4], 3, ortho_factor=0.5)
    ws = m.hidden_weights()
    assert [tuple(w.shape) for w in ws] == [(6, 12), (4, 6)]
    assert all(orthogonality_error(w) < 1e-5 for w in ws)  # orthonormal init
    with torch.no_grad():
        for w in ws:
            w.add_(0.1 * torch.randn_like(w))
    ref = sum(
        0.5
        * np.linalg.norm(w.detach().double().numpy() @ w.detach().double().numpy().T - np.eye(w.shape[0]))
        ** 2
        for w in ws
    )
    assert m.penalty().item() == pytest.approx(ref, rel=1e-5)
    assert OrthoMLP("orthoblock_nopenalty", 12, [6], 3, 0.5).penalty().item() == 0.0
    dense = OrthoMLP("dense", 12, [6, 4], 3, 0.5)
    assert [tuple(w.shape) for w in dense.hidden_weights()] == [(6, 12), (4, 6)]
    assert dense.penalty().item() == 0.0 and dense(torch.randn(2, 1, 3, 4)).shape == (2, 3)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("orthoblock")
    torch.set_num_threads(1)
    code = dlzoo_main(
        ["experiment", "run", "orthoblock", f"output_dir={out}", "seeds=[0,1]", "epochs=2", "hidden=[16]"]
    )
    assert code == 0
    (run_dir,) = (out / "orthoblock").iterdir()
    return run_dir


def test_end_to_end_report_matches_results(tiny_run: Path):
    from scipy import stats

    results = json.loads((tiny_run / "results.json").read_text())
    md = (tiny_run / "report.md").read_text()
    runs = results["runs"]
    assert len(runs) == 3 * 2
    assert sorted(p.name for p in (tiny_run / "plots").glob("*.png")) == [
        "accuracy.png",
        "curves.png",
        "orthogonality.png",
    ]
    assert (tiny_run / "report.html").read_text().count('src="data:image/png;base64,') == 3
    for v in ("dense", "orthoblock", "orthoblock_nopenalty"):
        rs = [r for r in runs if r["variant"] == v]
        accs = [r["test_acc"] for r in rs]
        s = results["summary"][v]
        assert s["acc_mean"] == pytest.approx(statistics.fmean(accs))
        cell = f"{100 * statistics.fmean(accs):.2f} +- {100 * statistics.stdev(accs):.2f}"
        assert f"| {v} | {s['params']} | 2 | {cell} |" in md
        for r in rs:
            assert len(r["history"]) == 2
            last = {k: x for k, x in r["history"][-1].items() if k.startswith("ortho/")}
            assert last == r["ortho_final"]  # the final error is the last epoch's record
            assert f"| {v} | {r['seed']} | {100 * r['test_acc']:.2f} |" in md
    for r in runs:  # OrthoBlocks start orthonormal; torch's dense init does not
        assert (r["ortho_init"]["ortho/layer0"] < 1e-5) == (r["variant"] != "dense")
    # the penalty keeps the blocks closer to orthonormal than no penalty does, already after 2 epochs
    assert statistics.fmean(results["summary"]["orthoblock"]["ortho_final"]) < statistics.fmean(
        results["summary"]["orthoblock_nopenalty"]["ortho_final"]
    )
    t = next(t for t in results["tests"] if t["a"] == "orthoblock" and t["b"] == "dense")
    a = [r["test_acc"] for r in runs if r["variant"] == "orthoblock"]
    b = [r["test_acc"] for r in runs if r["variant"] == "dense"]
    if statistics.variance(a) + statistics.variance(b) > 0:
        assert t["welch"]["p"] == pytest.approx(stats.ttest_ind(a, b, equal_var=False).pvalue, rel=1e-6)
    n_test = results["meta"]["num_test"]
    assert n_test == 269 and f"({n_test} test examples, so one example is {100 / n_test:.2f}" in md
    assert results["findings"][0].startswith("On digits") and "2 seed(s)" in md
    best = max(s["acc_mean"] for s in results["summary"].values())
    assert f"binomial std about {100 * (best * (1 - best) / n_test) ** 0.5:.2f} points" in md
    assert ("significant at the 0.05 level" in md) or ("not significant" in md)


def _fake_cifar(root: Path, n_train: int = 40, n_test: int = 20) -> None:
    rng = np.random.default_rng(0)
    for name, n in (("data_batch_1.bin", n_train), ("test_batch.bin", n_test)):
        labels = np.arange(n, dtype=np.uint8) % 10
        pixels = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
        (root / name).write_bytes(np.concatenate([labels[:, None], pixels], 1).tobytes())


def test_cifar_folder_run(tmp_path):
    data = tmp_path / "cifar"
    data.mkdir()
    _fake_cifar(data)
    code = dlzoo_main(
        [
            "experiment",
            "run",
            "orthoblock",
            f"output_dir={tmp_path}",
            f"data_root={data}",
            "seeds=[0]",
            "epochs=1",
            "hidden=[8]",
            "variants=[dense,orthoblock]",
        ]
    )
    assert code == 0
    (run_dir,) = (tmp_path / "orthoblock").iterdir()
    results = json.loads((run_dir / "results.json").read_text())
    assert results["meta"]["num_test"] == 20 and results["runs"][0]["params"] == 3072 * 8 + 8 + 8 * 10 + 10
    assert "OrthoBlock vs dense layers in an MLP on cifar10" in (run_dir / "report.md").read_text()


@pytest.mark.parametrize(
    "override, message",
    [
        ("variants=[dense,sparse]", "unknown ['sparse']"),
        ("data_root=/nonexistent/cifar", "data_root:"),
    ],
)
def test_bad_config_is_a_usage_error(capsys, tmp_path, override, message):
    code = dlzoo_main(["experiment", "run", "orthoblock", f"output_dir={tmp_path}", override])
    assert code == 2
    assert message in capsys.readouterr().err


def test_diverged_runs_are_reported_and_left_out_of_the_means(tmp_path):
    """lr 1e12: both OrthoBlock variants reach a non-finite loss in the first epoch, the dense MLP stays
    finite; the experiment finishes and reports the two as diverged."""
    torch.set_num_threads(1)
    args = [
        "experiment",
        "run",
        "orthoblock",
        f"output_dir={tmp_path}",
        "seeds=[0]",
        "epochs=1",
        "hidden=[16]",
    ]
    assert dlzoo_main([*args, "lr=1e12"]) == 0
    (run_dir,) = (tmp_path / "orthoblock").iterdir()
    results = json.loads((run_dir / "results.json").read_text())
    md = (run_dir / "report.md").read_text()
    bad = sorted(r["variant"] for r in results["runs"] if r.get("diverged"))
    assert bad == ["orthoblock", "orthoblock_nopenalty"] and list(results["summary"]) == ["dense"]
    (good,) = [r for r in results["runs"] if not r.get("diverged")]
    assert results["summary"]["dense"]["acc_mean"] == good["test_acc"]
    assert set(results["meta"]["params"]) == {"dense", "orthoblock", "orthoblock_nopenalty"}
    assert "| orthoblock | 0 | diverged |" in md and "| orthoblock_nopenalty | 0 | diverged |" in md
    assert "2 of 3 runs diverged (non-finite training loss) and are left out of every mean" in md
