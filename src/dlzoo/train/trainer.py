"""The training loop: ``train(cfg) -> TrainResult``, resumable bit for bit on CPU.

One run writes ``runs/<name>/<timestamp>/`` (layout in ARCHITECTURE.md, "Runs on disk"): ``config.yaml``,
metrics (jsonl, csv, TensorBoard), ``checkpoints/``, ``results.json`` and the final model (``config.json`` +
``model.safetensors``, loadable with ``dlzoo.from_pretrained``).

Nothing is written before the whole config has been checked (:func:`dlzoo.train.validate.check_fit`).
While a process writes the directory it holds ``run.lock``; ``status.json`` says ``running``, then
``finished`` once the final model and ``results.json`` exist, or ``failed`` (with the reason and the last
good checkpoint) when the NaN guard fires, an exception or Ctrl-C ends the run; see
:mod:`dlzoo.train.rundir`. Resuming a finished run does nothing (``TrainResult.already_complete``);
resuming it with a longer ``train.epochs``/``train.max_steps`` continues from its last checkpoint under
the schedule rebuilt for the new total.

Reproducibility: the model is built right after seeding torch/numpy/python; the data order of epoch
``e`` is drawn from a generator seeded by ``(seed, e)``; a checkpoint stores weights, optimizer,
scheduler, GradScaler, the position inside the epoch, the running epoch sums, the task's own state
(:meth:`~dlzoo.train.tasks.base.Task.checkpoint_state`, e.g. an RBM's PCD chains) and every RNG state, so
a run killed at any point and resumed from its last checkpoint replays exactly the same arithmetic.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import UsageError
from ..hub import atomic_write_bytes, save_pretrained
from ..optim.clip import clip_grad_norm_
from . import distributed as D
from . import rundir as R
from .build import TrainData, autocast_context, build_optimizer, build_scheduler, select_device
from .checkpoint import (
    capture_rng_state,
    latest_checkpoint,
    load_checkpoint,
    remove_stale_temporaries,
    restore_rng_state,
    retuple,
    save_checkpoint,
    seed_everything,
)
from .config import TrainConfig, config_to_yaml
from .metrics import MetricsLogger, Progress
from .tasks import create_task

__all__ = ["TrainResult", "TrainingDiverged", "Trainer", "make_run_dir"]


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
    already_complete: bool = False  # resumed a finished run: nothing was trained, results read from disk


def make_run_dir(cfg: TrainConfig) -> Path:
    """``<output_dir>/<name>/<UTC timestamp>/``, suffixed ``-1``, ``-2``, ... if it already exists."""
    return R.new_run_dir(cfg.output_dir, cfg.name)


class Trainer:
    """Builds every component from a :class:`TrainConfig` and runs (or resumes) the loop."""

    def __init__(self, cfg: TrainConfig, run_dir: str | Path | None = None, progress: bool = True,
                 resume: bool = False, dry_run: bool = False) -> None:
        """``dry_run=True`` builds and checks every component, then stops: no lock, nothing written
        (:meth:`header` says what the run would do)."""
        from ..dryrun import is_planning, stop_with_plan

        if is_planning() and not dry_run:  # an experiment's dry run: this run is its plan
            stop_with_plan([{"label": cfg.name, "seed": cfg.seed, "epochs": cfg.train.epochs,
                             "run_dir": str(run_dir if run_dir is not None else make_run_dir(cfg))}])
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
        seed_everything(cfg.seed)
        self.run_dir = Path(run_dir) if run_dir is not None else make_run_dir(cfg)  # a path, not created yet
        self.task = create_task(cfg)  # classification or language modelling (train/tasks/)
        saved = self.run_dir if resume else None  # a resumed LM run reads its tokenizer.json back
        self.data = self.task.build_data(self.dist.rank, self.dist.world_size, saved)
        self.model = self.task.build_model(self.data).to(self.device)
        self.task.check_fit(self.data, self.model)  # model vs data vs loss, dry, before anything is written
        self.fsdp = loop.fsdp and self.dist.enabled  # parameters sharded (DTensors) across ranks
        self.forward_model = D.wrap_model(self.model, self.dist, self.device, fsdp=loop.fsdp)
        if loop.compile:
            self.forward_model = torch.compile(self.forward_model)
        self.accum = loop.grad_accum_steps  # micro-batches per optimizer step
        self.steps_per_epoch = math.ceil(len(self.data.train_loader) / self.accum)
        self.total_steps = loop.epochs * self.steps_per_epoch
        if loop.max_steps is not None:
            self.total_steps = min(self.total_steps, loop.max_steps)
        self.optimizer = build_optimizer(cfg.optim, self.model)
        self.scheduler = build_scheduler(cfg.schedule, self.optimizer, self.steps_per_epoch, self.total_steps)
        self.task.setup(self.data, self.device)
        self.scaler = torch.amp.GradScaler("cuda") if loop.amp == "fp16" else None

        self.ckpt_dir = self.run_dir / "checkpoints"
        self.main = self.dist.is_main
        # position: next epoch to run, next batch inside it, optimizer steps done, running epoch sums
        self.epoch, self.batch, self.step = 0, 0, 0
        self._micro: tuple[float | None, bool] = (None, True)  # (loss weight, last micro-batch of the step)
        self.sums = {**self.task.new_sums(), "time": 0.0}
        self.history: list[dict[str, Any]] = []
        self.resumed_from: Path | None = None
        self.finished: dict[str, Any] | None = None  # results.json of a run that is already complete
        self.notes: list[str] = []
        self.logger: MetricsLogger | None = None
        self.progress = Progress(enabled=progress and self.main, log_every=loop.log_every,
                                 unit=self.task.unit)
        self.lock = R.RunLock(self.run_dir) if self.main and not dry_run else None
        if dry_run:
            return
        self.progress.message(self.header())
        try:
            self._open(resume)
        except BaseException:
            self.close(failed_start=True)
            raise

    def _open(self, resume: bool) -> None:
        """Lock the run directory, restore or refuse what it holds, and mark it running."""
        if self.lock is not None:
            self.lock.acquire()
        if resume:
            self._restore()
        elif self.main and R.holds_run(self.run_dir):
            raise UsageError(f"{self.run_dir} already holds a run; resume it (dlzoo train --resume "
                             f"{self.run_dir}) or choose another run directory")
        if self.finished is not None:
            return
        if self.main:
            for name in R.FINAL_FILES:  # a run being extended is not finished until it finishes again
                (self.run_dir / name).unlink(missing_ok=True)
            atomic_write_bytes(self.run_dir / "config.yaml", config_to_yaml(self.cfg).encode())
            self.task.save_files(self.run_dir)  # e.g. tokenizer.json, next to the model
            R.write_status(self.run_dir, "running", step=self.step, total_steps=self.total_steps)
            self.logger = MetricsLogger(self.run_dir, purge_step=self.step + 1 if resume else None)
            if resume:
                self.logger.reset(self.history)
        if resume:
            where = f"step {self.step} ({self.resumed_from})" if self.resumed_from else "the start"
            where += "" if self.resumed_from else " (no checkpoint)"
            self.progress.message(f"resuming {self.run_dir} from {where}")
        for note in self.notes:
            self.progress.message(note)

    def header(self) -> str:
        """The start-up header: model and parameter count, device, data sizes, steps, run directory."""
        from .header import format_header, run_summary

        return format_header(run_summary(self))

    def close(self, failed_start: bool = False) -> None:
        """Release the run directory (after :meth:`fit`, or when construction failed)."""
        if self.logger is not None:
            self.logger.close()
            self.logger = None
        if self.lock is not None:
            self.lock.release(remove_if_empty=failed_start)

    # ----------------------------------------------------------------- checkpoints
    def _state(self, optimizer: dict | None = None) -> dict[str, Any]:
        return {
            "epoch": self.epoch, "batch": self.batch, "step": self.step, "sums": dict(self.sums),
            "optimizer": optimizer or self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            "rng": capture_rng_state(), "history": self.history, "total_steps": self.total_steps,
            "task": self.task.checkpoint_state(self.model),
        }

    def _save(self) -> None:
        model, optimizer = self._unsharded()
        if self.main:
            keep = self.cfg.checkpoint.keep_last
            save_checkpoint(self.ckpt_dir, self.step, model, self._state(optimizer), keep)
        D.barrier(self.dist)

    def _unsharded(self) -> tuple[nn.Module, dict | None]:
        """The model to save and, under FSDP, the full optimizer state (collective: every rank calls it;
        rank 0 gets an unsharded replica built like the model, RNG states untouched)."""
        if not self.fsdp:
            return self.model, None
        model_state, optim_state = D.full_state(self.model, self.optimizer)
        if not self.main:
            return self.model, optim_state
        return self._replica(model_state), optim_state

    def _replica(self, state: dict | None = None) -> nn.Module:
        rng = capture_rng_state()
        replica = self.task.build_model(self.data).to(self.device)
        restore_rng_state(rng)
        if state is not None:
            replica.load_state_dict(state)
        return replica

    def _restore(self) -> None:
        results = R.finished_results(self.run_dir)
        if results is not None and (int(results.get("epochs", 0)) >= self.cfg.train.epochs
                                    or int(results.get("steps", 0)) >= self.total_steps):
            self.finished = results
            return
        remove_stale_temporaries(self.ckpt_dir)
        path = latest_checkpoint(self.ckpt_dir)
        ckpt = load_checkpoint(path) if path is not None else None
        if results is not None and (ckpt is None or ckpt.step != int(results.get("steps", -1))):
            raise UsageError(
                f"{self.run_dir} finished after {results.get('epochs')} epochs but keeps no checkpoint of "
                f"its last step (checkpoint.every_epochs/every_steps were 0), so it cannot be extended to "
                f"train.epochs={self.cfg.train.epochs}; start a new run with that setting instead")
        if ckpt is None:  # killed before the first checkpoint: the run starts over, identically seeded
            return
        self.resumed_from = path
        s = ckpt.state
        if self.fsdp:  # every rank reads the full state and keeps its shards
            replica = self._replica()
            ckpt.load_model_state(replica)
            D.load_full_state(self.model, self.optimizer, replica.state_dict(), s["optimizer"])
        else:
            ckpt.load_model_state(self.model)
            self.optimizer.load_state_dict(retuple(s["optimizer"], self.optimizer.state_dict()))
        saved_total = int(s.get("total_steps", s["scheduler"].get("total_steps", self.total_steps)))
        if self.scaler is not None and s["scaler"] is not None:
            self.scaler.load_state_dict(s["scaler"])
        self.epoch, self.batch, self.step = int(s["epoch"]), int(s["batch"]), int(s["step"])
        if saved_total == self.total_steps:
            self.scheduler.load_state_dict(s["scheduler"])
        else:
            self._rebuild_schedule(saved_total)
        self.sums = {k: float(v) for k, v in s["sums"].items()}
        self.history = list(s["history"])
        self.task.load_checkpoint_state(self.model, s.get("task", {}))
        restore_rng_state(s["rng"])

    def _rebuild_schedule(self, saved_total: int) -> None:
        """``train.epochs``/``max_steps`` changed on resume: the schedule is built anew for the new total and
        advanced to the current step, so the lr is what that schedule gives there (any scheduler type)."""
        self.scheduler = build_scheduler(self.cfg.schedule, self.optimizer, self.steps_per_epoch,
                                         self.total_steps, at_step=self.step)
        self.notes.append(f"schedule rebuilt for {self.total_steps} steps (was {saved_total}); lr at step "
                          f"{self.step} is {self.optimizer.param_groups[0]['lr']:.4g}")
        if self.batch == 0 and self.step < self.epoch * self.steps_per_epoch < self.total_steps:
            self.notes.append(f"epoch {self.epoch} was cut short at step {self.step} by train.max_steps; the "
                              f"extension starts epoch {self.epoch + 1}, so epoch {self.epoch}'s remaining "
                              f"batches are not revisited")

    # ----------------------------------------------------------------- loop
    def _done(self) -> bool:
        return self.epoch >= self.cfg.train.epochs or self.step >= self.total_steps

    def fit(self) -> TrainResult:
        """Train to the end of the schedule (or return a finished run's results) and release the run dir."""
        try:
            if self.finished is not None:
                return self._finished_result()
            return self._fit()
        except BaseException as err:
            if self.main and self.finished is None:
                self._mark_failed(err)
            raise
        finally:
            self.close()

    def _fit(self) -> TrainResult:
        start = time.perf_counter()
        self.progress.start_run(self.total_steps, self.step)
        previous_det = torch.are_deterministic_algorithms_enabled()
        if self.cfg.train.deterministic:
            torch.use_deterministic_algorithms(True, warn_only=True)
        try:
            while not self._done():
                self._train_epoch()
            test = self.evaluate(self.data.test_loader)
            self.model.eval()
            final = self._unsharded()[0]
            if self.main:
                save_pretrained(final, self.run_dir)
                summary = {"test": test, "wall_time": time.perf_counter() - start, "epochs": self.epoch,
                           "steps": self.step}
                R.write_results(self.run_dir, summary)
                R.write_status(self.run_dir, "finished", step=self.step, epochs=self.epoch)
            self.progress.message(self.task.summary("test", test))
        finally:
            torch.use_deterministic_algorithms(previous_det)
        return TrainResult(run_dir=self.run_dir, model=self.model, history=self.history, test=test,
                           wall_time=time.perf_counter() - start, data=self.data)

    def _mark_failed(self, err: BaseException) -> None:
        """status.json ``failed``: why, where, and the checkpoint a resume would start from."""
        reason = ("diverged" if isinstance(err, TrainingDiverged) else
                  "interrupted" if isinstance(err, KeyboardInterrupt) else "error")
        R.mark_failed(self.run_dir, err, reason, epoch=self.epoch, step=self.step,
                    last_checkpoint=latest_checkpoint(self.ckpt_dir))

    def _finished_result(self) -> TrainResult:
        """The results of a run that is already complete, read back from its directory."""
        r = self.finished or {}
        model = self._replica() if self.fsdp else self.model  # FSDP: the saved full weights, unsharded
        self.history = R.load_finished_run(self.run_dir, model)
        model.eval()
        self.epoch, self.step = int(r.get("epochs", 0)), int(r.get("steps", 0))
        test = {k: float("nan") if v is None else float(v) for k, v in (r.get("test") or {}).items()}
        return TrainResult(run_dir=self.run_dir, model=model, history=self.history, test=test,
                           wall_time=float(r.get("wall_time", 0.0)), data=self.data, already_complete=True)

    def _train_epoch(self) -> None:
        loop, ckpt = self.cfg.train, self.cfg.checkpoint
        loader = self.data.train_loader
        self.model.train()
        self.progress.start_epoch(self.epoch + 1, loop.epochs, len(loader), initial=self.batch)
        t0 = time.perf_counter()
        step_save = False
        group: list[tuple[torch.Tensor, torch.Tensor]] = []  # the micro-batches of one optimizer step
        for x, y in loader.iter_epoch(self.epoch, start_batch=self.batch):
            group.append((x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)))
            self.batch += 1
            if len(group) < self.accum and self.batch < len(loader):
                continue
            # one optimizer step: the gradient of the micro-batches' loss means weighted by their sample
            # (token) counts, i.e. of the loss of one big batch
            counts = [self.task.sample_count(y) for _, y in group]
            total, loss = sum(counts), 0.0
            self.optimizer.zero_grad(set_to_none=True)
            for i, ((xb, yb), count) in enumerate(zip(group, counts)):
                self._micro = (count / total if len(group) > 1 else None, i == len(group) - 1)
                loss += self._train_step(xb, yb)[0] * count / total
            self._optimizer_step()
            group = []
            self.step += 1
            self.progress.update(total, loss, self.optimizer.param_groups[0]["lr"])
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
        """Forward and backward of one micro-batch (its loss scaled by ``self._micro``'s weight when the
        step accumulates several; DDP all-reduces on the last). Returns (loss, count)."""
        weight, last = self._micro
        with D.no_sync(self.forward_model, last=last):
            with self.autocast():
                loss, stats = self.task.train_loss(self.forward_model, x, y)
            value = loss.item()
            if not math.isfinite(value):
                self._diverged(f"loss is {value}")
            for key, v in stats.items():
                self.sums[key] += v
            self.sums["loss"] += value * stats["count"]
            if weight is not None:
                loss = loss * weight
            (self.scaler.scale(loss) if self.scaler is not None else loss).backward()
        return value, int(stats["count"])

    def _optimizer_step(self) -> None:
        """Unscale (fp16), clip, step the optimizer and the schedule."""
        if self.scaler is not None:
            self.scaler.unscale_(self.optimizer)
        if self.cfg.train.grad_clip:
            norm = clip_grad_norm_(self.model.parameters(), self.cfg.train.grad_clip)
            if self.scaler is None and not torch.isfinite(norm):
                self._diverged(f"gradient norm is {norm.item()}")
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        if hasattr(self.task, "after_optimizer_step"):  # e.g. a GAN's generator update (tasks/generative.py)
            for key, value in self.task.after_optimizer_step(self.model, self.optimizer).items():
                self.sums[key] += value
        self.scheduler.step()

    def _diverged(self, what: str) -> None:
        last = latest_checkpoint(self.ckpt_dir)
        kept = f"the last good checkpoint is {last}" if last else "no checkpoint was written yet"
        raise TrainingDiverged(f"training diverged at epoch {self.epoch + 1}, step {self.step + 1}: {what}; "
                               f"stopped ({kept}; {self.run_dir / 'status.json'} says failed, no final model "
                               f"was written). Try a lower optim.lr or train.grad_clip.")

    def _end_epoch(self, force_save: bool = False) -> None:
        """Evaluate, log one record, then checkpoint (epoch schedule, last epoch, or a step save that fell
        on the epoch's last batch and is written here, once, with the finished epoch's state)."""
        keys = [k for k in self.sums if k != "time"]
        sums = dict(zip(keys, D.all_reduce_sum([self.sums[k] for k in keys], self.dist, self.device)))
        metrics = self.task.epoch_metrics(sums)
        record: dict[str, Any] = {"epoch": self.epoch + 1, "step": self.step, **metrics,
                                  **{k.replace("train_", "val_", 1): None for k in metrics}}
        record.update(lr=self.optimizer.param_groups[0]["lr"], epoch_time=self.sums["time"])
        if hasattr(self.task, "throughput"):
            record.update(self.task.throughput({**sums, "time": self.sums["time"]}))
        last = self.epoch + 1 >= self.cfg.train.epochs or self.step >= self.total_steps
        if (self.epoch + 1) % self.cfg.train.eval_every == 0 or last:
            record.update({f"val_{k}": v for k, v in self.evaluate(self.data.val_loader).items()})
            self.task.after_eval(self.model, record, self.progress.message)
        for name, p in self.model.named_parameters():
            if p.numel() == 1:
                record[f"param/{name}"] = D.full_tensor(p.detach()).float().item()
        self.history.append(record)
        if self.logger is not None:
            self.logger.log(record)
        self.progress.end_epoch(record)
        self.epoch += 1
        self.batch = 0
        self.sums = {**self.task.new_sums(), "time": 0.0}
        every = self.cfg.checkpoint.every_epochs
        on_schedule = bool(every) and self.epoch % every == 0
        if force_save or on_schedule or (last and (every or self.cfg.checkpoint.every_steps)):
            self._save()

    def evaluate(self, loader) -> dict[str, float]:
        """The task's metrics of the model over ``loader`` (eval mode, no gradients): loss and accuracy
        (classification) or loss and perplexity (language modelling)."""
        return self.task.evaluate(self.model, loader, self.device, self.autocast)
