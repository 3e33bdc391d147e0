"""``dlzoo bench SUITE [...]``: each suite in :data:`SUITES` is ``dlzoo.bench.<suite>.main(argv)``."""

from __future__ import annotations

import importlib

from ..errors import UsageError

SUITES = ("norms", "models", "optim", "rmsnorm", "transformer", "rnn", "lm", "analysis", "graph")


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in SUITES:
        raise UsageError(f"usage: dlzoo bench {{{'|'.join(SUITES)}}} [options]")
    return int(importlib.import_module(f"dlzoo.bench.{argv[0]}").main(argv[1:]))
