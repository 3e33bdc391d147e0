"""``dlzoo experiment list | run NAME [key=value ...] | run [NAME] --resume DIR [key=value ...]``.

``run`` writes ``<output_dir>/<NAME>/<timestamp>/`` (``report.md``, ``report.html``, ``plots/``,
``results.json``, ``runs/``), prints the report's path, and prints the run directory as the LAST
stdout line. Unknown keys or experiments raise :class:`dlzoo.errors.UsageError` (exit 2).

``run --resume DIR`` continues a killed experiment in ``DIR`` with its saved ``config.yaml`` (plus any
overrides): finished runs under ``DIR/runs/`` are read back, not retrained; interrupted ones resume from
their last checkpoint; the rest start. ``DIR`` is locked while it runs (see :mod:`dlzoo.train.rundir`).
"""

from __future__ import annotations

import difflib
import sys
from pathlib import Path

from ..errors import UsageError
from ..train.rundir import RunLock, finished_results, holds_run, new_run_dir
from .registry import EXPERIMENTS, _import_experiments, build_config, get_experiment

__all__ = ["main", "new_run_dir"]

USAGE = """usage: dlzoo experiment list
       dlzoo experiment run NAME [key=value ...]   (values are YAML: seeds=[0,1] norms=[layernorm,dyt])
       dlzoo experiment run [NAME] --resume DIR [key=value ...]   (continue a killed experiment in DIR)
       dlzoo experiment run NAME [key=value ...] --dry-run   (check the config, list the jobs, write nothing)
       dlzoo experiment show NAME                  (the default config of NAME)"""


def _list() -> int:
    _import_experiments()
    for name in EXPERIMENTS.names():
        print(f"{name:<20} {EXPERIMENTS.card(name).extra.get('description', '')}")
    return 0


def _show(name: str) -> int:
    import yaml

    exp = get_experiment(name)
    print(f"# {exp.name}: {exp.description}\n# keys (override with key=value; dicts with a.b=value):")
    for key, field in exp.config.model_fields.items():
        if field.description:
            print(f"#   {key}: {field.description}")
    print(yaml.safe_dump(exp.config().model_dump(mode="json"), sort_keys=False).strip())
    return 0


def _parse_run(rest: list[str]) -> tuple[str | None, list[str], str | None, bool]:
    """``[NAME] [key=value ...] [--resume DIR] [--dry-run]`` -> (name, overrides, resume dir, dry run)."""
    resume, args, it, dry = None, [], iter(rest), False
    for arg in it:
        if arg == "--dry-run":
            dry = True
        elif arg == "--resume" or arg.startswith("--resume="):
            resume = arg.split("=", 1)[1] if "=" in arg else next(it, None)
            if not resume:
                raise UsageError(f"--resume needs an experiment directory\n{USAGE}")
        elif arg.startswith("-"):
            raise UsageError(f"unknown option {arg!r}\n{USAGE}")
        else:
            args.append(arg)
    name = args[0] if args and "=" not in args[0] else None
    return name, args[1:] if name else args, resume, dry


def _resume_target(name: str | None, resume: str, overrides: list[str]):
    """The experiment, config and directory of ``run --resume DIR``."""
    import yaml

    out_dir = Path(resume)
    if (out_dir / "status.json").exists() or (out_dir / "checkpoints").exists():
        raise UsageError(f"{out_dir} is a training run, not an experiment; resume it with "
                         f"dlzoo train --resume {out_dir}")
    if not (out_dir / "config.yaml").is_file():
        raise UsageError(f"--resume {str(out_dir)!r}: not an experiment directory (no config.yaml)")
    if name is None:
        _import_experiments()
        name = out_dir.resolve().parent.name  # <output_dir>/<NAME>/<timestamp>
        if name not in EXPERIMENTS:
            raise UsageError(f"cannot tell which experiment {out_dir} holds; name it: dlzoo experiment run "
                             f"NAME --resume {out_dir} (registered: {', '.join(EXPERIMENTS.names())})")
    exp = get_experiment(name)
    try:
        saved = yaml.safe_load((out_dir / "config.yaml").read_text())
    except yaml.YAMLError as err:
        raise UsageError(f"{out_dir / 'config.yaml'} is not valid YAML: {err}") from None
    if not isinstance(saved, dict):
        raise UsageError(f"{out_dir / 'config.yaml'} must hold a mapping, got {type(saved).__name__}")
    return exp, build_config(exp.config, overrides, base=saved), out_dir


