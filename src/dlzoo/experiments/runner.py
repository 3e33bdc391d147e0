"""Run a list of training jobs in-process or in worker processes, with a progress display.

* ``workers <= 1``: jobs run one after another in this process; each is announced as ``[i/N]`` and the
  trainer draws its own progress bar.
* ``workers > 1``: a ``spawn`` process pool (each worker limited to ``threads`` torch threads); the
  parent draws one overall bar, advanced per finished epoch, which it reads from every active run's
  ``metrics.jsonl`` (what the trainer appends after each epoch), and prints one line per finished run.

A job is a plain dict; ``fn(job) -> dict`` must be a module-level function (picklable for ``spawn``).
"""

from __future__ import annotations

import copy
import json
import multiprocessing as mp
import os
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

__all__ = [
    "run_jobs",
    "epochs_logged",
    "merge_config",
    "validated_trainer_config",
    "train_or_resume",
    "diverged_record",
    "float_history",
    "scurve_record",
    "save_experiment_config",
    "variant_seed_jobs",
    "norm_key",
    "norm_variants",
]

JobFn = Callable[[dict[str, Any]], dict[str, Any]]


def merge_config(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """``base`` updated by ``extra``, nested dicts merged key by key (neither input is modified)."""
    out = copy.deepcopy(base)
    for k, v in extra.items():
        nested = isinstance(v, dict) and isinstance(out.get(k), dict)
        out[k] = merge_config(out[k], v) if nested else copy.deepcopy(v)
    return out


def validated_trainer_config(
    base: dict[str, Any], train: dict[str, Any], per_run: dict[str, Any]
) -> dict[str, Any]:
    """The validated trainer config (as a dict) of one run: ``base`` < the experiment's ``train`` overrides <
    ``per_run`` settings; an invalid override exits 2 naming ``train.*``."""
    from ..errors import UsageError
    from ..train import load_config

    data = merge_config(merge_config(base, train), per_run)
    try:
        return load_config(data).model_dump(mode="json")
    except UsageError as err:
        raise UsageError(f"train.*: {err}") from None


def train_or_resume(job: dict[str, Any]):
    """Train ``job['config']`` into ``job['run_dir']``, resuming when that directory already holds the run (a
    resumed experiment reads finished runs back and continues the others). Raises ``TrainingDiverged``."""
    from ..train import load_config, train
    from ..train.rundir import holds_run

    return train(
        load_config(job["config"]),
        run_dir=job["run_dir"],
        progress=job.get("progress", False),
        resume=holds_run(job["run_dir"]),
    )


def diverged_record(job: dict[str, Any], err: Exception) -> dict[str, Any]:
    """The result of a run that diverged: reported, not a crash."""
    return {"label": job["label"], "seed": job["seed"], "run_dir": job["run_dir"], "error": str(err)}


def float_history(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The trainer's epoch records with every number as a float (JSON-able, comparable across runs)."""
    return [{k: (float(v) if isinstance(v, int | float) else v) for k, v in row.items()} for row in rows]


def scurve_record(model: torch.nn.Module, x: torch.Tensor, job: dict[str, Any]) -> dict[str, Any]:
    """``scurve`` (input/output samples of every norm layer on the batch ``x``) and ``scurve_stats``
    (:func:`dlzoo.analysis.scurve.layer_stats`: pooled tail statistics, per channel for BatchNorm/GroupNorm,
    of the layers with at least 20 points) for a job's result."""
    from ..analysis.scurve import collect_norm_io, layer_stats

    with torch.no_grad():
        io = collect_norm_io(model, x, max_points=job["scurve_points"], pre_affine=True, seed=job["seed"])
    return {
        "scurve": {n: (v.x.numpy(), v.y.numpy()) for n, v in io.items()},
        "scurve_stats": {n: layer_stats(v) for n, v in io.items() if v.x.numel() >= 20},
    }


def save_experiment_config(cfg: Any, out_dir: Path) -> None:
    """Create ``out_dir`` and write the experiment's resolved config to ``out_dir/config.yaml`` (what
    ``dlzoo experiment run --resume`` reads back)."""
    import yaml

    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "config.yaml").write_text(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False))


