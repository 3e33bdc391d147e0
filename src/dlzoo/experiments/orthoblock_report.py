"""Report of the ``orthoblock`` experiment: tables, figures and findings computed from the runs.

Findings rules (nothing canned): variants ranked by mean test accuracy; every OrthoBlock variant compared
with ``dense`` by :func:`dlzoo.experiments.seed_compare.compare_seeds` (Welch + paired t-test, same seed =
same data order); the orthogonality error ``||W W^T - I||_F`` (mean over hidden layers) at init and after
training per variant, and penalty vs no penalty compared the same way (lower is better).
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
from ..report.plots import _save, mean_band, plot_curves, plt
from .findings import sample_std
from .seed_compare import compare_seeds, mean_std_text, t_test_table

__all__ = ["summarize", "findings", "write_report", "mean_ortho", "test_split_caveat"]

BASELINE = "dense"
FLOOR = 1e-2  # plotted lower limit of the orthogonality error


def mean_ortho(values: dict[str, float]) -> float:
    """Mean of the per-layer orthogonality errors ``{"ortho/layer<i>": e}``."""
    return statistics.fmean(values.values())


def test_split_caveat(acc: float, num_test: int) -> str:
    """The sentence on what seed t-tests do not cover: the binomial sampling error of one fixed test split,
    ``sqrt(acc (1 - acc) / N)``."""
    std = 100 * math.sqrt(max(acc * (1 - acc), 0.0) / num_test)
    return (
        f"The t-tests compare seeds on one fixed test split; they do not include that split's own "
        f"sampling error (binomial std about {std:.2f} points at {100 * acc:.1f}% accuracy on {num_test} "
        f"examples)."
    )


def summarize(results: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """``{variant: {n, seeds, accs, acc_mean, acc_std, losses, ortho_init, ortho_final (per seed, mean over
    layers), ortho_final_layers (mean over seeds per layer), params, wall_mean}}``."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in results:
        groups.setdefault(r["variant"], []).append(r)
    out = {}
    for v, rs in groups.items():
        accs = [r["test_acc"] for r in rs]
        losses = [r["test_loss"] for r in rs]
        layers = list(rs[0]["ortho_final"])
        out[v] = {
            "n": len(rs),
            "seeds": [r["seed"] for r in rs],
            "accs": accs,
            "losses": losses,
            "acc_mean": statistics.fmean(accs),
            "acc_std": sample_std(accs),
            "loss_mean": statistics.fmean(losses),
            "loss_std": sample_std(losses),
            "ortho_init": [mean_ortho(r["ortho_init"]) for r in rs],
            "ortho_final": [mean_ortho(r["ortho_final"]) for r in rs],
            "ortho_final_layers": {k: statistics.fmean(r["ortho_final"][k] for r in rs) for k in layers},
            "params": rs[0]["params"],
            "wall_mean": statistics.fmean(r["wall_time"] for r in rs),
        }
    return out


