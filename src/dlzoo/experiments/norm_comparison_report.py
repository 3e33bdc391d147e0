"""Report of the ``norm-comparison`` experiment: tables, figures and findings from the measured runs."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from ..report import Report
from ..report.plots import mean_band, plot_alpha_traces, plot_curves, plot_scurves
from .findings import VariantSummary, alpha_traces, findings, summarize

__all__ = ["write_report", "format_mean_std", "split_sizes", "plot_error_rates"]

CURVE_KEYS = [("train_loss", "train loss"), ("val_loss", "val loss"), ("train_acc", "train accuracy"),
              ("val_acc", "val accuracy")]


def format_mean_std(mean: float, std: float, scale: float = 1.0, digits: int = 2) -> str:
    """``"95.12 +- 0.40"``; just the mean when ``std`` is nan (one seed)."""
    if math.isnan(std):
        return f"{mean * scale:.{digits}f}"
    return f"{mean * scale:.{digits}f} +- {std * scale:.{digits}f}"


def _summary_table(rep: Report, summary: dict[str, VariantSummary]) -> None:
    rows = [[s.label, str(s.n), format_mean_std(s.acc_mean, s.acc_std, 100.0),
             format_mean_std(s.loss_mean, s.loss_std, 1.0, 4), f"{100 * s.ece_mean:.2f}",
             f"{s.wall_mean:.1f}"]
            for s in sorted(summary.values(), key=lambda s: s.acc_mean, reverse=True)]
    rep.table(["norm", "seeds", "test acc % (mean +- std)", "test loss (mean +- std)", "test ECE % (mean)",
               "wall time / run (s)"], rows, align=["l", "r", "r", "r", "r", "r"])


def _runs_table(rep: Report, results: Sequence[dict[str, Any]], out_dir: Path) -> None:
    rows = []
    for r in results:
        rel = Path(r["run_dir"])
        try:
            rel = rel.resolve().relative_to(out_dir.resolve())
        except ValueError:
            pass
        rows.append([r["label"], str(r["seed"]), f"{100 * r['test_acc']:.2f}", f"{r['test_loss']:.4f}",
                     f"{100 * r.get('test_ece', float('nan')):.2f}", f"{r['wall_time']:.1f}", rel.as_posix()])
    rep.table(["norm", "seed", "test acc %", "test loss", "test ECE %", "wall time (s)", "run directory"],
              rows, align=["l", "r", "r", "r", "r", "r", "l"])


def _curve_groups(results: Sequence[dict[str, Any]]) -> dict[str, list[list[dict[str, float]]]]:
    groups: dict[str, list[list[dict[str, float]]]] = {}
    for r in results:
        groups.setdefault(r["label"], []).append(r["history"])
    return groups


def split_sizes(trainer_config: dict[str, Any]) -> tuple[int, int, int]:
    """(train, validation, test) sizes of the runs' data split, rebuilt from the validated trainer config."""
    from ..train import load_config
    from ..train.build import build_data

    tcfg = load_config(trainer_config)
    splits = build_data(tcfg.data, tcfg.seed).splits
    return len(splits.train), len(splits.val), len(splits.test)


