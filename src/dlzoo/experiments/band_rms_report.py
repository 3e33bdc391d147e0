"""Report of the ``band-rms`` experiment: tables, figures and findings computed from the measured runs.

Findings rules (nothing canned): ranking by mean test accuracy (mean +- sample std over seeds, with the
seed count and the test-set size); every BandRMS variant against every other norm, and the band widths
against each other, by Welch + paired t-tests (:mod:`dlzoo.experiments.seed_compare`); per band width, where
each layer's learned scale ``s`` ended inside ``[1 - a, 1]``: ``position = (s - (1 - a)) / a`` (0 = lower
edge, 1 = upper edge), a layer with position above 0.9 or below 0.1 is called pinned to that edge.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from ..report import Report
from ..report.plots import _save, plot_curves, plt
from .band_rms import band_scale
from .findings import VariantSummary, summarize
from .norm_comparison_report import CURVE_KEYS, _curve_groups, _runs_table
from .orthoblock_report import test_split_caveat
from .seed_compare import compare_seeds, mean_std_text

__all__ = ["band_traces", "findings", "write_report"]


def band_traces(results: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, list[float]]]:
    """``{label: {layer: per-epoch band scale s, mean over seeds}}`` from the ``param/*band_param``
    history."""
    per: dict[str, dict[str, list[list[float]]]] = {}
    for r in results:
        a = r.get("band_width")
        if a is None:
            continue
        traces: dict[str, list[float]] = {}
        for row in r["history"]:
            for key, value in row.items():
                if key.startswith("param/") and key.endswith(".band_param") and value is not None:
                    name = key[len("param/") : -len(".band_param")]
                    traces.setdefault(name, []).append(band_scale(float(value), float(a)))
        for name, trace in traces.items():
            per.setdefault(r["label"], {}).setdefault(name, []).append(trace)
    out: dict[str, dict[str, list[float]]] = {}
    for label, layers in per.items():
        out[label] = {}
        for name, seeds in layers.items():
            n = min(len(s) for s in seeds)
            out[label][name] = [statistics.fmean(s[e] for s in seeds) for e in range(n)]
    return out


def _seeds(results: Sequence[Mapping[str, Any]], label: str) -> list[int]:
    return [r["seed"] for r in results if r["label"] == label]


def findings(
    summary: Mapping[str, VariantSummary],
    results: Sequence[Mapping[str, Any]],
    widths: dict[str, float],
    traces: Mapping[str, Mapping[str, Sequence[float]]],
    num_test: int,
) -> tuple[list[str], list]:
    """Paragraphs and the t-test records behind them."""
    ranked = sorted(summary.values(), key=lambda s: s.acc_mean, reverse=True)
    n_seeds = max(s.n for s in ranked)
    paragraphs = [
        f"{n_seeds} seed(s) per norm; the test split has {num_test} images, so one image is "
        f"{100 / num_test:.2f} accuracy points. Mean test accuracy +- std over seeds: "
        + ", ".join(f"{s.label} {mean_std_text(s.accs, 100)}%" for s in ranked)
        + "."
    ]
    tests = []
    text = []
    bands = [s.label for s in ranked if s.label in widths]
    others = [s.label for s in ranked if s.label not in widths]
    pairs = [(b, o) for b in bands for o in others]
    pairs += [(b, c) for i, b in enumerate(bands) for c in bands[i + 1 :]]
    for a, b in pairs:
        c = compare_seeds(
            a,
            summary[a].accs,
            b,
            summary[b].accs,
            "test accuracy (%)",
            True,
            _seeds(results, a),
            _seeds(results, b),
        )
        tests.append(c.as_dict())
        text.append(c.sentence(scale=100.0))
    if text:
        paragraphs.append(
            "Significance (Welch, and paired over seeds: same seed = same split, init seed and "
            "batch order; significant only when both give p < 0.05): "
            + " ".join(text)
            + " "
            + test_split_caveat(ranked[0].acc_mean, num_test)
        )
    band_text = []
    for label, layers in traces.items():
        a = widths[label]
        finals = {n: t[-1] for n, t in layers.items() if t}
        if not finals:
            continue
        pos = {n: (s - (1 - a)) / a for n, s in finals.items()}
        upper = [n for n, p in pos.items() if p > 0.9]
        lower = [n for n, p in pos.items() if p < 0.1]
        lo_n, hi_n = min(finals, key=finals.get), max(finals, key=finals.get)
        band_text.append(
            f"{label}: the learned scale s (band [{1 - a:g}, 1], init {1 - a / 2:g}) ended at "
            f"{statistics.fmean(finals.values()):.4f} on average over {len(finals)} layers (change from init "
            f"{statistics.fmean(finals.values()) - (1 - a / 2):+.4f}; range "
            f"{finals[lo_n]:.4f} in {lo_n} to {finals[hi_n]:.4f} in {hi_n}); {len(upper)} layer(s) pinned to "
            f"the upper edge, {len(lower)} to the lower edge."
        )
    if band_text:
        paragraphs.append(" ".join(band_text))
    return paragraphs, tests


def _plot_bands(
    traces: Mapping[str, Mapping[str, Sequence[float]]], widths: Mapping[str, float], path: Path
) -> Path:
    n = max(len(traces), 1)
    fig, axes = plt.subplots(1, n, figsize=(5.6 * n, 4.0), squeeze=False)
    cmap = plt.get_cmap("viridis")
    for ax, (label, layers) in zip(axes.flat, traces.items()):
        a = widths[label]
        names = list(layers)
        for j, name in enumerate(names):
            ys = [1 - a / 2, *layers[name]]  # epoch 0: the init band_param = 0
            ax.plot(range(len(ys)), ys, color=cmap(j / max(len(names) - 1, 1)), lw=1.2, label=name)
        for edge in (1 - a, 1.0):
            ax.axhline(edge, color="k", ls="--", lw=0.8)
        ax.set_title(f"{label}: band [{1 - a:g}, 1] (dashed)")
        ax.set_xlabel("epoch")
        ax.set_ylabel("output scale s")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6, ncol=2)
    fig.suptitle("BandRMS learned scale per layer (mean over seeds; colour = depth)")
    fig.tight_layout()
    return _save(fig, path)


def write_report(cfg: Any, results: Sequence[dict[str, Any]], meta: dict[str, Any], out_dir: Path) -> dict:
    """Write plots and ``report.md``/``report.html``; return the numeric summary for ``results.json``."""
    plots = out_dir / "plots"
    summary = summarize(results)
    widths = {r["label"]: float(r["band_width"]) for r in results if r.get("band_width") is not None}
    traces = band_traces(results)
    paragraphs, tests = findings(summary, results, widths, traces, meta["num_test"])
    tcfg = meta["trainer_config"]
    rep = Report(f"BandRMS vs RMSNorm vs LayerNorm: {cfg.model} on {cfg.dataset}")
    rep.paragraph(
        f"Model {cfg.model} trained on {cfg.dataset} for {cfg.epochs} epochs per run, seeds {cfg.seeds}, "
        f"every norm layer replaced by the variant of each row. BandRMS (dl_techniques; on RMSNorm, "
        f"arXiv:1910.07467): y = s x / RMS(x), s = (1 - a) + a sigmoid(5 b) in [1 - a, 1], one scalar b per "
        f"layer; RMSNorm has a "
        f"per-channel gain, LayerNorm centres and has a per-channel gain and bias. Parameters: "
        + ", ".join(f"{k} {v}" for k, v in meta["params"].items())
        + f". Optimizer {tcfg['optim']['name']} (lr {tcfg['optim']['lr']:g}, weight decay "
        f"{tcfg['optim']['weight_decay']:g}), schedule {tcfg['schedule']['name']}, batch size "
        f"{tcfg['data']['batch_size']}. ECE: expected calibration error, 15 bins (arXiv:1706.04599). "
        f"{meta['num_runs']} runs took {meta['total_wall_time']:.1f} s. Accuracy is on the held-out test "
        f"split "
        f"({meta['num_test']} images) after the last epoch."
    )
    rep.heading("Findings")
    for p in paragraphs:
        rep.paragraph(p)
    if meta.get("failed"):
        rep.paragraph(f"{len(meta['failed'])} run(s) failed and are left out of every table and figure:")
        rep.bullets([f"{r['label']} seed {r['seed']}: {r['error']}" for r in meta["failed"]])
    rep.heading("Results")
    rows = [
        [
            s.label,
            str(meta["params"].get(s.label, "")),
            str(s.n),
            mean_std_text(s.accs, 100),
            f"{s.loss_mean:.4f}",
            f"{100 * s.ece_mean:.2f}",
            f"{s.wall_mean:.1f}",
        ]
        for s in sorted(summary.values(), key=lambda s: s.acc_mean, reverse=True)
    ]
    rep.table(
        [
            "norm",
            "params",
            "seeds",
            "test acc % (mean +- std)",
            "test loss (mean)",
            "test ECE % (mean)",
            "wall time / run (s)",
        ],
        rows,
        align=["l", "r", "r", "r", "r", "r", "r"],
    )
    rep.heading("Per-run results", level=3)
    _runs_table(rep, results, out_dir)
    rep.heading("Training curves")
    rep.figure(
        plot_curves(
            _curve_groups(results), CURVE_KEYS, plots / "curves.png", title=f"{cfg.model} on {cfg.dataset}"
        ),
        "Loss and accuracy per epoch: mean over seeds, band from min to max over seeds.",
    )
    if traces:
        rep.heading("BandRMS scale over training")
        rep.figure(
            _plot_bands(traces, widths, plots / "band_scale.png"),
            "Learned output scale s of every BandRMS layer after each epoch (mean over seeds).",
        )
        rep.table(
            ["variant", "layer", "band", "s final", "position in band"],
            [
                [
                    label,
                    name,
                    f"[{1 - widths[label]:g}, 1]",
                    f"{t[-1]:.4f}",
                    f"{(t[-1] - (1 - widths[label])) / widths[label]:.3f}",
                ]
                for label, layers in traces.items()
                for name, t in layers.items()
                if t
            ],
            align=["l", "l", "r", "r", "r"],
        )
    rep.heading("Configuration")
    rep.pre(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False).strip())
    rep.heading("Trainer config of the first run", level=3)
    rep.pre(yaml.safe_dump(tcfg, sort_keys=False).strip())
    rep.write(out_dir)
    return {
        "summary": {k: v.as_dict() for k, v in summary.items()},
        "tests": tests,
        "findings": paragraphs,
        "band_scale_final": {lb: {n: t[-1] for n, t in ly.items() if t} for lb, ly in traces.items()},
    }
