"""Run directories on disk: new names, the lock that keeps two processes out of one, and ``status.json``.

``run.lock`` holds ``{"pid", "host", "proc_start", "since"}`` of the process writing the directory. It is
taken before anything is written and removed when that process ends; a lock whose process is gone (the
pid is dead, or was reused by another program: its ``/proc`` start time differs) is stale and taken over.
A lock from another host cannot be checked and is honoured; the message says how to clear it.

``status.json`` says what a run directory holds: ``{"state": "running" | "finished" | "failed", ...}``
(``failed`` with ``reason``, ``error`` and ``last_checkpoint``). :func:`read_status` reports a
``running`` run whose lock holder is gone as ``interrupted`` (a killed process cannot write its status).
A run counts as finished only once its final model and ``results.json`` are written.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import socket
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..hub import atomic_write_bytes

__all__ = ["RunLock", "RunDirLocked", "new_run_dir", "run_name", "read_lock", "lock_is_live", "read_status",
           "write_status", "mark_failed", "write_results", "finished_results", "load_finished_run",
           "holds_run", "experiment_dir_name", "LOCK_NAME", "STATUS_NAME"]

LOCK_NAME = "run.lock"
STATUS_NAME = "status.json"
RESULTS_NAME = "results.json"
FINAL_FILES = ("model.safetensors", "config.json", RESULTS_NAME)


class RunDirLocked(UsageError):
    """Another live process holds the run directory's lock (the CLI exits 2)."""


def new_run_dir(root: str | os.PathLike, name: str) -> Path:
    """``root/name/<UTC timestamp>``, suffixed ``-1``, ``-2``, ... if taken; not created."""
    base = Path(root) / name / datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    path, i = base, 0
    while path.exists():
        i += 1
        path = base.with_name(f"{base.name}-{i}")
    return path


# overrides that change where or how a run is shown, not what it trains: left out of its folder name
_NAME_NEUTRAL = ("name", "output_dir", "train.log_every", "train.device", "data.root", "data.num_workers")
_NAME_VALUE_ONLY = ("name", "norm_layer", "norm")  # keys whose value alone says what changed


def run_name(name: str, overrides: list[str] | tuple[str, ...] = (), max_len: int = 80) -> str:
    """The folder name of a run: ``name`` plus one part per ``key=value`` override that distinguishes it.

    ``run_name("vit-digits", ["model.kwargs.norm_layer=dyt", "optim.lr=3e-3"])`` is
    ``"vit-digits-dyt-lr3e-3"``: the value alone for names and norms, else the key's last part and the
    value. Parts keep only ``[A-Za-z0-9._=+-]`` (others become ``_``), so the name is filesystem safe. Where
    overrides would make it longer than ``max_len``, it is cut and ends with 8 hex digits of the full
    override list's SHA-1, so two different variants still get different folders. Where-and-how keys
    (``output_dir``, ``train.device``, ``checkpoint.*``, ...) do not count.
    """
    import hashlib
    import re

    parts = []
    for item in overrides:
        key, _, value = item.partition("=")
        key = key.strip()
        if key in _NAME_NEUTRAL or key.startswith("checkpoint."):
            continue
        last = key.rsplit(".", 1)[-1]
        part = value.strip() if last in _NAME_VALUE_ONLY else f"{last}{value.strip()}"
        part = re.sub(r"[^A-Za-z0-9._=+-]+", "_", part).strip("._") or last
        parts.append(part)
    full = "-".join([name, *parts])
    if len(full) <= max_len:
        return full
    digest = hashlib.sha1("\0".join(overrides).encode()).hexdigest()[:8]
    return f"{full[: max_len - 9].rstrip('-_.')}-{digest}"