def findings(summary: dict[str, dict[str, Any]], num_test: int, dataset: str) -> tuple[list[str], list[dict]]:
    """Paragraphs of findings and the t-tests behind them."""
    if not summary:
        return ["No runs finished, so there is nothing to compare."], []
    tests: list[dict] = []
    ranked = sorted(summary, key=lambda v: summary[v]["acc_mean"], reverse=True)
    n_seeds = sorted({s["n"] for s in summary.values()})
    head = (
        f"On {dataset} ({num_test} test examples, so one example is {100 / num_test:.2f} accuracy points; "
        f"{'/'.join(map(str, n_seeds))} seed(s) per variant), mean test accuracy ranks "
        + ", ".join(f"{v} {mean_std_text(summary[v]['accs'], 100)}%" for v in ranked)
        + "."
    )
    acc_text = [head]
    if BASELINE in summary:
        base = summary[BASELINE]
        for v in ranked:
            if v == BASELINE:
                continue
            c = compare_seeds(
                v,
                summary[v]["accs"],
                BASELINE,
                base["accs"],
                "test accuracy",
                True,
                summary[v]["seeds"],
                base["seeds"],
            )
            tests.append(c.as_dict())
            acc_text.append(c.sentence(scale=100, unit="%"))
    acc_text.append(test_split_caveat(summary[ranked[0]]["acc_mean"], num_test))
    paragraphs = [" ".join(acc_text)]

    ortho_text = []
    for v, s in summary.items():
        init, final = statistics.fmean(s["ortho_init"]), statistics.fmean(s["ortho_final"])
        trend = "rose" if final > init else "fell"
        ortho_text.append(
            f"{v}: ||W W^T - I||_F (mean over the {len(s['ortho_final_layers'])} hidden layers) "
            f"{trend} from {init:.3f} at init to {final:.3f} after training "
            f"({mean_std_text(s['ortho_final'], 1, 3)} over seeds)."
        )
    if "orthoblock" in summary and "orthoblock_nopenalty" in summary:
        a, b = summary["orthoblock"], summary["orthoblock_nopenalty"]
        c = compare_seeds(
            "orthoblock (penalty)",
            a["ortho_final"],
            "orthoblock_nopenalty",
            b["ortho_final"],
            "final orthogonality error",
            False,
            a["seeds"],
            b["seeds"],
        )
        tests.append(c.as_dict())
        ortho_text.append("Effect of the penalty on orthogonality: " + c.sentence(digits=3))
        c = compare_seeds(
            "orthoblock (penalty)",
            a["accs"],
            "orthoblock_nopenalty",
            b["accs"],
            "test accuracy",
            True,
            a["seeds"],
            b["seeds"],
        )
        tests.append(c.as_dict())
        ortho_text.append("Effect of the penalty on accuracy: " + c.sentence(scale=100, unit="%"))
    paragraphs.append(" ".join(ortho_text))
    return paragraphs, tests


def _ortho_traces(results: Sequence[dict[str, Any]]) -> dict[str, list[list[dict[str, float]]]]:
    """Per variant, per seed: epoch 0 (init) followed by the per-epoch records (``ortho/layer<i>``)."""
    groups: dict[str, list[list[dict[str, float]]]] = {}
    for r in results:
        rows = [{"epoch": 0.0, **r["ortho_init"]}] + [
            {k: v for k, v in h.items() if k == "epoch" or k.startswith("ortho/")} for h in r["history"]
        ]
        groups.setdefault(r["variant"], []).append(rows)
    return groups


