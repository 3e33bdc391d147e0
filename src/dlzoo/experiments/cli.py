"""``dlzoo experiment list | run NAME [key=value ...]``.

``run`` writes ``<output_dir>/<NAME>/<timestamp>/`` (``report.md``, ``report.html``, ``plots/``,
``results.json``, ``runs/``), prints the report's path, and prints the run directory as the LAST
stdout line. Unknown keys or experiments raise :class:`dlzoo.errors.UsageError` (exit 2).
"""

from __future__ import annotations

import datetime as _dt
import sys
from pathlib import Path

from ..errors import UsageError
from .registry import EXPERIMENTS, _import_experiments, build_config, get_experiment

__all__ = ["main", "new_run_dir"]

USAGE = """usage: dlzoo experiment list
       dlzoo experiment run NAME [key=value ...]   (values are YAML: seeds=[0,1] norms=[layernorm,dyt])
       dlzoo experiment show NAME                  (the default config of NAME)"""


def new_run_dir(root: str | Path, name: str) -> Path:
    """``root/name/<UTC timestamp>`` (``-N`` suffix if taken); not created, the experiment creates it."""
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
    base = Path(root) / name
    path, k = base / stamp, 1
    while path.exists():
        k += 1
        path = base / f"{stamp}-{k}"
    return path


def _list() -> int:
    _import_experiments()
    for name in EXPERIMENTS.names():
        print(f"{name:<20} {EXPERIMENTS.card(name).extra.get('description', '')}")
    return 0


def _show(name: str) -> int:
    import yaml

    exp = get_experiment(name)
    print(f"# {exp.name}: {exp.description}\n# keys (override with key=value; dicts with a.b=value):")
    for key, field in exp.config.model_fields.items():
        if field.description:
            print(f"#   {key}: {field.description}")
    print(yaml.safe_dump(exp.config().model_dump(mode="json"), sort_keys=False).strip())
    return 0


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command == "list":
        return _list()
    if command in ("run", "show"):
        if any(a in ("-h", "--help") for a in rest):
            print(USAGE)
            names = [a for a in rest if not a.startswith("-")]
            return _show(names[0]) if names else 0
        if not rest or rest[0].startswith("-") or "=" in rest[0]:
            raise UsageError(f"missing experiment name\n{USAGE}")
        if command == "show":
            return _show(rest[0])
        exp = get_experiment(rest[0])
        cfg = build_config(exp.config, rest[1:])
        out_dir = new_run_dir(getattr(cfg, "output_dir", "runs"), exp.name)
        print(f"dlzoo experiment {exp.name}: writing {out_dir}", file=sys.stderr, flush=True)
        result_dir = Path(exp.run(cfg, out_dir))
        report = result_dir / "report.html"
        if report.is_file():
            print(f"report: {report}")
            print(f"report (markdown): {result_dir / 'report.md'}")
        print(result_dir, flush=True)
        return 0
    raise UsageError(f"unknown experiment command {command!r}\n{USAGE}")
