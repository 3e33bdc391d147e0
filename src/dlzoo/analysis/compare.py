"""``dlzoo compare RUN_DIR... --out DIR``: several trained classifiers side by side on their test set.

Each run is loaded exactly as ``dlzoo analyze`` loads it (:func:`dlzoo.analysis.cli.load_run`: the model
from ``from_pretrained`` and the test split rebuilt from ``config.yaml``). For every model: test accuracy
with its Wilson score interval, mean cross-entropy with a percentile-bootstrap interval, calibration
(ECE/MCE/Brier, reliability diagram, confidence histogram), the weight spectra (weightwatcher's alpha by
depth) and 2-D embeddings (PCA, t-SNE) of the penultimate features. When every run has the same test
examples (same data, same split), each pair of models gets paired tests on those examples: the exact
McNemar test on the discordant predictions, and a paired bootstrap of the accuracy and loss differences;
p-values are Holm-adjusted over the pairs (:mod:`dlzoo.analysis.significance`). Writes
``DIR/report.md``, ``DIR/report.html``, ``DIR/plots/*.png`` and ``DIR/results.json``; the last stdout
line is ``DIR``.

A run is one trained model (one seed): a significant paired test says that these two trained models
differ on this test set, not that their variants differ across seeds.

A ``RUN_DIR`` may also be an experiment directory (one with a ``runs/`` folder, e.g. a ``norm-comparison``
output): it stands for its finished runs (``runs/*`` holding ``config.yaml``, ``config.json`` and
``model.safetensors``), in name order, each labelled by its folder name; its unfinished ones (a diverged
run keeps no final model) are listed as skipped. A directory that is neither a run nor an experiment with
finished runs is refused in one line (:func:`expand_run_dirs`).
"""

from __future__ import annotations

import argparse
import itertools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import UsageError
from .calibration import CalibrationSummary, calibration_summary, expected_calibration_error
from .cli import load_run
from .embedding import logits_and_features, pca, tsne
from .significance import (
    bootstrap_mean_ci,
    holm_adjust,
    mcnemar_from_correct,
    paired_bootstrap,
    wilson_interval,
)
from .weight_spectra import LayerSpectrum, weight_spectra

__all__ = ["RunEval", "evaluate_run", "expand_run_dirs", "compare_runs", "pairwise_tests", "main"]

RUN_FILES = ("config.yaml", "config.json", "model.safetensors")  # what a finished run directory holds


@dataclass
class RunEval:
    """One run evaluated on its test split: per-example correctness and loss, calibration, spectra."""

    label: str
    run_dir: Path
    model_name: str
    dataset: str
    seed: int  # the run's training seed
    x: torch.Tensor  # (N, ...) test inputs
    y: torch.Tensor  # (N,) labels
    logits: torch.Tensor  # (N, K)
    features: torch.Tensor | None  # (N, D) penultimate features
    calibration: CalibrationSummary
    spectra: list[LayerSpectrum]

    @property
    def correct(self) -> np.ndarray:
        return (self.logits.argmax(-1) == self.y).numpy()  # (N,) bool

    @property
    def losses(self) -> np.ndarray:
        return F.cross_entropy(self.logits.double(), self.y, reduction="none").numpy()  # (N,)


def evaluate_run(run_dir: str | Path, label: str, n_bins: int = 15) -> RunEval:
    """Load one run (as ``dlzoo analyze`` does) and evaluate it on its test split."""
    run_dir = Path(run_dir)
    cfg, model, x, y = load_run(run_dir)
    logits, feats = logits_and_features(model, x)
    return RunEval(
        label,
        run_dir,
        cfg.model.name,
        cfg.data.name,
        cfg.seed,
        x,
        y,
        logits,
        feats,
        calibration_summary(logits.softmax(-1), y, n_bins),
        weight_spectra(model),
    )


def _is_finished_run(path: Path) -> bool:
    return all((path / name).is_file() for name in RUN_FILES)


def expand_run_dirs(paths: list[str | Path]) -> tuple[list[Path], list[Path]]:
    """``(runs, skipped)``: each path as given when it is a run directory (``config.yaml``, no ``runs/``
    folder), or, for an experiment directory (a ``runs/`` folder), its finished runs in name order;
    ``skipped``: the experiments' run folders without a final model. A missing directory, or one that is
    neither, raises :class:`UsageError` naming it."""
    runs: list[Path] = []
    skipped: list[Path] = []
    for d in map(Path, paths):
        if not d.is_dir():
            raise UsageError(f"run directory {str(d)!r} does not exist")
        if (d / "runs").is_dir() and not _is_finished_run(d):
            inside = sorted(p for p in (d / "runs").iterdir() if p.is_dir())
            finished = [p for p in inside if _is_finished_run(p)]
            if not finished:
                raise UsageError(
                    f"{d} is an experiment directory but none of its {len(inside)} runs/ folders is a "
                    f"finished run ({', '.join(RUN_FILES)})"
                )
            runs += finished
            skipped += [p for p in inside if p not in finished]
        elif (d / "config.yaml").is_file():
            runs.append(d)
        else:
            raise UsageError(
                f"{d} is neither a run directory ({', '.join(RUN_FILES)}) nor an experiment directory "
                f"with finished runs in runs/"
            )
    return runs, skipped


