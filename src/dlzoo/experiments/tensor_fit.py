"""A minimal seeded training loop for experiments on in-memory tensors (synthetic tasks).

The experiments on synthetic data (``differential-ffn``, ``mdn-forecast``) train tiny models on tensors
that fit in memory, where the full trainer (:mod:`dlzoo.train`: run directories, checkpoints, loggers)
would dominate the run time. This loop is the one shared implementation for them: mini-batch
:class:`dlzoo.optim.AdamW`, linear warmup then cosine decay (:class:`dlzoo.optim.schedulers.WarmupCosineLR`),
gradient-norm clipping (:func:`dlzoo.optim.clip_grad_norm_`), an evaluation callback after every epoch.

    result = fit(model, loss_fn, (x_train, y_train), epochs=20, batch_size=128, lr=3e-3, seed=0,
                 evaluate=lambda m: {"val_loss": ...})

``loss_fn(model, x, y) -> scalar tensor`` sees a batch ``x (B, *)``, ``y (B, *)``. Deterministic given
``seed`` (the batch order comes from a ``torch.Generator`` seeded with it; the caller seeds the model init).

A non-finite training loss raises :class:`FitDiverged`. The experiments report such a run instead of
stopping (as ``norm-comparison`` does with the trainer's ``TrainingDiverged``): their job returns
:func:`diverged_result` (the runner's ``diverged_record`` plus what is known without training), and their
report takes :func:`split_diverged` of the results, computes every mean, test and figure from the runs that
finished, lists the diverged ones in the per-run table (:func:`per_run_row`) and says so in one sentence
(:func:`diverged_sentence`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

__all__ = [
    "FitDiverged",
    "FitResult",
    "fit",
    "diverged_result",
    "split_diverged",
    "diverged_sentence",
    "per_run_row",
    "require_finished",
]

LossFn = Callable[[nn.Module, Tensor, Tensor], Tensor]


class FitDiverged(FloatingPointError):
    """:func:`fit`: the training loss became NaN or infinite (the message says where)."""


@dataclass
class FitResult:
    """Per-epoch records (``epoch``, ``train_loss`` and what ``evaluate`` returned) and the wall time (s)."""

    history: list[dict[str, Any]] = field(default_factory=list)
    wall_time: float = 0.0


def fit(
    model: nn.Module,
    loss_fn: LossFn,
    train: tuple[Tensor, Tensor],
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    seed: int,
    weight_decay: float = 0.0,
    warmup_fraction: float = 0.05,
    grad_clip: float | None = 1.0,
    evaluate: Callable[[nn.Module], dict[str, float]] | None = None,
) -> FitResult:
    """Train ``model`` in place for ``epochs`` passes over ``train`` (see the module docstring)."""
    from ..optim import AdamW, clip_grad_norm_
    from ..optim.schedulers import WarmupCosineLR

    x, y = train
    if x.shape[0] != y.shape[0] or x.shape[0] == 0:
        raise ValueError(f"fit: x and y need the same non-zero length, got {x.shape[0]} and {y.shape[0]}")
    if epochs < 1 or batch_size < 1:
        raise ValueError(f"fit: epochs and batch_size must be >= 1, got {epochs} and {batch_size}")
    n = x.shape[0]
    steps_per_epoch = math.ceil(n / batch_size)
    total = epochs * steps_per_epoch
    opt = AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    sched = WarmupCosineLR(opt, warmup_steps=int(warmup_fraction * total), total_steps=total)
    gen = torch.Generator().manual_seed(seed)
    out = FitResult()
    start = time.perf_counter()
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(n, generator=gen)
        loss_sum = 0.0
        for i in range(steps_per_epoch):
            idx = order[i * batch_size : (i + 1) * batch_size]
            loss = loss_fn(model, x[idx], y[idx])
            if not torch.isfinite(loss):
                raise FitDiverged(
                    f"training diverged: the loss is {loss.item()} at epoch {epoch + 1}, step {i + 1}"
                )
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if grad_clip is not None:
                clip_grad_norm_(model.parameters(), grad_clip)
            opt.step()
            sched.step()
            loss_sum += loss.item() * idx.numel()
        record: dict[str, Any] = {"epoch": epoch + 1, "train_loss": loss_sum / n}
        if evaluate is not None:
            model.eval()
            with torch.no_grad():
                record.update(evaluate(model))
        out.history.append(record)
    out.wall_time = time.perf_counter() - start
    model.eval()
    return out


def diverged_result(job: dict[str, Any], err: Exception, **known: Any) -> dict[str, Any]:
    """The result of a job whose :func:`fit` diverged: ``known`` (what the job knows without training,
    e.g. its model and parameter count), the runner's ``diverged_record`` (``label``, ``seed``,
    ``run_dir``, ``error``) and ``diverged: True``."""
    from .runner import diverged_record

    return {**known, **diverged_record(job, err), "diverged": True}


def split_diverged(results: Sequence[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``(finished, diverged)`` runs, each in the order given."""
    return [r for r in results if not r.get("diverged")], [r for r in results if r.get("diverged")]


def require_finished(name: str, results: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The finished runs; :class:`RuntimeError` (the experiment fails) when every run diverged."""
    ok, diverged = split_diverged(results)
    if not ok:
        raise RuntimeError(
            f"{name}: every run diverged ({len(diverged)} of {len(results)}); first: {diverged[0]['error']}"
        )
    return ok


def diverged_sentence(results: Sequence[dict[str, Any]]) -> str | None:
    """One sentence naming the diverged runs and saying they are left out (``None`` when none diverged)."""
    _, diverged = split_diverged(results)
    if not diverged:
        return None
    names = "; ".join(f"{r['label']} seed {r['seed']} ({r['error']})" for r in diverged)
    return (
        f"{len(diverged)} of {len(results)} runs diverged (non-finite training loss) and are left out of "
        f"every mean, test and figure; the per-run table lists them as diverged: {names}."
    )


def per_run_row(
    r: dict[str, Any], ident: list[str], metrics: Callable[[dict[str, Any]], list[str]], columns: int
) -> list[str]:
    """A row of a per-run table of ``columns`` columns: ``ident`` cells, then ``metrics(r)`` for a finished
    run, or ``diverged`` and empty cells for a diverged one (``metrics`` is not called for it)."""
    if not r.get("diverged"):
        return [*ident, *metrics(r)]
    return [*ident, "diverged", *[""] * (columns - len(ident) - 1)]
