"""``dlzoo train CONFIG.yaml [key.sub=value ...]`` and ``dlzoo train --resume RUN_DIR [key=value ...]``.

Config errors raise :class:`dlzoo.errors.UsageError` (exit 2, one paragraph, no traceback), and so do a run
directory another live process is writing and ``--resume`` of an experiment's directory; a run that
diverges (NaN/Inf) exits 1 with the reason and the last good checkpoint. ``--resume`` of a finished run
says so and exits 0 (with ``train.epochs=N`` beyond its schedule it trains on). The last stdout line is
the run directory.
"""

from __future__ import annotations

import sys

from ..errors import UsageError

USAGE = """usage: dlzoo train CONFIG.yaml [key.sub=value ...] [--run-dir DIR] [--quiet] [--dry-run]
       dlzoo train --resume RUN_DIR [key.sub=value ...] [--quiet] [--dry-run]

Trains one model from a YAML config; dotted overrides are parsed as YAML scalars
(e.g. optim.lr=3e-3 model.kwargs.norm_layer=dyt train.epochs=5). Writes
runs/<name>-<overrides>/<timestamp>/ (e.g. runs/vit-digits-dyt-lr3e-3/...; --run-dir DIR to choose)
and prints that directory last. --resume continues a killed run from its last checkpoint; with
train.epochs=N beyond a finished run's schedule it trains on under the schedule rebuilt for N epochs.
--dry-run builds and checks everything a run would (config, data, model), prints the start-up header
(parameters, device, data sizes, steps, run directory) and exits 0 without writing anything."""


def flag_hint(flag: str, argv: list[str]) -> str:
    """``--epochs 2`` -> ``"; config keys are overrides: did you mean train.epochs=2?"`` ("" if no key fits).

    The flag's name (dashes as underscores) is looked up among the config's top-level keys and each
    section's keys; its value is the text after ``=`` or the next argument.
    """
    from .config import TrainConfig

    name, sep, value = flag.lstrip("-").partition("=")
    name = name.replace("-", "_")
    if not sep:
        after = argv[argv.index(flag) + 1:argv.index(flag) + 2]
        value = after[0] if after and not after[0].startswith("-") and "=" not in after[0] else "VALUE"
    keys = []
    for key, field in TrainConfig.model_fields.items():
        section = getattr(field.annotation, "model_fields", None)
        if key == name and section is None:
            keys.append(key)
        elif section is not None and name in section:
            keys.append(f"{key}.{name}")
    if not keys:
        return ""
    return "; config keys are overrides: did you mean " + " or ".join(f"{k}={value}" for k in keys) + "?"


def default_run_dir(cfg, overrides: list[str]):
    """``<output_dir>/<name>-<overrides>/<timestamp>`` (:func:`dlzoo.train.rundir.run_name`), not created."""
    from .rundir import new_run_dir, run_name

    return new_run_dir(cfg.output_dir, run_name(cfg.name, overrides))


def _dry_run(config_path: str | None, resume_dir: str | None, run_dir: str | None,
             overrides: list[str]) -> int:
    """Build and check the run as ``train``/``resume`` would, print its header, write nothing."""
    from pathlib import Path

    from .checkpoint import latest_checkpoint
    from .config import load_config
    from .rundir import experiment_dir_name, finished_results, holds_run
    from .trainer import Trainer

    if resume_dir is not None:
        if experiment_dir_name(resume_dir) is not None:
            raise UsageError(f"{resume_dir} is an experiment directory, not a training run; dry-run it with "
                             f"dlzoo experiment run --resume {resume_dir} --dry-run")
        if not (Path(resume_dir) / "config.yaml").is_file():
            raise UsageError(f"{resume_dir} is not a run directory (no config.yaml)")
        cfg = load_config(Path(resume_dir) / "config.yaml", overrides)
        run_dir = resume_dir
    else:
        cfg = load_config(config_path, overrides)
        run_dir = run_dir if run_dir is not None else default_run_dir(cfg, overrides)
    trainer = Trainer(cfg, run_dir=run_dir, progress=False, resume=resume_dir is not None, dry_run=True)
    if resume_dir is None and holds_run(trainer.run_dir):
        raise UsageError(f"{trainer.run_dir} already holds a run; resume it (dlzoo train --resume "
                         f"{trainer.run_dir}) or choose another run directory")
    print(trainer.header())
    if resume_dir is not None:
        last = latest_checkpoint(trainer.ckpt_dir)
        done = finished_results(trainer.run_dir)
        state = f"finished after {done.get('epochs')} epochs" if done else "not finished"
        print(f"  resume  {state}; latest checkpoint {last or 'none (it would start over)'}")
    print("dry run: config, data and model checked; nothing was written")
    return 0


def main(argv: list[str]) -> int:
    config_path, resume_dir, run_dir, quiet, overrides, dry = None, None, None, False, [], False
    it = iter(argv)
    for arg in it:
        if arg in ("-h", "--help"):
            print(USAGE)
            return 0
        if arg in ("--resume", "--run-dir"):
            value = next(it, None)
            if value is None:
                raise UsageError(f"{arg} needs a directory\n{USAGE}")
            if arg == "--resume":
                resume_dir = value
            else:
                run_dir = value
        elif arg.startswith("--resume="):
            resume_dir = arg.split("=", 1)[1]
        elif arg in ("-q", "--quiet"):
            quiet = True
        elif arg == "--dry-run":
            dry = True
        elif arg.startswith("-"):
            raise UsageError(f"unknown option {arg!r}{flag_hint(arg, argv)}\n{USAGE}")
        elif "=" in arg:
            overrides.append(arg)
        elif config_path is None and resume_dir is None:
            config_path = arg
        else:
            raise UsageError(f"unexpected argument {arg!r} (overrides look like key.sub=value)\n{USAGE}")
    if (config_path is None) == (resume_dir is None):
        raise UsageError(f"give exactly one of CONFIG.yaml or --resume RUN_DIR\n{USAGE}")

    from .config import load_config
    from .entry import resume, train
    from .trainer import TrainingDiverged

    if resume_dir is not None and run_dir is not None:
        raise UsageError(f"--resume continues the run in its own directory; drop --run-dir\n{USAGE}")
    if dry:
        return _dry_run(config_path, resume_dir, run_dir, overrides)
    try:
        if resume_dir is not None:
            result = resume(resume_dir, progress=not quiet, overrides=overrides)
        else:
            cfg = load_config(config_path, overrides)
            run_dir = run_dir if run_dir is not None else default_run_dir(cfg, overrides)
            result = train(cfg, run_dir=run_dir, progress=not quiet)
    except TrainingDiverged as err:
        print(f"dlzoo train: {err}", file=sys.stderr)
        return 1
    if result.already_complete:
        acc = result.test.get("acc")
        print(f"dlzoo train: {result.run_dir} is already complete ({len(result.history)} epochs"
              + (f", test_acc {acc:.4f}" if isinstance(acc, float) else "") + "); nothing to do. To train "
              f"longer: dlzoo train --resume {result.run_dir} train.epochs=N", file=sys.stderr)
    print(result.run_dir)
    return 0
