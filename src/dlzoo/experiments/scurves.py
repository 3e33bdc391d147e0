"""``scurves``: input-output maps of every norm layer of a trained ViT (LayerNorm), a trained ResNet
(BatchNorm) and a deeper, longer-trained ViT, with a tanh fit per layer.

Zhu, Chen, He, LeCun, Liu, "Transformers without Normalization", CVPR 2025, arXiv:2503.10622, Figures 1-2:
in trained ViTs, the deep LayerNorms map their inputs along tanh-like S-curves (most points on a line,
extremes squashed), which motivates DyT(x) = gamma * tanh(alpha * x) + beta; the early layers are close to
linear. This experiment trains small models here and measures where that shape does and does not appear:

* every norm layer's (input, output-before-affine) samples on real test images
  (:func:`dlzoo.analysis.scurve.collect_norm_io`); per-token LayerNorm points are pooled over tokens (the
  paper's view), BatchNorm points are kept per channel (its eval map is exactly linear per channel);
* :func:`dlzoo.analysis.scurve.layer_stats` (linear-fit R^2, squashed fraction, tail compression; per
  channel for BatchNorm) and :func:`dlzoo.analysis.tanh_fit.layer_tanh_fit` (alpha, gamma, R^2);
* a report with a panel grid per model, alpha / reach / squashed fraction / fit quality by depth, per-layer
  tables and findings computed from those numbers.

    dlzoo experiment run scurves deep_vit.epochs=200 deep_vit.kwargs.depth=12 deep_vit.kwargs.embed_dim=128

Each model is one training run (``vit``, ``resnet``, ``deep_vit``: ``model``, ``kwargs``, ``epochs`` and
trainer overrides ``train``); ``seed``, ``samples`` (test images fed through each model) and ``points``
(sampled points per layer) are shared. ``dlzoo experiment run --resume DIR`` reads finished runs back.
"""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from .registry import register_experiment
from .runner import (
    diverged_record,
    float_history,
    run_jobs,
    save_experiment_config,
    train_or_resume,
    validated_trainer_config,
)

__all__ = ["ModelSpec", "ScurvesConfig", "MODEL_KEYS", "trainer_config", "train_job", "measure_maps", "run"]

MODEL_KEYS = ("vit", "resnet", "deep_vit")

# The ViT recipe of configs/vit_digits.yaml (AdamW, lr 3e-3, see norm_comparison.DEFAULT_RECIPE) and the
# ResNet recipe of configs/resnet18_digits.yaml (SGD + Nesterov, lr 0.05, 32x32 inputs), at a width that
# trains in seconds here (resnet18 layout, 16-128 channels).
_VIT_TRAIN: dict[str, Any] = {"optim": {"lr": 3.0e-3}}
_RESNET_TRAIN: dict[str, Any] = {
    "optim": {
        "name": "sgd",
        "lr": 0.05,
        "weight_decay": 5.0e-4,
        "kwargs": {"momentum": 0.9, "nesterov": True},
    },
    "data": {"img_size": 32},
}


class ModelSpec(BaseModel):
    """One trained model of the study."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    label: str
    model: str
    kwargs: dict[str, Any] = Field(default_factory=dict, description="create_model kwargs")
    epochs: int = Field(ge=1)
    train: dict[str, Any] = Field(default_factory=dict, description="trainer config overrides")


def _vit() -> ModelSpec:
    return ModelSpec(
        label="ViT (LayerNorm)",
        model="vit_tiny_digits",
        kwargs={"norm_layer": "layernorm"},
        epochs=20,
        train=copy.deepcopy(_VIT_TRAIN),
    )


def _resnet() -> ModelSpec:
    return ModelSpec(
        label="ResNet-18 layout (BatchNorm)",
        model="resnet18",
        kwargs={"norm_layer": "batchnorm", "stem_width": 16, "widths": [16, 32, 64, 128]},
        epochs=10,
        train=copy.deepcopy(_RESNET_TRAIN),
    )


# The "pretrained-like" ViT: depth 8, dim 96, 150 epochs without weight decay. Probes on this machine (seed 0,
# 2 Dec 2026, S-shaped as classified in scurves_report): 60 epochs wd 0.05: 0 of 17 norm layers; 60 epochs
# wd 0: 0 of 17; depth 12 dim 64, 150 epochs wd 0.05: 0 of 25; 150 epochs wd 0: 6 of 17 (norm layers 3-7
# and 12, reach up to 1.4, inputs up to |x| ~ 30). One seed each: a description of these runs, not a law.
_DEEP_VIT_TRAIN: dict[str, Any] = {"optim": {"lr": 3.0e-3, "weight_decay": 0.0}}


def _deep_vit() -> ModelSpec:
    return ModelSpec(
        label="deep ViT (LayerNorm, longer training)",
        model="vit_tiny_digits",
        kwargs={"norm_layer": "layernorm", "depth": 8, "embed_dim": 96, "num_heads": 4},
        epochs=150,
        train=copy.deepcopy(_DEEP_VIT_TRAIN),
    )


class ScurvesConfig(BaseModel):
    """Settings of the S-curve study (every key can be overridden with ``key=value``, ``vit.epochs=5``)."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    vit: ModelSpec = Field(
        default_factory=_vit, description="ViT with LayerNorm (label, model, kwargs, epochs, train)"
    )
    resnet: ModelSpec = Field(default_factory=_resnet, description="ResNet with BatchNorm (same keys)")
    deep_vit: ModelSpec = Field(
        default_factory=_deep_vit,
        description="deeper ViT trained longer, the 'pretrained-like' one (same keys)",
    )
    dataset: str = "digits"
    seed: int = 0
    samples: int = Field(64, ge=1, description="test images fed through each trained model")
    points: int = Field(
        4000, ge=100, description="sampled points per norm layer (per-channel: >= 32/channel)"
    )
    linear_r2: float = Field(
        0.99, gt=0, lt=1, description="a layer with linear-fit R^2 above this is 'linear'"
    )
    workers: int = Field(2, ge=1, description="worker processes (1: run in this process)")
    threads: int = Field(1, ge=1, description="torch threads per worker")
    output_dir: str = "runs"


