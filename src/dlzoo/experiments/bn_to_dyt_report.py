"""Report of the ``bn-to-dyt`` experiment: tables, figures and findings computed from the measured runs.

Significance: each DyT variant's per-seed test accuracies against BN's with Welch's t-test; the
fine-tuned conversion against its own BN source (same seeds) with a paired t-test. A difference is called
significant only when p < 0.05; the seed count and the test-set size (one test image = 100/N points) are
always stated. The paper's claim (arXiv:2503.10622, Section 9: ResNet-50 76.2% BN vs 68.9% DyT on
ImageNet-1K) is checked by direction and significance, never by the size of the gap (other data, scale).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import yaml  # noqa: E402

from ..report import Report  # noqa: E402
from ..report.plots import plot_alpha_traces, plot_curves  # noqa: E402
from .findings import VariantSummary, _alphas, alpha_traces, summarize  # noqa: E402
from .llm_norms_stats import TTest, paired_t_test, welch_t_test  # noqa: E402
from .norm_comparison_report import format_mean_std  # noqa: E402

__all__ = ["write_report", "significance", "paper_check", "finetune_rows", "epochs_to"]

LEVEL = 0.05
PAPER = (
    "Zhu et al. (arXiv:2503.10622, Section 9) report that DyT does not replace BatchNorm well in "
    "classic ConvNets: ResNet-50 on ImageNet-1K reaches 76.2% top-1 with BN and 68.9% with DyT "
    "(VGG19: 72.7% vs 71.0%)."
)
CURVE_KEYS = [
    ("train_loss", "train loss"),
    ("val_loss", "val loss"),
    ("train_acc", "train accuracy"),
    ("val_acc", "val accuracy"),
]


def _p(t: TTest) -> str:
    return f"t = {t.t:.2f}, df = {t.df:.1f}, p = {t.p:.3g}"


def _verdict(t: TTest) -> str:
    if not t.defined:
        return "no test (one seed or zero variance)"
    return f"significant (p < {LEVEL:g})" if t.significant(LEVEL) else "not significant"


def significance(summary: Mapping[str, VariantSummary], baseline: str = "bn") -> dict[str, TTest]:
    """Welch's t-test of every variant's per-seed test accuracies against ``baseline``'s."""
    base = summary.get(baseline)
    if base is None:
        return {}
    return {label: welch_t_test(s.accs, base.accs) for label, s in summary.items() if label != baseline}


def paper_check(
    summary: Mapping[str, VariantSummary],
    tests: Mapping[str, TTest],
    scratch: Sequence[str],
    dataset: str,
    test_size: int,
) -> str:
    """Whether the from-scratch DyT variants trail BN here, as the paper found on ImageNet."""
    bn = summary.get("bn")
    dyt = [summary[label] for label in scratch if label in summary]
    if bn is None or not dyt:
        return (
            f"On {dataset} the BN baseline or every DyT run is missing, so the paper's claim is not checked."
        )
    best = max(dyt, key=lambda s: s.acc_mean)
    t = tests[best.label]
    trailing = [s for s in dyt if s.acc_mean < bn.acc_mean]
    sig = [s for s in trailing if tests[s.label].significant(LEVEL)]
    bn_acc = format_mean_std(bn.acc_mean, bn.acc_std, 100)
    best_acc = format_mean_std(best.acc_mean, best.acc_std, 100)
    head = (
        f"On {dataset} (test set of {test_size} images: one image = {100 / test_size:.2f} points), BN "
        f"reached {bn_acc}% (mean +- std over n={bn.n} seeds) and the best DyT variant, {best.label}, "
        f"{best_acc}% (n={best.n}): a difference of {100 * t.diff:+.2f} points"
    )
    head += f" (Welch {_p(t)}, {_verdict(t)})." if t.defined else " (no t-test possible)."
    if best.acc_mean < bn.acc_mean and t.significant(LEVEL):
        tail = (
            "Every DyT variant trails BN and even the best one does so significantly: this agrees with the "
            "paper's finding that DyT does not replace BatchNorm well in ResNets."
        )
    elif len(trailing) == len(dyt):
        tail = (
            f"Every DyT variant trails BN ({len(sig)} of {len(dyt)} significantly), the direction the paper "
            f"reports, but the best DyT variant is not significantly worse at n={best.n} seeds, so this run "
            "does not confirm the gap."
        )
    else:
        tail = (
            f"{len(dyt) - len(trailing)} of {len(dyt)} DyT variant(s) match or beat BN's mean, so this run "
            "does not reproduce the paper's gap (a difference of scale, data and recipe from ImageNet)."
        )
    return f"{head} {tail}"


