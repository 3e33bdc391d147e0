"""Thin wrapper: ``python benchmarks/bench_norms.py [options]`` == ``dlzoo bench norms [options]``.

See :mod:`dlzoo.bench.norms` for the candidates, the measurement and the outputs
(``norms.json``, ``norms.md``, ``norms.png`` under ``--out``; default ``runs/bench/<timestamp>/``,
``--update-results``: ``benchmarks/results/``).
"""

from __future__ import annotations

import sys

from dlzoo.bench.norms import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
