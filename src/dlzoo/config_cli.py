"""``dlzoo config show [CONFIG.yaml] [key.sub=value ...]``: the resolved training config as YAML.

With no CONFIG the defaults of :class:`dlzoo.train.config.TrainConfig` are printed; with one, that file
validated and completed with every default (what ``config.yaml`` in its run directory will hold), after
the dotted overrides. An invalid config is a :class:`dlzoo.errors.UsageError` (exit 2, naming the key).
"""

from __future__ import annotations

from .errors import UsageError

__all__ = ["USAGE", "main"]

USAGE = """usage: dlzoo config show [CONFIG.yaml] [key.sub=value ...]

Prints the resolved training config as YAML: the defaults when CONFIG.yaml is omitted, otherwise that
file validated and completed with every default, after the overrides (e.g. train.epochs=2 optim.lr=3e-3).
The output is itself a valid config: dlzoo config show > my.yaml && dlzoo train my.yaml"""


def main(argv: list[str]) -> int:
    if any(a in ("-h", "--help") for a in argv) or (argv and argv[0] == "help"):
        print(USAGE)
        return 0
    if not argv:
        raise UsageError(f"missing command\n{USAGE}")
    command, rest = argv[0], argv[1:]
    if command != "show":
        raise UsageError(f"unknown config command {command!r}\n{USAGE}")
    unknown = [a for a in rest if a.startswith("-")]
    if unknown:
        raise UsageError(f"unknown option {unknown[0]!r}\n{USAGE}")
    paths = [a for a in rest if "=" not in a]
    overrides = [a for a in rest if "=" in a]
    if len(paths) > 1:
        raise UsageError(f"give at most one CONFIG.yaml, got {paths}\n{USAGE}")

    from .train.config import config_to_yaml, load_config

    print(config_to_yaml(load_config(paths[0] if paths else None, overrides)), end="")
    return 0
