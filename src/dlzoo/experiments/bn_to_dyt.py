"""``bn-to-dyt``: can DyT replace BatchNorm in a ResNet? From scratch (alpha-init sweep) and by conversion.

Zhu, Chen, He, LeCun, Liu, "Transformers without Normalization", CVPR 2025, arXiv:2503.10622, Section 9
(Limitations): DyT(x) = gamma * tanh(alpha * x) + beta "struggles to replace BatchNorm directly in classic
networks like ResNets" (ImageNet-1K top-1: ResNet-50 76.2% with BN vs 68.9% with DyT; VGG19 72.7 vs 71.0).
This experiment checks that claim at laptop scale. Per dataset and seed it trains

* ``bn``: the ResNet with BatchNorm2d (the recipe of ``configs/resnet18_digits.yaml``: SGD + Nesterov,
  lr 0.05, warmup-cosine);
* ``dyt(alpha=a)``: the same network and recipe with every BatchNorm2d replaced by a channels-first DyT
  (gamma, beta of shape (C, 1, 1)), for every ``a`` in ``dyt_alphas``;
* ``bn->dyt(alpha=a) finetuned``: the trained ``bn`` model of the same seed converted with
  :func:`dlzoo.nn.convert_norm` (``source="batchnorm"``, ``to="dyt"``, BN's gamma/beta copied when
  ``finetune_copy_affine``) and fine-tuned for ``finetune_epochs`` with the ``finetune_train`` overrides.
  Its test accuracy right after the conversion (before any fine-tuning) is reported too.

The network is ResNet-18's layout (``layers=(2, 2, 2, 2)``, basic blocks) narrowed to ``width`` channels
in the stem and first stage (``width * (1, 2, 4, 8)`` per stage; 64 = the real resnet18), on the
embedded digits upsampled to 32x32; ``model=resnet50`` switches to bottleneck blocks (3, 4, 6, 3) at the
same widths. ``cifar_root=/path/to/cifar-10-batches-bin`` adds CIFAR-10 (binary format) as a second dataset.
Findings compare every DyT variant with BN by mean +- std over seeds and Welch's t-test; the fine-tuned
model is compared with its own BN source by a paired t-test over seeds.

    dlzoo experiment run bn-to-dyt seeds=[0,1,2] epochs=15 dyt_alphas=[0.5,1.0,2.0] width=16
"""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ..errors import UsageError
from .norm_comparison import _json_default
from .registry import register_experiment
from .runner import (
    diverged_record,
    float_history,
    merge_config,
    run_jobs,
    save_experiment_config,
    train_or_resume,
    validated_trainer_config,
)

__all__ = [
    "BnToDytConfig",
    "DEFAULT_RECIPE",
    "variants",
    "trainer_config",
    "train_job",
    "finetune_job",
    "run",
]

# configs/resnet18_digits.yaml's recipe (the BN baseline's); every variant uses it unchanged.
DEFAULT_RECIPE: dict[str, Any] = {
    "data": {"batch_size": 64, "val_fraction": 0.15, "test_fraction": 0.15, "split_seed": 0},
    "optim": {
        "name": "sgd",
        "lr": 0.05,
        "weight_decay": 5.0e-4,
        "kwargs": {"momentum": 0.9, "nesterov": True},
    },
    "schedule": {"name": "warmup_cosine", "warmup_epochs": 1, "min_lr_ratio": 0.0},
    "train": {"grad_clip": 1.0},
}
# fine-tuning a converted model: a smaller peak lr and a short warmup on top of DEFAULT_RECIPE
DEFAULT_FINETUNE: dict[str, Any] = {"optim": {"lr": 0.01}, "schedule": {"warmup_epochs": 0.5}}

_DATASETS: dict[str, dict[str, Any]] = {
    "digits": {"name": "digits", "img_size": 32},
    "cifar10": {"name": "cifar10", "val_fraction": 0.1, "test_fraction": 0.0},
}