def _labels(run_dirs: list[Path]) -> list[str]:
    """The folder names; where two are equal, prefixed with the folder above (the experiment's for an
    experiment's ``runs/<name>``), else numbered."""
    names = [p.name for p in run_dirs]
    if len(set(names)) == len(names):
        return names
    names = [f"{(p.parent.parent if p.parent.name == 'runs' else p.parent).name}/{p.name}" for p in run_dirs]
    return names if len(set(names)) == len(names) else [f"{i}:{p.name}" for i, p in enumerate(run_dirs)]


def _same_test_set(evals: list[RunEval]) -> bool:
    ref = evals[0]
    return all(
        e.y.shape == ref.y.shape
        and torch.equal(e.y, ref.y)
        and e.x.shape == ref.x.shape
        and torch.equal(e.x, ref.x)
        for e in evals[1:]
    )


def pairwise_tests(evals: list[RunEval], n_boot: int = 2000, seed: int = 0) -> list[dict[str, Any]]:
    """Every pair (A, B) in input order: exact McNemar on correctness, paired bootstrap of the accuracy and
    loss differences (A - B); ``p_*_holm`` are the Holm-adjusted p-values over all pairs."""
    rows = []
    for a, b in itertools.combinations(evals, 2):
        mc = mcnemar_from_correct(a.correct, b.correct)
        acc = paired_bootstrap(a.correct, b.correct, n_boot=n_boot, seed=seed)
        loss = paired_bootstrap(a.losses, b.losses, n_boot=n_boot, seed=seed)
        rows.append(
            {
                "a": a.label,
                "b": b.label,
                "mcnemar_b": mc.b,
                "mcnemar_c": mc.c,
                "p_mcnemar": mc.p,
                "acc_diff": acc.diff,
                "acc_diff_low": acc.low,
                "acc_diff_high": acc.high,
                "p_acc_bootstrap": acc.p,
                "loss_diff": loss.diff,
                "loss_diff_low": loss.low,
                "loss_diff_high": loss.high,
                "p_loss_bootstrap": loss.p,
            }
        )
    for key in ("p_mcnemar", "p_acc_bootstrap", "p_loss_bootstrap"):
        for row, adj in zip(rows, holm_adjust([r[key] for r in rows])):
            row[f"{key}_holm"] = adj
    return rows


def _embeddings(evals: list[RunEval], samples: int, use_tsne: bool, seed: int) -> dict[str, dict[str, Any]]:
    """PCA and t-SNE of each model's penultimate features on one shared random subset of test examples."""
    out: dict[str, dict[str, Any]] = {}
    for e in evals:
        if e.features is None or len(e.y) < 5:
            continue
        gen = np.random.default_rng(seed)
        idx = np.sort(gen.choice(len(e.y), size=min(samples, len(e.y)), replace=False))
        f = e.features[idx].double().numpy()  # (S, D)
        k = 2 if min(f.shape) >= 2 else 1
        p = pca(f, n_components=k)
        entry: dict[str, Any] = {
            "idx": idx,
            "labels": e.y[idx].numpy(),
            "correct": e.correct[idx],
            "pca": p.scores if k == 2 else np.c_[p.scores, np.zeros(len(idx))],
            "pca_ratio": p.explained_variance_ratio.tolist(),
            "dim": int(f.shape[1]),
        }
        if use_tsne:
            entry["tsne"] = tsne(f, seed=seed)
        out[e.label] = entry
    return out


def _ece_interval(e: RunEval, n_boot: int, seed: int, confidence: float) -> tuple[float, float]:
    """Percentile-bootstrap interval of the ECE (test examples resampled with replacement)."""
    probs, n = e.logits.double().softmax(-1), len(e.y)
    idx = torch.as_tensor(np.random.default_rng(seed).integers(0, n, size=(n_boot, n)))  # (B, N)
    eces = np.array(
        [expected_calibration_error(probs[i], e.y[i], e.calibration.bins.count.numel()) for i in idx]
    )
    tail = (1 - confidence) / 2
    return float(np.quantile(eces, tail)), float(np.quantile(eces, 1 - tail))


