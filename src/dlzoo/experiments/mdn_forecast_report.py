"""Report of the ``mdn-forecast`` experiment: NLL and calibration tables, figures, findings from the numbers.

Findings rules (nothing canned):

* NLL ranking (mean +- std over seeds) with the oracle's NLL as the floor; the best multi-component MDN is
  compared with every other variant by Welch + paired t-tests (:mod:`dlzoo.experiments.seed_compare`);
* coverage of each central interval, pooled over seeds (``S`` seeds x ``N`` test steps), is tested against
  its nominal level with the binomial z-test ``z = (c - q) / sqrt(q (1 - q) / (S N))``: the PIT values of
  correct one-step forecasts are i.i.d. uniform (Diebold, Gunther, Tay, "Evaluating density forecasts",
  International Economic Review 1998), so the count inside is Binomial(S N, q); |z| > 1.96 is called
  miscalibrated at the 0.05 level;
* PIT uniformity per seed: KS distance against the asymptotic 5% critical value ``1.358 / sqrt(N)``.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from ..report import Report
from ..report.plots import _save, plot_curves, plt
from .findings import sample_std
from .seed_compare import compare_seeds, mean_std_text
from .tensor_fit import diverged_sentence, per_run_row, split_diverged

__all__ = ["summarize", "coverage_z", "findings", "write_report", "KS_CRIT"]

ORACLE = "oracle (true predictive)"
KS_CRIT = 1.358  # asymptotic 5% critical value of sqrt(n) D


def coverage_z(coverage: float, level: float, n: int) -> float:
    """Binomial z statistic of an empirical coverage ``coverage`` over ``n`` independent steps."""
    return (coverage - level) / math.sqrt(level * (1 - level) / n)


def _reduce(
    label: str, scores: Sequence[dict[str, Any]], seeds: list[int], levels: list[float], num_test: int
) -> dict[str, Any]:
    nll = [s["nll"] for s in scores]
    rmse = [s["rmse"] for s in scores]
    ks = [s["ks"] for s in scores]
    cov, z = {}, {}
    for lv in map(str, levels):
        vals = [s["coverage"][lv] for s in scores]
        cov[lv] = {"mean": statistics.fmean(vals), "std": sample_std(vals), "values": vals}
        z[lv] = coverage_z(statistics.fmean(vals), float(lv), num_test * len(vals))
    hist = np.sum([s["pit_hist"] for s in scores], axis=0).tolist()
    return {
        "label": label,
        "n": len(scores),
        "seeds": seeds,
        "nll": nll,
        "nll_mean": statistics.fmean(nll),
        "nll_std": sample_std(nll),
        "rmse_mean": statistics.fmean(rmse),
        "rmse_std": sample_std(rmse),
        "coverage": cov,
        "coverage_z": z,
        "ks": ks,
        "ks_mean": statistics.fmean(ks),
        "ks_rejected": sum(k > KS_CRIT / math.sqrt(num_test) for k in ks),
        "width": {lv: statistics.fmean(s["width"][lv] for s in scores) for lv in map(str, levels)},
        "pit_hist": hist,
    }


def summarize(results: Sequence[dict[str, Any]], levels: list[float]) -> dict[str, dict[str, Any]]:
    """Per variant (and the oracle, from the first variant's runs: it is the same on every variant's data)."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in results:
        groups.setdefault(r["label"], []).append(r)
    num_test = results[0]["num_test"]
    out = {
        label: _reduce(label, rs, [r["seed"] for r in rs], levels, num_test) for label, rs in groups.items()
    }
    first = next(iter(groups.values()))
    out[ORACLE] = _reduce(ORACLE, [r["oracle"] for r in first], [r["seed"] for r in first], levels, num_test)
    return out


