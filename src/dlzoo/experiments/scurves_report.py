"""Report of the ``scurves`` experiment: per-model panel grids, depth profiles, per-layer tables, findings.

Each layer is classified from its numbers (:func:`classify`):

* ``linear``: the least-squares line explains more than ``linear_r2`` (default 0.99) of the output variance
  (for per-channel layers: in every channel);
* ``S-shaped``: not linear, the fitted tanh bends (``reach = alpha * q99|x| >= 1``: at the 99th-percentile
  input it is at least 24% below its tangent) and it explains the map better than the line, leaving at most
  ``RESIDUAL_RATIO`` (0.8) of the variance the line leaves unexplained. The rest of the residual is the
  spread around any single curve: LayerNorm maps each token with its own mean and scale, so the pooled
  points form a band, not a curve;
* ``neither``: not linear and not bent that way (a straight-ish band, or a tanh that does not help).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
import yaml

from ..analysis.scurve import NormIO
from ..analysis.scurve_plots import plot_depth_profiles, plot_norm_maps
from ..report import Report

__all__ = ["classify", "format_ranges", "model_findings", "write_report"]


MIN_REACH = 1.0
RESIDUAL_RATIO = 0.8


def classify(stats: Mapping[str, float], tanh: Mapping[str, float], linear_r2: float = 0.99) -> str:
    """``"linear"``, ``"S-shaped"`` or ``"neither"`` (module docstring)."""
    lin = stats["linear_r2"]
    if lin >= linear_r2:
        return "linear"
    if tanh["reach"] >= MIN_REACH and (1.0 - tanh["r2"]) <= RESIDUAL_RATIO * (1.0 - lin):
        return "S-shaped"
    return "neither"


def format_ranges(idx: Sequence[int]) -> str:
    """``[1, 2, 3, 5, 7, 8]`` -> ``"1-3, 5, 7-8"``."""
    idx = sorted(idx)
    parts: list[str] = []
    i = 0
    while i < len(idx):
        j = i
        while j + 1 < len(idx) and idx[j + 1] == idx[j] + 1:
            j += 1
        parts.append(str(idx[i]) if i == j else f"{idx[i]}-{idx[j]}")
        i = j + 1
    return ", ".join(parts)


def _layers(idx: Sequence[int]) -> str:
    return f"layer {idx[0]} is" if len(idx) == 1 else f"layers {format_ranges(idx)} are"


def model_findings(run: Mapping[str, Any], linear_r2: float = 0.99) -> str:
    """One paragraph on where one trained model's norm maps are linear, S-shaped or neither."""
    layers = list(run["layers"].items())
    n = len(layers)
    acc = 100 * run["test_acc"]
    head = (
        f"{run['label']} ({n} norm layers; test accuracy {acc:.2f}% on {run['num_test']} test images, "
        f"one image = {100 / run['num_test']:.2f} points; one seed; maps measured on "
        f"{run['num_images']} test images): "
    )
    if not layers:
        return head + "no norm layer with enough points to measure."
    classes = {i + 1: classify(lay["stats"], lay["tanh"], linear_r2) for i, (_, lay) in enumerate(layers)}
    per_channel = [lay for _, lay in layers if lay["grouping"] == "channel"]
    text = []
    lin = [i for i, c in classes.items() if c == "linear"]
    s_idx = [i for i, c in classes.items() if c == "S-shaped"]
    other = [i for i, c in classes.items() if c == "neither"]
    if per_channel and len(per_channel) == n and len(lin) == n:
        worst = min(lay["stats"]["linear_r2"] for lay in per_channel)
        pooled = max(lay["stats"]["pooled_squashed_fraction"] for lay in per_channel)
        pooled_c = min(lay["stats"]["pooled_compression"] for lay in per_channel)
        text.append(
            f"all {n} layers are linear per channel (worst per-channel 1 - R^2 of a line {1 - worst:.1e}, "
            f"colour = channel in the panels), as BatchNorm in eval mode must be: "
            f"y_c = (x - mean_c) / sqrt(var_c + eps). Pooling the channels, as a per-token analysis would, "
            f"reports up to {100 * pooled:.1f}% 'squashed' points and tail compression down to "
            f"{pooled_c:.2f}x: an artefact of mixing lines with different slopes, not an S-curve."
        )
        return head + " ".join(text)
    if lin:
        worst = min(layers[i - 1][1]["stats"]["linear_r2"] for i in lin)
        text.append(f"{_layers(lin)} linear (R^2 of a line >= {worst:.3f} > {linear_r2:g})")
    if s_idx:
        r2_t = [layers[i - 1][1]["tanh"]["r2"] for i in s_idx]
        r2_l = [layers[i - 1][1]["stats"]["linear_r2"] for i in s_idx]
        reach = [layers[i - 1][1]["tanh"]["reach"] for i in s_idx]
        sq = [layers[i - 1][1]["stats"]["squashed_fraction"] for i in s_idx]
        text.append(
            f"{_layers(s_idx)} S-shaped (tanh-fit R^2 {min(r2_t):.3f}-{max(r2_t):.3f} vs "
            f"{min(r2_l):.3f}-{max(r2_l):.3f} for a line; the 99th-percentile input reaches alpha*x = "
            f"{min(reach):.2f}-{max(reach):.2f} into the tanh; squashed points "
            f"{100 * min(sq):.1f}-{100 * max(sq):.1f}%)"
        )
    else:
        text.append("no layer is S-shaped by this test")
    if other:
        r2_t = [layers[i - 1][1]["tanh"]["r2"] for i in other]
        r2_l = [layers[i - 1][1]["stats"]["linear_r2"] for i in other]
        reach = [layers[i - 1][1]["tanh"]["reach"] for i in other]
        bent = " (< 1: even the extremes stay in the tanh's near-linear range)" if max(reach) < 1 else ""
        text.append(
            f"{_layers(other)} neither (line R^2 {min(r2_l):.3f}-{max(r2_l):.3f} < {linear_r2:g}; the tanh "
            f"fit reaches R^2 {min(r2_t):.3f}-{max(r2_t):.3f} with reach {min(reach):.2f}-"
            f"{max(reach):.2f}{bent}; the spread around any one curve comes from per-token (or per-sample) "
            "statistics that differ)"
        )
    best = max(range(n), key=lambda i: layers[i][1]["stats"]["squashed_fraction"])
    name, lay = layers[best]
    text.append(
        f"The most squashed map is layer {best + 1} ({name}): "
        f"{100 * lay['stats']['squashed_fraction']:.1f}% of points under half the central linear trend, "
        f"tail compression {lay['stats']['compression']:.2f}x, "
        f"tanh-fit alpha {lay['tanh']['alpha']:.3g}"
    )
    return head + "; ".join(text[:-1]) + ". " + text[-1] + "."


