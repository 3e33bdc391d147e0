"""The ``dlzoo`` command line.

    dlzoo train CONFIG.yaml [key.sub=value ...] | dlzoo train --resume RUN_DIR [train.epochs=N ...]
    dlzoo experiment list | run NAME [key=value ...] | run [NAME] --resume DIR
    dlzoo models [PATTERN] / dlzoo info MODEL
    dlzoo bench SUITE [...]           (dlzoo.bench.cli.SUITES: norms, models, optim, rmsnorm, rnn, lm, ...)
    dlzoo analyze RUN_DIR
    dlzoo compare RUN_DIR... --out DIR
    dlzoo catalog [--check]
    dlzoo config show [CONFIG.yaml] [key.sub=value ...]
    dlzoo --version | dlzoo help [COMMAND]

Exit codes: 0 success, 2 usage or config error (one paragraph, no traceback; also a run directory that
another live process holds, and an unknown command, with the closest one suggested), 1 failure during a
run, 130 interrupted (Ctrl-C; the run is marked failed in its status.json and stays resumable).
Each subcommand lives in its own package and exposes ``main(argv) -> int``; ``-h``/``--help`` after any
subcommand prints its usage and exits 0.
"""

from __future__ import annotations

import difflib
import importlib
import sys

from .errors import FileLoadError, UsageError

SUBCOMMANDS = {
    "train": ("dlzoo.train.cli", "train one model from a YAML config; resumable"),
    "experiment": ("dlzoo.experiments.cli", "list or run registered experiments"),
    "models": ("dlzoo.models.cli", "list registered models matching a pattern"),
    "info": ("dlzoo.models.cli", "paper, year, parameter count and MACs of one model"),
    "bench": ("dlzoo.bench.cli", "benchmarks (norms, models, optim, rmsnorm, rnn, lm, graph, ...)"),
    "analyze": ("dlzoo.analysis.cli", "analysis report for a trained run directory"),
    "compare": ("dlzoo.analysis.compare", "side-by-side report of several runs (paired tests, calibration)"),
    "catalog": ("dlzoo.catalog", "regenerate (or --check) the README catalog and docs/catalog.md"),
    "config": ("dlzoo.config_cli", "print the resolved training config (defaults or CONFIG.yaml) as YAML"),
}

# subcommands whose main takes (command, argv): one module serves both names
_NAMED_MAINS = ("models", "info")


def _version() -> str:
    from . import __version__

    return __version__


def _usage() -> str:
    lines = ["usage: dlzoo COMMAND [ARGS]   (dlzoo COMMAND --help for a command's usage)",
             "       dlzoo --version", "", "commands:"]
    lines += [f"  {name:<11} {help_}" for name, (_, help_) in SUBCOMMANDS.items()]
    return "\n".join(lines)


def suggest_command(command: str) -> str | None:
    """The registered subcommand closest to a mistyped ``command`` (``trian`` -> ``train``), or None."""
    close = difflib.get_close_matches(command, list(SUBCOMMANDS), n=1, cutoff=0.6)
    if close:
        return close[0]
    prefixed = [name for name in SUBCOMMANDS if name.startswith(command)] if command else []
    return prefixed[0] if len(prefixed) == 1 else None


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) >= 2 and argv[0] == "help" and argv[1] in SUBCOMMANDS:  # dlzoo help train
        argv = [argv[1], "--help"]
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0 if argv else 2
    if argv[0] in ("-V", "--version"):
        print(f"dlzoo {_version()}")
        return 0
    command, rest = argv[0], argv[1:]
    if command not in SUBCOMMANDS:
        close = suggest_command(command)
        hint = f"; did you mean {close!r}?" if close else ""
        print(f"dlzoo: unknown command {command!r}{hint}\n\n{_usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(SUBCOMMANDS[command][0])
    try:
        return int(module.main(command, rest) if command in _NAMED_MAINS else module.main(rest))
    except (UsageError, FileLoadError) as err:
        print(f"dlzoo {command}: error: {err}", file=sys.stderr)
        return 2
    except SystemExit as err:  # argparse's --help (0) or its own usage message (2): returned, not raised
        return err.code if isinstance(err.code, int) else (0 if err.code is None else 1)
    except KeyboardInterrupt:
        print(f"dlzoo {command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