def _plot_ortho(results: Sequence[dict[str, Any]], path: Path) -> Path:
    groups = _ortho_traces(results)
    layers = list(results[0]["ortho_init"])
    fig, axes = plt.subplots(1, len(layers), figsize=(5.2 * len(layers), 3.8), squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, key in zip(axes.flat, layers):
        for i, (v, hs) in enumerate(groups.items()):
            epochs, mean, low, high = mean_band(hs, key)
            floor = FLOOR  # an orthonormal init (error ~0) on the log axis
            c = colors[i % len(colors)]
            ax.plot(epochs, np.maximum(mean, floor), color=c, lw=1.6, label=f"{v} (n={len(hs)})")
            if len(hs) > 1:
                ax.fill_between(
                    epochs, np.maximum(low, floor), np.maximum(high, floor), color=c, alpha=0.2, lw=0
                )
        ax.set_yscale("log")
        ax.set_xlabel("epoch (0 = init)")
        ax.set_ylabel("||W W^T - I||_F (smaller Gram)")
        ax.set_title(f"hidden {key.split('/')[-1]}")
        ax.grid(alpha=0.3)
    axes.flat[0].legend(fontsize=8)
    fig.suptitle("Orthogonality error of the hidden weights (line: mean over seeds; band: min..max)")
    fig.tight_layout()
    return _save(fig, path)


def _plot_accuracy(summary: dict[str, dict[str, Any]], path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(1.8 + 1.6 * len(summary), 3.8))
    for i, s in enumerate(summary.values()):
        accs = [100 * a for a in s["accs"]]
        std = 0.0 if math.isnan(s["acc_std"]) else 100 * s["acc_std"]
        ax.bar(i, statistics.fmean(accs), yerr=std, capsize=4, color="C0", alpha=0.5)
        ax.scatter([i] * len(accs), accs, color="k", s=14, zorder=3, label="one seed" if i == 0 else None)
    ax.set_xticks(range(len(summary)), list(summary), fontsize=8)
    lo = min(100 * min(s["accs"]) for s in summary.values())
    ax.set_ylim(max(0.0, lo - 5), 100)
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("Test accuracy (bar: mean +- std over seeds)")
    ax.legend(fontsize=8, loc="lower right")
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
    paragraphs, tests = findings(summary, meta["num_test"], dataset)
    note = diverged_sentence(every)
    if note:
        paragraphs.insert(0, note)
    rep = Report(f"OrthoBlock vs dense layers in an MLP on {dataset}")
    rep.paragraph(
        f"MLP: flatten -> hidden widths {cfg.hidden} -> Linear head, ReLU. dense = Linear -> ReLU; "
        f"orthoblock = OrthoBlock (orthonormal-init Dense, centering, unit-sphere projection, scale clamped "
        f"to [0, 1], ReLU) trained with ortho_factor {cfg.ortho_factor:g} x ||W W^T - I||_F^2 per block "
        f"(soft orthogonality, Bansal et al., NeurIPS 2018, arXiv:1810.09102); orthoblock_nopenalty = the "
        f"same blocks with no penalty. Parameters: "
        + ", ".join(f"{v} {p}" for v, p in meta["params"].items())
        + f". AdamW lr {cfg.lr:g}, weight decay {cfg.weight_decay:g}, batch {cfg.batch_size}, {cfg.epochs} "
        f"epochs, warmup-cosine, gradient clip 1; {meta['num_train']} training / {meta['num_test']} test "
        f"examples; seeds {cfg.seeds}. {meta['num_runs']} runs took {meta['total_wall_time']:.1f} s. "
        f"The dense layers are not constrained: their ||W W^T - I||_F mixes weight scale with "
        f"non-orthogonality and is shown for reference only."
    )
    rep.heading("Findings")
    for p in paragraphs:
        rep.paragraph(p)
    rep.heading("Results")
    rep.table(
        [
            "variant",
            "params",
            "seeds",
            "test acc % (mean +- std)",
            "test loss (mean +- std)",
            "||WW^T-I||_F init",
            "||WW^T-I||_F final (mean +- std)",
        ],
        [
            [
                v,
                str(s["params"]),
                str(s["n"]),
                mean_std_text(s["accs"], 100),
                mean_std_text(s["losses"], 1, 4),
                f"{statistics.fmean(s['ortho_init']):.3f}",
                mean_std_text(s["ortho_final"], 1, 3),
            ]
            for v, s in summary.items()
        ],
    )
    rep.figure(_plot_accuracy(summary, plots / "accuracy.png"), "Test accuracy per variant; dots are seeds.")
    rep.figure(
        _plot_ortho(results, plots / "orthogonality.png"),
        "||W W^T - I||_F of each hidden weight (smaller Gram) at init (epoch 0) and after every epoch "
        "(log scale; values under 0.01, e.g. the orthonormal init, are drawn at 0.01).",
    )
    groups: dict[str, list[list[dict[str, float]]]] = {}
    for r in results:
        groups.setdefault(r["variant"], []).append(r["history"])
    rep.figure(
        plot_curves(
            groups,
            [("train_loss", "train loss (incl. penalty)"), ("val_acc", "val accuracy")],
            plots / "curves.png",
            title=f"MLP on {dataset}",
        ),
        "Training curves: mean over seeds, band min..max.",
    )
    t_test_table(rep, tests)
    rep.heading("Per-run results", level=3)
    head = ["variant", "seed", "test acc %", "test loss", "||WW^T-I||_F final (per layer)", "wall time (s)"]

    def cells(r: dict[str, Any]) -> list[str]:
        return [
            f"{100 * r['test_acc']:.2f}",
            f"{r['test_loss']:.4f}",
            ", ".join(f"{e:.3f}" for e in r["ortho_final"].values()),
            f"{r['wall_time']:.2f}",
        ]

    rep.table(head, [per_run_row(r, [r["variant"], str(r["seed"])], cells, len(head)) for r in every])
    rep.heading("Configuration")
    rep.pre(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False).strip())
    rep.write(out_dir)
    return {"summary": summary, "tests": tests, "findings": paragraphs}
