"""``goodhart``: the planted cue (exact fractions, even spread of wrong cues, lossless read-back, a cue-only
classifier at chance once the cue is random), and one tiny end-to-end run whose report numbers are checked
against results.json and scipy's t-tests."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest
import torch

from dlzoo.cli import main as dlzoo_main
from dlzoo.experiments.goodhart import cue_only_accuracy, cue_positions, draw_cues, plant_cue, read_cue


@pytest.mark.parametrize("h", [8, 32])
def test_cue_patches_fit_and_do_not_overlap(h):
    size, pos = cue_positions(10, h, h)
    assert size == max(1, h // 8) and len(set(pos)) == 10
    mask = torch.zeros(h, h)
    for r, c in pos:
        assert r + size <= h and c + size <= h
        mask[r : r + size, c : c + size] += 1
    assert mask.max() == 1 and mask.sum() == 10 * size * size


def test_draw_cues_exact_fraction_and_even_spread():
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 10, (1000,), generator=g)
    cue = draw_cues(y, 0.9, 10, g)
    offsets = (cue - y) % 10
    assert int((offsets == 0).sum()) == 900  # exactly round(p N) cued with the label
    counts = torch.bincount(offsets[offsets > 0], minlength=10)[1:]
    assert int(counts.max() - counts.min()) <= 1  # the 100 wrong cues spread evenly over the 9 offsets
    random = (draw_cues(y, 0.1, 10, g) - y) % 10  # p = 1/K: every offset equally often
    assert torch.bincount(random, minlength=10).tolist() == [100] * 10


def test_plant_and_read_back_and_a_cue_reader_is_at_chance_without_the_shortcut():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(50, 3, 32, 32, generator=g)
    cue = torch.randint(0, 10, (50,), generator=g)
    xc = plant_cue(x, cue, 10)
    assert xc.shape == (50, 4, 32, 32) and torch.equal(xc[:, :3], x)
    assert torch.equal(read_cue(xc, 10), cue)
    acc = cue_only_accuracy(None, None, 0.95)  # digits test set: 269 examples
    assert acc["present"] == pytest.approx(round(0.95 * 269) / 269)
    assert acc["random"] == pytest.approx(round(269 / 10) / 269)  # chance


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("goodhart")
    torch.set_num_threads(1)
    code = dlzoo_main(
        [
            "experiment",
            "run",
            "goodhart",
            f"output_dir={out}",
            "seeds=[0,1]",
            "epochs=2",
            "hidden=[16]",
            "cue_p=0.9",
        ]
    )
    assert code == 0
    (run_dir,) = (out / "goodhart").iterdir()
    return run_dir


def test_end_to_end_report_matches_results(tiny_run: Path):
    from scipy import stats

    results = json.loads((tiny_run / "results.json").read_text())
    md = (tiny_run / "report.md").read_text()
    runs = results["runs"]
    assert len(runs) == 3 * 2
    assert sorted(p.name for p in (tiny_run / "plots").glob("*.png")) == ["accuracy.png", "curves.png"]
    assert (tiny_run / "report.html").read_text().count('src="data:image/png;base64,') == 2
    oracle = results["meta"]["cue_only_acc"]
    assert oracle["present"] == pytest.approx(round(0.9 * 269) / 269)
    assert f"scores {100 * oracle['present']:.2f}% on the test set" in md
    for v in ("cross_entropy", "goodhart", "no_cue"):
        rs = [r for r in runs if r["variant"] == v]
        s = results["summary"][v]
        for key in ("test_acc_present", "test_acc_random", "gap"):
            assert s[f"{key}_mean"] == pytest.approx(statistics.fmean(r[key] for r in rs))
        keys = ("test_acc_present", "test_acc_random", "gap")
        cells = [f"{100 * statistics.fmean(s[k]):.2f} +- {100 * statistics.stdev(s[k]):.2f}" for k in keys]
        assert all(s[k] == [r[k] for r in rs] for k in keys)
        assert f"| {v} | 2 | {' | '.join(cells)} |" in md
        for r in rs:
            assert r["gap"] == pytest.approx(r["test_acc_present"] - r["test_acc_random"])
            assert len(r["history"]) == 2
            pres, rand = 100 * r["test_acc_present"], 100 * r["test_acc_random"]
            row = f"| {v} | {r['seed']} | {pres:.2f} | {rand:.2f} |"
            assert row in md
    # the training cue agrees with the label on exactly the planted fraction (no_cue: 1/K)
    for r in runs:
        n = r["num_train"]
        share = round((0.1 if r["variant"] == "no_cue" else 0.9) * n) / n
        assert r["train_cue_agreement"] == pytest.approx(share)
    t = next(
        t
        for t in results["tests"]
        if (t["a"], t["b"]) == ("goodhart", "cross_entropy") and t["metric"] == "accuracy with the cue random"
    )
    a = [r["test_acc_random"] for r in runs if r["variant"] == "goodhart"]
    b = [r["test_acc_random"] for r in runs if r["variant"] == "cross_entropy"]
    if statistics.variance(a) + statistics.variance(b) > 0:
        assert t["welch"]["p"] == pytest.approx(stats.ttest_ind(a, b, equal_var=False).pvalue, rel=1e-6)
    assert "one example is 0.37 accuracy points" in md and "(n=2 seeds)" in md
    assert ("significant at the 0.05 level" in md) or ("not significant" in md)


@pytest.mark.parametrize(
    "override, message",
    [
        ("variants=[goodhart,focal]", "unknown ['focal']"),
        ("cue_p=1.5", "cue_p"),
        ("data_root=/nonexistent/cifar", "data_root:"),
    ],
)
def test_bad_config_is_a_usage_error(capsys, tmp_path, override, message):
    code = dlzoo_main(["experiment", "run", "goodhart", f"output_dir={tmp_path}", override])
    assert code == 2
    assert message in capsys.readouterr().err


def test_a_diverged_seed_is_reported_and_left_out_of_the_means(tmp_path, monkeypatch):
    """Seed 1 trains at lr 1e18 (its loss becomes non-finite in the first epoch; one lr diverges every
    variant here, so the huge lr is given to one seed's jobs only), seed 0 at the configured lr."""
    from dlzoo.experiments import tensor_fit

    real = tensor_fit.fit

    def fit_seed1_huge_lr(*args, **kwargs):
        return real(*args, **{**kwargs, "lr": 1e18 if kwargs["seed"] == 1 else kwargs["lr"]})

    monkeypatch.setattr(tensor_fit, "fit", fit_seed1_huge_lr)
    torch.set_num_threads(1)
    args = [
        "experiment",
        "run",
        "goodhart",
        f"output_dir={tmp_path}",
        "seeds=[0,1]",
        "epochs=1",
        "hidden=[16]",
    ]
    assert dlzoo_main([*args, "variants=[cross_entropy,goodhart]"]) == 0
    (run_dir,) = (tmp_path / "goodhart").iterdir()
    results = json.loads((run_dir / "results.json").read_text())
    md = (run_dir / "report.md").read_text()
    assert sorted((r["variant"], r["seed"]) for r in results["runs"] if r.get("diverged")) == [
        ("cross_entropy", 1),
        ("goodhart", 1),
    ]
    for v in ("cross_entropy", "goodhart"):
        (good,) = [r for r in results["runs"] if r["variant"] == v and not r.get("diverged")]
        s = results["summary"][v]
        assert s["n"] == 1 and s["seeds"] == [0] and s["test_acc_random_mean"] == good["test_acc_random"]
        assert f"| {v} | 1 | diverged |" in md
    assert "2 of 4 runs diverged (non-finite training loss) and are left out of every mean" in md
