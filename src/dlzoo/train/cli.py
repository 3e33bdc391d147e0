"""``dlzoo train CONFIG.yaml [key.sub=value ...]`` and ``dlzoo train --resume RUN_DIR [key=value ...]``.

Config errors raise :class:`dlzoo.errors.UsageError` (exit 2, one paragraph, no traceback); a run that
diverges (NaN/Inf) exits 1 with the reason and the last good checkpoint. The last stdout line is the
run directory.
"""

from __future__ import annotations

import sys

from ..errors import UsageError

USAGE = """usage: dlzoo train CONFIG.yaml [key.sub=value ...] [--run-dir DIR] [--quiet]
       dlzoo train --resume RUN_DIR [key.sub=value ...] [--quiet]

Trains one model from a YAML config; dotted overrides are parsed as YAML scalars
(e.g. optim.lr=3e-3 model.kwargs.norm_layer=dyt train.epochs=5). Writes runs/<name>/<timestamp>/
and prints that directory last."""


def main(argv: list[str]) -> int:
    config_path, resume_dir, run_dir, quiet, overrides = None, None, None, False, []
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
        elif arg.startswith("-"):
            raise UsageError(f"unknown option {arg!r}\n{USAGE}")
        elif "=" in arg:
            overrides.append(arg)
        elif config_path is None and resume_dir is None:
            config_path = arg
        else:
            raise UsageError(f"unexpected argument {arg!r} (overrides look like key.sub=value)\n{USAGE}")
    if (config_path is None) == (resume_dir is None):
        raise UsageError(f"give exactly one of CONFIG.yaml or --resume RUN_DIR\n{USAGE}")

    from pathlib import Path

    from .config import load_config
    from .trainer import TrainingDiverged, train

    if resume_dir is not None:
        if not (Path(resume_dir) / "config.yaml").is_file():
            raise UsageError(f"--resume {resume_dir!r}: not a run directory (no config.yaml)")
        cfg = load_config(Path(resume_dir) / "config.yaml", overrides)
        run_dir, resume = resume_dir, True
    else:
        cfg = load_config(config_path, overrides)
        resume = False
    try:
        result = train(cfg, run_dir=run_dir, progress=not quiet, resume=resume)
    except TrainingDiverged as err:
        print(f"dlzoo train: {err}", file=sys.stderr)
        return 1
    print(result.run_dir)
    return 0
