"""``orthoblock``: an MLP whose hidden layers are OrthoBlocks vs the same MLP with plain dense layers.

The fourth seed (the dl_techniques library) compares its ``OrthoBlock`` with dense layers on CIFAR-10.
:class:`dlzoo.nn.OrthoBlock` is ``Dense (orthonormal init) -> centering -> projection onto the unit
sphere -> per-channel scale clamped to [0, 1] -> activation``, trained with the soft-orthogonality
penalty of Bansal, Chen, Wang, "Can We Gain More from Orthogonality Regularizations in Training Deep
CNNs?", NeurIPS 2018, arXiv:1810.09102:

    L = CE(f(x), y) + sum_l ortho_factor * ||W_l W_l^T - I||_F^2        (the smaller Gram of each W_l)

Variants (same hidden widths, ReLU, same optimiser and data order per seed):

* ``dense``: ``Linear -> ReLU`` blocks (torch's default init), no penalty;
* ``orthoblock``: OrthoBlocks with the penalty (``ortho_factor``, 0.01 by default as the seed library);
* ``orthoblock_nopenalty``: OrthoBlocks with ``ortho_factor = 0`` (does the orthonormal init alone stay
  orthonormal?).

Measured per run: test accuracy and loss after the last epoch, and the orthogonality error
``||W W^T - I||_F`` (smaller Gram) of every hidden weight at init and after every epoch. Findings compare
each OrthoBlock variant with ``dense`` by Welch and paired t-tests over seeds.

    dlzoo experiment run orthoblock seeds=[0,1,2] epochs=30
    dlzoo experiment run orthoblock data_root=/data/cifar-10-batches-bin max_train=10000 hidden=[256,256]
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

__all__ = ["OrthoBlockConfig", "VARIANTS", "OrthoMLP", "orthogonality_error", "train_job", "run"]

VARIANTS = ("dense", "orthoblock", "orthoblock_nopenalty")


class OrthoBlockConfig(BaseModel):
    """Settings of the OrthoBlock experiment (every key can be overridden with ``key=value``)."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    variants: list[str] = Field(default_factory=lambda: list(VARIANTS), min_length=1)
    hidden: list[int] = Field(default_factory=lambda: [128, 128], min_length=1, description="hidden widths")
    ortho_factor: float = Field(0.01, ge=0.0, description="penalty weight of the 'orthoblock' variant")
    seeds: list[int] = Field(default_factory=lambda: [0, 1, 2], min_length=1)
    epochs: int = Field(30, ge=1)
    batch_size: int = Field(64, ge=1)
    lr: float = Field(3e-3, gt=0.0)
    weight_decay: float = Field(0.0, ge=0.0)
    data_root: str | None = Field(None, description="folder of CIFAR-10 binary batches (default: digits)")
    max_train: int | None = Field(None, ge=1, description="random subset of the training split")
    workers: int = Field(1, ge=1)
    threads: int = Field(1, ge=1)
    output_dir: str = "runs"


def orthogonality_error(weight: Tensor) -> float:
    """``||W W^T - I||_F`` with the smaller Gram matrix (Bansal et al.'s SO penalty, square-rooted)."""
    from ..losses.regularizers import gram_minus_identity

    return float(torch.linalg.matrix_norm(gram_minus_identity(weight.detach().double())))


class OrthoMLP(nn.Module):
    """Flatten -> hidden blocks (``dense``: Linear -> ReLU; else OrthoBlock with ReLU) -> Linear head.

    (N, C, H, W) -> logits (N, num_classes). ``penalty()`` is the sum of the OrthoBlocks' penalties (0 for
    ``dense``); ``hidden_weights()`` the (out, in) weight of every hidden layer.
    """

    def __init__(
        self, variant: str, in_features: int, hidden: list[int], num_classes: int, ortho_factor: float
    ) -> None:
        super().__init__()
        from ..nn import Linear, OrthoBlock

        if variant not in VARIANTS:
            raise UsageError(f"variants: unknown {variant!r}; known: {', '.join(VARIANTS)}")
        self.variant = variant
        factor = 0.0 if variant == "orthoblock_nopenalty" else ortho_factor
        blocks: list[nn.Module] = []
        width = in_features
        for h in hidden:
            if variant == "dense":
                blocks += [Linear(width, h), nn.ReLU()]
            else:
                blocks.append(OrthoBlock(width, h, act_layer="relu", ortho_factor=factor))
            width = h
        self.blocks = nn.Sequential(*blocks)
        self.head = Linear(width, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.blocks(x.flatten(1)))

    def hidden_weights(self) -> list[Tensor]:
        layers = [getattr(m, "dense", m) for m in self.blocks]  # an OrthoBlock's Linear is its .dense
        return [m.weight for m in layers if isinstance(getattr(m, "weight", None), Tensor)]

    def penalty(self) -> Tensor:
        terms = [m.orthonormal_penalty() for m in self.blocks if hasattr(m, "orthonormal_penalty")]
        return torch.stack(terms).sum() if terms else torch.zeros(())