def variant_seed_jobs(cfg: Any, out_dir: Path, known: Sequence[str]) -> list[dict[str, Any]]:
    """One job per (variant, seed) of ``cfg.variants`` x ``cfg.seeds`` (``cfg.epochs`` each), run directories
    ``out_dir/runs/<variant>_seed<seed>``; unknown or duplicate variants raise :class:`UsageError`."""
    from ..errors import UsageError

    unknown = [v for v in cfg.variants if v not in known]
    if unknown:
        raise UsageError(f"variants: unknown {unknown}; known: {', '.join(known)}")
    if len(set(cfg.variants)) != len(cfg.variants):
        raise UsageError(f"variants: duplicate entries {cfg.variants}")
    config = cfg.model_dump(mode="json")
    return [
        {"label": v, "variant": v, "seed": seed, "epochs": cfg.epochs, "cfg": config,
         "run_dir": str(out_dir / "runs" / f"{v}_seed{seed}")}
        for v in cfg.variants
        for seed in cfg.seeds
    ]


def norm_key(name: str) -> str:
    """A norm name compared case-, dash- and underscore-insensitively (``"Band_RMS"`` -> ``"bandrms"``)."""
    return name.lower().replace("-", "").replace("_", "")


def norm_variants(
    norms: Sequence[str],
    swept: str,
    expand: Callable[[], list[dict[str, Any]]],
    plain: Callable[[str, str], dict[str, Any]],
    duplicates: str = "norms: duplicate entries",
) -> list[dict[str, Any]]:
    """The variants of a norm comparison, in the order of ``norms``: each name must resolve
    (:func:`dlzoo.nn.get_norm_layer`); the swept norm (``norm_key(name) == swept``) becomes ``expand()``'s
    entries (one per swept value), any other ``plain(name, key)``. Repeated labels raise :class:`UsageError`
    starting with ``duplicates``."""
    from ..errors import UsageError
    from ..nn import get_norm_layer

    out: list[dict[str, Any]] = []
    for norm in norms:
        try:
            get_norm_layer(norm)
        except KeyError as err:
            raise UsageError(f"norms: {err.args[0]}") from None
        key = norm_key(norm)
        out += expand() if key == swept else [plain(norm, key)]
    labels = [v["label"] for v in out]
    if len(set(labels)) != len(labels):
        raise UsageError(f"{duplicates} {labels}")
    return out


def epochs_logged(run_dir: str | os.PathLike) -> tuple[int, float | None]:
    """(finished epochs, last val_acc) recorded in ``run_dir/metrics.jsonl``; (0, None) when absent."""
    path = Path(run_dir) / "metrics.jsonl"
    done, val = 0, None
    try:
        lines = path.read_text().splitlines() if path.is_file() else []
    except OSError:
        return 0, None
    for line in lines:
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line being written right now
        if isinstance(row, dict) and "epoch" in row and ("val_loss" in row or "train_loss" in row):
            done = max(done, int(row["epoch"]))
            val = row.get("val_acc", val) if row.get("val_acc") is not None else val
    return done, val


def _init_worker(threads: int) -> None:
    torch.set_num_threads(max(1, threads))


def _describe(job: dict[str, Any], result: dict[str, Any]) -> str:
    if "error" in result:
        return f"{job['label']} seed {job['seed']}: FAILED ({result['error']})"
    acc = result.get("test_acc")
    acc_s = f"test acc {100 * acc:.2f}%" if isinstance(acc, float) else "done"
    return f"{job['label']} seed {job['seed']}: {acc_s} ({result.get('wall_time', float('nan')):.1f} s)"


