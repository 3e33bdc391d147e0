"""Report of the ``goodhart`` experiment: tables, figures and findings computed from the runs.

Findings rules (nothing canned): the cue-only rule's accuracy on both test sets (is the cue planted as
designed); per variant the accuracy with the cue present and random and their gap; ``goodhart`` vs
``cross_entropy`` on the random-cue accuracy (higher is better), the present-cue accuracy and the gap (lower
is better, less reliance on the cue), each by :func:`dlzoo.experiments.seed_compare.compare_seeds` (Welch +
paired t-test, same seed = same data, cues and batch order); both against the ``no_cue`` reference.
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
from .orthoblock_report import test_split_caveat
from .seed_compare import compare_seeds, mean_std_text, t_test_table

__all__ = ["summarize", "findings", "write_report"]

METRICS = ("test_acc_present", "test_acc_random", "gap", "test_entropy")


def summarize(results: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """``{variant: {n, seeds, <metric>: [per seed], <metric>_mean, <metric>_std, wall_mean}}``."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in results:
        groups.setdefault(r["variant"], []).append(r)
    out = {}
    for v, rs in groups.items():
        s: dict[str, Any] = {
            "n": len(rs),
            "seeds": [r["seed"] for r in rs],
            "wall_mean": statistics.fmean(r["wall_time"] for r in rs),
        }
        for m in METRICS:
            vals = [r[m] for r in rs]
            s[m], s[f"{m}_mean"], s[f"{m}_std"] = vals, statistics.fmean(vals), sample_std(vals)
        out[v] = s
    return out


def findings(
    summary: dict[str, dict[str, Any]], meta: dict[str, Any], cue_p: float, num_classes: int = 10
) -> tuple[list[str], list[dict]]:
    """Paragraphs of findings and the t-tests behind them."""
    if not summary:
        return ["No runs finished, so there is nothing to compare."], []
    n_test = meta["num_test"]
    oracle = meta["cue_only_acc"]
    paragraphs = [
        f"The planted cue: a rule that reads only the cue channel scores {100 * oracle['present']:.2f}% on "
        f"the test set with the cue present (designed: P(cue = label) = {100 * cue_p:.0f}%) and "
        f"{100 * oracle['random']:.2f}% with it random (chance {100 / num_classes:.0f}%). {n_test} test "
        f"examples, so one example is {100 / n_test:.2f} accuracy points; the same test images and cue draws "
        f"for every run."
    ]
    per = []
    for v, s in summary.items():
        per.append(
            f"{v}: {mean_std_text(s['test_acc_present'], 100)}% with the cue present, "
            f"{mean_std_text(s['test_acc_random'], 100)}% with it random, gap "
            f"{mean_std_text(s['gap'], 100)} points (n={s['n']} seeds)"
        )
    best = max(s["test_acc_random_mean"] for s in summary.values())
    paragraphs.append("; ".join(per) + ". " + test_split_caveat(best, n_test))
    tests: list[dict] = []
    pairs = [("goodhart", "cross_entropy")] + [(v, "no_cue") for v in ("cross_entropy", "goodhart")]
    metrics = [
        ("test_acc_random", "accuracy with the cue random", True),
        ("gap", "present-minus-random gap", False),
        ("test_acc_present", "accuracy with the cue present", True),
    ]
    for a, b in pairs:
        if a not in summary or b not in summary:
            continue
        sa, sb = summary[a], summary[b]
        text = []
        for key, name, higher in metrics if b != "no_cue" else metrics[:1]:
            c = compare_seeds(a, sa[key], b, sb[key], name, higher, sa["seeds"], sb["seeds"])
            tests.append(c.as_dict())
            text.append(c.sentence(scale=100, unit="points" if key == "gap" else "%"))
        paragraphs.append(" ".join(text))
    return paragraphs, tests


def _plot_accuracy(summary: dict[str, dict[str, Any]], oracle: dict[str, float], path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(2.4 + 2.0 * len(summary), 4.0))
    width = 0.38
    for j, (cond, color) in enumerate((("present", "C0"), ("random", "C3"))):
        key = f"test_acc_{cond}"
        for i, s in enumerate(summary.values()):
            x = i + (j - 0.5) * width
            std = 0.0 if math.isnan(s[f"{key}_std"]) else 100 * s[f"{key}_std"]
            ax.bar(
                x,
                100 * s[f"{key}_mean"],
                width,
                yerr=std,
                capsize=3,
                color=color,
                alpha=0.55,
                label=f"cue {cond}" if i == 0 else None,
            )
            ax.scatter([x] * s["n"], [100 * a for a in s[key]], color="k", s=10, zorder=3)
        ax.axhline(100 * oracle[cond], color=color, ls="--", lw=1, label=f"cue-only rule, cue {cond}")
    ax.set_xticks(range(len(summary)), list(summary), fontsize=9)
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(0, 100)
    ax.set_title("Test accuracy with the cue present / random (bars: mean +- std; dots: seeds)")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.09), ncol=4, frameon=False)
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    return _save(fig, path)


