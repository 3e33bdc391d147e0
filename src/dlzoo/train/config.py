"""Typed, validated training configs (pydantic v2, unknown keys rejected) and YAML + dotted overrides.

    cfg = load_config("configs/vit_digits.yaml", overrides=["optim.lr=3e-3", "model.kwargs.norm_layer=dyt"])

Every section forbids unknown keys; a typo gets the closest valid key suggested (``difflib``) and any
validation failure becomes one readable :class:`dlzoo.errors.UsageError` paragraph (the CLI exits 2).
Free-form ``kwargs`` dicts (model, data, optimizer) are passed through to the component builders.

Rules that tie fields of different sections together are ``model_validator``s here (they need no data);
whether the model, data and loss fit each other is checked by a dry run,
:func:`dlzoo.train.validate.check_fit`.
"""

from __future__ import annotations

import difflib
import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ..errors import UsageError

__all__ = [
    "TrainConfig",
    "ModelConfig",
    "DataConfig",
    "AugmentConfig",
    "OptimConfig",
    "ScheduleConfig",
    "LossConfig",
    "LoopConfig",
    "CheckpointConfig",
    "SampleConfig",
    "load_config",
    "apply_overrides",
    "parse_value",
    "config_to_yaml",
]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ModelConfig(_Section):
    """``name`` of a registered model and keyword overrides for ``dlzoo.create_model``."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, protected_namespaces=())
    name: str = "vit_tiny_digits"
    kwargs: dict[str, Any] = Field(default_factory=dict)


class AugmentConfig(_Section):
    """Training-batch augmentation (``dlzoo.data.augment.BatchAugment``); all off by default."""

    mixup_alpha: float = Field(0.0, ge=0.0)
    cutmix_alpha: float = Field(0.0, ge=0.0)
    prob: float = Field(1.0, ge=0.0, le=1.0)
    switch_prob: float = Field(0.5, ge=0.0, le=1.0)
    hflip: float = Field(0.0, ge=0.0, le=1.0)
    crop_padding: int = Field(0, ge=0)


class DataConfig(_Section):
    """A registered dataset (``dlzoo.data.DATASETS``) and how to split and batch it.

    ``num_workers`` is accepted for loaders that read from disk; in-memory datasets index whole batches
    in the main process and ignore it.
    """

    name: str = "digits"
    batch_size: int = Field(64, ge=1)
    val_fraction: float = Field(0.15, ge=0.0, lt=1.0)
    test_fraction: float = Field(0.15, ge=0.0, lt=1.0)
    split_seed: int = 0
    num_workers: int = Field(0, ge=0)
    img_size: int | None = Field(None, ge=1)
    root: str | None = None
    drop_last: bool = False
    augment: AugmentConfig = Field(default_factory=AugmentConfig)
    # text corpora (language modelling, ``dlzoo.data.text.TEXT_CORPORA``): tokenizer ``byte``, ``bpe``
    # (trained on the training split, ``vocab_size`` entries) or a path to a HF tokenizer.json; packed
    # blocks of ``block_size`` tokens. Unset: byte, 128.
    tokenizer: str | None = None
    vocab_size: int | None = Field(None, ge=1)
    block_size: int | None = Field(None, ge=1)
    kwargs: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _fractions(self) -> DataConfig:
        if self.val_fraction + self.test_fraction >= 1.0:
            raise ValueError(f"val_fraction + test_fraction must be < 1 (nothing left to train on), got "
                             f"{self.val_fraction} + {self.test_fraction}")
        return self


class OptimConfig(_Section):
    """``dlzoo.optim.create_optimizer(name, groups, lr=..., **kwargs)``; decay skipped for 1-d params."""

    name: str = "adamw"
    lr: float = Field(1.0e-3, gt=0.0)
    weight_decay: float = Field(0.05, ge=0.0)
    kwargs: dict[str, Any] = Field(default_factory=dict)


class ScheduleConfig(_Section):
    """Learning-rate schedule, stepped once per batch. ``name: none`` keeps the lr constant."""

    name: str = "warmup_cosine"
    warmup_epochs: float = Field(1.0, ge=0.0)
    min_lr_ratio: float = Field(0.0, ge=0.0, le=1.0)
    kwargs: dict[str, Any] = Field(default_factory=dict)

    @property
    def is_warmup_cosine(self) -> bool:
        """Whether ``name`` is the warmup + cosine schedule (the one ``warmup_epochs`` applies to)."""
        return self.name.lower().replace("-", "_") in ("warmup_cosine", "warmupcosine")


class LossConfig(_Section):
    name: str = "cross_entropy"
    label_smoothing: float = Field(0.0, ge=0.0, lt=1.0)
    kwargs: dict[str, Any] = Field(default_factory=dict)


class LoopConfig(_Section):
    """The training loop. ``amp``: autocast dtype (bf16 on CPU; bf16/fp16 on CUDA, fp16 with GradScaler).
    ``max_steps`` and the checkpoint/schedule step counts are optimizer steps (``grad_accum_steps``
    micro-batches each)."""

    epochs: int = Field(20, ge=1)
    grad_clip: float | None = Field(1.0, ge=0.0)
    amp: Literal["none", "bf16", "fp16"] = "none"
    compile: bool = False
    device: str = "auto"
    eval_every: int = Field(1, ge=1)
    log_every: int = Field(50, ge=1)
    deterministic: bool = True
    max_steps: int | None = Field(None, ge=1)
    grad_accum_steps: int = Field(1, ge=1)  # micro-batches per optimizer step (an epoch's last may be short)
    fsdp: bool = False  # torchrun: FSDP2 fully_shard (each transformer block, then the root) instead of DDP


class CheckpointConfig(_Section):
    """When to checkpoint (every N epochs and/or N optimizer steps; 0 disables) and how many to keep."""

    every_epochs: int = Field(1, ge=0)
    every_steps: int = Field(0, ge=0)
    keep_last: int = Field(2, ge=1)


class SampleConfig(_Section):
    """Language modelling: the text generated after each evaluation (``max_new_tokens: 0`` turns it off)."""

    prompt: str = ""
    max_new_tokens: int = Field(64, ge=0)
    do_sample: bool = True
    temperature: float = Field(0.8, gt=0.0)
    top_k: int | None = Field(50, ge=1)
    top_p: float | None = Field(None, gt=0.0, le=1.0)


class TrainConfig(_Section):
    """One training run. ``runs/<name>/<timestamp>/`` holds its outputs (see ``dlzoo.train.train``)."""

    name: str = "run"
    seed: int = 0
    output_dir: str = "runs"
    model: ModelConfig = Field(default_factory=ModelConfig)
    data: DataConfig = Field(default_factory=DataConfig)
    optim: OptimConfig = Field(default_factory=OptimConfig)
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    loss: LossConfig = Field(default_factory=LossConfig)
    train: LoopConfig = Field(default_factory=LoopConfig)
    checkpoint: CheckpointConfig = Field(default_factory=CheckpointConfig)
    sample: SampleConfig = Field(default_factory=SampleConfig)

    @model_validator(mode="after")
    def _sections_agree(self) -> TrainConfig:
        """Cross-section rules that need no data (the dry run checks model vs data vs loss)."""
        if self.schedule.is_warmup_cosine and self.schedule.warmup_epochs > self.train.epochs:
            raise ValueError(f"schedule.warmup_epochs={self.schedule.warmup_epochs} is longer than "
                             f"train.epochs={self.train.epochs}: the lr would never reach optim.lr")
        return self


_FLOAT = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")


def parse_value(text: str) -> Any:
    """A command-line value as a YAML scalar, with ``3e-3`` read as a float (YAML 1.1 would say string)."""
    if _FLOAT.match(text.strip()) and not re.match(r"^[-+]?\d+$", text.strip()):
        return float(text)
    try:
        return yaml.safe_load(text) if text.strip() else ""
    except yaml.YAMLError:
        return text


def apply_overrides(data: dict[str, Any], overrides: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """Set ``a.b.c=value`` entries into a nested dict (copied); values parsed by :func:`parse_value`."""
    import copy

    data = copy.deepcopy(data)
    for item in overrides:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key or any(not part for part in key.split(".")):
            raise UsageError(f"override {item!r} is not of the form key.sub=value (e.g. optim.lr=3e-3)")
        node = data
        parts = key.split(".")
        for i, part in enumerate(parts[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            elif not isinstance(child, dict):
                raise UsageError(f"override {item!r}: {'.'.join(parts[: i + 1])} is a value, not a section")
            node = child
        node[parts[-1]] = parse_value(raw)
    return data


def _fields_at(loc: tuple[Any, ...]) -> list[str]:
    """Valid field names of the config section at ``loc`` (for suggestions)."""
    cls: Any = TrainConfig
    for part in loc:
        field = cls.model_fields.get(part) if isinstance(part, str) else None
        ann = field.annotation if field is not None else None
        if not (isinstance(ann, type) and issubclass(ann, BaseModel)):
            return []
        cls = field.annotation
    return list(cls.model_fields)


def _format_errors(err: ValidationError, origin: str) -> str:
    lines = []
    for e in err.errors():
        loc = tuple(e["loc"])
        dotted = ".".join(str(p) for p in loc)
        if e["type"] == "extra_forbidden":
            valid = _fields_at(loc[:-1])
            close = difflib.get_close_matches(str(loc[-1]), valid, n=1)
            hint = f"; did you mean {'.'.join([*map(str, loc[:-1]), close[0]])!r}?" if close else ""
            lines.append(f"unknown key {dotted!r}{hint} (valid keys here: {', '.join(valid)})")
        elif e["type"] == "value_error":  # a model_validator's rule: its message says it all
            msg = str(e["msg"]).removeprefix("Value error, ")
            lines.append(f"{dotted}: {msg}" if dotted else msg)
        else:
            lines.append(f"{dotted}: {e['msg']} (got {e.get('input')!r})")
    return f"invalid config {origin}: " + "; ".join(lines)


def load_config(
    source: str | os.PathLike | dict[str, Any] | TrainConfig | None = None,
    overrides: list[str] | tuple[str, ...] = (),
) -> TrainConfig:
    """Build a validated :class:`TrainConfig` from a YAML path, a dict, or defaults, plus overrides.

    Raises :class:`UsageError` (a ``ValueError``) for a missing file, bad YAML, unknown keys (with the
    closest valid key) and wrong types or out-of-range values.
    """
    if not isinstance(source, (str, os.PathLike, dict, TrainConfig, type(None))):
        raise TypeError(f"load_config: source must be a YAML path, a dict, a TrainConfig or None, got "
                        f"{type(source).__name__} {source!r}")
    if isinstance(overrides, (str, bytes)) or not all(isinstance(o, str) for o in overrides):
        raise TypeError(f"load_config: overrides must be a list of 'key.sub=value' strings, "
                        f"got {overrides!r}")
    origin = "(defaults)"
    if source is None:
        data: dict[str, Any] = {}
    elif isinstance(source, TrainConfig):
        data = source.model_dump()
    elif isinstance(source, dict):
        data, origin = source, "(dict)"
    else:
        path = Path(source)
        origin = str(path)
        if not path.is_file():
            raise UsageError(f"config file {str(path)!r} does not exist")
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as err:
            raise UsageError(f"config file {str(path)!r} is not valid YAML: {err}") from None
        if not isinstance(data, dict):
            raise UsageError(f"config file {str(path)!r} must hold a mapping, got {type(data).__name__}")
    data = apply_overrides(data, list(overrides))
    try:
        return TrainConfig.model_validate(data)
    except ValidationError as err:
        raise UsageError(_format_errors(err, origin)) from None


def config_to_yaml(cfg: TrainConfig) -> str:
    """The resolved config as YAML (what ``config.yaml`` in a run directory holds)."""
    return yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False)
