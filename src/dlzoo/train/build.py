"""Turn config sections into components: data, model, optimizer, schedule, loss, device, autocast.

Each builder converts a bad name or argument into a :class:`dlzoo.errors.UsageError` naming the config
key, so ``dlzoo train`` exits 2 with one readable message instead of a traceback.
"""

from __future__ import annotations

import contextlib
import inspect
import warnings
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..data import DATASETS, BatchLoader, DataSplits
from ..data.augment import BatchAugment
from ..errors import UsageError
from .config import DataConfig, LoopConfig, LossConfig, ModelConfig, OptimConfig, ScheduleConfig, TrainConfig

__all__ = ["TrainData", "build_data", "build_model", "build_optimizer", "build_scheduler", "build_loss",
           "build_augment", "build_train_loss", "select_device", "autocast_context"]


def _usage(key: str, err: BaseException) -> UsageError:
    msg = err.args[0] if isinstance(err, KeyError) and err.args else str(err)
    return UsageError(f"{key}: {msg}")


@dataclass
class TrainData:
    """The data a run used: the splits (tensors in memory; ``DataSplits``, or ``LMSplits`` for a text
    corpus) and the batch iterators over them."""

    splits: DataSplits | Any
    train_loader: BatchLoader
    val_loader: BatchLoader
    test_loader: BatchLoader

    @property
    def train(self):
        return self.splits.train

    @property
    def val(self):
        return self.splits.val

    @property
    def test(self):
        return self.splits.test


def build_data(cfg: DataConfig, seed: int, rank: int = 0, world_size: int = 1) -> TrainData:
    """Build the dataset splits and loaders; the training order is a pure function of (seed, epoch).
    A text corpus (``dlzoo.data.text.TEXT_CORPORA``) gives packed LM blocks (:mod:`dlzoo.train.tasks.lm`)."""
    from .tasks import is_text_data

    if is_text_data(cfg.name):
        from .tasks.lm import build_lm_data

        return build_lm_data(cfg, seed, rank, world_size)
    text_keys = [k for k in ("tokenizer", "vocab_size", "block_size") if getattr(cfg, k) is not None]
    if text_keys and cfg.name in DATASETS:
        raise UsageError(f"data.{text_keys[0]} applies to text corpora (language modelling), not the dataset "
                         f"{cfg.name!r}; remove it")
    if cfg.name not in DATASETS:
        raise _usage("data.name", DATASETS._missing(cfg.name))
    try:
        splits = DATASETS.get(cfg.name)(val_fraction=cfg.val_fraction, test_fraction=cfg.test_fraction,
                                        split_seed=cfg.split_seed, img_size=cfg.img_size, root=cfg.root,
                                        **cfg.kwargs)
    except (TypeError, ValueError, FileNotFoundError) as err:
        raise _usage(f"data ({cfg.name})", err) from None
    if len(splits.train) == 0:
        raise UsageError(f"data ({cfg.name}): the training split is empty")
    train = BatchLoader(splits.train, cfg.batch_size, shuffle=True, drop_last=cfg.drop_last, seed=seed,
                        rank=rank, world_size=world_size)
    if len(train) == 0:
        raise UsageError(f"data.batch_size={cfg.batch_size} with drop_last leaves no batch of "
                         f"{len(splits.train)} training samples")
    val = BatchLoader(splits.val, max(cfg.batch_size, 256))
    test = BatchLoader(splits.test, max(cfg.batch_size, 256))
    return TrainData(splits=splits, train_loader=train, val_loader=val, test_loader=test)


def build_model(cfg: ModelConfig, splits: Any) -> nn.Module:
    """``dlzoo.create_model(name, **kwargs)`` with ``num_classes``/``in_chans`` (and ``img_size`` when the
    data was resized) taken from the data unless the config sets them."""
    from ..data.text import LMSplits
    from ..models import MODELS, _import_families, create_model

    if isinstance(splits, LMSplits):  # language modelling: vocab_size from the tokenizer
        from .tasks.lm import build_lm_model

        return build_lm_model(cfg, splits)
    _import_families()
    if cfg.name not in MODELS:
        raise _usage("model.name", MODELS._missing(cfg.name))
    kwargs = dict(cfg.kwargs)
    kwargs.setdefault("num_classes", splits.num_classes)
    kwargs.setdefault("in_chans", splits.in_chans)
    builder = MODELS.get(cfg.name)
    if "img_size" not in kwargs and splits.img_size is not None and _accepts(builder, "img_size"):
        kwargs["img_size"] = splits.img_size
    try:
        return create_model(cfg.name, **kwargs)
    except (TypeError, ValueError, KeyError) as err:
        raise _usage(f"model ({cfg.name}, kwargs {kwargs})", err) from None


