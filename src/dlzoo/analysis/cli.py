"""``dlzoo analyze RUN_DIR [--samples N] [--bins M] [--out DIR]``: an analysis report for a trained run.

Loads the model with :func:`dlzoo.from_pretrained` and the run's ``config.yaml`` (to rebuild the same
data split), evaluates it on the test split and writes ``RUN_DIR/analysis/report.md`` + ``report.html``:
test accuracy / loss, calibration (ECE, MCE, reliability diagram), norm-layer S-curves with tail
statistics, and per-layer activation statistics. The last stdout line is the analysis directory.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from ..errors import UsageError
from .activations import activation_stats
from .calibration import expected_calibration_error, max_calibration_error, reliability_bins
from .scurve import collect_norm_io, find_norm_layers, tail_stats

__all__ = ["main", "analyze_run"]


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


def analyze_run(run_dir: str | Path, out_dir: str | Path | None = None, samples: int = 128,
                n_bins: int = 15) -> dict[str, Any]:
    """Evaluate the run's model on its test split and write the analysis report; returns the numbers."""
    from .. import from_pretrained
    from ..report import Report
    from ..report.plots import plot_reliability, plot_scurves
    from ..train import load_config
    from ..train.build import build_data

    run_dir = Path(run_dir)
    for name in ("config.yaml", "config.json", "model.safetensors"):
        if not (run_dir / name).is_file():
            raise UsageError(f"{run_dir} is not a finished run directory: {name} is missing")
    cfg = load_config(run_dir / "config.yaml")
    model = from_pretrained(run_dir).float()
    splits = build_data(cfg.data, cfg.seed).splits
    x, y = splits.test.x, splits.test.y
    logits = _evaluate(model, x, y)
    probs = logits.softmax(-1)
    result: dict[str, Any] = {
        "test_acc": float((logits.argmax(-1) == y).double().mean()),
        "test_loss": float(F.cross_entropy(logits, y)),
        "ece": expected_calibration_error(probs, y, n_bins),
        "mce": max_calibration_error(probs, y, n_bins),
        "num_test": len(y),
    }
    bins = reliability_bins(probs, y, n_bins)
    out_dir = Path(out_dir) if out_dir is not None else run_dir / "analysis"
    plots = out_dir / "plots"
    batch = x[:samples]

    rep = Report(f"Analysis of {run_dir.name} ({cfg.model.name} on {cfg.data.name})")
    rep.paragraph(f"Run directory {run_dir}; model {cfg.model.name} with kwargs {cfg.model.kwargs}; "
                  f"evaluated on the {len(y)} test images of {cfg.data.name} "
                  f"(split seed {cfg.data.split_seed}).")
    rep.heading("Test metrics")
    rep.table(["metric", "value"], [["accuracy %", f"{100 * result['test_acc']:.2f}"],
                                    ["cross-entropy", f"{result['test_loss']:.4f}"],
                                    [f"ECE ({n_bins} bins) %", f"{100 * result['ece']:.2f}"],
                                    ["MCE %", f"{100 * result['mce']:.2f}"]], align=["l", "r"])
    rep.heading("Calibration")
    rep.paragraph("Expected calibration error (Guo et al., 'On Calibration of Modern Neural Networks', "
                  "ICML 2017, arXiv:1706.04599): the count-weighted mean gap between accuracy and mean "
                  "confidence over equal-width confidence bins.")
    rep.figure(plot_reliability(bins.confidence.tolist(), bins.accuracy.tolist(), bins.count.tolist(),
                                plots / "reliability.png", title=f"ECE {100 * result['ece']:.2f}%"),
               "Reliability diagram: accuracy per confidence bin; the diagonal is perfect calibration.")
    if find_norm_layers(model):
        io = collect_norm_io(model, batch, max_points=3000, pre_affine=True)
        stats = {n: tail_stats(v.x, v.y) for n, v in io.items() if v.x.numel() >= 20}
        result["scurve"] = stats
        rep.heading("Norm layers: input vs output")
        rep.figure(plot_scurves({n: (v.x.numpy(), v.y.numpy()) for n, v in io.items()}, plots / "scurves.png",
                                title="norm input vs output (before affine)"),
                   f"Input vs output of every norm layer on {len(batch)} test images.")
        rep.table(["layer", "type", "central slope", "compression", "squashed %"],
                  [[n, io[n].layer_type, f"{s['central_slope']:.3f}", f"{s['compression']:.3f}",
                    f"{100 * s['squashed_fraction']:.1f}"] for n, s in stats.items()],
                  align=["l", "l", "r", "r", "r"])
    acts = activation_stats(model, batch)
    result["activations"] = acts
    rep.heading("Activation statistics")
    rep.table(["module", "mean", "std", "|max|", "zeros %", "outliers (>3 std) %", "tanh saturated %"],
              [[n, f"{s['mean']:.3f}", f"{s['std']:.3f}", f"{s['abs_max']:.3f}",
                f"{100 * s['frac_zero']:.1f}", f"{100 * s['frac_outlier']:.2f}",
                f"{100 * s['frac_saturated']:.1f}" if "frac_saturated" in s else "-"]
               for n, s in acts.items()], align=["l", "r", "r", "r", "r", "r", "r"])
    rep.write(out_dir)
    result["out_dir"] = str(out_dir)
    return result


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    if not Path(args.run_dir).is_dir():
        raise UsageError(f"run directory {args.run_dir!r} does not exist")
    if args.samples < 1 or args.bins < 1:
        raise UsageError("--samples and --bins must be >= 1")
    res = analyze_run(args.run_dir, args.out, samples=args.samples, n_bins=args.bins)
    print(f"test acc {100 * res['test_acc']:.2f}%  loss {res['test_loss']:.4f}  ECE {100 * res['ece']:.2f}%")
    print(f"report: {Path(res['out_dir']) / 'report.html'}")
    print(res["out_dir"])
    return 0
