"""``band-rms``: the band scale against its closed form, config validation, and one tiny end-to-end run whose
report is checked against what the trainer wrote on its own (each run's results.json / metrics.jsonl), the
saved models (every norm layer really is BandRMS with the configured width) and scipy's t-tests."""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

import pytest

import dlzoo
from dlzoo.cli import main as dlzoo_main
from dlzoo.errors import UsageError
from dlzoo.experiments.band_rms import BandRMSConfig, band_scale, variants
from dlzoo.nn import BandRMS, RMSNorm


def test_band_scale_closed_form():
    for b, a in [(0.0, 0.1), (0.7, 0.5), (-2.0, 0.3), (40.0, 0.2)]:
        want = (1 - a) + a / (1 + math.exp(-5 * b))
        assert band_scale(b, a) == pytest.approx(want, rel=1e-6)
        assert 1 - a - 1e-7 <= band_scale(b, a) <= 1 + 1e-7


def test_variants_and_bad_input():
    vs = variants(BandRMSConfig(norms=["band_rms", "layernorm"], band_widths=[0.1, 0.3]))
    assert [v["label"] for v in vs] == ["bandrms(a=0.1)", "bandrms(a=0.3)", "layernorm"]
    assert vs[1]["norm_kwargs"] == {"max_band_width": 0.3}
    with pytest.raises(UsageError, match="band_widths must lie in"):
        variants(BandRMSConfig(band_widths=[1.5]))
    with pytest.raises(UsageError, match="norms:"):
        variants(BandRMSConfig(norms=["bandrmz_typo"]))


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("band")
    code = dlzoo_main(
        [
            "experiment",
            "run",
            "band-rms",
            f"output_dir={out}",
            "seeds=[0,1]",
            "epochs=1",
            "norms=[bandrms,rmsnorm]",
            "band_widths=[0.2]",
            "workers=1",
        ]
    )
    assert code == 0
    (run_dir,) = (out / "band-rms").iterdir()
    return run_dir


def test_end_to_end_report_matches_trainer(tiny_run: Path):
    from scipy import stats

    results = json.loads((tiny_run / "results.json").read_text())
    md = (tiny_run / "report.md").read_text()
    runs = results["runs"]
    assert sorted({r["label"] for r in runs}) == ["bandrms(a=0.2)", "rmsnorm"]
    n_test = results["meta"]["num_test"]
    for r in runs:
        trainer = json.loads((Path(r["run_dir"]) / "results.json").read_text())["test"]
        assert r["test_acc"] == pytest.approx(trainer["acc"])
        assert r["test_acc"] * n_test == pytest.approx(round(r["test_acc"] * n_test), abs=1e-6)  # k / N
        model = dlzoo.from_pretrained(r["run_dir"])
        norms = [m for m in model.modules() if isinstance(m, BandRMS | RMSNorm)]
        assert len(norms) == 9  # 4 blocks x 2 + final norm
        if r["label"].startswith("bandrms"):
            assert all(isinstance(m, BandRMS) and m.max_band_width == 0.2 for m in norms)
        else:
            assert all(isinstance(m, RMSNorm) for m in norms)
    for label in ("bandrms(a=0.2)", "rmsnorm"):
        accs = [r["test_acc"] for r in runs if r["label"] == label]
        assert (
            f"| {label} |" in md
            and f"{100 * statistics.fmean(accs):.2f} +- {100 * statistics.stdev(accs):.2f}" in md
        )
    # final band scale from the trainer's own metrics.jsonl, through the closed form, averaged over seeds
    finals: dict[str, list[float]] = {}
    for r in runs:
        if r["label"] != "bandrms(a=0.2)":
            continue
        last = [json.loads(line) for line in (Path(r["run_dir"]) / "metrics.jsonl").read_text().splitlines()][
            -1
        ]
        for k, v in last.items():
            if k.endswith(".band_param"):
                finals.setdefault(k[len("param/") : -len(".band_param")], []).append(
                    0.8 + 0.2 / (1 + math.exp(-5 * v))
                )
    assert len(finals) == 9
    for name, vals in finals.items():
        assert f"| bandrms(a=0.2) | {name} | \\[0.8, 1\\] | {statistics.fmean(vals):.4f} |" in md
    t = results["tests"][0]
    a = [r["test_acc"] for r in runs if r["label"] == t["a"]]
    b = [r["test_acc"] for r in runs if r["label"] == t["b"]]
    if statistics.variance(a) + statistics.variance(b) > 0:
        assert t["welch"]["p"] == pytest.approx(stats.ttest_ind(a, b, equal_var=False).pvalue, rel=1e-6)
    assert f"the test split has {n_test} images" in md and "2 seed(s) per norm" in md
    best = max(
        statistics.fmean([r["test_acc"] for r in runs if r["label"] == lb])
        for lb in ("bandrms(a=0.2)", "rmsnorm")
    )
    binomial = 100 * math.sqrt(best * (1 - best) / n_test)
    assert f"binomial std about {binomial:.2f} points" in md  # the fixed split's own sampling error
    assert sorted(p.name for p in (tiny_run / "plots").glob("*.png")) == ["band_scale.png", "curves.png"]
