"""Report of the ``llm-norms`` experiment: perplexity tables, t-tests, figures and findings computed from
the measured runs (nothing canned: each sentence is chosen and filled in from the numbers).

Rules of the findings text:

* ranking by mean test perplexity (lower is better);
* every variant is compared with the baseline (``cfg.baseline``, RMSNorm by default) by a two-sided Welch
  t-test on the per-seed test losses, and, when both ran the same seeds, a paired t-test; a difference is
  called significant only when p < 0.05, and the seed count is always stated; with one seed there is no
  test and the text says so;
* wall time per optimizer step: mean over seeds of (sum of epoch training times) / steps, relative to the
  baseline;
* DyT alpha and S-curves: the sentences of :mod:`dlzoo.experiments.findings`.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..report import Report
from ..report.plots import plot_alpha_traces, plot_curves, plot_scurves
from .findings import _alphas, _scurves, alpha_traces, sample_std
from .llm_norms_stats import TTest, paired_t_test, welch_t_test
from .norm_comparison_report import _curve_groups, format_mean_std

__all__ = ["LMSummary", "summarize_lm", "significance", "lm_findings", "write_report", "LEVEL"]

LEVEL = 0.05
CURVE_KEYS = [
    ("val_loss", "val loss (nats/token)"),
    ("train_loss", "train loss (nats/token)"),
    ("val_ppl", "val perplexity"),
]


@dataclass
class LMSummary:
    """Test metrics of one variant over its seeds."""

    label: str
    n: int
    seeds: list[int]
    losses: list[float]
    ppl_mean: float
    ppl_std: float
    loss_mean: float
    loss_std: float
    val_ppl_mean: float
    val_ppl_std: float
    step_ms: float
    wall_mean: float

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def summarize_lm(runs: Sequence[Mapping[str, Any]]) -> dict[str, LMSummary]:
    """Group runs by ``label`` (insertion order) and reduce over seeds."""
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for r in runs:
        groups.setdefault(r["label"], []).append(r)
    out = {}
    for label, rs in groups.items():
        ppl = [float(r["test_ppl"]) for r in rs]
        loss = [float(r["test_loss"]) for r in rs]
        val_ppl = [math.exp(float(r["val_loss"])) for r in rs]
        out[label] = LMSummary(
            label=label,
            n=len(rs),
            seeds=[int(r["seed"]) for r in rs],
            losses=loss,
            ppl_mean=statistics.fmean(ppl),
            ppl_std=sample_std(ppl),
            loss_mean=statistics.fmean(loss),
            loss_std=sample_std(loss),
            val_ppl_mean=statistics.fmean(val_ppl),
            val_ppl_std=sample_std(val_ppl),
            step_ms=1000 * statistics.fmean(float(r["step_time"]) for r in rs),
            wall_mean=statistics.fmean(float(r["wall_time"]) for r in rs),
        )
    return out


def significance(summary: Mapping[str, LMSummary], baseline: str) -> dict[str, dict[str, TTest | None]]:
    """``{label: {"welch": TTest, "paired": TTest | None}}`` of each variant's test losses vs ``baseline``."""
    base = summary.get(baseline)
    if base is None:
        return {}
    out: dict[str, dict[str, TTest | None]] = {}
    for label, s in summary.items():
        if label == baseline:
            continue
        paired = None
        if s.seeds == base.seeds:
            paired = paired_t_test(s.losses, base.losses)
        out[label] = {"welch": welch_t_test(s.losses, base.losses), "paired": paired}
    return out


def _p(test: TTest) -> str:
    return f"t = {test.t:.2f}, df = {test.df:.1f}, p = {test.p:.3g}"


