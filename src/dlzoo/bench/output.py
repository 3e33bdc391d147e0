"""Where a benchmark writes, and its ``--dry-run``: the three options every ``dlzoo bench`` suite shares.

* ``--out DIR``: the directory for the suite's files; by default a fresh ``runs/bench/<UTC timestamp>/``
  (:func:`dlzoo.train.rundir.new_run_dir`), so a run never overwrites the committed results;
* ``--update-results``: write into the committed ``benchmarks/results/`` instead (explicit, since those
  files are what the README and docs cite);
* ``--dry-run``: check the options exactly as a run does, print what would run and where it would write,
  run nothing, write nothing.

A suite adds them with :func:`add_output_args` and, once its options are checked, calls
:func:`resolve_out` then returns early when :func:`dry_run` says so.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import UsageError

__all__ = ["RESULTS_DIR", "BENCH_RUNS", "add_output_args", "resolve_out", "dry_run"]

RESULTS_DIR = "benchmarks/results"
BENCH_RUNS = "runs/bench"
DEFAULT_HELP = f"default: {BENCH_RUNS}/<UTC timestamp>/; {RESULTS_DIR} with --update-results"


def add_output_args(parser: argparse.ArgumentParser, files: str) -> None:
    """Add ``--out``, ``--update-results`` and ``--dry-run``; ``files`` names what lands in ``--out``."""
    parser.add_argument("--out", default=None, help=f"directory for {files} ({DEFAULT_HELP})")
    parser.add_argument(
        "--update-results",
        action="store_true",
        help=f"write into the committed {RESULTS_DIR}/ (the numbers the README and docs cite)",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="check the options, print what would run and where it would write; run and write nothing",
    )


def resolve_out(args: argparse.Namespace) -> Path:
    """``args.out`` made concrete (and stored back as a ``str``): the given ``--out``, the committed results
    with ``--update-results``, else a new ``runs/bench/<timestamp>`` path (not created)."""
    from ..train.rundir import new_run_dir

    if args.out is not None and args.update_results:
        raise UsageError(f"give --out DIR or --update-results (which writes {RESULTS_DIR}), not both")
    if args.out is None:
        if args.update_results:
            args.out = RESULTS_DIR
        else:
            root, name = BENCH_RUNS.rsplit("/", 1)
            args.out = str(new_run_dir(root, name))
    return Path(args.out)


def dry_run(suite: str, args: argparse.Namespace, plan: str = "", prog: str | None = None) -> bool:
    """With ``--dry-run``: print the suite (``prog``, default ``dlzoo bench SUITE``), its resolved options,
    ``plan`` and the output directory, and return True (the caller returns 0 without running); otherwise
    return False."""
    if not getattr(args, "dry_run", False):
        return False
    out = resolve_out(args)
    skip = {"dry_run", "update_results", "out"}
    options = ", ".join(f"{k}={v!r}" for k, v in vars(args).items() if k not in skip)
    print(f"{prog or 'dlzoo bench ' + suite} (dry run): would write {out}")
    print(f"  options {options}")
    if plan:
        print(f"  plan    {plan}")
    print("dry run: options checked; nothing was run or written")
    return True
