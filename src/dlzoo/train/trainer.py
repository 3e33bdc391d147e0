"""The training loop: ``train(cfg) -> TrainResult``, resumable bit for bit on CPU.

One run writes ``runs/<name>/<timestamp>/`` (layout in ARCHITECTURE.md, "Runs on disk"): ``config.yaml``,
metrics (jsonl, csv, TensorBoard), ``checkpoints/``, ``results.json`` and the final model (``config.json`` +
``model.safetensors``, loadable with ``dlzoo.from_pretrained``).

Reproducibility: the model is built right after seeding torch/numpy/python; the data order of epoch
``e`` is drawn from a generator seeded by ``(seed, e)``; a checkpoint stores weights, optimizer,
scheduler, GradScaler, the position inside the epoch, the running epoch sums and every RNG state, so
a run killed at any point and resumed from its last checkpoint replays exactly the same arithmetic.
"""

from __future__ import annotations

import math
import os
import random
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..data.augment import BatchAugment
from ..errors import UsageError
from ..hub import atomic_write_bytes, save_pretrained
from ..optim.clip import clip_grad_norm_
from . import distributed as D
from .build import (
    TrainData,
    autocast_context,
    build_data,
    build_loss,
    build_model,
    build_optimizer,
    build_scheduler,
    select_device,
)
from .checkpoint import (
    capture_rng_state,
    latest_checkpoint,
    load_checkpoint,
    remove_stale_temporaries,
    restore_rng_state,
    save_checkpoint,
)
from .config import LossConfig, TrainConfig, config_to_yaml, load_config
from .metrics import MetricsLogger, Progress

__all__ = ["train", "resume", "TrainResult", "TrainingDiverged", "Trainer", "make_run_dir"]


class TrainingDiverged(RuntimeError):
    """The loss or gradient norm became NaN/Inf; the last good checkpoint is kept."""


@dataclass
class TrainResult:
    """What :func:`train` returns (see the module docstring for the files in ``run_dir``)."""

    run_dir: Path
    model: nn.Module
    history: list[dict[str, Any]]
    test: dict[str, float]
    wall_time: float
    data: TrainData


def make_run_dir(cfg: TrainConfig) -> Path:
    """``<output_dir>/<name>/<UTC timestamp>/``, suffixed ``-1``, ``-2``, ... if it already exists."""
    base = Path(cfg.output_dir) / cfg.name / datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    path, i = base, 0
    while path.exists():
        i += 1
        path = base.with_name(f"{base.name}-{i}")
    return path


