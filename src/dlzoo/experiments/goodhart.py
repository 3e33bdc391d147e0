"""``goodhart``: GoodhartAwareLoss vs cross-entropy on digits with a planted spurious cue.

The fourth seed (the dl_techniques library) tests its ``GoodhartAwareLoss``
(:class:`dlzoo.losses.GoodhartAwareLoss`: ``CE - entropy_weight * H(p(y|x)) + mi_weight * I(X; Y_hat)``, a
confidence penalty, Pereyra et al. 2017, arXiv:1701.06548, plus a batch estimate of the information
bottleneck term, Tishby et al. 2000) on spurious correlations: does it lean less on a shortcut feature?
The shortcut here is planted. Every image gets one extra input channel, zero except a patch (value 1,
``max(1, H // 8)`` pixels wide) at one of ``K`` fixed positions: the position encodes a class, the *cue*.

    train and val:      cue = y for a random fraction p of the examples, another class for the rest
    test, cue present:  the same rule (a fixed draw shared by every run)
    test, cue random:   the same rule with p = 1/K: the cue is independent of y (the shortcut removed)

(:func:`draw_cues`: exact fractions, the wrong cues spread evenly over the other classes.) A classifier
that reads only the cue scores p with the cue present and 1/K with it random; one that
reads only the digit scores the same on both. The gap ``acc(present) - acc(random)`` measures reliance on
the cue. Variants: ``cross_entropy``, ``goodhart`` (its two weights configurable) and the reference
``no_cue`` (cross-entropy trained with random cues: what the digit alone gives this MLP).

    dlzoo experiment run goodhart seeds=[0,1,2] cue_p=0.95 entropy_weight=0.1 mi_weight=0.01
    dlzoo experiment run goodhart data_root=/data/cifar-10-batches-bin max_train=10000
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import Tensor, nn

from ..errors import UsageError
from .registry import register_experiment
from .runner import run_jobs, save_experiment_config, variant_seed_jobs

__all__ = [
    "GoodhartConfig",
    "VARIANTS",
    "TEST_CUE_SEED",
    "cue_positions",
    "draw_cues",
    "plant_cue",
    "read_cue",
    "train_job",
    "run",
]

VARIANTS = ("cross_entropy", "goodhart", "no_cue")
TEST_CUE_SEED = 20240  # the test-set cue draws, identical for every run


class GoodhartConfig(BaseModel):
    """Settings of the Goodhart experiment (every key can be overridden with ``key=value``)."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    variants: list[str] = Field(default_factory=lambda: list(VARIANTS), min_length=1)
    cue_p: float = Field(0.95, ge=0.0, le=1.0, description="P(cue = label) in train, val and present-test")
    entropy_weight: float = Field(0.1, ge=0.0)
    mi_weight: float = Field(0.01, ge=0.0)
    hidden: list[int] = Field(default_factory=lambda: [128, 128], min_length=1)
    seeds: list[int] = Field(default_factory=lambda: [0, 1, 2], min_length=1)
    epochs: int = Field(30, ge=1)
    batch_size: int = Field(64, ge=1)
    lr: float = Field(3e-3, gt=0.0)
    weight_decay: float = Field(0.0, ge=0.0)
    data_root: str | None = Field(None, description="folder of CIFAR-10 binary batches (default: digits)")
    max_train: int | None = Field(None, ge=1)
    workers: int = Field(1, ge=1)
    threads: int = Field(1, ge=1)
    output_dir: str = "runs"