def trainer_config(cfg: ScurvesConfig, key: str, run_dir: Path) -> dict[str, Any]:
    """Validated trainer config of model ``key``: trainer defaults < ``spec.train`` < per-run settings."""
    spec: ModelSpec = getattr(cfg, key)
    base = {
        "model": {"name": spec.model, "kwargs": dict(spec.kwargs)},
        "data": {"name": cfg.dataset},
        "checkpoint": {"every_epochs": 1, "keep_last": 1},
    }
    per_run = {
        "name": f"scurves-{key}",
        "seed": cfg.seed,
        "output_dir": str(run_dir.parent),
        "train": {"epochs": spec.epochs},
    }
    return validated_trainer_config(base, spec.train, per_run)


def measure_maps(model: Any, images: Any, points: int, seed: int) -> dict[str, dict[str, Any]]:
    """Per norm layer (forward order): its samples (numpy x, y, channel), type, grouping, ``stats``
    (:func:`layer_stats`) and ``tanh`` (:func:`layer_tanh_fit`), on the batch ``images``."""
    import torch

    from ..analysis.scurve import collect_norm_io, layer_stats
    from ..analysis.tanh_fit import layer_tanh_fit

    with torch.no_grad():
        ios = collect_norm_io(model, images, max_points=points, pre_affine=True, seed=seed)
    out = {}
    for name, io in ios.items():
        if io.x.numel() < 20:
            continue
        out[name] = {
            "x": io.x.numpy(),
            "y": io.y.numpy(),
            "channel": io.channel.numpy() if io.channel is not None else None,
            "layer_type": io.layer_type,
            "grouping": io.grouping,
            "affine_removed": io.affine_removed,
            "stats": layer_stats(io),
            "tanh": layer_tanh_fit(io),
        }
    return out


def train_job(job: dict[str, Any]) -> dict[str, Any]:
    """Train (or resume) one model, then measure every norm layer's map on real test images."""
    from ..train import TrainingDiverged

    try:
        result = train_or_resume(job)
    except TrainingDiverged as err:
        return diverged_record(job, err)
    splits = getattr(result.data, "splits", result.data)
    model = result.model.cpu().float().eval()
    images = splits.test.x[: job["samples"]].float()  # (B, C, H, W) real test images
    return {
        "label": job["label"],
        "key": job["key"],
        "seed": job["seed"],
        "run_dir": str(result.run_dir),
        "test_acc": float(result.test["acc"]),
        "test_loss": float(result.test["loss"]),
        "num_test": len(splits.test.y),
        "num_images": len(images),
        "wall_time": float(result.wall_time),
        "history": float_history(result.history),
        "layers": measure_maps(model, images, job["points"], job["seed"]),
    }


def _make_jobs(cfg: ScurvesConfig, out_dir: Path) -> list[dict[str, Any]]:
    jobs = []
    for key in MODEL_KEYS:
        spec: ModelSpec = getattr(cfg, key)
        run_dir = out_dir / "runs" / key
        jobs.append(
            {
                "label": spec.label,
                "key": key,
                "seed": cfg.seed,
                "epochs": spec.epochs,
                "run_dir": str(run_dir),
                "config": trainer_config(cfg, key, run_dir),
                "samples": cfg.samples,
                "points": cfg.points,
            }
        )
    return jobs


@register_experiment(
    "scurves",
    config=ScurvesConfig,
    description="norm-layer input-output maps (S-curves) + tanh fits of a trained ViT (LN), ResNet (BN) "
    "and a deeper ViT, on the embedded digits",
    paper="Transformers without Normalization",
    year=2025,
    arxiv="2503.10622",
)
def run(cfg: ScurvesConfig, out_dir: Path) -> Path:
    """Train the three models, then write ``results.json``, ``plots/`` and ``report.md``/``report.html``."""
    from .scurves_report import write_report

    out_dir = Path(out_dir)
    jobs = _make_jobs(cfg, out_dir)  # validates every trainer config before anything is written
    save_experiment_config(cfg, out_dir)
    workers = min(cfg.workers, len(jobs))
    start = time.perf_counter()
    results = run_jobs(train_job, jobs, workers=workers, threads=cfg.threads)
    total = time.perf_counter() - start
    ok = [r for r in results if "error" not in r]
    failed = [r for r in results if "error" in r]
    if not ok:
        raise RuntimeError(f"scurves: every run failed; first error: {failed[0]['error']}")
    meta = {
        "total_wall_time": total,
        "workers": workers,
        "threads": cfg.threads,
        "failed": failed,
        "trainer_configs": {j["key"]: j["config"] for j in jobs},
    }
    report = write_report(cfg, ok, meta, out_dir)
    serial = [
        {
            **{k: v for k, v in r.items() if k != "layers"},
            "layers": {
                n: {k: v for k, v in lay.items() if k not in ("x", "y", "channel")}
                for n, lay in r["layers"].items()
            },
        }
        for r in ok
    ]
    payload = {"meta": meta, **report, "runs": serial}
    (out_dir / "results.json").write_text(json.dumps(payload, indent=1, default=str))
    return out_dir