class Trainer:
    """Builds every component from a :class:`TrainConfig` and runs (or resumes) the loop."""

    def __init__(self, cfg: TrainConfig, run_dir: str | Path | None = None, progress: bool = True,
                 resume: bool = False) -> None:
        self.cfg = cfg
        loop = cfg.train
        self.device = select_device(loop.device)
        if loop.deterministic and self.device.type == "cuda":
            # deterministic cuBLAS needs a fixed workspace, set before its first handle is created
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
            torch.backends.cudnn.benchmark = False
        self.dist = D.init_from_env(self.device.type)
        if self.dist.enabled and self.device.type == "cuda":
            self.device = torch.device("cuda", self.dist.local_rank)
        self.autocast = lambda: autocast_context(loop, self.device)
        self.autocast()  # validate amp/device now
        _seed_everything(cfg.seed)
        self.data = build_data(cfg.data, cfg.seed, self.dist.rank, self.dist.world_size)
        self.model = build_model(cfg.model, self.data.splits).to(self.device)
        self.forward_model = D.wrap_model(self.model, self.dist, self.device)
        if loop.compile:
            self.forward_model = torch.compile(self.forward_model)
        self.steps_per_epoch = len(self.data.train_loader)
        self.total_steps = loop.epochs * self.steps_per_epoch
        if loop.max_steps is not None:
            self.total_steps = min(self.total_steps, loop.max_steps)
        self.optimizer = build_optimizer(cfg.optim, self.model)
        self.scheduler = build_scheduler(cfg.schedule, self.optimizer, self.steps_per_epoch, self.total_steps)
        aug = cfg.data.augment
        self.augment = BatchAugment(self.data.splits.num_classes, mixup_alpha=aug.mixup_alpha,
                                    cutmix_alpha=aug.cutmix_alpha, prob=aug.prob, switch_prob=aug.switch_prob,
                                    label_smoothing=cfg.loss.label_smoothing, hflip=aug.hflip,
                                    crop_padding=aug.crop_padding)
        # with Mixup/CutMix the smoothing goes into the soft targets, not the loss (no double smoothing)
        loss_cfg = cfg.loss.model_copy(update={"label_smoothing": 0.0}) if self.augment.mixes else cfg.loss
        self.loss_fn = build_loss(loss_cfg).to(self.device)
        self.eval_loss_fn = build_loss(LossConfig()).to(self.device)
        self.scaler = torch.amp.GradScaler("cuda") if loop.amp == "fp16" else None

        self.run_dir = Path(run_dir) if run_dir is not None else make_run_dir(cfg)
        self.ckpt_dir = self.run_dir / "checkpoints"
        self.main = self.dist.is_main
        # position: next epoch to run, next batch inside it, optimizer steps done, running epoch sums
        self.epoch, self.batch, self.step = 0, 0, 0
        self.sums = {"loss": 0.0, "correct": 0.0, "count": 0.0, "time": 0.0}
        self.history: list[dict[str, Any]] = []
        self.resumed_from: Path | None = None
        if resume:
            self._restore()
        elif self.main and (latest_checkpoint(self.ckpt_dir) or (self.run_dir / "metrics.jsonl").exists()):
            raise UsageError(f"{self.run_dir} already holds a run; resume it (dlzoo train --resume "
                             f"{self.run_dir}) or choose another run directory")
        if self.main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(self.run_dir / "config.yaml", config_to_yaml(cfg).encode())
        purge = self.step + 1 if resume else None
        self.logger = MetricsLogger(self.run_dir, purge_step=purge) if self.main else None
        if self.logger is not None and resume:
            self.logger.reset(self.history)
        self.progress = Progress(enabled=progress and self.main, log_every=loop.log_every)
        if resume:
            where = f"step {self.step} ({self.resumed_from})" if self.resumed_from else "the start"
            where += "" if self.resumed_from else " (no checkpoint)"
            self.progress.message(f"resuming {self.run_dir} from {where}")

    # ----------------------------------------------------------------- checkpoints
    def _state(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch, "batch": self.batch, "step": self.step, "sums": dict(self.sums),
            "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            "rng": capture_rng_state(), "history": self.history,
        }

    def _save(self) -> None:
        if self.main:
            keep = self.cfg.checkpoint.keep_last
            save_checkpoint(self.ckpt_dir, self.step, self.model, self._state(), keep)
        D.barrier(self.dist)

    def _restore(self) -> None:
        remove_stale_temporaries(self.ckpt_dir)
        path = latest_checkpoint(self.ckpt_dir)
        if path is None:  # killed before the first checkpoint: the run starts over, identically seeded
            return
        ckpt = load_checkpoint(path)
        self.resumed_from = path
        ckpt.load_model_state(self.model)
        s = ckpt.state
        self.optimizer.load_state_dict(_retuple(s["optimizer"], self.optimizer.state_dict()))
        self.scheduler.load_state_dict(s["scheduler"])
        if self.scaler is not None and s["scaler"] is not None:
            self.scaler.load_state_dict(s["scaler"])
        self.epoch, self.batch, self.step = int(s["epoch"]), int(s["batch"]), int(s["step"])
        self.sums = {k: float(v) for k, v in s["sums"].items()}
        self.history = list(s["history"])
        restore_rng_state(s["rng"])

    # ----------------------------------------------------------------- loop
    def _done(self) -> bool:
        return self.epoch >= self.cfg.train.epochs or self.step >= self.total_steps

    def fit(self) -> TrainResult:
        start = time.perf_counter()
        previous_det = torch.are_deterministic_algorithms_enabled()
        if self.cfg.train.deterministic:
            torch.use_deterministic_algorithms(True, warn_only=True)
        try:
            while not self._done():
                self._train_epoch()
            test = self.evaluate(self.data.test_loader)
            self.model.eval()
            if self.main:
                save_pretrained(self.model, self.run_dir)
                summary = {"test": test, "wall_time": time.perf_counter() - start, "epochs": self.epoch,
                           "steps": self.step}
                _write_json(self.run_dir / "results.json", summary)
            self.progress.message(f"test_loss {test['loss']:.4f}  test_acc {test['acc']:.4f}")
        finally:
            torch.use_deterministic_algorithms(previous_det)
            if self.logger is not None:
                self.logger.close()
        return TrainResult(run_dir=self.run_dir, model=self.model, history=self.history, test=test,
                           wall_time=time.perf_counter() - start, data=self.data)

    def _train_epoch(self) -> None:
        loop, ckpt = self.cfg.train, self.cfg.checkpoint
        loader = self.data.train_loader
        self.model.train()
        self.progress.start_epoch(self.epoch + 1, loop.epochs, len(loader), initial=self.batch)
        t0 = time.perf_counter()
        step_save = False
        for x, y in loader.iter_epoch(self.epoch, start_batch=self.batch):
            x, y = x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)
            loss, correct = self._train_step(x, y)
            self.step += 1
            self.batch += 1
            self.sums["loss"] += loss * y.shape[0]
            self.sums["correct"] += correct
            self.sums["count"] += y.shape[0]
            self.progress.update(y.shape[0], loss, self.optimizer.param_groups[0]["lr"])
            epoch_done = self.batch >= len(loader) or self.step >= self.total_steps
            step_save = bool(ckpt.every_steps) and self.step % ckpt.every_steps == 0
            if step_save and not epoch_done:
                self.sums["time"] += time.perf_counter() - t0
                t0 = time.perf_counter()
                self._save()
            if epoch_done:
                break
        self.sums["time"] += time.perf_counter() - t0
        self._end_epoch(force_save=step_save)

    def _train_step(self, x: torch.Tensor, y: torch.Tensor) -> tuple[float, int]:
        inputs, target = self.augment(x, y)  # identity unless data.augment is set
        with self.autocast():
            logits = self.forward_model(inputs)
            loss = self.loss_fn(logits, target)
        value = loss.item()
        if not math.isfinite(value):
            self._diverged(f"loss is {value}")
        self.optimizer.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.unscale_(self.optimizer)
        else:
            loss.backward()
        if self.cfg.train.grad_clip:
            norm = clip_grad_norm_(self.model.parameters(), self.cfg.train.grad_clip)
            if self.scaler is None and not torch.isfinite(norm):
                self._diverged(f"gradient norm is {norm.item()}")
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        self.scheduler.step()
        return value, int((logits.detach().argmax(dim=-1) == y).sum().item())

    def _diverged(self, what: str) -> None:
        last = latest_checkpoint(self.ckpt_dir)
        kept = f"the last good checkpoint is {last}" if last else "no checkpoint was written yet"
        raise TrainingDiverged(f"training diverged at epoch {self.epoch + 1}, step {self.step + 1}: {what}; "
                               f"stopped ({kept}). Try a lower optim.lr or train.grad_clip.")

    def _end_epoch(self, force_save: bool = False) -> None:
        """Evaluate, log one record, then checkpoint (epoch schedule, last epoch, or a step save that fell
        on the epoch's last batch and is written here, once, with the finished epoch's state)."""
        loss_sum, correct, count = D.all_reduce_sum(
            [self.sums["loss"], self.sums["correct"], self.sums["count"]], self.dist, self.device)
        record: dict[str, Any] = {
            "epoch": self.epoch + 1, "step": self.step,
            "train_loss": loss_sum / max(count, 1), "train_acc": correct / max(count, 1),
            "val_loss": None, "val_acc": None,
            "lr": self.optimizer.param_groups[0]["lr"], "epoch_time": self.sums["time"],
        }
        last = self.epoch + 1 >= self.cfg.train.epochs or self.step >= self.total_steps
        if (self.epoch + 1) % self.cfg.train.eval_every == 0 or last:
            val = self.evaluate(self.data.val_loader)
            record["val_loss"], record["val_acc"] = val["loss"], val["acc"]
        for name, p in self.model.named_parameters():
            if p.numel() == 1:
                record[f"param/{name}"] = p.detach().float().item()
        self.history.append(record)
        if self.logger is not None:
            self.logger.log(record)
        self.progress.end_epoch(record)
        self.epoch += 1
        self.batch = 0
        self.sums = {"loss": 0.0, "correct": 0.0, "count": 0.0, "time": 0.0}
        every = self.cfg.checkpoint.every_epochs
        on_schedule = bool(every) and self.epoch % every == 0
        if force_save or on_schedule or (last and (every or self.cfg.checkpoint.every_steps)):
            self._save()

    @torch.no_grad()
    def evaluate(self, loader) -> dict[str, float]:
        """Mean cross-entropy and accuracy of the model over ``loader`` (eval mode, no gradients)."""
        was_training = self.model.training
        self.model.eval()
        loss_sum, correct, count = 0.0, 0, 0
        for x, y in loader:
            x, y = x.to(self.device), y.to(self.device)
            with self.autocast():
                logits = self.model(x)
            loss_sum += self.eval_loss_fn(logits.float(), y).item() * y.shape[0]
            correct += int((logits.argmax(dim=-1) == y).sum().item())
            count += y.shape[0]
        self.model.train(was_training)
        if count == 0:
            return {"loss": float("nan"), "acc": float("nan")}
        return {"loss": loss_sum / count, "acc": correct / count}


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002  (legacy global state, as torch.manual_seed)
    torch.manual_seed(seed)