def cue_positions(num_classes: int, height: int, width: int) -> tuple[int, list[tuple[int, int]]]:
    """Patch size and the top-left corner of each class's patch: a grid with a gap of one patch."""
    size = max(1, height // 8)
    cols = max(1, (width + size) // (2 * size))
    rows = -(-num_classes // cols)
    if rows * 2 * size - size > height:
        raise ValueError(f"cue_positions: {num_classes} patches of {size} px do not fit in {height}x{width}")
    return size, [((k // cols) * 2 * size, (k % cols) * 2 * size) for k in range(num_classes)]


def draw_cues(y: Tensor, p: float, num_classes: int, generator: torch.Generator) -> Tensor:
    """Cues (N,) int64 with exactly ``round(p N)`` examples (a random subset) cued with their label and the
    rest with ``(y + r) mod K``, the offsets ``r`` in ``1..K-1`` used equally often (random order).
    ``p = 1/K`` gives a cue independent of the label: every offset ``(cue - y) mod K`` equally often."""
    n = y.shape[0]
    perm = torch.randperm(n, generator=generator)
    offsets = torch.zeros(n, dtype=torch.long)
    rest = perm[int(round(p * n)) :]
    offsets[rest] = torch.arange(rest.numel()) % (num_classes - 1) + 1
    return (y + offsets) % num_classes


def plant_cue(x: Tensor, cue: Tensor, num_classes: int) -> Tensor:
    """Append the cue channel: (N, C, H, W) -> (N, C + 1, H, W), one patch of 1s at ``cue``'s position."""
    n, _, h, w = x.shape
    size, pos = cue_positions(num_classes, h, w)
    channel = torch.zeros(n, 1, h, w, dtype=x.dtype)
    for k, (r, c) in enumerate(pos):
        channel[cue == k, :, r : r + size, c : c + size] = 1.0
    return torch.cat([x, channel], dim=1)


def read_cue(x: Tensor, num_classes: int) -> Tensor:
    """The classifier that reads only the cue: the class whose patch is brightest in the last channel."""
    _, _, h, w = x.shape
    size, pos = cue_positions(num_classes, h, w)
    scores = torch.stack([x[:, -1, r : r + size, c : c + size].mean((-2, -1)) for r, c in pos], 1)  # (N, K)
    return scores.argmax(1)


def _cued(splits: Any, p: float, seed: int) -> dict[str, tuple[Tensor, Tensor]]:
    """Train/val with the cue rule (draws from ``seed``), test present/random (fixed draws)."""
    k = splits.num_classes
    g = torch.Generator().manual_seed(seed)
    gt = torch.Generator().manual_seed(TEST_CUE_SEED)
    yt = splits.test.y
    return {
        "train": (plant_cue(splits.train.x, draw_cues(splits.train.y, p, k, g), k), splits.train.y),
        "val_present": (plant_cue(splits.val.x, draw_cues(splits.val.y, p, k, g), k), splits.val.y),
        "val_random": (
            plant_cue(splits.val.x, torch.randint(0, k, splits.val.y.shape, generator=g), k),
            splits.val.y,
        ),
        "test_present": (plant_cue(splits.test.x, draw_cues(yt, p, k, gt), k), yt),
        "test_random": (plant_cue(splits.test.x, draw_cues(yt, 1.0 / k, k, gt), k), yt),
    }


def train_job(job: dict[str, Any]) -> dict[str, Any]:
    """Train one (variant, seed); return JSON-able results."""
    import torch.nn.functional as F

    from ..losses import GoodhartAwareLoss
    from ..models.mlp import MlpClassifier
    from .image_splits import load_splits
    from .tensor_fit import FitDiverged, diverged_result, fit

    cfg = GoodhartConfig.model_validate(job["cfg"])
    splits = load_splits(cfg.data_root, cfg.max_train)
    k = splits.num_classes
    p = 1.0 / k if job["variant"] == "no_cue" else cfg.cue_p  # 1/K: a cue independent of y
    data = _cued(splits, p, job["seed"])
    torch.manual_seed(job["seed"])
    model = MlpClassifier(
        num_classes=k,
        in_chans=splits.in_chans + 1,
        img_size=splits.img_size,
        hidden_dims=cfg.hidden,
        norm_layer="identity",
        act_layer="relu",
    )
    criterion: nn.Module = (
        GoodhartAwareLoss(cfg.entropy_weight, cfg.mi_weight)
        if job["variant"] == "goodhart"
        else GoodhartAwareLoss(0.0, 0.0)
    )  # zero weights: exactly cross-entropy

    def acc(m: nn.Module, split: str) -> float:
        x, y = data[split]
        return float((m(x).argmax(1) == y).float().mean())

    def evaluate(m: nn.Module) -> dict[str, float]:
        x, y = data["val_present"]
        return {
            "val_loss": float(F.cross_entropy(m(x), y)),
            "val_acc_present": acc(m, "val_present"),
            "val_acc_random": acc(m, "val_random"),
        }

    try:
        res = fit(
            model,
            lambda m, x, y: criterion(m(x), y),
            data["train"],
            epochs=cfg.epochs,
            batch_size=cfg.batch_size,
            lr=cfg.lr,
            weight_decay=cfg.weight_decay,
            seed=job["seed"],
            evaluate=evaluate,
        )
    except FitDiverged as err:  # a result to report, not a crash
        return diverged_result(job, err, variant=job["variant"])
    with torch.no_grad():
        probs = model(data["test_present"][0]).softmax(1)
        out = {f"test_acc_{c}": acc(model, f"test_{c}") for c in ("present", "random")}
    run_dir = Path(job["run_dir"])
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in res.history))
    return {
        "label": job["label"],
        "variant": job["variant"],
        "seed": job["seed"],
        "run_dir": job["run_dir"],
        **out,
        "test_acc": out["test_acc_random"],
        "gap": out["test_acc_present"] - out["test_acc_random"],
        "test_entropy": float(-(probs * probs.clamp_min(1e-12).log()).sum(1).mean()),
        "train_cue_agreement": float((read_cue(data["train"][0], k) == data["train"][1]).float().mean()),
        "num_test": len(splits.test),
        "num_train": len(splits.train),
        "wall_time": res.wall_time,
        "history": res.history,
    }


def cue_only_accuracy(data_root: str | None, max_train: int | None, p: float) -> dict[str, float]:
    """Accuracy of :func:`read_cue` on the two test sets (the planted cue's own strength)."""
    from .image_splits import load_splits

    splits = load_splits(data_root, max_train)
    data = _cued(splits, p, 0)
    return {
        c: float((read_cue(data[f"test_{c}"][0], splits.num_classes) == data[f"test_{c}"][1]).float().mean())
        for c in ("present", "random")
    }


def _make_jobs(cfg: GoodhartConfig, out_dir: Path) -> list[dict[str, Any]]:
    if any(h < 1 for h in cfg.hidden):
        raise UsageError(f"hidden: widths must be >= 1, got {cfg.hidden}")
    return variant_seed_jobs(cfg, out_dir, VARIANTS)


@register_experiment(
    "goodhart",
    config=GoodhartConfig,
    description="GoodhartAwareLoss vs cross-entropy on digits with a planted spurious cue (present / random)",
    paper="(dl_techniques library idea; not a paper) GoodhartAwareLoss",
)
def run(cfg: GoodhartConfig, out_dir: Path) -> Path:
    """Train every (variant, seed), then write ``results.json``, ``plots/`` and the report."""
    from .goodhart_report import write_report
    from .tensor_fit import require_finished

    out_dir = Path(out_dir)
    jobs = _make_jobs(cfg, out_dir)
    oracle = cue_only_accuracy(cfg.data_root, cfg.max_train, cfg.cue_p)  # bad data_root: fails here
    save_experiment_config(cfg, out_dir)
    start = time.perf_counter()
    results = run_jobs(train_job, jobs, workers=min(cfg.workers, len(jobs)), threads=cfg.threads)
    ok = require_finished("goodhart", results)
    meta = {
        "total_wall_time": time.perf_counter() - start,
        "num_runs": len(jobs),
        "cue_only_acc": oracle,
        "num_test": ok[0]["num_test"],
        "num_train": ok[0]["num_train"],
        "diverged": [r["run_dir"] for r in results if r.get("diverged")],
    }
    report = write_report(cfg, results, meta, out_dir)
    payload = {"meta": meta, **report, "runs": results}
    (out_dir / "results.json").write_text(json.dumps(payload, indent=1))
    return out_dir