def _run_summary(e: RunEval, n_boot: int, seed: int, confidence: float) -> dict[str, Any]:
    n = len(e.y)
    k = int(e.correct.sum())
    acc_lo, acc_hi = wilson_interval(k, n, confidence)
    loss_lo, loss_hi = bootstrap_mean_ci(e.losses, n_boot=n_boot, confidence=confidence, seed=seed)
    fitted = [s.alpha for s in e.spectra if s.alpha > 0]
    cal = e.calibration
    ece_lo, ece_hi = _ece_interval(e, min(n_boot, 500), seed, confidence)
    return {
        "label": e.label,
        "run_dir": str(e.run_dir),
        "model": e.model_name,
        "seed": e.seed,
        "dataset": e.dataset,
        "num_test": n,
        "num_correct": k,
        "test_acc": k / n,
        "acc_low": acc_lo,
        "acc_high": acc_hi,
        "test_loss": float(e.losses.mean()),
        "loss_low": loss_lo,
        "loss_high": loss_hi,
        "ece": cal.ece,
        "ece_low": ece_lo,
        "ece_high": ece_hi,
        "mce": cal.mce,
        "mce_count": cal.mce_count,
        "brier": cal.brier,
        "mean_confidence": cal.mean_confidence,
        "num_features": None if e.features is None else int(e.features.shape[1]),
        "layers_fitted": len(fitted),
        "mean_alpha": float(np.mean(fitted)) if fitted else float("nan"),
        "weight_spectra": [s.as_dict() for s in e.spectra],
    }


def compare_runs(
    run_dirs: list[str | Path],
    out_dir: str | Path,
    n_bins: int = 15,
    n_boot: int = 2000,
    embed_samples: int = 500,
    use_tsne: bool = True,
    seed: int = 0,
    confidence: float = 0.95,
) -> dict[str, Any]:
    """Evaluate every run (an experiment directory: each of its finished runs, see
    :func:`expand_run_dirs`), write the comparison report into ``out_dir`` and return its numbers."""
    from .compare_report import write_compare_report

    dirs, skipped = expand_run_dirs(list(run_dirs))
    if len(dirs) < 2:
        raise UsageError(
            f"compare needs at least two runs, got {len(dirs)}"
            + (f" ({dirs[0]})" if dirs else "")
            + (f"; skipped unfinished {', '.join(map(str, skipped))}" if skipped else "")
        )
    if n_bins < 1 or n_boot < 1 or embed_samples < 5:
        raise UsageError(
            f"--bins and --boot must be >= 1 and --embed-samples >= 5, got {n_bins}, {n_boot}, "
            f"{embed_samples}"
        )
    evals = [evaluate_run(d, label, n_bins) for d, label in zip(dirs, _labels(dirs))]
    shared = _same_test_set(evals)
    result: dict[str, Any] = {
        "runs": [_run_summary(e, n_boot, seed, confidence) for e in evals],
        "skipped": [str(p) for p in skipped],  # experiments' run folders without a final model
        "shared_test_set": shared,
        "pairs": pairwise_tests(evals, n_boot, seed) if shared else [],
        "n_boot": n_boot,
        "n_bins": n_bins,
        "confidence": confidence,
        "seed": seed,
    }
    emb = _embeddings(evals, embed_samples, use_tsne, seed)
    result["embedding"] = {
        k: {"samples": len(v["idx"]), "pca_explained_variance_ratio": v["pca_ratio"], "feature_dim": v["dim"]}
        for k, v in emb.items()
    }
    out = Path(out_dir)
    result["findings"] = write_compare_report(evals, result, emb, out)
    (out / "results.json").write_text(json.dumps(result, indent=1, default=_json_default))
    result["out_dir"] = str(out)
    return result


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "tolist"):
        return obj.tolist()
    return str(obj)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="dlzoo compare",
        description=(
            "Several trained classifiers side by side on their test set: intervals, paired tests (exact "
            "McNemar, paired bootstrap), calibration, weight spectra, PCA/t-SNE of penultimate features."
        ),
    )
    p.add_argument(
        "run_dirs",
        nargs="+",
        metavar="RUN_DIR",
        help="run directories (config.yaml + model), or experiment directories (runs/: each finished run)",
    )
    p.add_argument("--out", required=True, help="output directory of the report")
    p.add_argument("--bins", type=int, default=15, help="confidence bins for ECE (default 15)")
    p.add_argument("--boot", type=int, default=2000, help="bootstrap resamples (default 2000)")
    p.add_argument("--embed-samples", type=int, default=500, help="test examples embedded (default 500)")
    p.add_argument("--no-tsne", action="store_true", help="skip the t-SNE embedding (PCA only)")
    p.add_argument("--seed", type=int, default=0, help="seed of the bootstrap and the embeddings")
    return p


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    res = compare_runs(
        args.run_dirs,
        args.out,
        n_bins=args.bins,
        n_boot=args.boot,
        embed_samples=args.embed_samples,
        use_tsne=not args.no_tsne,
        seed=args.seed,
    )
    for path in res["skipped"]:
        print(f"skipped {path}: not a finished run (no final model)")
    for r in res["runs"]:
        print(
            f"{r['label']}: test acc {100 * r['test_acc']:.2f}% [{100 * r['acc_low']:.2f}, "
            f"{100 * r['acc_high']:.2f}]  loss {r['test_loss']:.4f}  ECE {100 * r['ece']:.2f}%"
        )
    print(f"report: {Path(res['out_dir']) / 'report.html'}")
    print(res["out_dir"])
    return 0