def _retuple(loaded: Any, reference: Any) -> Any:
    """Give JSON-decoded param-group values back the tuple type they have in a fresh optimizer."""
    for group, ref in zip(loaded.get("param_groups", []), reference.get("param_groups", [])):
        for key, value in ref.items():
            if isinstance(value, tuple) and isinstance(group.get(key), list):
                group[key] = tuple(group[key])
    return loaded


def _write_json(path: Path, payload: dict[str, Any]) -> None:
    import json

    clean = {k: ({n: (x if math.isfinite(x) else None) for n, x in v.items()} if isinstance(v, dict) else v)
             for k, v in payload.items()}
    atomic_write_bytes(path, (json.dumps(clean, indent=2, allow_nan=False) + "\n").encode())


def train(cfg: TrainConfig | dict | str | Path | None, run_dir: str | Path | None = None,
          progress: bool = True, resume: bool = False) -> TrainResult:
    """Train one model as configured; ``resume=True`` continues from ``run_dir``'s latest checkpoint."""
    if not isinstance(cfg, TrainConfig):
        cfg = load_config(cfg)
    trainer = Trainer(cfg, run_dir=run_dir, progress=progress, resume=resume)
    try:
        return trainer.fit()
    finally:
        D.cleanup(trainer.dist)


def resume(run_dir: str | Path, progress: bool = True,
           overrides: list[str] | tuple[str, ...] = ()) -> TrainResult:
    """Continue a killed run from ``run_dir/config.yaml`` and its newest checkpoint."""
    run_dir = Path(run_dir)
    cfg = load_config(run_dir / "config.yaml", overrides)
    return train(cfg, run_dir=run_dir, progress=progress, resume=True)
