"""Report of the ``differential-ffn`` experiment: tables, figures and findings computed from the runs.

Findings rules (nothing canned): per common-mode level, the models are ranked by mean test accuracy and
DifferentialFFN is compared with every other model by :func:`dlzoo.experiments.seed_compare.compare_seeds`
(Welch + paired t-test, same seed = same data); per model, the accuracy change from the smallest to the
largest common-mode level, also t-tested; the common-mode gain at the largest level; the reference decoder.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from ..report import Report
from ..report.plots import _save, plot_curves, plt
from .findings import sample_std
from .seed_compare import compare_seeds, mean_std_text
from .tensor_fit import diverged_sentence, per_run_row, split_diverged

__all__ = ["summarize", "findings", "write_report"]

TARGET = "differential_ffn"


def summarize(results: Sequence[dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    """``{model: {sigma_c (str): {n, seeds, accs, acc_mean, acc_std, loss_mean, gain_mean, ...}}}``."""
    groups: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for r in results:
        groups.setdefault(r["model"], {}).setdefault(f"{r['common_std']:g}", []).append(r)
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for model, levels in groups.items():
        out[model] = {}
        for cs, rs in levels.items():
            accs = [r["test_acc"] for r in rs]
            losses = [r["test_loss"] for r in rs]
            gains = [r["common_mode_gain"] for r in rs]
            out[model][cs] = {
                "n": len(rs),
                "seeds": [r["seed"] for r in rs],
                "accs": accs,
                "losses": losses,
                "acc_mean": statistics.fmean(accs),
                "acc_std": sample_std(accs),
                "loss_mean": statistics.fmean(losses),
                "loss_std": sample_std(losses),
                "gain_mean": statistics.fmean(gains),
                "gain_std": sample_std(gains),
                "reference_acc": statistics.fmean(r["reference_acc"] for r in rs),
                "train_loss_final": statistics.fmean(r["history"][-1]["train_loss"] for r in rs),
                "params": rs[0]["params"],
                "wall_mean": statistics.fmean(r["wall_time"] for r in rs),
            }
    return out


def findings(summary: dict[str, dict[str, dict[str, Any]]], num_test: int) -> tuple[list[str], list[dict]]:
    """Paragraphs and the t-test records behind them."""
    levels = sorted({cs for m in summary.values() for cs in m}, key=float)
    n_seeds = max(s["n"] for m in summary.values() for s in m.values())
    tests: list[dict[str, Any]] = []
    paragraphs = [
        f"Each cell is {n_seeds} seed(s); the test set has {num_test} examples, so one example is "
        f"{100 / num_test:.3g} accuracy points. Accuracies are mean +- sample std over seeds; a "
        f"difference is called significant only when Welch's and the paired t-test (same seed = same "
        f"data, mixing and batch order) both give p < 0.05."
    ]
    for cs in levels:
        here = {m: levels_[cs] for m, levels_ in summary.items() if cs in levels_}
        ranked = sorted(here, key=lambda m: here[m]["acc_mean"], reverse=True)
        ref = statistics.fmean(s["reference_acc"] for s in here.values())
        text = [
            f"At sigma_c = {cs}: ranking by mean test accuracy "
            + ", ".join(f"{m} {mean_std_text(here[m]['accs'], 100)}%" for m in ranked)
            + f" (reference decoder that knows the generator: {100 * ref:.2f}%; it is exactly invariant to "
            f"the common mode, since 1^T A = 0)."
        ]
        if TARGET in here:
            for other in ranked:
                if other == TARGET:
                    continue
                c = compare_seeds(
                    TARGET,
                    here[TARGET]["accs"],
                    other,
                    here[other]["accs"],
                    "test accuracy (%)",
                    True,
                    here[TARGET]["seeds"],
                    here[other]["seeds"],
                )
                tests.append({"sigma_c": float(cs), **c.as_dict()})
                text.append(c.sentence(scale=100.0))
        paragraphs.append(" ".join(text))
    if len(levels) >= 2:
        lo, hi = levels[0], levels[-1]
        parts = []
        for m, lv in summary.items():
            if lo in lv and hi in lv:
                c = compare_seeds(
                    f"{m} at sigma_c={hi}",
                    lv[hi]["accs"],
                    f"{m} at sigma_c={lo}",
                    lv[lo]["accs"],
                    "test accuracy (%)",
                    True,
                    lv[hi]["seeds"],
                    lv[lo]["seeds"],
                )
                tests.append({"model": m, "sigma_c": [float(lo), float(hi)], **c.as_dict()})
                parts.append(c.sentence(scale=100.0))
        robust = sorted(
            (m for m, lv in summary.items() if lo in lv and hi in lv),
            key=lambda m: summary[m][lo]["acc_mean"] - summary[m][hi]["acc_mean"],
        )
        if robust:
            drops = ", ".join(
                f"{m} {100 * (summary[m][lo]['acc_mean'] - summary[m][hi]['acc_mean']):+.2f}" for m in robust
            )
            parts.append(
                f"Mean accuracy lost from sigma_c = {lo} to {hi} (points, smallest loss first; negative: "
                f"gained): {drops}."
            )
            fits = ", ".join(
                f"{m} {summary[m][lo]['train_loss_final']:.3f} -> {summary[m][hi]['train_loss_final']:.3f}"
                for m in robust
            )
            parts.append(
                f"Final training loss (mean over seeds) from sigma_c = {lo} to {hi}: {fits}; a model whose "
                f"training loss rises with sigma_c fails to fit the training set (an optimisation failure), "
                f"not to generalise from it."
            )
        gains = {m: lv[hi]["gain_mean"] for m, lv in summary.items() if hi in lv}
        if gains:
            order = sorted(gains, key=gains.get)
            parts.append(
                f"Common-mode gain at sigma_c = {hi} (output change along 1_d relative to a "
                f"feature-difference direction of equal size; < 1 means the common mode is "
                f"suppressed): " + ", ".join(f"{m} {gains[m]:.3f}" for m in order) + "."
            )
        if "mlp_ln" in summary and TARGET in summary and hi in summary["mlp_ln"] and hi in summary[TARGET]:
            a, b = summary[TARGET][hi], summary["mlp_ln"][hi]
            c = compare_seeds(
                TARGET, a["accs"], "mlp_ln", b["accs"], "test accuracy (%)", True, a["seeds"], b["seeds"]
            )
            tests.append({"sigma_c": float(hi), "ablation": True, **c.as_dict()})
            if c.significant and c.a_better:
                verdict = (
                    "DifferentialFFN is significantly better, so at this level its second pathway adds "
                    "robustness beyond the LayerNorm"
                )
            elif c.significant:
                verdict = (
                    "mlp_ln is significantly better, so this experiment does not attribute "
                    "DifferentialFFN's robustness to the subtraction of two pathways: the LayerNorm "
                    "alone does more"
                )
            else:
                verdict = (
                    "the difference is not significant, so no benefit of the two-pathway subtraction "
                    "beyond the LayerNorm is measured"
                )
            parts.append(
                f"Ablation at sigma_c = {hi}: mlp_ln (an MLP with the hidden LayerNorm DifferentialFFN "
                f"also has, no second pathway) {mean_std_text(b['accs'], 100)}% vs DifferentialFFN "
                f"{mean_std_text(a['accs'], 100)}%; {verdict}."
            )
        paragraphs.append(" ".join(parts))
    return paragraphs, tests


def _plot_sweep(
    summary: dict[str, dict[str, dict[str, Any]]],
    key: str,
    ylabel: str,
    path: Path,
    title: str,
    log: bool = False,
    reference: dict[str, float] | None = None,
) -> Path:
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for m, lv in summary.items():
        xs = sorted(lv, key=float)
        mean = [lv[x][f"{key}_mean"] * (100 if key == "acc" else 1) for x in xs]
        std = [
            0.0 if math.isnan(lv[x][f"{key}_std"]) else lv[x][f"{key}_std"] * (100 if key == "acc" else 1)
            for x in xs
        ]
        ax.errorbar([float(x) for x in xs], mean, yerr=std, marker="o", capsize=3, label=m)
    if reference:
        xs = sorted(reference, key=float)
        ax.plot(
            [float(x) for x in xs], [100 * reference[x] for x in xs], "k--", lw=1, label="reference decoder"
        )
    if log:
        ax.set_yscale("log")
        ax.axhline(1.0, color="0.5", lw=0.8, ls=":")
    ax.set_xlabel("common-mode std sigma_c")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, path)


def write_report(cfg: Any, results: Sequence[dict[str, Any]], meta: dict[str, Any], out_dir: Path) -> dict:
    """Write plots and ``report.md``/``report.html``; return the numeric summary for ``results.json``
    (diverged runs are listed, and left out of every mean, test and figure)."""
    plots = out_dir / "plots"
    every, results = results, split_diverged(results)[0]
    summary = summarize(results)
    paragraphs, tests = findings(summary, cfg.num_test)
    note = diverged_sentence(every)
    if note:
        paragraphs.insert(1, note)
    rep = Report("DifferentialFFN vs MLP / SwiGLU under common-mode noise")
    rep.paragraph(
        f"Task (seeded, regenerated per seed): x = A s + c 1 + sigma_n e with s ~ N(0, I_2), "
        f"c ~ N(0, sigma_c^2) one scalar per example added to all {cfg.num_features} features (the common "
        f"mode), e ~ N(0, I), "
        f"sigma_n = {cfg.noise_std:g}; A ({cfg.num_features} x 2) is random with columns summing to zero "
        f"(no signal along 1) and unit mean signal variance per feature. Label: the quadrant of s, "
        f"2 [s_1 > 0] + [s_2 > 0] (4 classes, XOR-like). Inputs are standardised with training statistics. "
        f"{cfg.num_train} train / {cfg.num_val} val / {cfg.num_test} test examples, sigma_c in "
        f"{[float(c) for c in cfg.common_stds]}. The differential pathway subtraction is meant to cancel "
        f"what both pathways see alike (Differential Transformer, arXiv:2410.05258); the common mode is "
        f"exactly such a signal."
    )
    rep.paragraph(
        "Models (one block, inputs -> 4 logits, parameter counts matched to DifferentialFFN): "
        + ", ".join(f"{m} {p} parameters" for m, p in meta["params"].items())
        + f". DifferentialFFN hidden width {cfg.hidden}; mlp = Linear-GELU-Linear; mlp_ln = the same with a "
        f"LayerNorm on the hidden units (ablation: DifferentialFFN's normalisation without its second "
        f"pathway); "
        f"swiglu = SwiGLU (arXiv:2002.05202). AdamW lr {cfg.lr:g}, weight decay {cfg.weight_decay:g}, batch "
        f"{cfg.batch_size}, {cfg.epochs} epochs, warmup-cosine; the model after the last epoch is tested. "
        f"{meta['num_runs']} runs took {meta['total_wall_time']:.1f} s."
    )
    rep.heading("Findings")
    for p in paragraphs:
        rep.paragraph(p)
    rep.heading("Results")
    rows = []
    for m, lv in summary.items():
        for cs in sorted(lv, key=float):
            s = lv[cs]
            rows.append(
                [
                    m,
                    cs,
                    str(s["params"]),
                    str(s["n"]),
                    mean_std_text(s["accs"], 100),
                    mean_std_text(s["losses"], 1, 4),
                    f"{s['train_loss_final']:.4f}",
                    f"{s['gain_mean']:.3f}",
                    f"{100 * s['reference_acc']:.2f}",
                ]
            )
    rep.table(
        [
            "model",
            "sigma_c",
            "params",
            "seeds",
            "test acc % (mean +- std)",
            "test loss (mean +- std)",
            "final train loss (mean)",
            "common-mode gain (mean)",
            "reference acc %",
        ],
        rows,
    )
    ref = {cs: s["reference_acc"] for lv in summary.values() for cs, s in lv.items()}
    rep.figure(
        _plot_sweep(
            summary,
            "acc",
            "test accuracy (%)",
            plots / "accuracy_vs_common_mode.png",
            "Test accuracy vs common-mode std (mean +- std over seeds)",
            reference=ref,
        ),
        "Test accuracy per model against the common-mode std; dashed: the reference decoder.",
    )
    rep.figure(
        _plot_sweep(
            summary,
            "gain",
            "common-mode gain",
            plots / "common_mode_gain.png",
            "Output sensitivity to the common mode vs a difference direction",
            log=True,
        ),
        "Common-mode gain (log scale): below 1 the model suppresses the common mode.",
    )
    hi = f"{max(float(c) for c in cfg.common_stds):g}"
    groups: dict[str, list[list[dict[str, float]]]] = {}
    for r in results:
        if f"{r['common_std']:g}" == hi:
            groups.setdefault(r["model"], []).append(r["history"])
    if groups:  # empty when every run at the largest sigma_c diverged
        rep.figure(
            plot_curves(
                groups,
                [("train_loss", "train loss"), ("val_acc", "val accuracy")],
                plots / "curves.png",
                title=f"sigma_c = {hi}",
            ),
            f"Training curves at sigma_c = {hi}: mean over seeds, band min..max.",
        )
    rep.heading("Per-run results", level=3)
    head = ["model", "sigma_c", "seed", "test acc %", "test loss", "common-mode gain", "wall time (s)"]

    def cells(r: dict[str, Any]) -> list[str]:
        return [
            f"{100 * r['test_acc']:.2f}",
            f"{r['test_loss']:.4f}",
            f"{r['common_mode_gain']:.3f}",
            f"{r['wall_time']:.2f}",
        ]

    rep.table(
        head,
        [
            per_run_row(r, [r["model"], f"{r['common_std']:g}", str(r["seed"])], cells, len(head))
            for r in every
        ],
    )
    rep.heading("Configuration")
    rep.pre(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False).strip())
    rep.write(out_dir)
    return {"summary": summary, "tests": tests, "findings": paragraphs}