def run_jobs(
    fn: JobFn,
    jobs: Sequence[dict[str, Any]],
    workers: int = 1,
    threads: int = 1,
    progress: bool = True,
    stream: Any = None,
) -> list[dict[str, Any]]:
    """Run ``fn`` on every job; results in job order. Each job needs ``label``, ``seed``, ``run_dir``,
    ``epochs``. Raises the first worker exception (the remaining jobs are cancelled).

    On a ``stream`` that is not a terminal (a log file, CI) the overall bar is replaced by plain lines, one
    each time the count of finished epochs changes, so the log holds no carriage-return frames. Under
    :func:`dlzoo.dryrun.planning` nothing runs: the jobs are handed back as the dry run's plan."""
    from ..dryrun import is_planning, stop_with_plan

    if is_planning():
        stop_with_plan(jobs, workers=max(1, min(workers, len(jobs))), threads=threads)
    stream = stream or sys.stderr
    tty = bool(getattr(stream, "isatty", lambda: False)())
    n = len(jobs)
    results: list[dict[str, Any] | None] = [None] * n
    if workers <= 1 or n <= 1:
        previous = torch.get_num_threads()
        torch.set_num_threads(max(1, threads))
        if progress:
            print(f"[runner] {n} run(s) one after another in this process ({max(1, threads)} torch "
                  f"thread(s))", file=stream, flush=True)
        try:
            for i, job in enumerate(jobs):
                if progress:
                    print(f"[run {i + 1}/{n}] {job['label']} seed {job['seed']}", file=stream, flush=True)
                results[i] = fn({**job, "progress": progress})
                if progress:
                    print(f"[run {i + 1}/{n}] {_describe(job, results[i])}", file=stream, flush=True)
        finally:
            torch.set_num_threads(previous)
        return results  # type: ignore[return-value]

    total_epochs = sum(int(j["epochs"]) for j in jobs)
    ctx = mp.get_context("spawn")
    bar = tqdm(
        total=total_epochs,
        desc=f"runs 0/{n}",
        unit="ep",
        file=stream,
        disable=not (progress and tty),
        dynamic_ncols=True,
    )
    finished, last_epochs, started = 0, None, set()

    def say(line: str) -> None:  # above the bar on a terminal, a plain line otherwise
        if tty:
            bar.write(line, file=stream)
        else:
            print(line, file=stream, flush=True)

    if progress:
        print(f"[runner] starting {workers} worker processes ({max(1, threads)} torch thread(s) each) for "
              f"{n} runs, {total_epochs} epochs in all", file=stream, flush=True)
    with ProcessPoolExecutor(
        max_workers=workers, mp_context=ctx, initializer=_init_worker, initargs=(threads,)
    ) as pool:
        futures = {pool.submit(fn, {**job, "progress": False}): i for i, job in enumerate(jobs)}
        pending = set(futures)
        try:
            while pending:
                done, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
                for fut in done:
                    i = futures[fut]
                    results[i] = fut.result()  # re-raises a worker's exception
                    finished += 1
                    if progress:
                        say(f"[run {finished}/{n}] {_describe(jobs[i], results[i])}")
                # epochs: finished runs count fully, running ones by their metrics.jsonl
                # a future counts as running once queued to a worker; a started run has its directory
                active = sorted(
                    i for f in pending if f.running() and Path(jobs[(i := futures[f])]["run_dir"]).exists()
                )[:workers]
                for i in active:
                    if progress and i not in started:  # a worker has begun this run (its directory exists)
                        started.add(i)
                        say(f"[start] {jobs[i]['label']} seed {jobs[i]['seed']} ({len(started)}/{n} started)")
                logged = {i: epochs_logged(jobs[i]["run_dir"]) for i in active}
                epochs = sum(int(jobs[i]["epochs"]) for i in range(n) if results[i] is not None)
                epochs += sum(min(ep, int(jobs[i]["epochs"])) for i, (ep, _) in logged.items())
                running = " | ".join(
                    f"{jobs[i]['label']} s{jobs[i]['seed']} ep {ep}/{jobs[i]['epochs']}"
                    + (f" val_acc {val:.3f}" if val is not None else "")
                    for i, (ep, val) in logged.items()
                )
                if tty:
                    bar.update(epochs - bar.n)
                    bar.set_description(f"runs {finished}/{n}")
                    bar.set_postfix_str(running)
                elif progress and epochs != last_epochs:  # a plain line whenever an epoch has finished
                    last_epochs = epochs
                    print(f"[progress] epochs {epochs}/{total_epochs}, runs {finished}/{n} done"
                          + (f"; running: {running}" if running else ""), file=stream, flush=True)
        except BaseException:
            for fut in pending:
                fut.cancel()
            for proc in list(getattr(pool, "_processes", {}).values()):  # don't leave runs training
                proc.terminate()
            raise
        finally:
            bar.close()
    return results  # type: ignore[return-value]