def train_job(job: dict[str, Any]) -> dict[str, Any]:
    """Train one (variant, seed); return JSON-able results (history holds ``ortho/layer<i>`` per epoch)."""
    import torch.nn.functional as F

    from .image_splits import load_splits
    from .tensor_fit import FitDiverged, diverged_result, fit

    cfg = OrthoBlockConfig.model_validate(job["cfg"])
    splits = load_splits(cfg.data_root, cfg.max_train)
    torch.manual_seed(job["seed"])
    in_features = splits.train.x[0].numel()
    model = OrthoMLP(job["variant"], in_features, cfg.hidden, splits.num_classes, cfg.ortho_factor)

    def ortho() -> dict[str, float]:
        return {f"ortho/layer{i}": orthogonality_error(w) for i, w in enumerate(model.hidden_weights())}

    def loss_fn(m: nn.Module, x: Tensor, y: Tensor) -> Tensor:
        return F.cross_entropy(m(x), y) + m.penalty()

    def evaluate(m: nn.Module) -> dict[str, float]:
        logits = m(splits.val.x)
        return {
            "val_loss": float(F.cross_entropy(logits, splits.val.y)),
            "val_acc": float((logits.argmax(1) == splits.val.y).float().mean()),
            **ortho(),
        }

    init = ortho()
    try:
        res = fit(
            model,
            loss_fn,
            (splits.train.x, splits.train.y),
            epochs=cfg.epochs,
            batch_size=cfg.batch_size,
            lr=cfg.lr,
            weight_decay=cfg.weight_decay,
            seed=job["seed"],
            evaluate=evaluate,
        )
    except FitDiverged as err:  # a result to report, not a crash
        known = {"variant": job["variant"], "params": sum(p.numel() for p in model.parameters())}
        return diverged_result(job, err, **known)
    with torch.no_grad():
        logits = model(splits.test.x)
    run_dir = Path(job["run_dir"])
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in res.history))
    return {
        "label": job["label"],
        "variant": job["variant"],
        "seed": job["seed"],
        "run_dir": job["run_dir"],
        "params": sum(p.numel() for p in model.parameters()),
        "test_acc": float((logits.argmax(1) == splits.test.y).float().mean()),
        "test_loss": float(F.cross_entropy(logits, splits.test.y)),
        "num_test": len(splits.test),
        "num_train": len(splits.train),
        "ortho_init": init,
        "ortho_final": ortho(),
        "wall_time": res.wall_time,
        "history": res.history,
    }


def _make_jobs(cfg: OrthoBlockConfig, out_dir: Path) -> list[dict[str, Any]]:
    if any(h < 1 for h in cfg.hidden):
        raise UsageError(f"hidden: widths must be >= 1, got {cfg.hidden}")
    return variant_seed_jobs(cfg, out_dir, VARIANTS)


@register_experiment(
    "orthoblock",
    config=OrthoBlockConfig,
    description="MLP with OrthoBlock hidden layers (with / without the orthogonality penalty) vs dense",
    paper="Can We Gain More from Orthogonality Regularizations in Training Deep CNNs?",
    year=2018,
    arxiv="1810.09102",
)
def run(cfg: OrthoBlockConfig, out_dir: Path) -> Path:
    """Train every (variant, seed), then write ``results.json``, ``plots/`` and the report."""
    from .image_splits import load_splits
    from .orthoblock_report import write_report
    from .tensor_fit import require_finished

    out_dir = Path(out_dir)
    jobs = _make_jobs(cfg, out_dir)
    load_splits(cfg.data_root, cfg.max_train)  # a bad data_root fails before anything is written
    save_experiment_config(cfg, out_dir)
    start = time.perf_counter()
    results = run_jobs(train_job, jobs, workers=min(cfg.workers, len(jobs)), threads=cfg.threads)
    ok = require_finished("orthoblock", results)
    meta = {
        "total_wall_time": time.perf_counter() - start,
        "num_runs": len(jobs),
        "params": {r["variant"]: r["params"] for r in results},
        "num_test": ok[0]["num_test"],
        "num_train": ok[0]["num_train"],
        "diverged": [r["run_dir"] for r in results if r.get("diverged")],
    }
    report = write_report(cfg, results, meta, out_dir)
    payload = {"meta": meta, **report, "runs": results}
    (out_dir / "results.json").write_text(json.dumps(payload, indent=1))
    return out_dir
