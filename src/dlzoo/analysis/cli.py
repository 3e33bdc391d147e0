"""``dlzoo analyze RUN_DIR [--samples N] [--bins M] [--out DIR]``: an analysis report for a trained run.

Loads the model with :func:`dlzoo.from_pretrained` and the run's ``config.yaml`` (to rebuild the same
data split), evaluates it on the test split and writes ``RUN_DIR/analysis/report.md`` + ``report.html``:
test accuracy / loss, calibration (ECE, MCE with its bin count, Brier score, reliability diagram with gap
bars, confidence histogram), the weight spectra of every Linear/Conv layer (weightwatcher's metrics: ESD
power-law alpha, norms, stable rank; ESD plots and alpha by depth), norm-layer S-curves with tail
statistics, and per-layer activation statistics (kurtosis, dead units, effective rank). The last stdout
line is the analysis directory.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from ..errors import UsageError
from .activation_plots import plot_activation_stats
from .activations import activation_stats
from .calibration import calibration_summary, confidences
from .calibration_plots import plot_confidence_histogram, plot_reliability_diagram
from .scurve import collect_norm_io, find_norm_layers, layer_stats
from .scurve_plots import plot_norm_maps
from .spectra_plots import plot_alpha_by_depth, plot_esd_grid
from .tanh_fit import layer_tanh_fit
from .weight_spectra import weight_spectra

__all__ = ["main", "analyze_run", "load_run"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="dlzoo analyze", description=__doc__.splitlines()[0])
    p.add_argument("run_dir", help="a run directory written by `dlzoo train` (config.yaml + model)")
    p.add_argument("--samples", type=int, default=128, help="test images for S-curves/activations")
    p.add_argument("--bins", type=int, default=15, help="confidence bins for ECE")
    p.add_argument("--out", default=None, help="output directory (default RUN_DIR/analysis)")
    return p


@torch.no_grad()
def _evaluate(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int = 512) -> torch.Tensor:
    model.eval()
    return torch.cat([model(x[i:i + batch]).float() for i in range(0, len(x), batch)])  # (N, K)


def load_run(run_dir: str | Path) -> tuple[Any, torch.nn.Module, torch.Tensor, torch.Tensor]:
    """``(config, model, x_test, y_test)`` of a finished classification run: the model from
    :func:`dlzoo.from_pretrained` (float32, eval) and the test split rebuilt from its ``config.yaml``."""
    from .. import from_pretrained
    from ..train import load_config
    from ..train.build import build_data
    from ..train.tasks import task_name

    run_dir = Path(run_dir)
    for name in ("config.yaml", "config.json", "model.safetensors"):
        if not (run_dir / name).is_file():
            raise UsageError(f"{run_dir} is not a finished run directory: {name} is missing")
    cfg = load_config(run_dir / "config.yaml")
    task = task_name(cfg)
    if task != "classification":
        raise UsageError(f"{run_dir} is a {task} run ({cfg.model.name} on {cfg.data.name}); only "
                         "classification runs can be analysed here")
    model = from_pretrained(run_dir).float()
    splits = build_data(cfg.data, cfg.seed).splits
    return cfg, model, splits.test.x, splits.test.y


def analyze_run(run_dir: str | Path, out_dir: str | Path | None = None, samples: int = 128,
                n_bins: int = 15) -> dict[str, Any]:
    """Evaluate the run's model on its test split and write the analysis report; returns the numbers."""
    from ..report import Report

    run_dir = Path(run_dir)
    cfg, model, x, y = load_run(run_dir)
    logits = _evaluate(model, x, y)
    probs = logits.softmax(-1)
    cal = calibration_summary(probs, y, n_bins)
    result: dict[str, Any] = {
        "test_acc": float((logits.argmax(-1) == y).double().mean()),
        "test_loss": float(F.cross_entropy(logits, y)),
        "ece": cal.ece, "mce": cal.mce, "mce_count": cal.mce_count, "brier": cal.brier,
        "num_test": len(y),
    }
    bins = cal.bins
    out_dir = Path(out_dir) if out_dir is not None else run_dir / "analysis"
    plots = out_dir / "plots"
    batch = x[:samples]

    rep = Report(f"Analysis of {run_dir.name} ({cfg.model.name} on {cfg.data.name})")
    rep.paragraph(f"Run directory {run_dir}; model {cfg.model.name} with kwargs {cfg.model.kwargs}; "
                  f"evaluated on the {len(y)} test images of {cfg.data.name} "
                  f"(split seed {cfg.data.split_seed}; one image = {100 / len(y):.2f} accuracy points).")
    lo, hi = float(bins.lower[cal.mce_bin]), float(bins.upper[cal.mce_bin])
    rep.heading("Test metrics")
    rep.table(["metric", "value"], [["accuracy %", f"{100 * result['test_acc']:.2f}"],
                                    ["cross-entropy", f"{result['test_loss']:.4f}"],
                                    [f"ECE ({n_bins} bins) %", f"{100 * result['ece']:.2f}"],
                                    ["MCE %", f"{100 * result['mce']:.2f}"],
                                    ["MCE bin (predictions in it)",
                                     f"({lo:.3f}, {hi:.3f}] ({cal.mce_count})"],
                                    ["Brier score (sum over classes)", f"{cal.brier:.4f}"]], align=["l", "r"])
    rep.heading("Calibration")
    rep.paragraph("Expected calibration error (Guo et al., 'On Calibration of Modern Neural Networks', "
                  "ICML 2017, arXiv:1706.04599): the count-weighted mean gap between accuracy and mean "
                  "confidence over equal-width confidence bins; MCE is the largest gap of one bin, reported "
                  f"with the number of predictions in that bin ({cal.mce_count} of {cal.num_samples}); the "
                  "Brier score (Brier 1950) is the mean squared error of the probability vector.")
    rep.figure(plot_reliability_diagram(bins, plots / "reliability.png",
                                        title=f"ECE {100 * cal.ece:.2f}%, MCE {100 * cal.mce:.2f}%"),
               "Reliability diagram: accuracy per confidence bin (blue), gap to the bin's mean confidence "
               "(red, hatched), predictions per bin above each bar; the diagonal is perfect calibration.")
    conf, correct = confidences(probs, y)
    rep.figure(plot_confidence_histogram(conf.numpy(), correct.numpy(), plots / "confidence.png", n_bins),
               "Distribution of the confidence (max softmax probability) with the accuracy and the mean "
               "confidence; a mean confidence right of the accuracy is over-confidence.")
    rep.table(["bin", "count", "accuracy %", "mean confidence %", "gap %"],
              [[f"({float(a):.3f}, {float(b):.3f}]", int(c), f"{100 * float(ac):.1f}",
                f"{100 * float(co):.1f}", f"{100 * float(g):.1f}"]
               for a, b, c, ac, co, g in zip(bins.lower, bins.upper, bins.count, bins.accuracy,
                                             bins.confidence, bins.gap) if int(c) > 0],
              align=["l", "r", "r", "r", "r"])
    _weight_spectra_section(rep, model, plots, result)
    if find_norm_layers(model):
        io = collect_norm_io(model, batch, max_points=3000, pre_affine=True)
        io = {n: v for n, v in io.items() if v.x.numel() >= 20}
        stats = {n: layer_stats(v) for n, v in io.items()}  # per channel for BatchNorm/GroupNorm
        fits = {n: layer_tanh_fit(v) for n, v in io.items()}
        result["scurve"] = stats
        result["scurve_tanh_fit"] = fits
        rep.heading("Norm layers: input vs output")
        rep.figure(plot_norm_maps(io, plots / "scurves.png", title="norm input vs output (before affine)",
                                  fits=fits, stats=stats),
                   f"Input vs output of every norm layer on {len(batch)} test images; BatchNorm/GroupNorm "
                   "points coloured by channel and summarised per channel (median; line R^2: worst channel), "
                   "red: tanh fit y ~ gamma tanh(alpha x) + beta of pooled layers.")
        rep.table(["layer", "type", "points", "line R^2", "tanh alpha", "tanh R^2", "central slope",
                   "compression", "squashed %"],
                  [[n, io[n].layer_type, "per channel" if io[n].grouping == "channel" else "pooled",
                    f"{s['linear_r2']:.4f}", f"{fits[n]['alpha']:.3g}", f"{fits[n]['r2']:.4f}",
                    f"{s['central_slope']:.3f}", f"{s['compression']:.3f}",
                    f"{100 * s['squashed_fraction']:.1f}"] for n, s in stats.items()],
                  align=["l", "l", "l"] + ["r"] * 6)
    acts = activation_stats(model, batch)
    result["activations"] = acts
    rep.heading("Activation statistics")
    rep.paragraph(f"On {len(batch)} test images. Kurtosis is the excess kurtosis over all elements (0 for "
                  "a Gaussian); dead units are units that are zero on every image; effective rank (Roy & "
                  "Vetterli 2007) and participation ratio of the centred features range from 1 (one "
                  "direction) to the number of units.")
    rep.table(["module", "mean", "std", "|max|", "zeros %", "outliers (>3 std) %", "tanh saturated %",
               "kurtosis", "dead units %", "eff. rank", "part. ratio", "units"],
              [[n, f"{s['mean']:.3f}", f"{s['std']:.3f}", f"{s['abs_max']:.3f}",
                f"{100 * s['frac_zero']:.1f}", f"{100 * s['frac_outlier']:.2f}",
                f"{100 * s['frac_saturated']:.1f}" if "frac_saturated" in s else "-",
                f"{s['kurtosis']:.2f}", f"{100 * s['dead_units']:.1f}", f"{s['effective_rank']:.1f}",
                f"{s['participation_ratio']:.1f}", int(s["num_units"])]
               for n, s in acts.items()], align=["l"] + ["r"] * 11)
    if acts:
        rep.figure(plot_activation_stats(acts, plots / "activations.png"),
                   "Activation statistics by depth (modules in forward order).")
    rep.write(out_dir)
    result["out_dir"] = str(out_dir)
    return result


