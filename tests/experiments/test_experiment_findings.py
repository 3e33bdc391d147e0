"""Findings text follows the numbers: test-set size, seed count, a Welch t-test verdict (checked against
scipy) that says "not significant" unless p < 0.05, alpha trends, S-curve shape."""

from __future__ import annotations

import statistics

import pytest

from dlzoo.experiments.findings import alpha_traces, findings, sample_std, summarize


def _runs(accs: dict[str, list[float]], loss: dict[str, float] | None = None) -> list[dict]:
    out = []
    for label, values in accs.items():
        for seed, a in enumerate(values):
            test_loss = (loss or {}).get(label, 1 - a)
            out.append({"label": label, "seed": seed, "test_acc": a, "test_loss": test_loss,
                        "wall_time": 10.0 + seed, "history": []})
    return out


def test_summarize_uses_sample_std():
    s = summarize(_runs({"ln": [0.9, 0.92, 0.97]}))["ln"]
    assert s.n == 3
    assert s.acc_mean == pytest.approx(statistics.mean([0.9, 0.92, 0.97]))
    assert s.acc_std == pytest.approx(statistics.stdev([0.9, 0.92, 0.97]))  # ddof=1
    assert s.wall_mean == pytest.approx(11.0)
    assert sample_std([1.0]) != sample_std([1.0])  # nan for one value


def _welch_p(a: list[float], b: list[float]) -> float:
    stats = pytest.importorskip("scipy.stats")
    return float(stats.ttest_ind(a, b, equal_var=False).pvalue)


def test_clear_winner_is_significant_by_welch_t_test():
    dyt, ln = [0.87, 0.88, 0.86], [0.95, 0.951, 0.949]
    summary = summarize(_runs({"dyt(alpha=0.5)": dyt, "layernorm": ln}))
    text = findings(summary, dataset="digits", num_test=270)[0]
    assert text.startswith("On digits (test set of 270 images: one test image = 0.37 points), with 3 seeds "
                           "per variant, layernorm reached the highest mean test accuracy, 95.00% +- 0.10")
    assert "leads dyt(alpha=0.5) (87.00%) by 8.00 points (largest seed std 1.00 points)" in text
    p = _welch_p(ln, dyt)
    assert p < 0.05 and "significant at the 5% level (Welch t-test over seeds: t = " in text
    assert f"p = {p:.3g})" in text and "not significant" not in text


def test_gap_within_noise_is_not_significant():
    rms, ln = [0.93, 0.95, 0.91], [0.925, 0.945, 0.935]
    summary = summarize(_runs({"rmsnorm": rms, "layernorm": ln}))
    text = findings(summary, num_test=200)[0]
    assert "reached the highest mean test accuracy, 93.50%" in text  # layernorm 0.935 vs rmsnorm 0.93
    p = _welch_p(ln, rms)
    assert "by 0.50 points (largest seed std 2.00 points): not significant (Welch t-test over seeds" in text
    assert f"p = {p:.3g})" in text and p >= 0.05
    assert "indistinguishable" in text and "significant at the 5% level" not in text
    assert "one test image = 0.50 points" in text


def test_single_seed_is_not_significant_and_loss_order_reported():
    summary = summarize(_runs({"a": [0.9], "b": [0.8]}, loss={"a": 0.5, "b": 0.4}))
    text = findings(summary)[0]
    assert "single seed" in text and "not significant" in text and "1 seed per variant" in text
    assert "significant at the 5% level" not in text
    assert "By test loss the order differs: b has the lowest mean loss (0.4000 vs 0.5000 for a" in text


def test_zero_spread_is_not_called_significant():
    summary = summarize(_runs({"a": [0.9, 0.9], "b": [0.8, 0.8]}))
    text = findings(summary)[0]
    assert "not significant (the Welch t-test is undefined: zero spread over seeds)" in text


def test_alpha_trends_from_history():
    k0, k3 = "param/blocks.0.norm1.alpha", "param/blocks.3.norm1.alpha"
    hist = lambda a0, a1: [{"epoch": 1, k0: a0, k3: a1}, {"epoch": 2, k0: a0 + 0.2, k3: a1}]
    runs = [{"label": "dyt", "history": hist(0.5, 0.4)}, {"label": "dyt", "history": hist(0.7, 0.2)}]
    traces = alpha_traces(runs)
    assert traces["dyt"]["blocks.0.norm1.alpha"] == pytest.approx([0.6, 0.8])
    assert traces["dyt"]["blocks.3.norm1.alpha"] == pytest.approx([0.3, 0.3])
    text = findings(summarize(_runs({"dyt": [0.9]})), alphas=traces, alpha_inits={"dyt": 0.5})[1]
    assert "final alpha over 2 layers averages 0.550" in text
    assert "grew above its init 0.5 in 1 of 2 layers" in text
    assert "0.300 in blocks.3.norm1.alpha to 0.800 in blocks.0.norm1.alpha" in text


def test_scurve_shape_sentence_follows_compression():
    summary = summarize(_runs({"layernorm": [0.9]}))
    squashed = {"layernorm": {"blocks.0.norm1": {"compression": 0.9, "squashed_fraction": 0.0},
                              "blocks.3.norm2": {"compression": 0.3, "squashed_fraction": 0.12}}}
    text = findings(summary, scurves=squashed)[-1]
    assert "on average S-shaped" in text and "0.60x the central slope" in text and "6.0% of points" in text
    assert "strongest squashing is in blocks.3.norm2 (0.30x, 12.0% squashed)" in text
    linear = {"layernorm": {"blocks.0.norm1": {"compression": 0.97, "squashed_fraction": 0.0}}}
    assert "close to linear" in findings(summary, scurves=linear)[-1]


def test_every_variant_gap_and_alpha_init_comparison():
    accs = {"layernorm": [0.96, 0.97, 0.95], "rmsnorm": [0.955, 0.965, 0.96],
            "dyt(alpha=0.5)": [0.70, 0.75, 0.80], "dyt(alpha=1.0)": [0.94, 0.955, 0.95]}
    summary = summarize(_runs(accs))
    text = findings(summary, alpha_inits={"dyt(alpha=0.5)": 0.5, "dyt(alpha=1.0)": 1.0})[0]
    # best layernorm 96.00; each lower variant is tested against it with Welch's t-test over the 3 seeds
    for label, mean, gap in [("dyt(alpha=1.0)", "94.83", "1.17"), ("dyt(alpha=0.5)", "75.00", "21.00")]:
        p = _welch_p(accs["layernorm"], accs[label])
        verdict = "significant at the 5% level" if p < 0.05 else "not significant"
        assert f"{label} {mean}% ({gap} points lower, {verdict} (Welch t-test over seeds" in text
        assert f"p = {p:.3g})" in text
    p = _welch_p(accs["dyt(alpha=1.0)"], accs["dyt(alpha=0.5)"])
    assert ("Among the DyT variants, alpha init 1 did best (94.83%), 19.83 points above alpha init 0.5: "
            f"{'significant at the 5% level' if p < 0.05 else 'not significant'} (Welch") in text


def test_flat_alpha_depth_profile_reports_no_trend():
    traces = {"dyt": {f"blocks.{i}.alpha": [0.5, 0.6 + 0.001 * (i % 2)] for i in range(4)}}
    text = findings(summarize(_runs({"dyt": [0.9]})), alphas=traces, alpha_inits={"dyt": 0.5})[1]
    assert "there is no depth trend" in text