def _alpha_sweep(
    summary: Mapping[str, VariantSummary], scratch: Sequence[str], inits: Mapping[str, float]
) -> str:
    dyt = sorted((summary[lbl] for lbl in scratch if lbl in summary), key=lambda s: s.acc_mean, reverse=True)
    if len(dyt) < 2:
        return ""
    best, worst = dyt[0], dyt[-1]
    t = welch_t_test(best.accs, worst.accs)
    text = (
        f"Across the alpha-init sweep, alpha {inits[best.label]:g} did best "
        f"({format_mean_std(best.acc_mean, best.acc_std, 100)}%) and alpha {inits[worst.label]:g} worst "
        f"({format_mean_std(worst.acc_mean, worst.acc_std, 100)}%)"
    )
    return text + (f"; Welch {_p(t)}, {_verdict(t)}." if t.defined else "; no t-test possible.")


def finetune_rows(results: Sequence[Mapping[str, Any]], label: str) -> list[dict[str, float]]:
    """Per seed: the BN source's test accuracy, the converted model's before and after fine-tuning."""
    bn = {r["seed"]: r for r in results if r["label"] == "bn"}
    rows = []
    for r in results:
        if r["label"] == label and r["seed"] in bn:
            rows.append(
                {
                    "seed": r["seed"],
                    "bn": bn[r["seed"]]["test_acc"],
                    "converted": r["converted_acc"],
                    "finetuned": r["test_acc"],
                }
            )
    return sorted(rows, key=lambda row: row["seed"])


def epochs_to(results: Sequence[Mapping[str, Any]], label: str, level: float = 0.5) -> list[float]:
    """Per seed of ``label``: the first epoch whose validation accuracy reaches ``level`` (inf: never)."""
    out = []
    for r in results:
        if r["label"] == label:
            hits = [h["epoch"] for h in r["history"] if (h.get("val_acc") or 0.0) >= level]
            out.append(float(min(hits)) if hits else math.inf)
    return out


def _speed_text(results: Sequence[Mapping[str, Any]], labels: Sequence[str], level: float = 0.5) -> str:
    parts = []
    for label in labels:
        eps = epochs_to(results, label, level)
        done = [e for e in eps if math.isfinite(e)]
        never = len(eps) - len(done)
        s = f"{label} {statistics.fmean(done):.1f}" if done else f"{label} never"
        parts.append(s + (f" ({never} of {len(eps)} seeds never)" if done and never else ""))
    return (
        f"Speed of training: the first epoch at which validation accuracy reached {100 * level:.0f}% "
        f"(mean over seeds) was {'; '.join(parts)}."
    )


def _finetune_text(rows: Sequence[Mapping[str, float]], label: str, epochs: int) -> str:
    if not rows:
        return ""
    n = len(rows)

    def ms(key: str) -> str:
        vals = [r[key] for r in rows]
        return format_mean_std(statistics.fmean(vals), statistics.stdev(vals) if n > 1 else math.nan, 100)

    t = paired_t_test([r["finetuned"] for r in rows], [r["bn"] for r in rows])
    text = (
        f"{label}: converting the trained BN model with convert_norm drops test accuracy from {ms('bn')}% to "
        f"{ms('converted')}% before any fine-tuning; after {epochs} fine-tuning epoch(s) it reaches "
        f"{ms('finetuned')}% (n={n} seeds), {100 * t.diff:+.2f} points from its BN source"
    )
    return text + (
        f" (paired t-test over seeds: {_p(t)}, {_verdict(t)})."
        if t.defined
        else " (no paired t-test possible)."
    )


