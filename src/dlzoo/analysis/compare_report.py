"""Report of ``dlzoo compare``: findings written from the numbers, tables and side-by-side figures.

Findings rule: every sentence states what was measured on how many test examples, names the test behind
a comparison, and calls a difference significant only when that test's (Holm-adjusted) p-value is below
0.05; otherwise it says "not significant".
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..report import Report
from .calibration import confidences
from .compare_plots import (
    plot_alpha_compare,
    plot_confidence_row,
    plot_embeddings,
    plot_metric_intervals,
    plot_reliability_row,
)
from .weight_spectra import OVER_TRAINED_THRESH, UNDER_TRAINED_THRESH

__all__ = ["write_compare_report", "compare_findings"]

LEVEL = 0.05


def _verdict(p: float, n_boot: int | None = None) -> str:
    """'significant at the 5% level (p = ...)' or 'not significant (p = ...)'; a bootstrap p at its floor
    1 / (1 + B) is written 'p <= floor'."""
    floor = None if n_boot is None else 1.0 / (1 + n_boot)
    shown = (
        f"p <= {floor:.2g}, the smallest {n_boot} resamples can give"
        if floor and p <= floor
        else f"p = {p:.3g}"
    )
    return f"significant at the 5% level ({shown})" if p < LEVEL else f"not significant ({shown})"


def compare_findings(result: Mapping[str, Any]) -> list[str]:
    """Paragraphs of findings from ``compare_runs``' numbers (``runs``, ``pairs``, ``shared_test_set``)."""
    runs = list(result["runs"])
    conf = 100 * result["confidence"]
    nb = result["n_boot"]
    sizes = sorted({r["num_test"] for r in runs})
    n = sizes[0]
    best = max(runs, key=lambda r: r["test_acc"])
    text = [
        f"{len(runs)} runs, each one trained model (one seed), evaluated on "
        f"{'the same' if result['shared_test_set'] else 'their own'} {'/'.join(map(str, sizes))} test "
        f"examples ({runs[0]['dataset']}; one test example = {100 / n:.2f} accuracy points). A "
        "difference between two runs below is about these two trained models on this test set; whether "
        "the variants differ in general needs several seeds per variant (the Welch t-test over seeds of "
        "the experiments)."
    ]
    text.append(
        f"Highest test accuracy: {best['label']} with {100 * best['test_acc']:.2f}% "
        f"({best['num_correct']}/{best['num_test']}; {conf:g}% Wilson interval "
        f"{100 * best['acc_low']:.2f}-{100 * best['acc_high']:.2f}%)."
    )
    paragraphs = [" ".join(text)]
    if not result["shared_test_set"]:
        paragraphs.append(
            "The runs do not share one test set (different data or split), so no paired test "
            "was run; overlapping Wilson intervals are the only comparison, and they are not a "
            "test."
        )
        return paragraphs + _calibration_findings(runs, conf)
    pair_text = []
    for p in result["pairs"]:
        if best["label"] not in (p["a"], p["b"]):
            continue
        sign = 1.0 if p["a"] == best["label"] else -1.0
        other = p["b"] if sign > 0 else p["a"]
        only_best, only_other = (
            (p["mcnemar_b"], p["mcnemar_c"]) if sign > 0 else (p["mcnemar_c"], p["mcnemar_b"])
        )
        lo, hi = sorted((sign * p["acc_diff_low"] + 0.0, sign * p["acc_diff_high"] + 0.0))  # no -0.00
        pair_text.append(
            f"Versus {other}: {100 * sign * p['acc_diff']:+.2f} points (paired bootstrap {conf:g}% interval "
            f"{100 * lo:+.2f} to {100 * hi:+.2f}); of the {only_best + only_other} test examples on which "
            f"the two disagree, {only_best} are right only for {best['label']} and {only_other} only for "
            f"{other}: exact McNemar {_verdict(p['p_mcnemar_holm'])}"
            f"; paired bootstrap {_verdict(p['p_acc_bootstrap_holm'], nb)}."
        )
    if len(result["pairs"]) > 1:
        pair_text.append(
            f"The p-values are Holm-adjusted over all {len(result['pairs'])} pairs; the intervals are not."
        )
    paragraphs.append(" ".join(pair_text))
    low = min(runs, key=lambda r: r["test_loss"])
    loss_text = [
        f"Lowest mean test cross-entropy: {low['label']} ({low['test_loss']:.4f}, {conf:g}% bootstrap "
        f"interval {low['loss_low']:.4f}-{low['loss_high']:.4f})."
    ]
    for p in result["pairs"]:
        if low["label"] in (p["a"], p["b"]):
            sign = 1.0 if p["a"] == low["label"] else -1.0
            other = p["b"] if sign > 0 else p["a"]
            lo, hi = sorted((sign * p["loss_diff_low"] + 0.0, sign * p["loss_diff_high"] + 0.0))
            loss_text.append(
                f"Minus {other}'s: {sign * p['loss_diff']:+.4f} ({conf:g}% paired bootstrap "
                f"interval {lo:+.4f} to {hi:+.4f}), {_verdict(p['p_loss_bootstrap_holm'], nb)}."
            )
    paragraphs.append(" ".join(loss_text))
    return paragraphs + _calibration_findings(runs, conf)