def findings(
    summary: dict[str, dict[str, Any]], levels: list[float], num_test: int
) -> tuple[list[str], list]:
    """Paragraphs and the t-test records behind them."""
    models = {k: v for k, v in summary.items() if k != ORACLE}
    oracle = summary[ORACLE]
    n_seeds = max(s["n"] for s in models.values())
    ranked = sorted(models, key=lambda k: models[k]["nll_mean"])
    text = [
        f"{n_seeds} seed(s), each its own series; {num_test} test steps per seed (one step is "
        f"{100 / num_test:.3g} coverage points). Test NLL in nats per step (lower is better), mean +- "
        f"std over seeds: "
        + ", ".join(f"{k} {mean_std_text(models[k]['nll'], 1, 4)}" for k in ranked)
        + f"; the true predictive density scores {mean_std_text(oracle['nll'], 1, 4)}, the floor."
    ]
    tests = []
    mdns = [k for k in ranked if k.startswith("mdn")]
    if mdns:
        best = mdns[0]
        for other in ranked:
            if other == best:
                continue
            c = compare_seeds(
                best,
                models[best]["nll"],
                other,
                models[other]["nll"],
                "test NLL",
                False,
                models[best]["seeds"],
                models[other]["seeds"],
            )
            tests.append(c.as_dict())
            text.append(c.sentence(digits=4))
        gap = models[best]["nll_mean"] - oracle["nll_mean"]
        text.append(f"{best} is {gap:.4f} nats per step above the true density.")
    paragraphs = [" ".join(text)]
    cal = []
    for k in [*ranked, ORACLE]:
        s = summary[k]
        parts = []
        for lv in map(str, levels):
            z = s["coverage_z"][lv]
            flag = "miscalibrated" if abs(z) > 1.96 else "consistent with nominal"
            parts.append(
                f"{100 * float(lv):g}%: {mean_std_text(s['coverage'][lv]['values'], 100)}% "
                f"(z = {z:+.2f}, {flag})"
            )
        cal.append(
            f"{k}: " + "; ".join(parts) + f"; PIT KS distance {s['ks_mean']:.4f}, uniformity rejected "
            f"at 5% in {s['ks_rejected']} of {s['n']} seed(s)."
        )
    paragraphs.append(
        "Coverage of the central intervals (pooled binomial z-test against the nominal level, "
        "|z| > 1.96 = miscalibrated at 0.05): " + " ".join(cal)
    )
    widest = str(max(levels))
    sharp = sorted(summary, key=lambda k: summary[k]["width"][widest])
    paragraphs.append(
        f"Sharpness, mean width of the {100 * float(widest):g}% interval: "
        + ", ".join(f"{k} {summary[k]['width'][widest]:.3f}" for k in sharp)
        + ". A narrower interval is only better at equal coverage."
    )
    return paragraphs, tests


def _plot_coverage(summary: dict[str, dict[str, Any]], levels: list[float], path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(5.2, 4.6))
    for k, s in summary.items():
        mean = [100 * s["coverage"][str(lv)]["mean"] for lv in levels]
        std = [
            0.0 if math.isnan(s["coverage"][str(lv)]["std"]) else 100 * s["coverage"][str(lv)]["std"]
            for lv in levels
        ]
        style = dict(color="k", ls="--") if k == ORACLE else {}
        ax.errorbar([100 * lv for lv in levels], mean, yerr=std, marker="o", capsize=3, label=k, **style)
    ax.plot([0, 100], [0, 100], color="0.6", lw=0.8, label="ideal")
    lo = 100 * min(levels) - 10
    ax.set_xlim(lo, 100)
    ax.set_ylim(lo, 100)
    ax.set_xlabel("nominal central-interval level (%)")
    ax.set_ylabel("empirical coverage on test steps (%)")
    ax.set_title("Predictive interval coverage (mean +- std over seeds)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, path)


def _plot_pit(summary: dict[str, dict[str, Any]], path: Path) -> Path:
    n = len(summary)
    fig, axes = plt.subplots(1, n, figsize=(3.2 * n, 3.0), squeeze=False, sharey=True)
    for ax, (k, s) in zip(axes.flat, summary.items()):
        counts = np.asarray(s["pit_hist"], dtype=float)
        bins = len(counts)
        dens = counts / counts.sum() * bins
        ax.bar(np.arange(bins) / bins, dens, width=1 / bins, align="edge", edgecolor="k", lw=0.5)
        ax.axhline(1.0, color="r", ls="--", lw=1, label="uniform")
        ax.set_title(k, fontsize=9)
        ax.set_xlabel("PIT value F(y)")
    axes[0, 0].set_ylabel("density (pooled over seeds)")
    axes[0, 0].legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, path)