def plot_error_rates(groups: dict[str, list[list[dict[str, float]]]], path: Path, sizes: tuple[int, int],
                     title: str = "") -> Path | None:
    """Train and validation error rate (1 - accuracy, %) per epoch on a log axis, mean over seeds with a
    min..max band, so that 93% vs 97% accuracy (7% vs 3% error) is as visible as 60% vs 80%. A zero error
    is drawn at half an image of that split (50 / size %); ``sizes`` = (train, validation) images."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [(k, lbl, n) for k, lbl, n in (("train_acc", "train", sizes[0]),
                                            ("val_acc", "validation", sizes[1]))
              if any(k in row for h in groups.values() for row in h[0])]
    if not panels:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(6.0 * len(panels), 3.8), squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, (key, name, size) in zip(axes.flat, panels):
        floor = 50.0 / max(size, 1)
        for i, (label, histories) in enumerate(groups.items()):
            try:
                epochs, mean, low, high = mean_band(histories, key)
            except ValueError:
                continue
            c = colors[i % len(colors)]
            err = [np.maximum(100 * (1 - v), floor) for v in (mean, high, low)]  # high acc = low error
            ax.plot(epochs, err[0], color=c, lw=1.6, label=f"{label} (n={len(histories)})")
            if len(histories) > 1:
                ax.fill_between(epochs, err[1], err[2], color=c, alpha=0.2, lw=0)
        ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.set_ylabel(f"{name} error rate % (log scale)")
        ax.grid(alpha=0.3, which="both")
        ax.xaxis.get_major_locator().set_params(integer=True)
    axes.flat[0].legend(fontsize=8)
    head = f"{title}: " if title else ""
    fig.suptitle(f"{head}error rate = 100 - accuracy (line: mean over seeds; band: min..max; a zero error "
                 "is drawn at half an image)", fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_report(cfg: Any, results: Sequence[dict[str, Any]], meta: dict[str, Any], out_dir: Path) -> dict:
    """Write plots and ``report.md``/``report.html`` into ``out_dir``; return the numeric summary."""
    plots = out_dir / "plots"
    summary = summarize(results)
    alphas = alpha_traces(results)
    inits = {r["label"]: r["alpha_init"] for r in results if r.get("alpha_init") is not None}
    s_stats = {r["label"]: r["scurve_stats"] for r in results if r.get("scurve_stats")}
    tcfg = meta["trainer_config"]
    num_train, num_val, num_test = split_sizes(tcfg)
    paragraphs = findings(summary, dataset=cfg.dataset, alphas=alphas, alpha_inits=inits, scurves=s_stats,
                          num_test=num_test)

    rep = Report(f"Norm comparison: {', '.join(summary)} on {cfg.dataset}")
    rep.paragraph(
        f"Model {cfg.model} trained on {cfg.dataset} for {cfg.epochs} epochs per run, seeds {cfg.seeds}, "
        f"with every norm layer replaced by the variant named in each row (DyT: Zhu et al., 'Transformers "
        f"without Normalization', CVPR 2025, arXiv:2503.10622). Optimizer {tcfg['optim']['name']} "
        f"(lr {tcfg['optim']['lr']:g}, weight decay {tcfg['optim']['weight_decay']:g}), schedule "
        f"{tcfg['schedule']['name']}, batch size {tcfg['data']['batch_size']}. ECE: expected calibration "
        f"error, 15 bins (Guo et al. 2017, arXiv:1706.04599). {meta['num_runs']} runs took "
        f"{meta['total_wall_time']:.1f} s in total ({meta['workers']} worker process(es), {meta['threads']} "
        f"torch thread(s) each). Accuracy is on the held-out test split of {num_test} images (one test image "
        f"= {100 / num_test:.2f} accuracy points; {num_val} validation images) after the last epoch. Between "
        "variants the findings use Welch's t-test over the seeds' test accuracies (5% level)."
    )
    rep.heading("Findings")
    for p in paragraphs:
        rep.paragraph(p)
    if meta.get("failed"):
        rep.paragraph(f"{len(meta['failed'])} run(s) failed and are left out of every table and figure:")
        rep.bullets([f"{r['label']} seed {r['seed']}: {r['error']}" for r in meta["failed"]])
    rep.heading("Results")
    _summary_table(rep, summary)
    rep.heading("Per-run results", level=3)
    _runs_table(rep, results, out_dir)

    rep.heading("Training curves")
    groups = _curve_groups(results)
    keys = [(k, lbl) for k, lbl in CURVE_KEYS if any(k in row for h in groups.values() for row in h[0])]
    if keys:
        rep.figure(plot_curves(groups, keys, plots / "curves.png", title=f"{cfg.model} on {cfg.dataset}"),
                   "Loss and accuracy per epoch: mean over seeds, band from min to max over seeds.")
        err_path = plot_error_rates(groups, plots / "error_rate.png", (num_train, num_val),
                                    title=f"{cfg.model} on {cfg.dataset}")
        if err_path is not None:
            rep.figure(err_path, "Error rate (100 - accuracy) per epoch on a log scale: small accuracy gaps "
                       "near 100% are visible here.")

    if alphas:
        rep.heading("DyT alpha over training")
        rep.figure(plot_alpha_traces(alphas, plots / "alpha.png", init=inits),
                   "Learnable alpha of every DyT layer after each epoch (mean over seeds).")
        rows = [[label, name, f"{inits.get(label, float('nan')):g}", f"{trace[-1]:.4f}"]
                for label, layers in alphas.items() for name, trace in layers.items() if trace]
        rep.table(["variant", "layer", "alpha init", "alpha final"], rows, align=["l", "l", "r", "r"])

    scurve_runs = [r for r in results if r.get("scurve")]
    if scurve_runs:
        rep.heading("S-curves: input vs output of every norm layer")
        rep.paragraph(
            "Each panel scatters a random subsample of the elements entering a norm layer (x) against what "
            "it outputs before the per-channel affine (y), on real test images, for the first seed of each "
            "variant (as in Figures 1-2 of arXiv:2503.10622). 'compression' is the least-squares slope over "
            "the extreme 5% of |x| divided by the slope over the central half (1 = linear); 'squashed' is "
            "the share of points whose output is under half of the central linear trend."
        )
        for r in scurve_runs:
            pts = r["scurve"]
            path = plot_scurves(pts, plots / f"scurve_{r['slug']}.png",
                                title=f"{r['label']} (seed {r['seed']}): norm input vs output")
            rep.figure(path, f"S-curves of the trained {r['label']} model.")
            stats = r.get("scurve_stats", {})
            rows = [[name, f"{s['central_slope']:.3f}", f"{s['tail_slope']:.3f}", f"{s['compression']:.3f}",
                     f"{100 * s['squashed_fraction']:.1f}"] for name, s in stats.items()]
            if rows:
                rep.table(["layer", "central slope", "tail slope", "compression", "squashed %"], rows,
                          align=["l", "r", "r", "r", "r"])

    rep.heading("Configuration")
    rep.pre(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False).strip())
    rep.heading("Trainer config of the first run", level=3)
    rep.pre(yaml.safe_dump(tcfg, sort_keys=False).strip())
    rep.write(out_dir)
    finals = {lbl: {n: t[-1] for n, t in layers.items() if t} for lbl, layers in alphas.items()}
    summary_dict = {k: v.as_dict() for k, v in summary.items()}
    return {"summary": summary_dict, "findings": paragraphs, "alpha_final": finals, "num_test": num_test,
            "num_val": num_val}
