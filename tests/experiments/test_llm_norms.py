"""``llm-norms``: the t-tests against scipy, the variant table, the findings rules on chosen numbers, and an
end-to-end run with tiny settings whose report is checked against what the trainer wrote on its own."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest

import dlzoo
from dlzoo.analysis import find_norm_layers
from dlzoo.cli import main as dlzoo_main
from dlzoo.experiments.llm_norms import LLMNormsConfig, variants
from dlzoo.experiments.llm_norms_report import lm_findings, significance, summarize_lm
from dlzoo.experiments.llm_norms_stats import betainc, paired_t_test, welch_t_test
from dlzoo.nn import DyT

TINY = {"max_seq_len": 32, "embed_dim": 32, "num_layers": 2, "intermediate_dim": 64}


def test_t_tests_match_scipy():
    stats = pytest.importorskip("scipy.stats")
    special = pytest.importorskip("scipy.special")
    rng = random.Random(0)
    for n1, n2 in [(2, 2), (3, 5), (6, 4), (10, 10)]:
        a = [rng.gauss(5.0, 0.3) for _ in range(n1)]
        b = [rng.gauss(5.2, 0.1 + rng.random()) for _ in range(n2)]
        ours, ref = welch_t_test(a, b), stats.ttest_ind(a, b, equal_var=False)
        assert ours.t == pytest.approx(ref.statistic, rel=1e-10)
        assert ours.df == pytest.approx(ref.df, rel=1e-10)
        assert ours.p == pytest.approx(ref.pvalue, rel=1e-8, abs=1e-14)
        if n1 == n2:
            ours, ref = paired_t_test(a, b), stats.ttest_rel(a, b)
            assert ours.t == pytest.approx(ref.statistic, rel=1e-10)
            assert ours.p == pytest.approx(ref.pvalue, rel=1e-8, abs=1e-14)
    for a, b, x in [(0.5, 0.5, 0.3), (2.5, 0.5, 0.9), (40.0, 0.5, 0.99), (1.0, 3.0, 0.01)]:
        assert betainc(a, b, x) == pytest.approx(special.betainc(a, b, x), rel=1e-10)
    assert math.isnan(welch_t_test([1.0], [2.0, 3.0]).p)  # one seed: no test
    assert math.isnan(welch_t_test([1.0, 1.0], [2.0, 2.0]).p)  # zero variance: no test
    with pytest.raises(ValueError, match="paired_t_test"):
        paired_t_test([1.0, 2.0], [1.0])


def test_variants_and_alpha_inits():
    cfg = LLMNormsConfig(model_kwargs=TINY, norms=["rmsnorm", "dyt"], dyt_alphas=[None, 0.5, [0.8, 0.2]])
    vs = variants(cfg)
    assert [v["label"] for v in vs] == [
        "rmsnorm",
        "dyt(paper: attn 1, other 1)",
        "dyt(alpha=0.5)",
        "dyt(attn=0.8, other=0.2)",
    ]
    model = dlzoo.create_model("llama_tiny", **TINY, vocab_size=64, **vs[3]["model_kwargs"])
    alphas = {n: float(m.alpha.detach()) for n, m in find_norm_layers(model) if isinstance(m, DyT)}
    assert alphas == {
        "layers.0.input_layernorm": pytest.approx(0.8),
        "layers.1.input_layernorm": pytest.approx(0.8),
        "layers.0.post_attention_layernorm": pytest.approx(0.2),
        "layers.1.post_attention_layernorm": pytest.approx(0.2),
        "norm": pytest.approx(0.2),
    }
    with pytest.raises(dlzoo.errors.UsageError, match="duplicate"):
        variants(LLMNormsConfig(norms=["dyt"], dyt_alphas=[0.5, 0.5]))
    with pytest.raises(dlzoo.errors.UsageError, match="norms"):
        variants(LLMNormsConfig(norms=["nosuchnorm"]))


def _fake(label: str, losses: list[float]) -> list[dict]:
    return [
        {
            "label": label,
            "seed": i,
            "test_loss": v,
            "test_ppl": math.exp(v),
            "val_loss": v,
            "step_time": 0.1,
            "wall_time": 1.0,
        }
        for i, v in enumerate(losses)
    ]


def test_findings_follow_the_numbers():
    runs = (
        _fake("rmsnorm", [4.00, 4.01, 3.99])
        + _fake("far", [4.50, 4.52, 4.49])
        + _fake("near", [4.0, 4.3, 3.8])
    )
    summary = summarize_lm(runs)
    tests = significance(summary, "rmsnorm")
    text = " ".join(lm_findings(summary, "rmsnorm", tests))
    assert text.startswith(f"rmsnorm reached the lowest mean test perplexity, {math.exp(4.0):.2f} +- ")
    assert tests["far"]["welch"].p < 0.05 and tests["near"]["welch"].p > 0.05
    assert "far's mean test loss is 0.5033 nats/token higher than rmsnorm's (n=3 vs n=3 seeds)" in text
    far = text.split("far's")[1].split("near's")[0]
    near = text.split("near's")[1]
    assert "; significant at the 0.05 level" in far and f"p = {tests['far']['welch'].p:.3g}" in far
    assert "not significant at the 0.05 level" in near
    one = summarize_lm(_fake("rmsnorm", [4.0]) + _fake("dyt", [3.9]))
    text = " ".join(lm_findings(one, "rmsnorm", significance(one, "rmsnorm")))
    assert "no t-test is possible (one seed per variant), so no significance is claimed" in text
    assert "dyt reached the lowest mean test perplexity" in text


def test_llm_norms_end_to_end(capsys, tmp_path):
    code = dlzoo_main(
        [
            "experiment",
            "run",
            "llm-norms",
            f"output_dir={tmp_path}",
            "seeds=[0]",
            "max_steps=2",
            "epochs=1",
            "norms=[rmsnorm,dyt]",
            "dyt_alphas=[0.5]",
            "scurve_samples=2",
            "train.sample.max_new_tokens=6",
            "train.data.vocab_size=300",
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    run_dir = Path(out.strip().splitlines()[-1])
    assert run_dir.parent == tmp_path / "llm-norms"
    md, page = (run_dir / "report.md").read_text(), (run_dir / "report.html").read_text()
    results = json.loads((run_dir / "results.json").read_text())
    runs = {r["label"]: r for r in results["runs"]}
    assert list(runs) == ["rmsnorm", "dyt(alpha=0.5)"]
    for label, r in runs.items():
        test = json.loads((Path(r["run_dir"]) / "results.json").read_text())["test"]  # written by the trainer
        history = [json.loads(x) for x in (Path(r["run_dir"]) / "metrics.jsonl").read_text().splitlines()]
        assert r["steps"] == history[-1]["step"] == 2
        step_ms = 1000 * sum(h["epoch_time"] for h in history) / 2
        row = (
            f"| {label} | 1 | {test['ppl']:.2f} | {test['loss']:.4f} | "
            f"{math.exp(history[-1]['val_loss']):.2f} | {step_ms:.1f} |"
        )
        assert row in md  # final-perplexity table (one seed: no +- std)
        assert f"| {label} | 0 | {test['ppl']:.2f} | {test['loss']:.4f} | 2 | {step_ms:.1f} |" in md
        assert f'<td class="txt">{label}</td><td class="num">1</td><td class="num">{test["ppl"]:.2f}' in page
        assert history[-1]["sample"] and f"### {label} (seed 0)" in md
    best = min(runs.values(), key=lambda r: r["test_ppl"])
    assert f"{best['label']} reached the lowest mean test perplexity, {best['test_ppl']:.2f} (n=1 seed)" in md
    assert "no t-test is possible (one seed per variant)" in md and "significant at" not in md
    model = dlzoo.create_model(
        "llama_tiny", **LLMNormsConfig().model_kwargs, vocab_size=300, norm_layer="dyt"
    )
    norms = {n for n, _ in find_norm_layers(model)}
    last = runs["dyt(alpha=0.5)"]["history"][-1]
    alpha_keys = [k for k in last if k.startswith("param/") and k.endswith("alpha")]
    assert len(alpha_keys) == len(norms) == 5
    for k in alpha_keys:
        assert f"| dyt(alpha=0.5) | {k[len('param/') :]} | 0.5 | {last[k]:.4f} |" in md
    assert set(runs["rmsnorm"]["scurve_stats"]) == set(runs["dyt(alpha=0.5)"]["scurve_stats"]) == norms
    pngs = sorted(p.name for p in (run_dir / "plots").glob("*.png"))
    assert pngs == ["alpha.png", "curves.png", "scurve_dyt_alpha0.5.png", "scurve_rmsnorm.png"]
    assert page.count('src="data:image/png;base64,') == len(pngs)
