"""``dlzoo bench SUITE [...]``: each suite in :data:`SUITES` is ``dlzoo.bench.<suite>.main(argv)``; where they
write and ``--dry-run`` are shared (:mod:`dlzoo.bench.output`)."""

from __future__ import annotations

import difflib
import importlib

from ..errors import UsageError
from .output import BENCH_RUNS, RESULTS_DIR

SUITES = ("norms", "models", "optim", "rmsnorm", "transformer", "rnn", "lm", "analysis", "graph", "layers")


def usage() -> str:
    return (f"usage: dlzoo bench SUITE [options] [--out DIR | --update-results] [--dry-run]\n"
            f"       (dlzoo bench SUITE --help for a suite's options)\n\n"
            f"suites: {', '.join(SUITES)}\n\n"
            f"Every suite writes its .json/.md (and plots) to --out DIR, by default a new\n"
            f"{BENCH_RUNS}/<UTC timestamp>/; --update-results writes the committed {RESULTS_DIR}/ instead.\n"
            f"--dry-run checks the options, prints what would run and where, and runs nothing.")


def main(argv: list[str]) -> int:
    if argv and argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    if not argv or argv[0] not in SUITES:
        what = "missing SUITE"
        if argv:
            close = difflib.get_close_matches(argv[0], SUITES, n=1)
            what = f"unknown suite {argv[0]!r}" + (f"; did you mean {close[0]!r}?" if close else "")
        raise UsageError(f"{what}\n{usage()}")
    return int(importlib.import_module(f"dlzoo.bench.{argv[0]}").main(argv[1:]))
