"""Benchmark one optimizer step, dlzoo vs torch.optim (foreach=True / foreach=False), timed in one run.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_optim.py [--quick] [--threads 1] [...]

Same as ``dlzoo bench optim`` (:mod:`dlzoo.bench.optim`); writes ``benchmarks/results/optim.json`` + ``.md``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from dlzoo.bench.optim import main

if __name__ == "__main__":
    out = str(Path(__file__).resolve().parent / "results")
    argv = sys.argv[1:]
    sys.exit(main(argv if "--out" in argv else [*argv, "--out", out]))