def _verdict(label: str, baseline: str, tests: Mapping[str, TTest | None], n: int, nb: int) -> str:
    welch, paired = tests["welch"], tests.get("paired")
    direction = "lower" if welch.diff < 0 else "higher"
    head = (
        f"{label}'s mean test loss is {abs(welch.diff):.4f} nats/token {direction} than {baseline}'s "
        f"(n={n} vs n={nb} seeds)"
    )
    if not welch.defined and (paired is None or not paired.defined):
        why = "one seed per variant" if min(n, nb) < 2 else "zero variance over seeds"
        return f"{head}; no t-test is possible ({why}), so no significance is claimed."
    parts = []
    if welch.defined:
        parts.append(f"Welch {_p(welch)}")
    if paired is not None and paired.defined:
        parts.append(f"paired over seeds {_p(paired)}")
    sig = [t for t in (welch, paired) if t is not None and t.significant(LEVEL)]
    if len(sig) == sum(1 for t in (welch, paired) if t is not None and t.defined):
        verdict = f"significant at the {LEVEL:g} level"
    elif sig:
        verdict = f"significant at {LEVEL:g} by one test only, so not a robust difference"
    else:
        verdict = f"not significant at the {LEVEL:g} level"
    return f"{head}: {'; '.join(parts)}; {verdict}."


def lm_findings(
    summary: Mapping[str, LMSummary],
    baseline: str,
    tests: Mapping[str, Mapping[str, TTest | None]],
    alphas: Mapping[str, Mapping[str, Sequence[float]]] | None = None,
    alpha_inits: Mapping[str, float] | None = None,
    scurves: Mapping[str, Mapping[str, Mapping[str, float]]] | None = None,
) -> list[str]:
    """Paragraphs: ranking, significance vs baseline, step time, DyT alpha, S-curve shape."""
    if not summary:
        return ["No runs finished, so there is nothing to compare."]
    ranked = sorted(summary.values(), key=lambda s: s.ppl_mean)
    best = ranked[0]
    text = [
        f"{best.label} reached the lowest mean test perplexity, "
        f"{format_mean_std(best.ppl_mean, best.ppl_std)} (n={best.n} seed{'s' if best.n != 1 else ''})."
    ]
    if len(ranked) > 1:
        text.append(
            "Order by mean test perplexity: " + ", ".join(f"{s.label} {s.ppl_mean:.2f}" for s in ranked) + "."
        )
    paragraphs = [" ".join(text)]
    if baseline in summary and tests:
        paragraphs.append(
            " ".join(
                _verdict(label, baseline, t, summary[label].n, summary[baseline].n)
                for label, t in tests.items()
            )
        )
        if min(s.n for s in summary.values()) == 2:
            paragraphs[-1] += (
                " With 2 seeds per variant each test has about one degree of freedom, so only large gaps "
                "that are consistent across both seeds can reach significance."
            )
    elif len(summary) > 1:
        paragraphs.append(f"The baseline {baseline!r} was not run, so no variant is t-tested.")
    base = summary.get(baseline)
    if base is not None and base.step_ms > 0 and len(summary) > 1:
        paragraphs.append(
            f"Training wall time per optimizer step ({baseline}: {base.step_ms:.1f} ms): "
            + "; ".join(
                f"{s.label} {s.step_ms:.1f} ms ({s.step_ms / base.step_ms:.2f}x)"
                for s in summary.values()
                if s.label != baseline
            )
            + ". Runs ran one after another on a shared machine, so these ratios carry its load noise."
        )
    alpha_text = _alphas(alphas or {}, alpha_inits or {})
    if alpha_text:
        paragraphs.append(" ".join(alpha_text))
    s_text = _scurves(scurves or {})
    if s_text:
        paragraphs.append(" ".join(s_text))
    return paragraphs


def _rel(path: str, out_dir: Path) -> str:
    p = Path(path)
    try:
        return p.resolve().relative_to(out_dir.resolve()).as_posix()
    except ValueError:
        return p.as_posix()