def _io(lay: Mapping[str, Any]) -> NormIO:
    ch = lay.get("channel")
    return NormIO(
        torch.as_tensor(lay["x"]),
        torch.as_tensor(lay["y"]),
        lay["layer_type"],
        bool(lay["affine_removed"]),
        torch.as_tensor(ch) if ch is not None else None,
        lay["grouping"],
    )


def _layer_table(rep: Report, run: Mapping[str, Any], linear_r2: float) -> None:
    rows = []
    for i, (name, lay) in enumerate(run["layers"].items()):
        s, t = lay["stats"], lay["tanh"]
        chan = lay["grouping"] == "channel"
        rows.append(
            [
                str(i + 1),
                name,
                lay["layer_type"],
                "per channel" if chan else "pooled",
                f"{s['linear_r2']:.4f}",
                f"{t['r2']:.4f}",
                f"{t['alpha']:.3g}",
                f"{t['reach']:.3g}",
                f"{100 * s['squashed_fraction']:.1f}",
                f"{s['compression']:.2f}",
                f"{100 * s['pooled_squashed_fraction']:.1f}" if chan else "-",
                classify(s, t, linear_r2),
            ]
        )
    rep.table(
        [
            "#",
            "layer",
            "type",
            "points",
            "line R^2",
            "tanh R^2",
            "alpha",
            "reach",
            "squashed %",
            "compression",
            "pooled squashed %",
            "shape",
        ],
        rows,
        align=["r", "l", "l", "l", "r", "r", "r", "r", "r", "r", "r", "l"],
    )


