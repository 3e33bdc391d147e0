"""Benchmark one optimizer step, dlzoo vs torch.optim (foreach=True / foreach=False), timed in one run.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_optim.py [--quick] [--threads 1] [...]

Same as ``dlzoo bench optim`` (:mod:`dlzoo.bench.optim`); writes ``optim.json`` + ``.md`` under ``--out``
(default ``runs/bench/<timestamp>/``; ``--update-results``: the committed ``benchmarks/results/``).
"""

from __future__ import annotations

import sys

from dlzoo.bench.optim import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