def _calibration_findings(runs: Sequence[Mapping[str, Any]], conf: float) -> list[str]:
    cal = min(runs, key=lambda r: r["ece"])
    over = [r["label"] for r in runs if r["mean_confidence"] > r["test_acc"]]
    text = (
        f"Best calibrated by ECE: {cal['label']} ({100 * cal['ece']:.2f}%; ECE of the others: "
        + ", ".join(f"{r['label']} {100 * r['ece']:.2f}%" for r in runs if r is not cal)
        + f"; {conf:g}% bootstrap intervals over test examples: "
        + ", ".join(f"{r['label']} {100 * r['ece_low']:.2f}-{100 * r['ece_high']:.2f}%" for r in runs)
        + "; resampling biases ECE upwards, so an interval can sit above its estimate). No significance "
        "test was run on ECE, MCE or Brier, so ECE gaps inside these intervals are not evidence. "
    )
    under = [r["label"] for r in runs if r["mean_confidence"] < r["test_acc"]]
    parts = [
        f"over-confident (mean confidence above accuracy): {', '.join(over)}" if over else "",
        f"under-confident (mean confidence below accuracy): {', '.join(under)}" if under else "",
    ]
    text += "On average " + "; ".join(x for x in parts if x) + "." if over or under else ""
    fitted = [r for r in runs if r["layers_fitted"]]
    if fitted:
        text += (
            " Mean weight-spectrum alpha: "
            + ", ".join(f"{r['label']} {r['mean_alpha']:.2f} ({r['layers_fitted']} layers)" for r in fitted)
            + "."
        )
    return [text]


def _table(rep: Report, runs: Sequence[Mapping[str, Any]], conf: float) -> None:
    rep.table(
        [
            "run",
            "model",
            "seed",
            "test acc %",
            f"{conf:g}% Wilson interval",
            "test loss",
            f"{conf:g}% bootstrap interval",
            "ECE %",
            "MCE % (bin count)",
            "Brier",
            "mean conf. %",
        ],
        [
            [
                r["label"],
                r["model"],
                r["seed"],
                f"{100 * r['test_acc']:.2f}",
                f"{100 * r['acc_low']:.2f} - {100 * r['acc_high']:.2f}",
                f"{r['test_loss']:.4f}",
                f"{r['loss_low']:.4f} - {r['loss_high']:.4f}",
                f"{100 * r['ece']:.2f}",
                f"{100 * r['mce']:.2f} ({r['mce_count']})",
                f"{r['brier']:.4f}",
                f"{100 * r['mean_confidence']:.2f}",
            ]
            for r in runs
        ],
        align=["l", "l"] + ["r"] * 9,
    )


def _pairs_table(rep: Report, pairs: Sequence[Mapping[str, Any]], conf: float) -> None:
    rep.table(
        [
            "A",
            "B",
            "right only A",
            "right only B",
            "McNemar p",
            "McNemar p (Holm)",
            "acc A - B (points)",
            f"{conf:g}% interval",
            "bootstrap p (Holm)",
            "loss A - B",
            f"{conf:g}% interval",
            "bootstrap p (Holm)",
        ],
        [
            [
                p["a"],
                p["b"],
                p["mcnemar_b"],
                p["mcnemar_c"],
                f"{p['p_mcnemar']:.3g}",
                f"{p['p_mcnemar_holm']:.3g}",
                f"{100 * p['acc_diff']:+.2f}",
                f"{100 * p['acc_diff_low']:+.2f} to {100 * p['acc_diff_high']:+.2f}",
                f"{p['p_acc_bootstrap_holm']:.3g}",
                f"{p['loss_diff']:+.4f}",
                f"{p['loss_diff_low']:+.4f} to {p['loss_diff_high']:+.4f}",
                f"{p['p_loss_bootstrap_holm']:.3g}",
            ]
            for p in pairs
        ],
        align=["l", "l"] + ["r"] * 10,
    )