def write_report(cfg: Any, results: Sequence[dict[str, Any]], meta: dict[str, Any], out_dir: Path) -> dict:
    """Write plots and ``report.md``/``report.html`` into ``out_dir``; return the numeric summary."""
    plots = out_dir / "plots"
    summary = summarize_lm(results)
    tests = significance(summary, cfg.baseline)
    alphas = alpha_traces(results)
    inits = {r["label"]: r["alpha_init"] for r in results if r.get("alpha_init") is not None}
    s_stats = {r["label"]: r["scurve_stats"] for r in results if r.get("scurve_stats")}
    paragraphs = lm_findings(summary, cfg.baseline, tests, alphas, inits, s_stats)

    tcfg = meta["trainer_config"]
    kw = ", ".join(f"{k} {v}" for k, v in cfg.model_kwargs.items())
    rep = Report(f"LM norm comparison: {', '.join(summary)} on {tcfg['data']['name']}")
    rep.paragraph(
        f"Model {cfg.model} ({kw}) trained as a causal LM on the {tcfg['data']['name']} corpus "
        f"(tokenizer {tcfg['data']['tokenizer']}, vocab {tcfg['data']['vocab_size']}, blocks of "
        f"{tcfg['data']['block_size']} tokens, batch {tcfg['data']['batch_size']} x "
        f"{tcfg['train']['grad_accum_steps']} accumulation) for {cfg.epochs} epoch(s)"
        + (f" capped at {cfg.max_steps} steps" if cfg.max_steps else "")
        + f" per run, seeds {cfg.seeds}, with every norm layer the variant named in each row (DyT: Zhu et "
        f"al., 'Transformers without Normalization', CVPR 2025, arXiv:2503.10622; LLaMA-DyT is weight-only "
        f"with a learnable scalar after the embedding). Optimizer {tcfg['optim']['name']} (lr "
        f"{tcfg['optim']['lr']:g}, weight decay {tcfg['optim']['weight_decay']:g}), schedule "
        f"{tcfg['schedule']['name']}. {meta['num_runs']} runs took {meta['total_wall_time']:.1f} s in total "
        f"({meta['workers']} worker process(es), {meta['threads']} torch thread(s) each). Perplexity = "
        f"exp(mean next-token cross-entropy) on the held-out test documents after the last epoch."
    )
    rep.heading("Findings")
    for p in paragraphs:
        rep.paragraph(p)
    if meta.get("failed"):
        rep.paragraph(f"{len(meta['failed'])} run(s) failed and are left out of every table and figure:")
        rep.bullets([f"{r['label']} seed {r['seed']}: {r['error']}" for r in meta["failed"]])

    rep.heading("Final perplexity")
    rows = [
        [
            s.label,
            str(s.n),
            format_mean_std(s.ppl_mean, s.ppl_std),
            format_mean_std(s.loss_mean, s.loss_std, digits=4),
            format_mean_std(s.val_ppl_mean, s.val_ppl_std),
            f"{s.step_ms:.1f}",
            f"{s.wall_mean:.1f}",
        ]
        for s in sorted(summary.values(), key=lambda s: s.ppl_mean)
    ]
    rep.table(
        [
            "variant",
            "seeds",
            "test ppl (mean +- std)",
            "test loss (mean +- std)",
            "val ppl (mean +- std)",
            "ms / step",
            "wall time / run (s)",
        ],
        rows,
        align=["l", "r", "r", "r", "r", "r", "r"],
    )
    if tests:
        rep.heading(f"Significance vs {cfg.baseline} (test loss per seed, two-sided)", level=3)
        trows = []
        for label, t in tests.items():
            w, pr = t["welch"], t.get("paired")
            trows.append(
                [
                    label,
                    f"{w.diff:+.4f}",
                    f"{w.t:.2f}",
                    f"{w.df:.1f}",
                    f"{w.p:.3g}",
                    f"{pr.p:.3g}" if pr is not None else "-",
                    "yes" if w.significant(LEVEL) else "no",
                ]
            )
        rep.table(
            ["variant", "loss diff", "Welch t", "Welch df", "Welch p", "paired p", f"p < {LEVEL:g}"],
            trows,
            align=["l", "r", "r", "r", "r", "r", "l"],
        )
    rep.heading("Per-run results", level=3)
    rep.table(
        ["variant", "seed", "test ppl", "test loss", "steps", "ms / step", "wall time (s)", "run directory"],
        [
            [
                r["label"],
                str(r["seed"]),
                f"{r['test_ppl']:.2f}",
                f"{r['test_loss']:.4f}",
                str(r["steps"]),
                f"{1000 * r['step_time']:.1f}",
                f"{r['wall_time']:.1f}",
                _rel(r["run_dir"], out_dir),
            ]
            for r in results
        ],
        align=["l", "r", "r", "r", "r", "r", "r", "l"],
    )

    rep.heading("Validation curves")
    groups = _curve_groups(results)
    keys = [
        (k, lbl)
        for k, lbl in CURVE_KEYS
        if any(row.get(k) is not None for h in groups.values() for row in h[0])
    ]
    if keys:
        rep.figure(
            plot_curves(groups, keys, plots / "curves.png", title=f"{cfg.model} on {tcfg['data']['name']}"),
            "Loss and perplexity per epoch: mean over seeds, band from min to max over seeds.",
        )

    if alphas:
        rep.heading("DyT alpha over training")
        rep.figure(
            plot_alpha_traces(alphas, plots / "alpha.png", init=inits),
            "Learnable alpha of every DyT layer after each epoch (mean over seeds).",
        )
        rows = [
            [label, name, f"{inits[label]:g}" if label in inits else "-", f"{trace[-1]:.4f}"]
            for label, layers in alphas.items()
            for name, trace in layers.items()
            if trace
        ]
        rep.table(["variant", "layer", "alpha init", "alpha final"], rows, align=["l", "l", "r", "r"])

    scurve_runs = [r for r in results if r.get("scurve")]
    if scurve_runs:
        rep.heading("S-curves: input vs output of every norm layer")
        rep.paragraph(
            f"Each panel scatters a random subsample of the elements entering a norm layer (x) against "
            f"what it outputs before the per-channel scale (y), on {cfg.scurve_samples} real test blocks, "
            "for the first seed of each variant (Figures 1-2 of arXiv:2503.10622). 'compression' is the "
            "least-squares slope over the extreme 5% of |x| divided by the slope over the central half "
            "(1 = linear); "
            "'squashed' is the share of points whose output is under half of the central linear trend."
        )
        for r in scurve_runs:
            path = plot_scurves(
                r["scurve"],
                plots / f"scurve_{r['slug']}.png",
                title=f"{r['label']} (seed {r['seed']}): norm input vs output",
            )
            rep.figure(path, f"S-curves of the trained {r['label']} model.")
            rows = [
                [
                    name,
                    f"{s['central_slope']:.3f}",
                    f"{s['tail_slope']:.3f}",
                    f"{s['compression']:.3f}",
                    f"{100 * s['squashed_fraction']:.1f}",
                ]
                for name, s in r.get("scurve_stats", {}).items()
            ]
            if rows:
                rep.table(
                    ["layer", "central slope", "tail slope", "compression", "squashed %"],
                    rows,
                    align=["l", "r", "r", "r", "r"],
                )

    first = {}
    for r in results:
        first.setdefault(r["label"], r)
    if any(r.get("sample") for r in first.values()):
        rep.heading("Generated samples")
        rep.paragraph(
            f"From the prompt {tcfg['sample']['prompt']!r}, after the last epoch, first seed of each "
            f"variant (temperature {tcfg['sample']['temperature']:g}, top-k {tcfg['sample']['top_k']})."
        )
        for label, r in first.items():
            if r.get("sample"):
                rep.heading(f"{label} (seed {r['seed']})", level=3)
                rep.pre(r["sample"])

    rep.heading("Configuration")
    rep.pre(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False).strip())
    rep.heading("Trainer config of the first run", level=3)
    rep.pre(yaml.safe_dump(tcfg, sort_keys=False).strip())
    rep.write(out_dir)
    finals = {lbl: {n: t[-1] for n, t in layers.items() if t} for lbl, layers in alphas.items()}
    tests_dict = {
        k: {n: (t.__dict__ if t is not None else None) for n, t in v.items()} for k, v in tests.items()
    }
    return {
        "summary": {k: v.as_dict() for k, v in summary.items()},
        "significance": tests_dict,
        "findings": paragraphs,
        "alpha_final": finals,
    }
