"""Registered experiments and their ``key=value`` override handling.

An experiment is a pydantic config class plus ``run(cfg, out_dir) -> Path`` (the directory holding its
report). Both are registered in :data:`EXPERIMENTS` (a :class:`dlzoo.registry.Registry`):

    @register_experiment("norm-comparison", config=NormComparisonConfig, description="...")
    def run(cfg: NormComparisonConfig, out_dir: Path) -> Path: ...

``dlzoo experiment run NAME key=value ...`` parses every value as YAML (``seeds=[0,1]``,
``norms=[layernorm,dyt]``, ``epochs=2``); dotted keys reach into dict fields (``train.optim.lr=1e-3``).
Unknown keys raise :class:`dlzoo.errors.UsageError` with close-match suggestions (the CLI exits 2).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydantic
import yaml

from ..errors import UsageError
from ..registry import Registry

__all__ = ["EXPERIMENTS", "Experiment", "register_experiment", "get_experiment", "parse_overrides",
           "parse_value", "build_config"]

RunFn = Callable[[Any, Path], Path]
EXPERIMENTS: Registry[RunFn] = Registry("experiment")


@dataclass(frozen=True)
class Experiment:
    """A registered experiment: its name, config class, run function and one-line description."""

    name: str
    config: type[pydantic.BaseModel]
    run: RunFn
    description: str


def register_experiment(name: str, *, config: type[pydantic.BaseModel], description: str = "", **card: Any):
    """Decorator registering ``run(cfg, out_dir) -> Path`` with its pydantic ``config`` class."""

    def decorator(fn: RunFn) -> RunFn:
        EXPERIMENTS.add(name, fn, family="experiment", extra={"config": config, "description": description},
                        **card)
        return fn

    return decorator


def get_experiment(name: str) -> Experiment:
    """The experiment registered as ``name``; :class:`UsageError` with suggestions otherwise."""
    _import_experiments()
    try:
        fn = EXPERIMENTS.get(name)
    except KeyError as err:
        raise UsageError(f"{err.args[0]}; registered: {', '.join(EXPERIMENTS.names())}") from None
    extra = EXPERIMENTS.card(name).extra
    return Experiment(name, extra["config"], fn, extra.get("description", ""))


def _import_experiments() -> None:
    """Import every module of this package, so each ``@register_experiment`` runs (a new experiment is
    one new module; nothing else to edit)."""
    import importlib
    import pkgutil

    from . import __path__ as package_path

    for module in pkgutil.iter_modules(package_path):
        importlib.import_module(f"{__package__}.{module.name}")


_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def parse_value(text: str) -> Any:
    """YAML-parse one override value; numbers YAML 1.1 leaves as strings (``1e-3``) become floats."""
    try:
        value = yaml.safe_load(text) if text.strip() else ""
    except yaml.YAMLError as err:
        raise UsageError(f"cannot parse value {text!r}: {err}") from None
    if isinstance(value, str) and _NUMBER.match(value.strip()):
        return float(value)
    return value


def parse_overrides(items: Sequence[str]) -> list[tuple[list[str], Any]]:
    """``["a.b=1", "seeds=[0]"]`` -> ``[(["a", "b"], 1), (["seeds"], [0])]``."""
    out = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"override {item!r} is not of the form key=value")
        out.append(([k for k in key.strip().split(".")], parse_value(value)))
    return out


def _suggest(key: str, known: Sequence[str]) -> str:
    close = difflib.get_close_matches(key, list(known), n=3, cutoff=0.5)
    return f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""


def build_config(config_cls: type[pydantic.BaseModel], overrides: Sequence[str],
                 base: dict[str, Any] | None = None) -> pydantic.BaseModel:
    """Default config of ``config_cls`` (or the saved ``base``, e.g. a resumed experiment's
    ``config.yaml``) with ``key=value`` overrides applied and validated.

    Top-level keys must be fields of ``config_cls``; a dotted key (``train.optim.lr``) sets a nested
    entry of a dict field. Validation errors become :class:`UsageError` naming the key.
    """
    import copy

    if base is not None and not isinstance(base, dict):
        raise TypeError(f"build_config: base must be a dict of config values, got {type(base).__name__}")
    data = {**config_cls().model_dump(), **copy.deepcopy(base or {})}
    fields = list(config_cls.model_fields)
    for path, value in parse_overrides(overrides):
        head = path[0]
        if head not in config_cls.model_fields:
            raise UsageError(
                f"unknown key {'.'.join(path)!r} for {config_cls.__name__}{_suggest(head, fields)} "
                f"(known keys: {', '.join(fields)})"
            )
        if len(path) == 1:
            data[head] = value
            continue
        node = data[head]
        if not isinstance(node, dict):
            raise UsageError(f"key {head!r} is not a mapping; cannot set {'.'.join(path)!r}")
        for part in path[1:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise UsageError(f"cannot set {'.'.join(path)!r}: {part!r} is not a mapping")
        node[path[-1]] = value
    try:
        return config_cls.model_validate(data)
    except pydantic.ValidationError as err:
        lines = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors()]
        raise UsageError(f"invalid {config_cls.__name__}: " + "; ".join(lines)) from None
