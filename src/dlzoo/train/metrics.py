"""Metric sinks (``metrics.jsonl``, ``metrics.csv``, TensorBoard) and console progress.

:class:`MetricsLogger` receives one record per epoch. JSON lines are appended and flushed; the CSV is
rewritten from the whole history (its columns are the union of all keys, so a late column cannot
misalign rows); TensorBoard gets every numeric field as a scalar at the record's global step. On resume
:meth:`MetricsLogger.reset` rewrites both files from the checkpoint's history and TensorBoard purges
events past the checkpoint step, so a killed run leaves no duplicate epochs.

:class:`Progress` shows a tqdm bar (throughput, ETA) when stdout is a terminal and plain periodic lines
otherwise (CI logs, pipes); ``enabled=False`` prints nothing. Next to the epoch's ETA it shows the whole
run's elapsed time and ETA (after :meth:`Progress.start_run`): remaining optimizer steps times the mean
time per step so far, evaluation included.
"""

from __future__ import annotations

import csv
import io
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

from ..hub import atomic_write_bytes

__all__ = ["MetricsLogger", "Progress", "format_duration"]


def _clean(value: Any) -> Any:
    """JSON-safe value: non-finite floats become ``None``."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class MetricsLogger:
    """Write epoch records to ``run_dir``: metrics.jsonl, metrics.csv and TensorBoard events."""

    def __init__(self, run_dir: str | Path, tensorboard: bool = True, purge_step: int | None = None) -> None:
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.history: list[dict[str, Any]] = []
        self._writer = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(log_dir=str(self.run_dir / "tensorboard"), purge_step=purge_step)

    def reset(self, history: list[dict[str, Any]]) -> None:
        """Replace everything written so far with ``history`` (used when resuming)."""
        self.history = [dict(r) for r in history]
        text = "".join(json.dumps({k: _clean(v) for k, v in r.items()}) + "\n" for r in self.history)
        atomic_write_bytes(self.run_dir / "metrics.jsonl", text.encode())
        self._write_csv()

    def log(self, record: dict[str, Any]) -> None:
        """Append one epoch record to every sink."""
        self.history.append(dict(record))
        with open(self.run_dir / "metrics.jsonl", "a") as f:
            f.write(json.dumps({k: _clean(v) for k, v in record.items()}) + "\n")
        self._write_csv()
        if self._writer is not None:
            step = int(record.get("step", len(self.history)))
            for key, value in record.items():
                if key not in ("epoch", "step") and isinstance(value, (int, float)) and value is not None:
                    self._writer.add_scalar(key, float(value), global_step=step)
            self._writer.flush()

    def _write_csv(self) -> None:
        columns: list[str] = []
        for record in self.history:
            columns += [k for k in record if k not in columns]
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=columns)
        writer.writeheader()
        for record in self.history:
            writer.writerow({k: ("" if _clean(v) is None else v) for k, v in record.items()})
        atomic_write_bytes(self.run_dir / "metrics.csv", buf.getvalue().encode())

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def format_duration(seconds: float) -> str:
    """``h:mm:ss``."""
    seconds = max(0, int(round(seconds)))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


class Progress:
    """Per-epoch progress: tqdm on a terminal, plain lines every ``log_every`` steps otherwise."""

    def __init__(self, enabled: bool = True, log_every: int = 50, stream=None,
                 mininterval: float = 0.1, unit: str = "img") -> None:
        self.enabled = enabled
        self.unit = unit  # what update()'s counts are: images (classification) or tokens (language modelling)
        self.mininterval = mininterval
        self.log_every = log_every
        self.stream = stream or sys.stdout
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._bar = None
        self._run: list[float] | None = None  # [start time, steps at start, steps now, total steps]

    def start_run(self, total_steps: int, done_steps: int = 0) -> None:
        """Start the run clock: ``total_steps`` optimizer steps, ``done_steps`` of them already done."""
        self._run = [time.perf_counter(), float(done_steps), float(done_steps), float(total_steps)]

    def run_times(self) -> tuple[float, float | None] | None:
        """(elapsed seconds, ETA seconds or None before the first step) of the run, None before
        :meth:`start_run`."""
        if self._run is None:
            return None
        t0, first, now, total = self._run
        elapsed = time.perf_counter() - t0
        done = now - first
        return elapsed, (elapsed / done * max(total - now, 0.0) if done > 0 else None)

    def _run_text(self, compact: bool = False) -> str:
        """``run elapsed 0:01:02 eta 0:05:00`` (``compact``: tqdm's ``0:01:02<0:05:00``)."""
        times = self.run_times()
        if times is None:
            return ""
        elapsed, eta = format_duration(times[0]), "?" if times[1] is None else format_duration(times[1])
        return f"{elapsed}<{eta}" if compact else f"run elapsed {elapsed} eta {eta}"

    def start_epoch(self, epoch: int, epochs: int, total: int, initial: int = 0) -> None:
        self.epoch, self.epochs, self.total, self.count = epoch, epochs, total, initial
        self._t0, self._samples = time.perf_counter(), 0
        if self.enabled and self.tty:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total, initial=initial, desc=f"epoch {epoch}/{epochs}", unit="batch",
                             file=self.stream, leave=False, dynamic_ncols=True,
                             mininterval=self.mininterval)

    def update(self, batch_size: int, loss: float, lr: float) -> None:
        self.count += 1
        self._samples += batch_size
        if self._run is not None:
            self._run[2] += 1
        if not self.enabled:
            return
        elapsed = max(time.perf_counter() - self._t0, 1e-9)
        rate = self._samples / elapsed
        if self._bar is not None:
            postfix = {"loss": f"{loss:.4f}", "lr": f"{lr:.2e}", f"{self.unit}_s": f"{rate:.0f}"}
            if self._run is not None:
                postfix["run"] = self._run_text(compact=True)  # elapsed<eta of the whole run
            self._bar.set_postfix(postfix, refresh=False)
            self._bar.update(1)
        elif self.count % self.log_every == 0 or self.count == self.total:
            eta = (self.total - self.count) * elapsed / max(self.count, 1)
            print(f"epoch {self.epoch}/{self.epochs} batch {self.count}/{self.total} loss {loss:.4f} "
                  f"lr {lr:.2e} {rate:.0f} {self.unit}/s eta {format_duration(eta)}"
                  + (f"  {self._run_text()}" if self._run is not None else ""), file=self.stream, flush=True)

    def end_epoch(self, record: dict[str, Any]) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        if not self.enabled:
            return
        parts = [f"epoch {record['epoch']}/{self.epochs}"]
        for split in ("train", "val"):
            for metric in ("loss", "acc", "ppl"):
                value = record.get(f"{split}_{metric}")
                if isinstance(value, float):
                    parts.append(f"{split}_{metric} {value:.{2 if metric == 'ppl' else 4}f}")
        if isinstance(record.get("tokens_per_s"), float):
            parts.append(f"{record['tokens_per_s']:.0f} tok/s")
        parts.append(f"{record['epoch_time']:.1f}s")
        if self._run is not None:
            parts.append(self._run_text())
        print("  ".join(parts), file=self.stream, flush=True)

    def message(self, text: str) -> None:
        if self.enabled:
            print(text, file=self.stream, flush=True)