class BnToDytConfig(BaseModel):
    """Settings of the BatchNorm -> DyT study (every key can be overridden with ``key=value``)."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    model: str = Field("resnet18", description="resnet18 (basic blocks) or resnet50 (bottleneck)")
    width: int = Field(16, ge=1, description="stem / first-stage channels (64 = the published network)")
    model_kwargs: dict[str, Any] = Field(default_factory=dict, description="extra kwargs for create_model")
    cifar_root: str | None = Field(None, description="CIFAR-10 binary folder: run on it as well")
    dyt_alphas: list[float] = Field(
        default_factory=lambda: [0.5, 1.0, 2.0], description="alpha inits of the from-scratch DyT runs"
    )
    finetune_alphas: list[float] = Field(
        default_factory=lambda: [1.0], description="alpha inits of the converted BN models ([] = none)"
    )
    finetune_epochs: int = Field(5, ge=1)
    finetune_copy_affine: bool = Field(True, description="copy BN's gamma/beta into the DyT layers")
    finetune_train: dict[str, Any] = Field(
        default_factory=lambda: copy.deepcopy(DEFAULT_FINETUNE),
        description="trainer overrides of the fine-tuning runs",
    )
    seeds: list[int] = Field(default_factory=lambda: [0, 1, 2], min_length=1)
    epochs: int = Field(15, ge=1)
    workers: int = Field(1, ge=1, description="worker processes (1: run in this process)")
    threads: int = Field(1, ge=1, description="torch threads per worker")
    output_dir: str = "runs"
    train: dict[str, Any] = Field(
        default_factory=lambda: copy.deepcopy(DEFAULT_RECIPE),
        description="trainer config overrides (every run)",
    )


def datasets(cfg: BnToDytConfig) -> dict[str, dict[str, Any]]:
    """``{dataset: data config}``: digits, plus CIFAR-10 when ``cifar_root`` is set."""
    out = {"digits": dict(_DATASETS["digits"])}
    if cfg.cifar_root:
        if not Path(cfg.cifar_root).is_dir():
            raise UsageError(f"cifar_root: {cfg.cifar_root!r} is not a directory")
        out["cifar10"] = {**_DATASETS["cifar10"], "root": str(cfg.cifar_root)}
    return out


def model_kwargs(cfg: BnToDytConfig) -> dict[str, Any]:
    """``create_model`` kwargs of the network (``norm_layer`` is set per variant): widths from ``width``."""
    import dlzoo

    try:
        family = dlzoo.model_info(cfg.model).family
    except KeyError:
        family = None
    if family != "resnet":
        raise UsageError(
            f"model: expected a ResNet-family model (resnet18, resnet50, ...), got {cfg.model!r}"
        )
    w = cfg.width
    return {"stem_width": w, "widths": [w, 2 * w, 4 * w, 8 * w], **cfg.model_kwargs}


def variants(cfg: BnToDytConfig) -> list[dict[str, Any]]:
    """From-scratch variants (``kind`` "scratch") then conversions (``kind`` "finetune")."""
    out: list[dict[str, Any]] = [
        {
            "label": "bn",
            "slug": "bn",
            "kind": "scratch",
            "norm": "batchnorm",
            "norm_kwargs": {},
            "alpha_init": None,
        }
    ]
    for a in map(float, cfg.dyt_alphas):
        out.append(
            {
                "label": f"dyt(alpha={a:g})",
                "slug": f"dyt_alpha{a:g}",
                "kind": "scratch",
                "norm": "dyt",
                "norm_kwargs": {"alpha_init": a},
                "alpha_init": a,
            }
        )
    for a in map(float, cfg.finetune_alphas):
        out.append(
            {
                "label": f"bn->dyt(alpha={a:g}) finetuned",
                "slug": f"bn2dyt_alpha{a:g}",
                "kind": "finetune",
                "norm": "dyt",
                "norm_kwargs": {"alpha_init": a},
                "alpha_init": a,
            }
        )
    labels = [v["label"] for v in out]
    if len(set(labels)) != len(labels):
        raise UsageError(f"dyt_alphas / finetune_alphas: duplicate entries {labels}")
    return out


def trainer_config(
    cfg: BnToDytConfig, data: dict[str, Any], variant: dict[str, Any], seed: int, run_dir: Path
) -> dict[str, Any]:
    """Validated trainer config of one run: dataset < ``cfg.train`` (< ``finetune_train``) < per-run keys."""
    base = {
        "model": {"name": cfg.model, "kwargs": model_kwargs(cfg)},
        "data": dict(data),
        "checkpoint": {"every_epochs": 1, "keep_last": 1},
    }
    finetune = variant["kind"] == "finetune"
    train = merge_config(cfg.train, cfg.finetune_train) if finetune else cfg.train
    per_run = {
        "name": f"bn-to-dyt-{variant['slug']}",
        "seed": seed,
        "output_dir": str(run_dir.parent),
        "model": {"kwargs": {"norm_layer": variant["norm"], "norm_kwargs": dict(variant["norm_kwargs"])}},
        "train": {"epochs": cfg.finetune_epochs if finetune else cfg.epochs},
    }
    return validated_trainer_config(base, train, per_run)


def _evaluate(job: dict[str, Any], result: Any) -> dict[str, Any]:
    return {
        "label": job["label"],
        "seed": job["seed"],
        "dataset": job["dataset"],
        "run_dir": str(result.run_dir),
        "test_acc": float(result.test["acc"]),
        "test_loss": float(result.test["loss"]),  # acc in [0, 1]
        "test_size": len(getattr(result.data, "splits", result.data).test),
        "params": sum(p.numel() for p in result.model.parameters()),
        "wall_time": float(result.wall_time),
        "history": float_history(result.history),
    }


def train_job(job: dict[str, Any]) -> dict[str, Any]:
    """Train (or resume) one from-scratch (variant, dataset, seed); return JSON-able results."""
    from ..train import TrainingDiverged

    try:
        result = train_or_resume(job)
    except TrainingDiverged as err:  # a diverged run is a result to report, not a crash
        return {**diverged_record(job, err), "dataset": job["dataset"]}
    return _evaluate(job, result)


def convert_bn_model(source_dir: str | Path, alpha_init: float, copy_affine: bool) -> Any:
    """The trained BN model in ``source_dir`` with every BatchNorm replaced by DyT (``convert_norm``)."""
    import dlzoo

    from ..nn import convert_norm

    model = dlzoo.from_pretrained(source_dir)
    report = convert_norm(model, "dyt", source="batchnorm", copy_affine=copy_affine, alpha_init=alpha_init)
    if not report.replaced or report.skipped:
        raise RuntimeError(
            f"bn-to-dyt: convert_norm replaced {len(report.replaced)} and skipped "
            f"{report.skipped} BatchNorm layers of {source_dir}"
        )
    return report.module


def finetune_job(job: dict[str, Any]) -> dict[str, Any]:
    """Convert the BN run ``job['source_dir']`` to DyT, record its test metrics, then fine-tune it."""
    from ..train import TrainingDiverged, load_config
    from ..train import distributed as D
    from ..train.rundir import holds_run
    from ..train.trainer import Trainer

    trainer = Trainer(
        load_config(job["config"]),
        run_dir=job["run_dir"],
        progress=job.get("progress", False),
        resume=holds_run(job["run_dir"]),
    )
    try:
        converted = convert_bn_model(job["source_dir"], job["alpha_init"], job["copy_affine"]).to(
            trainer.device
        )
        # the converted model before any fine-tuning, on the same test split
        before = trainer.task.evaluate(converted, trainer.data.test_loader, trainer.device, trainer.autocast)
        if trainer.finished is None and trainer.step == 0:  # a fresh start (a resume keeps its checkpoint)
            trainer.model.load_state_dict(converted.state_dict())  # strict: the keys of the DyT ResNet
        result = trainer.fit()
    except TrainingDiverged as err:
        return {**diverged_record(job, err), "dataset": job["dataset"]}
    finally:
        D.cleanup(trainer.dist)
    out = _evaluate(job, result)
    out.update(converted_acc=float(before["acc"]), converted_loss=float(before["loss"]))
    return out


def _jobs(cfg: BnToDytConfig, out_dir: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    scratch, finetune = [], []
    for ds, data in datasets(cfg).items():
        for v in variants(cfg):
            for seed in cfg.seeds:
                run_dir = out_dir / "runs" / ds / f"{v['slug']}_seed{seed}"
                job = {
                    "label": v["label"],
                    "slug": v["slug"],
                    "kind": v["kind"],
                    "norm": v["norm"],
                    "alpha_init": v["alpha_init"],
                    "dataset": ds,
                    "seed": seed,
                    "run_dir": str(run_dir),
                    "epochs": cfg.finetune_epochs if v["kind"] == "finetune" else cfg.epochs,
                    "config": trainer_config(cfg, data, v, seed, run_dir),
                }
                if v["kind"] == "finetune":
                    job.update(
                        source_dir=str(out_dir / "runs" / ds / f"bn_seed{seed}"),
                        copy_affine=cfg.finetune_copy_affine,
                    )
                    finetune.append(job)
                else:
                    scratch.append(job)
    return scratch, finetune


@register_experiment(
    "bn-to-dyt",
    config=BnToDytConfig,
    description="ResNet with BatchNorm vs DyT (alpha 0.5/1/2) from scratch and BN converted + fine-tuned",
    paper="Transformers without Normalization",
    year=2025,
    arxiv="2503.10622",
)
def run(cfg: BnToDytConfig, out_dir: Path) -> Path:
    """Train every from-scratch run, then the conversions; write ``results.json``, plots and the report."""
    from .bn_to_dyt_report import write_report

    out_dir = Path(out_dir)
    scratch, finetune = _jobs(cfg, out_dir)  # validates every trainer config before anything is written
    save_experiment_config(cfg, out_dir)
    workers = min(cfg.workers, len(scratch))
    start = time.perf_counter()
    results = run_jobs(train_job, scratch, workers=workers, threads=cfg.threads)
    bn_ok = {(r["dataset"], r["seed"]) for r in results if r["label"] == "bn" and "error" not in r}
    ready = [j for j in finetune if (j["dataset"], j["seed"]) in bn_ok]  # a diverged BN run has no source
    if ready:
        results += run_jobs(finetune_job, ready, workers=min(cfg.workers, len(ready)), threads=cfg.threads)
    skipped = [
        {
            "label": j["label"],
            "seed": j["seed"],
            "dataset": j["dataset"],
            "run_dir": j["run_dir"],
            "error": "its BN source run failed",
        }
        for j in finetune
        if j not in ready
    ]
    total = time.perf_counter() - start
    by_dir = {j["run_dir"]: j for j in scratch + finetune}
    for res in results:
        job = by_dir[res["run_dir"]]
        res.update(kind=job["kind"], alpha_init=job["alpha_init"], slug=job["slug"])
    ok = [r for r in results if "error" not in r]
    failed = [r for r in results if "error" in r] + skipped
    meta = {
        "total_wall_time": total,
        "workers": workers,
        "threads": cfg.threads,
        "num_runs": len(scratch) + len(finetune),
        "trainer_config": scratch[0]["config"],
        "finetune_config": finetune[0]["config"] if finetune else None,
        "failed": failed,
    }
    if not ok:
        raise RuntimeError(f"bn-to-dyt: every run failed; first error: {failed[0]['error']}")
    report = write_report(cfg, ok, meta, out_dir)
    payload = {"meta": meta, **report, "runs": ok}
    (out_dir / "results.json").write_text(json.dumps(payload, indent=1, default=_json_default))
    return out_dir