def _plot_densities(results: Sequence[dict[str, Any]], path: Path) -> Path | None:
    runs = [r for r in results if r.get("densities")]
    if not runs or not runs[0]["densities"]["index"]:
        return None
    first = runs[0]["densities"]
    e = len(first["index"])
    cols = min(e, 2)
    rows = math.ceil(e / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5.4 * cols, 3.4 * rows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        if i >= e:
            ax.axis("off")
            continue
        grid = first["grid"][i]
        ax.plot(grid, first["oracle"][i], "k--", lw=1.5, label=ORACLE)
        for r in runs:
            ax.plot(grid, r["densities"]["model"][i], lw=1.2, label=r["label"])
        ax.axvline(first["y"][i], color="r", lw=1, label="realised x_{t+1}")
        ax.set_xlabel("next value x_{t+1}")
        ax.set_ylabel("predictive density")
        ax.set_title(f"test step {first['index'][i]} (seed {runs[0]['seed']})", fontsize=9)
        if i == 0:
            ax.legend(fontsize=7)
    fig.tight_layout()
    return _save(fig, path)


def write_report(cfg: Any, results: Sequence[dict[str, Any]], meta: dict[str, Any], out_dir: Path) -> dict:
    """Write plots and ``report.md``/``report.html``; return the numeric summary for ``results.json``
    (diverged runs are listed, and left out of every mean, test and figure)."""
    plots = out_dir / "plots"
    levels = [float(lv) for lv in cfg.levels]
    every, results = results, split_diverged(results)[0]
    num_test = results[0]["num_test"]
    summary = summarize(results, levels)
    paragraphs, tests = findings(summary, levels, num_test)
    note = diverged_sentence(every)
    if note:
        paragraphs.insert(0, note)
    rep = Report("MDN forecasting of a regime-switching series: NLL and interval calibration")
    rep.paragraph(
        f"Series (one per seed, {cfg.length} steps): x_t = a x_(t-1) + m_(r_t) + sigma e_t with "
        f"a = {cfg.ar:g}, "
        f"regime means m = -{cfg.shift:g} / +{cfg.shift:g}, sigma = {cfg.noise_std:g}, e_t ~ N(0, 1); the "
        f"regime r_t is a two-state Markov chain switching with probability {cfg.switch_prob:g} per step "
        f"(Hamilton 1989). The true one-step predictive density is a two-component Gaussian mixture whose "
        f"weights come from the exact forward filter over the whole past (the 'oracle'). Models see the last "
        f"{cfg.window} values and forecast the next; chronological split 70/15/15 %, {num_test} test steps."
    )
    rep.paragraph(
        f"Models: an MLP trunk ({cfg.window} -> {cfg.hidden} -> {cfg.hidden}, GELU) with a mixture density "
        f"head (Bishop 1994; K=1 is a heteroscedastic Gaussian), trained on the mixture NLL, and the same "
        f"trunk "
        f"with a linear head trained on MSE, whose predictive density is N(prediction, validation RMSE^2). "
        f"AdamW lr {cfg.lr:g}, weight decay {cfg.weight_decay:g}, batch {cfg.batch_size}, {cfg.epochs} "
        f"epochs, "
        f"warmup-cosine. Intervals are the central ones from the mixture CDF, "
        f"[F^-1((1-q)/2), F^-1((1+q)/2)]; "
        f"PIT = F(y). {meta['num_runs']} runs took {meta['total_wall_time']:.1f} s."
    )
    rep.heading("Findings")
    for p in paragraphs:
        rep.paragraph(p)
    rep.heading("Results")
    head = ["variant", "seeds", "test NLL (mean +- std)", "RMSE of mean"]
    head += [f"cover {100 * lv:g}% (mean +- std)" for lv in levels] + [
        f"width {100 * max(levels):g}%",
        "PIT KS",
    ]
    rows = []
    for k, s in summary.items():
        rows.append(
            [k, str(s["n"]), mean_std_text(s["nll"], 1, 4), f"{s['rmse_mean']:.4f}"]
            + [mean_std_text(s["coverage"][str(lv)]["values"], 100) for lv in levels]
            + [f"{s['width'][str(max(levels))]:.3f}", f"{s['ks_mean']:.4f}"]
        )
    rep.table(head, rows, align=["l"] + ["r"] * (len(head) - 1))
    rep.figure(
        _plot_coverage(summary, levels, plots / "coverage.png"),
        "Empirical coverage of the central intervals against their nominal level.",
    )
    rep.figure(
        _plot_pit(summary, plots / "pit.png"),
        "PIT histograms pooled over seeds; a calibrated forecaster is flat at 1.",
    )
    dens = _plot_densities(results, plots / "densities.png")
    if dens is not None:
        rep.figure(
            dens,
            "Predicted densities on test steps: the most bimodal ones by the oracle and the most "
            "confident one (first seed).",
        )
    groups: dict[str, list[list[dict[str, float]]]] = {}
    for r in results:
        if r["components"] is not None:
            groups.setdefault(r["label"], []).append(r["history"])
    if groups:
        rep.figure(
            plot_curves(
                groups,
                [("train_loss", "train NLL (nats)"), ("val_loss", "val NLL (nats)")],
                plots / "curves.png",
                title="mixture density heads",
            ),
            "Training curves of the NLL-trained heads: mean over seeds, band min..max.",
        )
    rep.heading("Per-run results", level=3)
    head = ["variant", "seed", "test NLL", "oracle NLL", "RMSE"]
    head += [f"cover {100 * lv:g}%" for lv in levels] + ["PIT KS", "wall time (s)"]

    def cells(r: dict[str, Any]) -> list[str]:
        return (
            [f"{r['nll']:.4f}", f"{r['oracle']['nll']:.4f}", f"{r['rmse']:.4f}"]
            + [f"{100 * r['coverage'][str(lv)]:.2f}" for lv in levels]
            + [f"{r['ks']:.4f}", f"{r['wall_time']:.1f}"]
        )

    rep.table(head, [per_run_row(r, [r["label"], str(r["seed"])], cells, len(head)) for r in every])
    rep.heading("Configuration")
    rep.pre(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False).strip())
    rep.write(out_dir)
    return {"summary": summary, "tests": tests, "findings": paragraphs}