def _accuracy_plot(summary: Mapping[str, VariantSummary], path: Path, title: str) -> Path:
    """Test accuracy per variant: bar = mean, dots = seeds, error bar = std; right panel error rate (log)."""
    labels = list(summary)
    fig, axes = plt.subplots(1, 2, figsize=(12.0, 4.2))
    xs = np.arange(len(labels))
    for ax, err in zip(axes, (False, True)):
        for i, label in enumerate(labels):
            s = summary[label]
            vals = np.asarray(s.accs) * 100
            vals = 100 - vals if err else vals
            ax.bar(
                i,
                vals.mean(),
                color=f"C{i}",
                alpha=0.5,
                yerr=vals.std(ddof=1) if len(vals) > 1 else None,
                capsize=4,
            )
            ax.scatter(np.full(len(vals), i), vals, color="k", s=12, zorder=3)
        ax.set_xticks(xs, labels, rotation=20, ha="right", fontsize=8)
        ax.set_ylabel("test error % (log)" if err else "test accuracy %")
        if err:
            ax.set_yscale("log")
        ax.grid(alpha=0.3, axis="y")
    axes[0].set_title("accuracy: bar mean, error bar std, dots seeds")
    axes[1].set_title("error rate = 100 - accuracy (log scale)")
    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _alpha_depth_plot(
    alphas: Mapping[str, Mapping[str, Sequence[float]]], inits: Mapping[str, float], path: Path
) -> Path:
    """Final alpha of every DyT layer against its depth index, one line per variant."""
    fig, ax = plt.subplots(figsize=(8.0, 4.2))
    for i, (label, layers) in enumerate(alphas.items()):
        finals = [trace[-1] for trace in layers.values() if trace]
        ax.plot(range(len(finals)), finals, marker="o", ms=3, color=f"C{i}", label=label)
        if label in inits:
            ax.axhline(inits[label], color=f"C{i}", ls=":", lw=0.8)
    names = list(next(iter(alphas.values())))
    ax.set_xticks(
        range(len(names)), [n.removesuffix(".alpha") for n in names], rotation=60, ha="right", fontsize=6
    )
    ax.set_xlabel("DyT layer (input to output)")
    ax.set_ylabel("final alpha (mean over seeds)")
    ax.set_title("Final DyT alpha by depth (dotted: init)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _summary_table(rep: Report, summary: Mapping[str, VariantSummary], tests: Mapping[str, TTest]) -> None:
    rows = []
    for label, s in summary.items():
        t = tests.get(label)
        rows.append(
            [
                label,
                str(s.n),
                format_mean_std(s.acc_mean, s.acc_std, 100.0),
                format_mean_std(s.loss_mean, s.loss_std, 1.0, 4),
                "" if t is None else f"{100 * t.diff:+.2f}",
                "" if t is None or not t.defined else f"{t.p:.3g}",
                "(baseline)" if t is None else _verdict(t),
                f"{s.wall_mean:.1f}",
            ]
        )
    rep.table(
        [
            "variant",
            "seeds",
            "test acc % (mean +- std)",
            "test loss (mean +- std)",
            "vs BN (points)",
            "Welch p",
            "vs BN",
            "wall time / run (s)",
        ],
        rows,
        align=["l", "r", "r", "r", "r", "r", "l", "r"],
    )


def _section(
    rep: Report, cfg: Any, ds: str, results: Sequence[dict[str, Any]], plots: Path
) -> dict[str, Any]:
    summary = summarize(results)
    tests = significance(summary)
    scratch = list(
        dict.fromkeys(r["label"] for r in results if r["kind"] == "scratch" and r["label"] != "bn")
    )
    conv = list(dict.fromkeys(r["label"] for r in results if r["kind"] == "finetune"))
    inits = {r["label"]: r["alpha_init"] for r in results if r.get("alpha_init") is not None}
    alphas = alpha_traces(results)
    test_size = int(results[0]["test_size"])
    paragraphs = [paper_check(summary, tests, scratch, ds, test_size)]
    sweep = _alpha_sweep(summary, scratch, inits)
    if sweep:
        paragraphs.append(sweep)
    ft = {label: finetune_rows(results, label) for label in conv}
    paragraphs += [p for label in conv if (p := _finetune_text(ft[label], label, cfg.finetune_epochs))]
    paragraphs.append(_speed_text(results, ["bn", *scratch]))
    paragraphs += _alphas(alphas, inits)

    rep.heading(f"{ds}: findings")
    for p in paragraphs:
        rep.paragraph(p)
    rep.heading(f"{ds}: results", level=3)
    _summary_table(rep, summary, tests)
    rep.figure(
        _accuracy_plot(summary, plots / f"accuracy_{ds}.png", f"{cfg.model} (width {cfg.width}) on {ds}"),
        f"Test accuracy of every variant on {ds} ({test_size} test images).",
    )
    for label in conv:
        rows = [
            [
                str(r["seed"]),
                f"{100 * r['bn']:.2f}",
                f"{100 * r['converted']:.2f}",
                f"{100 * r['finetuned']:.2f}",
            ]
            for r in ft[label]
        ]
        rep.table(
            [
                "seed",
                "BN source acc %",
                f"{label.removesuffix(' finetuned')} before fine-tuning %",
                "after fine-tuning %",
            ],
            rows,
            align=["r", "r", "r", "r"],
        )
    groups: dict[str, list] = {}
    for r in results:
        groups.setdefault(r["label"], []).append(r["history"])
    rep.figure(
        plot_curves(groups, CURVE_KEYS, plots / f"curves_{ds}.png", title=f"{cfg.model} on {ds}"),
        "Loss and accuracy per epoch (fine-tuned runs: epochs of fine-tuning).",
    )
    if alphas:
        rep.figure(
            plot_alpha_traces(alphas, plots / f"alpha_{ds}.png", init=inits),
            "Learnable alpha of every DyT layer after each epoch (mean over seeds; colour = depth).",
        )
        rep.figure(
            _alpha_depth_plot(alphas, inits, plots / f"alpha_depth_{ds}.png"),
            "Final alpha of every DyT layer by depth.",
        )
    return {
        "summary": {k: v.as_dict() for k, v in summary.items()},
        "findings": paragraphs,
        "welch_vs_bn": {k: t.__dict__ for k, t in tests.items()},
        "finetune": ft,
        "test_size": test_size,
        "alpha_final": {lbl: {n: t[-1] for n, t in layers.items() if t} for lbl, layers in alphas.items()},
    }


def write_report(cfg: Any, results: Sequence[dict[str, Any]], meta: dict[str, Any], out_dir: Path) -> dict:
    """Write plots and ``report.md``/``report.html`` into ``out_dir``; return the numeric summary."""
    plots = out_dir / "plots"
    tcfg = meta["trainer_config"]
    kw = tcfg["model"]["kwargs"]
    params = {
        r["label"] != "bn": r["params"] for r in results if r["dataset"] == results[0]["dataset"]
    }  # False: BN, True: DyT
    count = " and ".join(
        f"{params[k]:,} parameters with {name}" for k, name in ((False, "BN"), (True, "DyT")) if k in params
    )
    rep = Report(f"BatchNorm -> DyT in {cfg.model} (width {cfg.width})")
    rep.paragraph(PAPER)
    opt = tcfg["optim"]
    ft_lr = meta["finetune_config"]["optim"]["lr"] if meta.get("finetune_config") else float("nan")
    conversion = ""
    if cfg.finetune_alphas:
        conversion = (
            f"; and each trained BN model converted to DyT with convert_norm (alpha init "
            f"{', '.join(f'{a:g}' for a in cfg.finetune_alphas)}, BN gamma/beta "
            f"{'copied' if cfg.finetune_copy_affine else 'freshly initialised'}) then fine-tuned for "
            f"{cfg.finetune_epochs} epoch(s)"
        )
    rep.paragraph(
        f"Here: {cfg.model} with stem/stage widths {kw['stem_width']}/{kw['widths']} ({count} on "
        f"{results[0]['dataset']}: DyT adds one alpha per layer; BN's running statistics are buffers), "
        f"trained from scratch for {cfg.epochs} epoch(s) per run with BatchNorm and with every BatchNorm "
        f"replaced by DyT (alpha init {', '.join(f'{a:g}' for a in cfg.dyt_alphas)}), seeds {cfg.seeds}"
        f"{conversion}. Every from-scratch run uses the BN recipe unchanged: optimizer "
        f"{opt['name']} (lr {opt['lr']:g}, weight decay {opt['weight_decay']:g}, {opt['kwargs']}), schedule "
        f"{tcfg['schedule']['name']}, batch size {tcfg['data']['batch_size']}"
        f"{f'; fine-tuning lr {ft_lr:g}' if cfg.finetune_alphas else ''}. "
        f"{meta['num_runs']} runs took {meta['total_wall_time']:.1f} s ({meta['workers']} worker "
        f"process(es), {meta['threads']} torch thread(s) each). Accuracy is on the held-out test split "
        f"after the last epoch; significance: Welch's t-test against BN over seeds, paired t-test for the "
        f"conversions, level {LEVEL:g}."
    )
    if meta.get("failed"):
        rep.paragraph(
            f"{len(meta['failed'])} run(s) failed (diverged) and are left out of every table and figure:"
        )
        rep.bullets([f"{r['dataset']} {r['label']} seed {r['seed']}: {r['error']}" for r in meta["failed"]])
    out: dict[str, Any] = {}
    for ds in dict.fromkeys(r["dataset"] for r in results):
        out[ds] = _section(rep, cfg, ds, [r for r in results if r["dataset"] == ds], plots)
    rep.heading("Per-run results")
    rows = [
        [
            r["dataset"],
            r["label"],
            str(r["seed"]),
            f"{100 * r['test_acc']:.2f}",
            f"{r['test_loss']:.4f}",
            f"{r['wall_time']:.1f}",
        ]
        for r in results
    ]
    rep.table(
        ["dataset", "variant", "seed", "test acc %", "test loss", "wall time (s)"],
        rows,
        align=["l", "l", "r", "r", "r", "r"],
    )
    rep.heading("Configuration")
    rep.pre(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False).strip())
    rep.heading("Trainer config of the first run", level=3)
    rep.pre(yaml.safe_dump(tcfg, sort_keys=False).strip())
    rep.write(out_dir)
    return {"datasets": out, "findings": [p for d in out.values() for p in d["findings"]]}