def _proc_start(pid: int) -> int | None:
    """Start time of ``pid`` in clock ticks since boot (Linux ``/proc``), ``None`` where unavailable."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return int(stat.rsplit(")", 1)[1].split()[19])  # field 22; the name in (...) may hold spaces
    except (OSError, ValueError, IndexError):
        return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError as err:
        return err.errno == errno.EPERM  # exists, owned by someone else
    return True


def read_lock(run_dir: str | os.PathLike) -> dict[str, Any] | None:
    """The lock record of ``run_dir``, ``None`` if unlocked; an unreadable lock reads as ``{}``."""
    path = Path(run_dir) / LOCK_NAME
    try:
        info = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


def lock_is_live(info: dict[str, Any] | None) -> bool:
    """Whether the process named by a lock record still runs (always ``True`` for another host's lock)."""
    if not info:
        return False
    if info.get("host") != socket.gethostname():
        return True
    pid = info.get("pid")
    if not isinstance(pid, int) or pid <= 0 or not _pid_alive(pid):
        return False
    recorded, now = info.get("proc_start"), _proc_start(pid)
    return recorded is None or now is None or recorded == now  # a different start: the pid was reused


class RunLock:
    """Exclusive use of a run directory by this process (creates the directory).

        with RunLock(run_dir):
            ...  # write the run

    :meth:`acquire` raises :class:`RunDirLocked` naming the holder's pid and host if a live process holds
    it, and silently takes over a stale lock. A directory-level ``flock`` (POSIX) serialises the check and
    the write, so two processes racing for one directory cannot both win.
    """

    def __init__(self, run_dir: str | os.PathLike) -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK_NAME
        self.held = False
        self.taken_over: dict[str, Any] | None = None
        self._created: list[Path] = []

    def acquire(self) -> RunLock:
        missing = []
        for p in (self.run_dir, *self.run_dir.parents):
            if p.exists():
                break
            missing.append(p)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._created = missing  # deepest first: removed again if this lock is released unused
        with _dir_mutex(self.run_dir):
            info = read_lock(self.run_dir)
            if lock_is_live(info):
                self._cleanup_created()
                raise RunDirLocked(
                    f"{self.run_dir} is in use by another run (pid {info.get('pid')} on host "
                    f"{info.get('host')}, since {info.get('since')}); wait for it to finish or use another "
                    f"run directory. If no such process runs any more, delete {self.path}")
            self.taken_over = info if info else None
            pid = os.getpid()
            record = {"pid": pid, "host": socket.gethostname(), "proc_start": _proc_start(pid),
                      "since": datetime.now(timezone.utc).isoformat(timespec="seconds")}
            atomic_write_bytes(self.path, json.dumps(record).encode())
        self.held = True
        return self

    def release(self, remove_if_empty: bool = False) -> None:
        """Remove the lock if this process holds it; ``remove_if_empty`` also deletes the directories
        :meth:`acquire` created when nothing else was written into them."""
        if self.held:
            info = read_lock(self.run_dir)
            if info is not None and info.get("pid") == os.getpid():
                with contextlib.suppress(FileNotFoundError):
                    self.path.unlink()
            self.held = False
        if remove_if_empty:
            self._cleanup_created()

    def _cleanup_created(self) -> None:
        for p in self._created:
            with contextlib.suppress(OSError):
                p.rmdir()  # only succeeds while empty
        self._created = []

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: Any) -> None:
        self.release()


@contextlib.contextmanager
def _dir_mutex(directory: Path):
    try:
        import fcntl
    except ImportError:  # not POSIX: the pid check alone
        yield
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the flock


def write_status(run_dir: str | os.PathLike, state: str, **fields: Any) -> None:
    """Atomically record ``state`` (``running``/``finished``/``failed``) and ``fields`` in status.json."""
    record = {"state": state, "pid": os.getpid(), "host": socket.gethostname(),
              "time": datetime.now(timezone.utc).isoformat(timespec="seconds"), **fields}
    atomic_write_bytes(Path(run_dir) / STATUS_NAME, (json.dumps(record, indent=1) + "\n").encode())


