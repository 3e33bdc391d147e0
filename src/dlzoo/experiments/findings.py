"""Summaries of repeated runs and findings text generated from the measured numbers.

Nothing here is canned: every sentence is chosen and filled in from the summaries, so a report whose
numbers change says something different. The rules:

* ranking by mean test accuracy, stating the test-set size (one test image = 100/N points) and the
  seed count; the best variant is compared with each other one by Welch's t-test over the seeds' test
  accuracies (:func:`dlzoo.experiments.llm_norms_stats.welch_t_test`). A gap is called "significant at
  the 5% level" only when that test's p < 0.05, and "not significant" otherwise, also when the test is
  impossible (one seed per variant) or undefined (zero spread);
* DyT alpha: change from its initial value per layer (grew / shrank), and the depth trend (first half
  of the layers vs second half);
* S-curves: per model, the layer with the strongest tail compression (see
  :func:`dlzoo.analysis.scurve.tail_stats`) and the mean squashed fraction.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .llm_norms_stats import TTest, welch_t_test

__all__ = ["VariantSummary", "summarize", "alpha_traces", "findings", "sample_std"]

LEVEL = 0.05  # significance level of every test named in the findings


def sample_std(values: Sequence[float]) -> float:
    """Sample standard deviation (ddof=1); nan for fewer than two values."""
    return statistics.stdev(values) if len(values) > 1 else float("nan")


@dataclass
class VariantSummary:
    """Test metrics of one variant over its seeds (accuracy as a fraction in [0, 1])."""

    label: str
    n: int
    acc_mean: float
    acc_std: float
    loss_mean: float
    loss_std: float
    wall_mean: float
    accs: list[float]
    ece_mean: float = float("nan")

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def summarize(runs: Sequence[Mapping[str, Any]]) -> dict[str, VariantSummary]:
    """Group runs by ``label`` (insertion order) and reduce over seeds."""
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for r in runs:
        groups.setdefault(r["label"], []).append(r)
    out = {}
    for label, rs in groups.items():
        accs = [float(r["test_acc"]) for r in rs]
        losses = [float(r["test_loss"]) for r in rs]
        out[label] = VariantSummary(
            label=label, n=len(rs), acc_mean=statistics.fmean(accs), acc_std=sample_std(accs),
            loss_mean=statistics.fmean(losses), loss_std=sample_std(losses),
            wall_mean=statistics.fmean(float(r["wall_time"]) for r in rs), accs=accs,
            ece_mean=statistics.fmean(float(r.get("test_ece", math.nan)) for r in rs),
        )
    return out


def alpha_traces(runs: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, list[float]]]:
    """``{label: {param_name: per-epoch alpha averaged over seeds}}`` from ``param/*alpha`` history keys."""
    per_label: dict[str, dict[str, list[list[float]]]] = {}  # label -> name -> one trace per seed
    for r in runs:
        run_traces: dict[str, list[float]] = {}
        for row in r["history"]:
            for key, value in row.items():
                if key.startswith("param/") and key.endswith("alpha") and value is not None:
                    run_traces.setdefault(key[len("param/"):], []).append(float(value))
        for name, trace in run_traces.items():
            per_label.setdefault(r["label"], {}).setdefault(name, []).append(trace)
    out: dict[str, dict[str, list[float]]] = {}
    for label, layers in per_label.items():
        out[label] = {}
        for name, seeds in layers.items():
            n = min(len(s) for s in seeds)
            out[label][name] = [statistics.fmean(s[e] for s in seeds) for e in range(n)]
    return out


def _pct(x: float) -> str:
    return f"{100 * x:.2f}%"


def _pts(x: float) -> str:
    return f"{100 * x:.2f} points"


def _seeds(summary: Mapping[str, VariantSummary]) -> str:
    counts = sorted({s.n for s in summary.values()})
    if len(counts) == 1:
        return f"{counts[0]} seed{'s' if counts[0] != 1 else ''} per variant"
    return "seeds per variant: " + ", ".join(f"{s.label} {s.n}" for s in summary.values())


def _welch(a: VariantSummary, b: VariantSummary) -> tuple[TTest, str]:
    """Welch t-test of a's seed accuracies against b's and its verdict in words (5% level)."""
    t = welch_t_test(a.accs, b.accs)
    if a.n < 2 or b.n < 2:
        return t, "not significant (untested: one seed)"
    if not t.defined:
        return t, "not significant (the Welch t-test is undefined: zero spread over seeds)"
    words = "significant at the 5% level" if t.significant(LEVEL) else "not significant"
    return t, f"{words} (Welch t-test over seeds: t = {t.t:.2f}, df = {t.df:.1f}, p = {t.p:.3g})"


def _ranking(summary: Mapping[str, VariantSummary], dataset: str, num_test: int | None = None) -> list[str]:
    ranked = sorted(summary.values(), key=lambda s: s.acc_mean, reverse=True)
    best = ranked[0]
    std = (f" (n={best.n} seed, no spread)" if best.n < 2
           else f" +- {_pts(best.acc_std).replace(' points', '')} (mean +- std over n={best.n} seeds)")
    size = (f" (test set of {num_test} images: one test image = {100 / num_test:.2f} points)" if num_test
            else "")
    text = [f"On {dataset}{size}, with {_seeds(summary)}, {best.label} reached the highest mean test "
            f"accuracy, {_pct(best.acc_mean)}{std}."]
    if len(ranked) < 2:
        return text
    second = ranked[1]
    gap = best.acc_mean - second.acc_mean
    t, verdict = _welch(best, second)
    head = (f"It leads {second.label} ({_pct(second.acc_mean)}) by {_pts(gap)}" if gap > 0
            else f"It ties with {second.label} ({_pct(second.acc_mean)})")
    if best.n < 2 or second.n < 2:
        text.append(f"{head}; with a single seed per variant there is no seed spread and no test, so the "
                    "gap is not significant and this ranking may be noise.")
    else:
        tail = "" if t.significant(LEVEL) else "; the two are indistinguishable at this number of seeds"
        text.append(f"{head} (largest seed std {_pts(max(best.acc_std, second.acc_std))}): {verdict}{tail}.")
    if num_test and gap < 1.0 / num_test:
        text.append(f"The gap is smaller than one test image ({_pts(1.0 / num_test)}).")
    if len(ranked) > 2:
        parts = []
        for s in ranked[2:]:
            _, v = _welch(best, s)
            parts.append(f"{s.label} {_pct(s.acc_mean)} ({_pts(best.acc_mean - s.acc_mean)} lower, {v})")
        text.append("Further down, each against the best: " + "; ".join(parts) + ".")
    by_loss = min(summary.values(), key=lambda s: s.loss_mean)
    if by_loss.label != best.label:
        text.append(f"By test loss the order differs: {by_loss.label} has the lowest mean loss "
                    f"({by_loss.loss_mean:.4f} vs {best.loss_mean:.4f} for {best.label}; not tested).")
    fastest = min(summary.values(), key=lambda s: s.wall_mean)
    slowest = max(summary.values(), key=lambda s: s.wall_mean)
    if slowest.wall_mean > 0:
        text.append(f"Mean wall time per run ranged from {fastest.wall_mean:.1f} s ({fastest.label}) to "
                    f"{slowest.wall_mean:.1f} s ({slowest.label}).")
    return text


def _alphas(traces: Mapping[str, Mapping[str, Sequence[float]]], inits: Mapping[str, float]) -> list[str]:
    text = []
    for label, layers in traces.items():
        finals = {name: vals[-1] for name, vals in layers.items() if vals}
        if not finals:
            continue
        init = inits.get(label)
        values = list(finals.values())
        lo_name = min(finals, key=finals.get)
        hi_name = max(finals, key=finals.get)
        mean = statistics.fmean(values)
        s = (f"For {label}, the final alpha over {len(values)} layers averages {mean:.3f} "
             f"(range {finals[lo_name]:.3f} in {lo_name} to {finals[hi_name]:.3f} in {hi_name})")
        if init is not None:
            grew = sum(v > init for v in values)
            s += f"; it grew above its init {init:g} in {grew} of {len(values)} layers"
        if len(values) >= 4:
            half = len(values) // 2
            early, late = statistics.fmean(values[:half]), statistics.fmean(values[half:])
            if abs(late - early) < 0.01 * abs(mean):
                s += f"; there is no depth trend (first half {early:.3f}, second half {late:.3f})"
            else:
                trend = "larger" if late > early else "smaller"
                s += f", and deeper layers ended {trend} (mean {late:.3f} vs {early:.3f} in the first half)"
        text.append(s + ".")
    return text


def _alpha_inits(summary: Mapping[str, VariantSummary], inits: Mapping[str, float]) -> list[str]:
    """Compare DyT variants that differ only in alpha init."""
    dyt = sorted((s for s in summary.values() if s.label in inits), key=lambda s: s.acc_mean, reverse=True)
    if len(dyt) < 2:
        return []
    best, worst = dyt[0], dyt[-1]
    _, verdict = _welch(best, worst)
    return [f"Among the DyT variants, alpha init {inits[best.label]:g} did best ({_pct(best.acc_mean)}), "
            f"{_pts(best.acc_mean - worst.acc_mean)} above alpha init {inits[worst.label]:g}: {verdict}."]


def _scurves(stats: Mapping[str, Mapping[str, Mapping[str, float]]]) -> list[str]:
    text = []
    for label, layers in stats.items():
        if not layers:
            continue
        valid = {n: s for n, s in layers.items() if not math.isnan(s["compression"])}
        if not valid:
            continue
        strongest = min(valid, key=lambda n: valid[n]["compression"])
        comp = statistics.fmean(s["compression"] for s in valid.values())
        squash = statistics.fmean(s["squashed_fraction"] for s in valid.values())
        shape = "S-shaped (extremes squashed)" if comp < 0.8 else "close to linear"
        text.append(
            f"In the trained {label} model the norm layers' input-output maps are on average {shape}: the "
            f"extreme 5% of inputs get {comp:.2f}x the central slope, and {100 * squash:.1f}% of points "
            f"lie in the squashed tail (output under half the central linear trend). The strongest "
            f"squashing is in "
            f"{strongest} ({valid[strongest]['compression']:.2f}x, "
            f"{100 * valid[strongest]['squashed_fraction']:.1f}% squashed)."
        )
    return text


def findings(
    summary: Mapping[str, VariantSummary],
    dataset: str = "the data",
    alphas: Mapping[str, Mapping[str, Sequence[float]]] | None = None,
    alpha_inits: Mapping[str, float] | None = None,
    scurves: Mapping[str, Mapping[str, Mapping[str, float]]] | None = None,
    num_test: int | None = None,
) -> list[str]:
    """Paragraphs of findings: ranking and significance, alpha trends, S-curve shape. ``num_test``: the
    test-set size (one test image = 100 / num_test accuracy points)."""
    if not summary:
        return ["No runs finished, so there is nothing to compare."]
    paragraphs = [" ".join(_ranking(summary, dataset, num_test) + _alpha_inits(summary, alpha_inits or {}))]
    alpha_text = _alphas(alphas or {}, alpha_inits or {})
    if alpha_text:
        paragraphs.append(" ".join(alpha_text))
    s_text = _scurves(scurves or {})
    if s_text:
        paragraphs.append(" ".join(s_text))
    return paragraphs