def write_compare_report(
    evals: Sequence[Any], result: Mapping[str, Any], emb: Mapping[str, Any], out_dir: Path
) -> list[str]:
    """Write ``report.md``/``report.html`` and ``plots/`` into ``out_dir``; return the findings."""
    plots = out_dir / "plots"
    runs = result["runs"]
    conf = 100 * result["confidence"]
    findings = compare_findings(result)
    rep = Report(f"Comparison of {len(runs)} runs: {', '.join(r['label'] for r in runs)}")
    listing = "; ".join(f"{r['label']} = {r['run_dir']} ({r['model']} on {r['dataset']})" for r in runs)
    rep.paragraph(
        f"Runs: {listing}. "
        "Each model is loaded as `dlzoo analyze` loads it and evaluated on its run's test split. Accuracy "
        f"intervals: {conf:g}% Wilson score intervals (Wilson 1927). Loss intervals: {conf:g}% percentile "
        f"bootstrap over test examples ({result['n_boot']} resamples, Efron 1979). Paired tests (when the "
        "runs share one test set): the exact McNemar test on the discordant predictions (two-sided binomial "
        "test of b vs c with p = 1/2; McNemar 1947, Dietterich 1998), and a paired bootstrap of the "
        "accuracy and loss differences (the same resampled examples for both models; p-value from the "
        "recentred bootstrap distribution, Hall & Wilson 1991); p-values Holm-adjusted over all pairs "
        f"(Holm 1979). ECE uses {result['n_bins']} equal-width bins (Guo et al. 2017)."
    )
    rep.heading("Findings")
    for p in findings:
        rep.paragraph(p)
    rep.heading("Test metrics")
    _table(rep, runs, conf)
    rep.figure(
        plot_metric_intervals(runs, plots / "metrics.png", result["confidence"]),
        "Test accuracy, error rate (log scale) and cross-entropy of every run with their intervals.",
    )
    if result["pairs"]:
        rep.heading("Paired tests on the shared test set", level=3)
        _pairs_table(rep, result["pairs"], conf)
    rep.heading("Calibration")
    rep.figure(
        plot_reliability_row(
            {e.label: e.calibration.bins for e in evals},
            {e.label: e.calibration.ece for e in evals},
            plots / "reliability.png",
        ),
        "Reliability diagrams: accuracy per confidence bin (blue), gap to the bin's mean confidence "
        "(red, hatched), predictions per bin above each bar; the diagonal is perfect calibration.",
    )
    conf_data = {}
    for e in evals:
        c, ok = confidences(e.logits.softmax(-1), e.y)
        conf_data[e.label] = (c.numpy(), ok.numpy().astype(bool))
    rep.figure(
        plot_confidence_row(conf_data, plots / "confidence.png", result["n_bins"]),
        "Confidence distributions: histogram per model with its accuracy and mean confidence, and the "
        "confidence CDF of correct (solid) and wrong (dashed) predictions of every model.",
    )
    rep.heading("Weight spectra")
    spectra = {e.label: e.spectra for e in evals if e.spectra}
    if spectra:
        rep.paragraph(
            "Power-law exponent alpha of the empirical spectral density of every Linear/Conv layer "
            "(weightwatcher 0.7.7 defaults; Martin & Mahoney, arXiv:1810.01075); alpha < 2 is "
            "flagged over-trained and alpha > 6 under-trained by weightwatcher's rule of thumb."
        )
        rep.table(
            [
                "run",
                "layers fitted",
                "mean alpha",
                "median alpha",
                f"alpha < {OVER_TRAINED_THRESH:g}",
                f"alpha > {UNDER_TRAINED_THRESH:g}",
                "mean log10 spectral norm",
            ],
            [_spectra_row(e) for e in evals],
            align=["l"] + ["r"] * 6,
        )
        rep.figure(
            plot_alpha_compare(spectra, plots / "alpha_depth.png"),
            "Alpha of every layer by depth, one line per run, with weightwatcher's bands.",
        )
    else:
        rep.paragraph("No run has a Linear/Conv layer with enough eigenvalues for a spectrum fit.")
    rep.heading("Penultimate features in 2-D")
    if emb:
        some = next(iter(emb.values()))
        rep.paragraph(
            f"The input of each model's logits layer on the same {len(some['idx'])} randomly chosen "
            "test examples, projected by PCA (SVD of the centred features; axis labels give the "
            "explained variance) and, where shown, by t-SNE (scikit-learn, PCA init, perplexity "
            "min(30, (N-1)/3); van der Maaten & Hinton 2008). t-SNE distances between clusters "
            "are not meaningful; only the grouping is."
        )
        rep.figure(
            plot_embeddings(emb, plots / "embedding.png"),
            "Penultimate features coloured by true class; black crosses are wrong predictions.",
        )
    else:
        rep.paragraph("No run exposes penultimate features (no get_classifier()), so nothing is embedded.")
    rep.write(out_dir)
    return findings


def _spectra_row(e: Any) -> list[Any]:
    alphas = np.array([s.alpha for s in e.spectra if s.alpha > 0])
    norms = [s.log_spectral_norm for s in e.spectra if not math.isnan(s.log_spectral_norm)]
    if not alphas.size:
        return [e.label, 0, "-", "-", 0, 0, "-"]
    return [
        e.label,
        int(alphas.size),
        f"{alphas.mean():.2f}",
        f"{np.median(alphas):.2f}",
        int((alphas < OVER_TRAINED_THRESH).sum()),
        int((alphas > UNDER_TRAINED_THRESH).sum()),
        f"{np.mean(norms):.3f}" if norms else "-",
    ]