def _accepts(fn: Any, name: str) -> bool:
    """Whether ``fn`` (or, for a ``**kwargs`` builder, the class it returns) takes argument ``name``."""
    params = inspect.signature(fn).parameters
    if name in params:
        return True
    ret = inspect.signature(fn).return_annotation
    target = fn.__globals__.get(ret) if isinstance(ret, str) else ret
    if isinstance(target, type):
        return name in inspect.signature(target.__init__).parameters
    return False


def build_optimizer(cfg: OptimConfig, model: nn.Module) -> torch.optim.Optimizer:
    """``dlzoo.optim.create_optimizer`` over weight-decay groups (no decay on biases, norms, DyT alpha)."""
    from ..optim import create_optimizer, weight_decay_groups

    groups = weight_decay_groups(model, cfg.weight_decay)
    try:
        return create_optimizer(cfg.name, groups, lr=cfg.lr, weight_decay=cfg.weight_decay, **cfg.kwargs)
    except (TypeError, ValueError, KeyError) as err:
        raise _usage("optim", err) from None


def build_scheduler(cfg: ScheduleConfig, optimizer: torch.optim.Optimizer, steps_per_epoch: int,
                    total_steps: int, at_step: int = 0) -> torch.optim.lr_scheduler.LRScheduler:
    """Per-batch schedule; ``warmup_cosine`` gets ``warmup_steps = round(warmup_epochs * steps_per_epoch)``
    and ``total_steps``.

    ``at_step > 0`` builds it over an optimizer that has already taken that many steps (a resumed run
    whose total changed): every group's lr is reset to its ``initial_lr`` and the new schedule is stepped
    ``at_step`` times, so the lr is what this schedule gives there, for any scheduler type."""
    from ..optim.schedulers import create_scheduler

    kwargs = dict(cfg.kwargs)
    if cfg.is_warmup_cosine:
        kwargs.setdefault("warmup_steps", min(total_steps, int(round(cfg.warmup_epochs * steps_per_epoch))))
        kwargs.setdefault("total_steps", total_steps)
        kwargs.setdefault("min_lr_ratio", cfg.min_lr_ratio)
    for group in optimizer.param_groups if at_step else ():
        group["lr"] = group.get("initial_lr", group["lr"])
    try:
        scheduler = create_scheduler(cfg.name, optimizer, **kwargs)
    except (TypeError, ValueError, KeyError) as err:
        raise _usage("schedule", err) from None
    with warnings.catch_warnings():  # "lr_scheduler.step() before optimizer.step()": a replay only
        warnings.simplefilter("ignore")
        for _ in range(at_step):
            scheduler.step()
    return scheduler


def build_loss(cfg: LossConfig) -> nn.Module:
    """``dlzoo.losses.create_loss(name, label_smoothing=..., **kwargs)``."""
    from ..losses import create_loss

    kwargs = dict(cfg.kwargs)
    if cfg.label_smoothing:
        kwargs["label_smoothing"] = cfg.label_smoothing
    try:
        return create_loss(cfg.name, **kwargs)
    except (TypeError, ValueError, KeyError) as err:
        raise _usage("loss", err) from None


def build_augment(cfg: TrainConfig, num_classes: int) -> BatchAugment:
    """The training-batch augmentation of ``data.augment`` (identity when all of it is off)."""
    aug = cfg.data.augment
    return BatchAugment(num_classes, mixup_alpha=aug.mixup_alpha, cutmix_alpha=aug.cutmix_alpha,
                        prob=aug.prob, switch_prob=aug.switch_prob, label_smoothing=cfg.loss.label_smoothing,
                        hflip=aug.hflip, crop_padding=aug.crop_padding)


def build_train_loss(cfg: TrainConfig, augment: BatchAugment) -> nn.Module:
    """The training loss; with Mixup/CutMix the label smoothing goes into the soft targets the augmentation
    makes, not into the loss (no double smoothing)."""
    return build_loss(cfg.loss.model_copy(update={"label_smoothing": 0.0}) if augment.mixes else cfg.loss)


def select_device(spec: str) -> torch.device:
    """``auto`` -> CUDA if available, else Apple MPS, else CPU; otherwise ``torch.device(spec)``."""
    if spec == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(spec)
    except RuntimeError as err:
        raise _usage("train.device", err) from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"train.device={spec!r} but CUDA is not available (use 'auto' or 'cpu')")
    return device


def autocast_context(cfg: LoopConfig, device: torch.device) -> contextlib.AbstractContextManager:
    """``torch.autocast`` for ``train.amp`` (bf16 on CPU; bf16/fp16 on CUDA), else a null context."""
    if cfg.amp == "none":
        return contextlib.nullcontext()
    if cfg.amp == "fp16" and device.type != "cuda":
        raise UsageError(f"train.amp=fp16 needs a CUDA device (got {device}); use bf16 on CPU")
    dtype = torch.bfloat16 if cfg.amp == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)
