"""The ``dlzoo`` command line.

    dlzoo train CONFIG.yaml [key.sub=value ...] | dlzoo train --resume RUN_DIR [train.epochs=N ...]
    dlzoo experiment list | run NAME [key=value ...] | run [NAME] --resume DIR
    dlzoo models [PATTERN] / dlzoo info MODEL
    dlzoo bench SUITE [...]           (dlzoo.bench.cli.SUITES: norms, models, optim, rmsnorm, rnn, lm, ...)
    dlzoo analyze RUN_DIR
    dlzoo catalog [--check]

Exit codes: 0 success, 2 usage or config error (one paragraph, no traceback; also a run directory that
another live process holds), 1 failure during a run, 130 interrupted (Ctrl-C; the run is marked failed
in its status.json and stays resumable).
Each subcommand lives in its own package and exposes ``main(argv) -> int``.
"""

from __future__ import annotations

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
    "catalog": ("dlzoo.catalog", "regenerate (or --check) the README catalog and docs/catalog.md"),
}


def _usage() -> str:
    lines = ["usage: dlzoo COMMAND [ARGS]", "", "commands:"]
    lines += [f"  {name:<11} {help_}" for name, (_, help_) in SUBCOMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command not in SUBCOMMANDS:
        print(f"dlzoo: unknown command {command!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(SUBCOMMANDS[command][0])
    try:
        return int(module.main(rest) if command not in ("models", "info") else module.main(command, rest))
    except (UsageError, FileLoadError) as err:
        print(f"dlzoo {command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"dlzoo {command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