def read_status(run_dir: str | os.PathLike) -> dict[str, Any]:
    """status.json of ``run_dir`` (``{"state": "none"}`` if absent); a ``running`` record whose
    process is gone reads as ``interrupted``. Runs from before status.json count as finished when
    their final model and results.json exist."""
    run_dir = Path(run_dir)
    try:
        status = json.loads((run_dir / STATUS_NAME).read_text())
    except FileNotFoundError:
        legacy = all((run_dir / n).is_file() for n in FINAL_FILES)
        return {"state": "finished" if legacy else "none"}
    except (OSError, ValueError):
        return {"state": "unknown"}
    if not isinstance(status, dict):
        return {"state": "unknown"}
    if status.get("state") == "running" and not lock_is_live(read_lock(run_dir)):
        status = {**status, "state": "interrupted"}
    return status


def finished_results(run_dir: str | os.PathLike) -> dict[str, Any] | None:
    """``results.json`` of a finished run (its ``epochs``, ``steps``, ``test``, ...), else ``None``."""
    run_dir = Path(run_dir)
    complete = all((run_dir / n).is_file() for n in FINAL_FILES)
    if not complete or read_status(run_dir).get("state") != "finished":
        return None
    try:
        results = json.loads((run_dir / RESULTS_NAME).read_text())
    except (OSError, ValueError):
        return None
    return results if isinstance(results, dict) else None


def holds_run(run_dir: str | os.PathLike) -> bool:
    """Whether ``run_dir`` already holds (part of) a training run."""
    run_dir = Path(run_dir)
    names = ("config.yaml", STATUS_NAME, "metrics.jsonl", "checkpoints", "model.safetensors")
    return any((run_dir / n).exists() for n in names)



def mark_failed(run_dir: str | os.PathLike, err: BaseException, reason: str, **fields: Any) -> None:
    """status.json ``failed`` with ``reason``, the error, ``fields`` (step, last checkpoint) and the resume
    command; never raises over the original error."""
    fields = {k: (str(v) if isinstance(v, Path) else v) for k, v in fields.items()}
    try:
        write_status(run_dir, "failed", reason=reason, error=f"{type(err).__name__}: {err}", **fields,
                     resume=f"dlzoo train --resume {run_dir}")
    except OSError:
        pass


def load_finished_run(run_dir: str | os.PathLike, model: Any) -> list[dict[str, Any]]:
    """Load a finished run's final weights into ``model``; return its ``metrics.jsonl`` history."""
    from ..hub import load_weights, read_safetensors

    run_dir = Path(run_dir)
    weights = read_safetensors(run_dir / "model.safetensors", error=UsageError)
    load_weights(model, weights, str(run_dir / "model.safetensors"), error=UsageError)
    path = run_dir / "metrics.jsonl"
    lines = path.read_text().splitlines() if path.is_file() else []
    try:
        return [json.loads(line) for line in lines if line.strip()]
    except ValueError as err:
        raise UsageError(f"{path}: not valid JSON lines ({err})") from None


def write_results(run_dir: str | os.PathLike, payload: dict[str, Any]) -> None:
    """``results.json`` (non-finite metrics as ``null``), written atomically."""
    clean = {k: ({n: (x if math.isfinite(x) else None) for n, x in v.items()} if isinstance(v, dict) else v)
             for k, v in payload.items()}
    text = json.dumps(clean, indent=2, allow_nan=False) + "\n"
    atomic_write_bytes(Path(run_dir) / RESULTS_NAME, text.encode())


def experiment_dir_name(path: str | os.PathLike) -> str | None:
    """The experiment name if ``path`` is an experiment's directory (``config.yaml`` and ``runs/``, no
    training status), else ``None``; the name is the parent folder (``runs/<NAME>/<timestamp>``)."""
    path = Path(path)
    if (path / "runs").is_dir() and (path / "config.yaml").is_file() and not (path / STATUS_NAME).exists():
        return path.resolve().parent.name
    return None