def write_report(cfg: Any, results: Sequence[dict[str, Any]], meta: dict[str, Any], out_dir: Path) -> dict:
    """Write plots and ``report.md``/``report.html``; return the numeric summary for ``results.json``
    (diverged runs are listed, and left out of every mean, test and figure)."""
    from .image_splits import dataset_name
    from .tensor_fit import diverged_sentence, per_run_row, split_diverged

    plots = out_dir / "plots"
    dataset = dataset_name(cfg.data_root)
    every, results = results, split_diverged(results)[0]
    summary = summarize(results)
    paragraphs, tests = findings(summary, meta, cfg.cue_p)
    note = diverged_sentence(every)
    if note:
        paragraphs.insert(0, note)
    rep = Report(f"GoodhartAwareLoss vs cross-entropy with a planted spurious cue on {dataset}")
    rep.paragraph(
        f"Each image gets an extra channel holding one bright patch whose position encodes a class (the "
        f"cue). In training and validation the cue equals the label for a random {cfg.cue_p:g} of the "
        f"examples (another class, spread evenly, for the rest); the test set is scored twice, with the cue "
        f"drawn by the same rule ('present') and with a cue independent of the label ('random', the same "
        f"rule at 1/K: the shortcut removed). Variants: cross_entropy; goodhart = "
        f"GoodhartAwareLoss = CE - {cfg.entropy_weight:g} H(p(y|x)) + {cfg.mi_weight:g} I(X; Y_hat) "
        f"(dl_techniques' idea, not a paper; Pereyra et al. 2017 arXiv:1701.06548 confidence penalty + a "
        f"batch information-bottleneck term); no_cue = cross-entropy trained with random cues (what the "
        f"image alone gives). MLP hidden {cfg.hidden}, ReLU; AdamW lr {cfg.lr:g}, batch {cfg.batch_size}, "
        f"{cfg.epochs} epochs, warmup-cosine, gradient clip 1; {meta['num_train']} train / "
        f"{meta['num_test']} test examples; seeds {cfg.seeds}. {meta['num_runs']} runs took "
        f"{meta['total_wall_time']:.1f} s."
    )
    rep.heading("Findings")
    for p in paragraphs:
        rep.paragraph(p)
    rep.heading("Results")
    rep.table(
        [
            "variant",
            "seeds",
            "test acc % cue present",
            "test acc % cue random",
            "gap (points)",
            "mean predictive entropy (nats)",
        ],
        [
            [
                v,
                str(s["n"]),
                mean_std_text(s["test_acc_present"], 100),
                mean_std_text(s["test_acc_random"], 100),
                mean_std_text(s["gap"], 100),
                mean_std_text(s["test_entropy"], 1, 3),
            ]
            for v, s in summary.items()
        ],
    )
    rep.figure(
        _plot_accuracy(summary, meta["cue_only_acc"], plots / "accuracy.png"),
        "Test accuracy with the cue present and random; dashed: the rule that reads only the cue.",
    )
    groups: dict[str, list[list[dict[str, float]]]] = {}
    for r in results:
        groups.setdefault(r["variant"], []).append(r["history"])
    rep.figure(
        plot_curves(
            groups,
            [
                ("train_loss", "train loss (the variant's own loss)"),
                ("val_loss", "val cross-entropy (cue present)"),
                ("val_acc_present", "val accuracy, cue present"),
                ("val_acc_random", "val accuracy, cue random"),
            ],
            plots / "curves.png",
            title=f"MLP on {dataset} + cue channel",
        ),
        "Training curves: mean over seeds, band min..max.",
    )
    t_test_table(rep, tests)
    rep.heading("Per-run results", level=3)
    head = ["variant", "seed", "test acc % present", "test acc % random", "gap", "wall time (s)"]

    def cells(r: dict[str, Any]) -> list[str]:
        return [
            f"{100 * r['test_acc_present']:.2f}",
            f"{100 * r['test_acc_random']:.2f}",
            f"{100 * r['gap']:.2f}",
            f"{r['wall_time']:.2f}",
        ]

    rep.table(head, [per_run_row(r, [r["variant"], str(r["seed"])], cells, len(head)) for r in every])
    rep.heading("Configuration")
    rep.pre(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False).strip())
    rep.write(out_dir)
    return {"summary": summary, "tests": tests, "findings": paragraphs}
