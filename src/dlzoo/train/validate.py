"""Check, before a run directory is made, that the sections of a config fit together.

pydantic validates each section on its own (types, ranges, unknown keys) and the rules that tie fields of
several sections together (``model_validator`` in :mod:`dlzoo.train.config`). What only shows when the
built components meet (a model whose ``in_chans``/``img_size``/patch size does not fit the data, a head
with another number of classes than the dataset, a loss that cannot take the soft targets Mixup/CutMix
make, a norm or model name the registry does not know) used to surface as a traceback in the first
training step, after the run directory had been written.

:func:`check_fit` finds all of them up front with one dry run: one augmented mini-batch (2 samples) of the
real training data goes through the model in eval mode without gradients, the output must be logits
``(B, num_classes)``, and the training loss is evaluated on the real (possibly soft) targets against zero
logits of that shape. The trainer passes the model it has just built (its state is not changed: eval
mode, no grad, mode restored); without one, the model is built on the ``meta`` device (no memory; the
way ``dlzoo.create_model("llama2_7b")`` is counted; the first meta build in a process imports torch's
meta kernels, a few seconds). Every global RNG state is restored afterwards, so the run that follows is
bit for bit the one it would have been.
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import UsageError
from .build import TrainData, build_augment, build_model, build_train_loss
from .checkpoint import capture_rng_state, restore_rng_state
from .config import TrainConfig

__all__ = ["check_fit"]

_ERRORS = (ValueError, TypeError, RuntimeError, IndexError, KeyError)


def _one_line(err: BaseException) -> str:
    text = str(err.args[0]) if isinstance(err, KeyError) and err.args else str(err)
    return " ".join(text.split()) or type(err).__name__


def _meta_unsupported(err: BaseException) -> bool:
    """An op without a meta kernel (or reading tensor values) rather than a real mismatch."""
    return isinstance(err, NotImplementedError) or "meta" in str(err).lower()


def check_fit(cfg: TrainConfig, data: TrainData, model: nn.Module | None = None) -> None:
    """Raise :class:`UsageError` (one paragraph naming the config keys) if ``cfg``'s model, data and loss
    do not fit together; see the module docstring. ``model``: the built model of ``cfg`` (else built on
    the meta device). Leaves every RNG state and the model's train/eval mode as it found them."""
    from ..data.text import LMSplits

    if isinstance(data.splits, LMSplits):  # language modelling: model vs tokenizer vs block size vs loss
        from .tasks.lm import check_lm_fit

        return check_lm_fit(cfg, data, model)
    splits = data.splits
    n = min(2, cfg.data.batch_size, len(splits.train))
    x, y = splits.train[:n]
    where = (f"model {cfg.model.name!r} on data {cfg.data.name!r} (inputs of shape "
             f"{(cfg.data.batch_size, *x.shape[1:])}, {splits.num_classes} classes)")
    rng = capture_rng_state()
    try:
        if model is None:
            with torch.device("meta"):
                model = build_model(cfg.model, splits)  # unknown names and bad kwargs: UsageError
        device = next(model.parameters(), torch.empty(0)).device
        augment = build_augment(cfg, splits.num_classes)
        loss_fn = build_train_loss(cfg, augment)
        inputs, target = augment(x, y)
        was_training = model.training
        try:
            with torch.no_grad():
                logits = model.eval()(inputs.to(device))
        except _ERRORS as err:
            if device.type == "meta" and _meta_unsupported(err):
                return  # this model cannot run on meta tensors; the first training step will tell
            raise UsageError(f"{where}: the model does not fit the data: {_one_line(err)}. Check "
                             f"model.kwargs (in_chans, img_size, patch_size, ...) against the data, or "
                             f"leave them unset to take them from the data") from None
        finally:
            model.train(was_training)
        expected = (n, splits.num_classes)
        shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        if shape != expected:
            raise UsageError(f"{where}: the model returns {shape} for a batch of {n}, the classification "
                             f"loss needs logits of shape (B, {splits.num_classes}); set "
                             f"model.kwargs.num_classes={splits.num_classes} or leave it unset")
        kind = (f"soft targets of shape {tuple(target.shape)} (data.augment mixup_alpha/cutmix_alpha)"
                if target.dim() == 2 else f"class indices of shape {tuple(target.shape)}")
        try:
            loss = loss_fn(torch.zeros(expected, dtype=torch.float32), target)
        except _ERRORS as err:
            hint = ("; use a loss that takes class probabilities (e.g. cross_entropy) or turn Mixup/CutMix "
                    "off" if target.dim() == 2 else "")
            raise UsageError(f"loss.name={cfg.loss.name!r} cannot take the {kind} this config trains "
                             f"with: {_one_line(err)}{hint}") from None
        if not isinstance(loss, torch.Tensor) or loss.dim() != 0:
            got = tuple(loss.shape) if isinstance(loss, torch.Tensor) else type(loss).__name__
            raise UsageError(f"loss.name={cfg.loss.name!r} returns {got}, not a scalar; set "
                             f"loss.kwargs.reduction=mean")
    finally:
        restore_rng_state(rng)