def _dry_run(exp, cfg, out_dir: Path, resume: bool = False) -> int:
    """Plan ``exp`` with ``cfg`` exactly as a real run would (its own ``run`` on a temporary directory,
    stopped where training would start), print the jobs, write nothing (see :mod:`dlzoo.dryrun`)."""
    import shutil
    import tempfile

    from ..dryrun import DryRunStop, planning

    tmp = Path(tempfile.mkdtemp(prefix="dlzoo-dry-run-"))
    fake = tmp / exp.name / out_dir.name
    try:
        with planning():
            exp.run(cfg, fake)
        raise UsageError(f"experiment {exp.name!r} finished without starting a training job or a timing, so "
                         "a dry run could not stop it early; run it without --dry-run")
    except DryRunStop as stop:
        plan = stop.plan
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    def real(path: object) -> str:
        text = str(path)
        return str(out_dir) + text[len(str(fake)):] if text.startswith(str(fake)) else text

    epochs = sum(int(j.get("epochs", 0)) for j in plan.jobs)
    print(f"dlzoo experiment {exp.name} (dry run): would write {out_dir}")
    if not plan.jobs:
        print(f"config checked; {plan.note or 'no training jobs'}")
        print("dry run: config valid; nothing was written")
        return 0
    print(f"{len(plan.jobs)} run(s), {epochs} epochs in all, {plan.workers} worker process(es) x "
          f"{plan.threads} torch thread(s):")
    for i, job in enumerate(plan.jobs):
        run_dir = real(job.get("run_dir", "?"))
        state = ""
        if resume:  # what --resume does with each run (as train_or_resume and Trainer._restore decide)
            state = (" (finished: read back)" if finished_results(run_dir) is not None else
                     " (resumes from its last checkpoint)" if holds_run(run_dir) else " (starts)")
        print(f"  [{i + 1}/{len(plan.jobs)}] {job.get('label', '?')} seed {job.get('seed', '?')}, "
              f"{job.get('epochs', '?')} epochs -> {run_dir}{state}")
    print("dry run: config valid; nothing was written")
    return 0


def _run(rest: list[str]) -> int:
    name, overrides, resume, dry = _parse_run(rest)
    if dry:
        if resume is not None:
            exp, cfg, out_dir = _resume_target(name, resume, overrides)
        elif name is None:
            raise UsageError(f"missing experiment name\n{USAGE}")
        else:
            exp = get_experiment(name)
            cfg = build_config(exp.config, overrides)
            out_dir = new_run_dir(getattr(cfg, "output_dir", "runs"), exp.name)
        return _dry_run(exp, cfg, out_dir, resume=resume is not None)
    if resume is not None:
        exp, cfg, out_dir = _resume_target(name, resume, overrides)
        lock = RunLock(out_dir).acquire()  # a second process resuming the same directory is refused
        print(f"dlzoo experiment {exp.name}: resuming {out_dir}", file=sys.stderr, flush=True)
    else:
        if name is None:
            raise UsageError(f"missing experiment name\n{USAGE}")
        exp = get_experiment(name)
        cfg = build_config(exp.config, overrides)
        out_dir, lock = new_run_dir(getattr(cfg, "output_dir", "runs"), exp.name), None
        print(f"dlzoo experiment {exp.name}: writing {out_dir}", file=sys.stderr, flush=True)
    try:
        result_dir = Path(exp.run(cfg, out_dir))
    finally:
        if lock is not None:
            lock.release()
    report = result_dir / "report.html"
    if report.is_file():
        print(f"report: {report}")
        print(f"report (markdown): {result_dir / 'report.md'}")
    print(result_dir, flush=True)
    return 0


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command == "list":
        return _list()
    if command in ("run", "show"):
        if any(a in ("-h", "--help") for a in rest):
            print(USAGE)
            names = [a for a in rest if not a.startswith("-")]
            return _show(names[0]) if names else 0
        if command == "show":
            if not rest or rest[0].startswith("-") or "=" in rest[0]:
                raise UsageError(f"missing experiment name\n{USAGE}")
            return _show(rest[0])
        return _run(rest)
    close = difflib.get_close_matches(command, ("list", "run", "show"), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise UsageError(f"unknown experiment command {command!r}{hint}\n{USAGE}")