def _weight_spectra_section(rep: Any, model: torch.nn.Module, plots: Path, result: dict[str, Any]) -> None:
    spectra = weight_spectra(model)
    result["weight_spectra"] = [sp.as_dict() for sp in spectra]
    rep.heading("Weight spectra")
    if not spectra:
        rep.paragraph("No Linear/Conv layer with at least 8 eigenvalues: nothing to analyse.")
        return
    fitted = [sp.alpha for sp in spectra if sp.alpha > 0]
    result["mean_alpha"] = sum(fitted) / len(fitted) if fitted else float("nan")
    rep.paragraph("Empirical spectral density of each layer's W^T W and its power-law fit, with "
                  "weightwatcher 0.7.7's defaults (Martin & Mahoney, arXiv:1810.01075): conv kernels sliced "
                  "per position and pooled, xmin chosen by the smallest KS distance D. alpha < 2 is flagged "
                  "over-trained and alpha > 6 under-trained by weightwatcher's rule of thumb; a fit with a "
                  "large D (poor power law) or few eigenvalues says little. "
                  f"Mean alpha over {len(fitted)} fitted layers: {result['mean_alpha']:.2f}.")
    rep.table(["layer", "type", "shape", "evals", "alpha", "alpha weighted", "log10 norm",
               "log10 spectral norm", "stable rank", "xmin", "D", "warning"],
              [[sp.name, sp.type, "x".join(map(str, sp.shape)), sp.num_evals, f"{sp.alpha:.3f}",
                f"{sp.alpha_weighted:.3f}", f"{sp.log_norm:.3f}", f"{sp.log_spectral_norm:.3f}",
                f"{sp.stable_rank:.2f}", f"{sp.xmin:.4g}", f"{sp.D:.3f}", sp.warning or "-"]
               for sp in spectra],
              align=["l", "l", "l"] + ["r"] * 8 + ["l"])
    rep.figure(plot_esd_grid(spectra, plots / "esd.png"),
               "ESD (log-log density) of layers spread over depth, with the fitted power law from xmin.")
    rep.figure(plot_alpha_by_depth(spectra, plots / "alpha_depth.png"),
               "Power-law exponent alpha of every layer by depth, with weightwatcher's bands.")


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    if not Path(args.run_dir).is_dir():
        raise UsageError(f"run directory {args.run_dir!r} does not exist")
    if args.samples < 1 or args.bins < 1:
        raise UsageError("--samples and --bins must be >= 1")
    res = analyze_run(args.run_dir, args.out, samples=args.samples, n_bins=args.bins)
    print(f"test acc {100 * res['test_acc']:.2f}%  loss {res['test_loss']:.4f}  ECE {100 * res['ece']:.2f}%  "
          f"Brier {res['brier']:.4f}")
    print(f"report: {Path(res['out_dir']) / 'report.html'}")
    print(res["out_dir"])
    return 0