def write_report(cfg: Any, runs: Sequence[dict[str, Any]], meta: dict[str, Any], out_dir: Path) -> dict:
    """Write plots and ``report.md``/``report.html`` into ``out_dir``; return the findings and per-layer
    classes."""
    plots = out_dir / "plots"
    paragraphs = [model_findings(r, cfg.linear_r2) for r in runs]
    counts = {
        r["label"]: sum(
            classify(lay["stats"], lay["tanh"], cfg.linear_r2) == "S-shaped" for lay in r["layers"].values()
        )
        for r in runs
    }
    vit = [r for r in runs if r["key"] in ("vit", "deep_vit")]
    if len(vit) == 2:
        parts = [f"{r['label']} {counts[r['label']]} of {len(r['layers'])}" for r in vit]
        where = []
        for r in vit:
            cls = [classify(lay["stats"], lay["tanh"], cfg.linear_r2) for lay in r["layers"].values()]
            half = len(cls) / 2
            early = sum(c == "S-shaped" for i, c in enumerate(cls) if i < half)
            if early or counts[r["label"]]:
                where.append(
                    f"in {r['label']} {early} of its {counts[r['label']]} S-shaped layers lie in the "
                    "first half of the depth"
                )
        paragraphs.append(
            f"S-shaped layers: {' vs '.join(parts)}{'; ' + '; '.join(where) if where else ''}. The paper "
            "(Zhu et al. 2025, Figures 1-2) finds the S-shape in the deeper LayerNorms of large ImageNet "
            "ViTs and near-linear maps in early layers; these are single runs of small models on 8x8 digits, "
            "so the counts describe these trained weights only and no difference between models is tested "
            "for significance."
        )
    rep = Report(f"S-curves of norm layers: {', '.join(r['label'] for r in runs)} on {cfg.dataset}")
    rep.paragraph(
        "Input x of every norm layer against its output y before the per-channel affine, on real test "
        "images, as in Figures 1-2 of Zhu, Chen, He, LeCun, Liu, 'Transformers without Normalization', CVPR "
        "2025, arXiv:2503.10622. LayerNorm points are pooled over tokens and features (each token is mapped "
        "linearly, with its own mean and scale, so pooling shows the S-shape if there is one); BatchNorm "
        "points are kept per channel (in eval mode it is one straight line per channel), coloured by channel "
        "and summarised channel by channel. Each layer gets a least-squares tanh fit y ~ gamma tanh(alpha x) "
        "+ beta (per channel for BatchNorm); reach = alpha * (99th percentile of |x|) says how far into the "
        f"tanh the data go. Seed {cfg.seed}; {meta['total_wall_time']:.1f} s in total ({meta['workers']} "
        f"worker process(es), {meta['threads']} torch thread(s) each)."
    )
    rep.heading("Findings")
    for p in paragraphs:
        rep.paragraph(p)
    rep.paragraph(
        f"Shape classes: 'linear' = a line explains more than {cfg.linear_r2:g} of the output variance (in "
        f"every channel for per-channel layers); 'S-shaped' = not linear, reach >= {MIN_REACH:g} and the "
        f"tanh fit leaves at most {RESIDUAL_RATIO:g}x the unexplained variance of the line (the rest is the "
        "per-token spread around any single curve); 'neither' otherwise. 'squashed' = share of points "
        "with |x| above the median whose output is under half of the central linear trend; 'compression' = "
        "slope over the extreme 5% of |x| / slope over the central half (1 = linear)."
    )
    if meta.get("failed"):
        rep.paragraph(f"{len(meta['failed'])} run(s) failed and are left out:")
        rep.bullets([f"{r['label']}: {r['error']}" for r in meta["failed"]])
    rep.heading("Models")
    rep.table(
        ["model", "architecture", "epochs", "test acc %", "test loss", "norm layers", "wall time (s)"],
        [
            [
                r["label"],
                getattr(cfg, r["key"]).model,
                str(getattr(cfg, r["key"]).epochs),
                f"{100 * r['test_acc']:.2f}",
                f"{r['test_loss']:.4f}",
                str(len(r["layers"])),
                f"{r['wall_time']:.1f}",
            ]
            for r in runs
        ],
        align=["l", "l", "r", "r", "r", "r", "r"],
    )
    profiles = {}
    for r in runs:
        profiles[r["label"]] = [
            {
                **lay["tanh"],
                "squashed_fraction": lay["stats"]["squashed_fraction"],
                "linear_r2": lay["stats"]["linear_r2"],
            }
            for lay in r["layers"].values()
        ]
    rep.heading("By depth")
    rep.figure(
        plot_depth_profiles(profiles, plots / "depth.png"),
        "Tanh-fit alpha, reach, squashed fraction and fit quality of every norm layer in forward order "
        "(per-channel layers: medians over channels; 1 - R^2 uses the worst channel for the line and is "
        "drawn at 1e-12 when smaller).",
    )
    for r in runs:
        rep.heading(f"{r['label']}: every norm layer")
        ios = {n: _io(lay) for n, lay in r["layers"].items()}
        fits = {n: lay["tanh"] for n, lay in r["layers"].items()}
        stats = {n: lay["stats"] for n, lay in r["layers"].items()}
        path = plot_norm_maps(
            ios,
            plots / f"maps_{r['key']}.png",
            title=f"{r['label']}: norm input vs output",
            fits=fits,
            stats=stats,
        )
        rep.figure(
            path,
            f"Input vs output (before the affine) of the {len(ios)} norm layers of the trained "
            f"{r['label']}, numbered in forward order; red: pooled tanh fit.",
        )
        _layer_table(rep, r, cfg.linear_r2)
    rep.heading("Configuration")
    rep.pre(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False).strip())
    rep.write(out_dir)
    classes = {
        r["label"]: {n: classify(lay["stats"], lay["tanh"], cfg.linear_r2) for n, lay in r["layers"].items()}
        for r in runs
    }
    return {"findings": paragraphs, "classes": classes}
