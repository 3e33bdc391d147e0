"""``differential-ffn``: the synthetic generator's stated properties, the reference decoder against a
least-squares fit (sklearn), parameter matching against the modules' own counts, the common-mode gain on
closed-form cases, and one tiny end-to-end run whose report numbers are checked against results.json and
scipy's t-tests."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest
import torch
from torch import nn

from dlzoo.cli import main as dlzoo_main
from dlzoo.experiments.differential_ffn import (
    MODELS,
    build_model,
    common_mode_gain,
    common_mode_task,
    param_count,
    reference_accuracy,
)


def test_generator_properties():
    d = 12
    clean = common_mode_task(50, 20, 30, d, common_std=0.0, noise_std=0.0, seed=3)
    a = clean.mixing.double()
    assert a.sum(0).abs().max() < 1e-5  # 1^T A = 0: no signal along the common mode
    assert a.pow(2).sum().item() == pytest.approx(d, rel=1e-5)  # unit mean signal variance per feature
    x, s, y = clean.raw["train"].double(), clean.latent["train"].double(), clean.y["train"]
    torch.testing.assert_close(x, s @ a.T, atol=1e-5, rtol=0)  # x = A s exactly without noise
    assert torch.equal(y, 2 * (s[:, 0] > 0).long() + (s[:, 1] > 0).long())  # quadrant labels
    # with a common mode, the feature mean is c and what is left is the same A s (same seed: same s)
    noisy = common_mode_task(50, 20, 30, d, common_std=5.0, noise_std=0.0, seed=3)
    xn = noisy.raw["train"].double()
    torch.testing.assert_close(xn - xn.mean(1, keepdim=True), x, atol=1e-4, rtol=0)
    assert torch.equal(noisy.y["test"], clean.y["test"])
    big = common_mode_task(20000, 16, 16, d, common_std=5.0, noise_std=0.0, seed=0)
    assert big.raw["train"].double().mean(1).std().item() == pytest.approx(5.0, rel=0.03)  # c ~ N(0, 25)
    z = big.x["train"]  # standardised with training statistics
    torch.testing.assert_close(z.mean(0), torch.zeros(d), atol=1e-4, rtol=0)
    torch.testing.assert_close(z.std(0), torch.ones(d), atol=1e-4, rtol=0)


def test_reference_decoder_matches_least_squares_posterior_mean():
    """E[s | x] is the population least-squares regression of s on x; fit it with sklearn on a large sample
    and decode the quadrant: its accuracy must match the closed-form reference."""
    from sklearn.linear_model import LinearRegression

    data = common_mode_task(20000, 16, 4000, 10, common_std=4.0, noise_std=0.5, seed=1)
    reg = LinearRegression(fit_intercept=False).fit(data.raw["train"].numpy(), data.latent["train"].numpy())
    s_hat = torch.from_numpy(reg.predict(data.raw["test"].numpy()))
    pred = 2 * (s_hat[:, 0] > 0).long() + (s_hat[:, 1] > 0).long()
    lstsq_acc = (pred == data.y["test"]).double().mean().item()
    ref = reference_accuracy(data, 4.0, 0.5)
    assert 0.5 < ref < 1.0
    assert ref == pytest.approx(lstsq_acc, abs=0.01)


def test_parameter_counts_matched():
    for d, hidden in [(16, 32), (7, 10)]:
        target = param_count(build_model("differential_ffn", d, hidden))
        for name in MODELS:
            n = param_count(build_model(name, d, hidden))
            assert abs(n - target) / target < 0.02, (name, n, target)


def test_common_mode_gain_closed_forms():
    x = torch.randn(64, 8)
    assert common_mode_gain(nn.Identity(), x) == pytest.approx(1.0, rel=1e-5)  # no preference
    lin = nn.Linear(8, 3, bias=False)
    with torch.no_grad():
        lin.weight -= lin.weight.mean(1, keepdim=True)  # rows orthogonal to 1: rejects the common mode
    assert common_mode_gain(lin, x) < 1e-5
    scale = nn.Linear(8, 1, bias=False)
    with torch.no_grad():
        scale.weight.fill_(1.0)  # only sees the common mode: output change sqrt(d) * delta / sqrt(d) vs 0
    assert common_mode_gain(scale, x) > 1e5


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("dffn")
    code = dlzoo_main(
        [
            "experiment",
            "run",
            "differential-ffn",
            f"output_dir={out}",
            "seeds=[0,1]",
            "common_stds=[0,5]",
            "epochs=2",
            "num_train=64",
            "num_val=32",
            "num_test=100",
            "models=[differential_ffn,mlp]",
            "hidden=8",
        ]
    )
    assert code == 0
    (run_dir,) = (out / "differential-ffn").iterdir()
    return run_dir


def test_end_to_end_report_matches_results(tiny_run: Path):
    from scipy import stats

    results = json.loads((tiny_run / "results.json").read_text())
    md = (tiny_run / "report.md").read_text()
    page = (tiny_run / "report.html").read_text()
    runs = results["runs"]
    assert len(runs) == 2 * 2 * 2
    assert sorted(p.name for p in (tiny_run / "plots").glob("*.png")) == [
        "accuracy_vs_common_mode.png",
        "common_mode_gain.png",
        "curves.png",
    ]
    assert page.count('src="data:image/png;base64,') == 3
    for model in ("differential_ffn", "mlp"):
        for cs in ("0", "5"):
            accs = [r["test_acc"] for r in runs if r["model"] == model and f"{r['common_std']:g}" == cs]
            s = results["summary"][model][cs]
            assert s["acc_mean"] == pytest.approx(statistics.fmean(accs))
            assert s["acc_std"] == pytest.approx(statistics.stdev(accs))
            cell = f"{100 * statistics.fmean(accs):.2f} +- {100 * statistics.stdev(accs):.2f}"
            assert f"| {model} | {cs} | {s['params']} | 2 | {cell} |" in md
    for r in runs:
        assert f"| {r['model']} | {r['common_std']:g} | {r['seed']} | {100 * r['test_acc']:.2f} |" in md
        assert len(r["history"]) == 2 and 0.0 <= r["test_acc"] <= 1.0
    # t-tests against scipy (Welch = ttest_ind(equal_var=False), paired = ttest_rel)
    t = next(
        t for t in results["tests"] if t.get("sigma_c") == 5.0 and t["b"] == "mlp" and "ablation" not in t
    )
    a = [r["test_acc"] for r in runs if r["model"] == "differential_ffn" and r["common_std"] == 5.0]
    b = [r["test_acc"] for r in runs if r["model"] == "mlp" and r["common_std"] == 5.0]
    if statistics.variance(a) + statistics.variance(b) > 0:
        assert t["welch"]["p"] == pytest.approx(stats.ttest_ind(a, b, equal_var=False).pvalue, rel=1e-6)
    diffs = [x - y for x, y in zip(a, b)]
    if statistics.variance(diffs) > 0:
        assert t["paired"]["p"] == pytest.approx(stats.ttest_rel(a, b).pvalue, rel=1e-6)
    assert "one example is 1 accuracy points" in md and "2 seed(s)" in md


@pytest.mark.parametrize(
    "override, message",
    [
        ("models=[differential_ffn,transformer]", "unknown model 'transformer'"),
        ("hidden=7", "hidden must be even"),
        ("common_stds=[-1]", "common_stds must be >= 0"),
    ],
)
def test_bad_config_is_a_usage_error(capsys, tmp_path, override, message):
    code = dlzoo_main(["experiment", "run", "differential-ffn", f"output_dir={tmp_path}", override])
    assert code == 2
    assert message in capsys.readouterr().err


def test_a_diverged_run_is_reported_and_left_out_of_the_means(tmp_path):
    """lr 1e12: SwiGLU's product of two linear maps overflows (non-finite loss at epoch 2), DifferentialFFN
    (LayerNorm, sigmoid gates) stays finite; the experiment finishes and reports the diverged run."""
    tiny = ["seeds=[0]", "common_stds=[0]", "epochs=2", "num_train=64", "num_val=32", "num_test=100"]
    tiny += ["models=[differential_ffn,swiglu]", "hidden=8"]
    code = dlzoo_main(["experiment", "run", "differential-ffn", f"output_dir={tmp_path}", *tiny, "lr=1e12"])
    assert code == 0
    (run_dir,) = (tmp_path / "differential-ffn").iterdir()
    results = json.loads((run_dir / "results.json").read_text())
    md = (run_dir / "report.md").read_text()
    bad = next(r for r in results["runs"] if r["model"] == "swiglu")
    good = next(r for r in results["runs"] if r["model"] == "differential_ffn")
    assert bad["diverged"] and "training diverged: the loss is" in bad["error"] and "test_acc" not in bad
    assert "diverged" not in good and results["meta"]["diverged"] == [bad["run_dir"]]
    assert list(results["summary"]) == ["differential_ffn"]  # left out of the means
    assert results["summary"]["differential_ffn"]["0"]["acc_mean"] == good["test_acc"]
    assert results["meta"]["params"]["swiglu"] == bad["params"] > 0
    assert "| swiglu | 0 | 0 | diverged |" in md
    assert "1 of 2 runs diverged (non-finite training loss) and are left out of every mean" in md
    assert "swiglu sigma_c=0 seed 0 (training diverged" in md
    with pytest.raises(RuntimeError, match=r"differential-ffn: every run diverged \(2 of 2\)"):
        dlzoo_main(
            ["experiment", "run", "differential-ffn", f"output_dir={tmp_path / 'b'}", *tiny, "lr=1e20"]
        )
