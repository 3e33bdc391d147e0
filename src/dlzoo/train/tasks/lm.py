"""Language modelling: a causal LM trained on packed next-token blocks of a text corpus.

Config (``data.name`` a corpus of :data:`dlzoo.data.text.TEXT_CORPORA`)::

    data: {name: pydoc, tokenizer: bpe, vocab_size: 1024, block_size: 128, batch_size: 32}
    model: {name: gpt_tiny}                 # vocab_size taken from the tokenizer unless set
    loss: {name: lm_cross_entropy}          # next-token cross-entropy over (B, T, V)
    train: {grad_accum_steps: 2}
    sample: {prompt: "The ", max_new_tokens: 64}

The corpus is split by document (``val_fraction``/``test_fraction``/``split_seed``); the tokenizer
(``byte``, ``bpe`` trained on the training split only, or a HF ``tokenizer.json`` path) encodes each split
into one stream (documents joined by end-of-text) cut into non-overlapping blocks of ``block_size``
(:class:`dlzoo.data.text.LMBlockDataset`). The run directory keeps the tokenizer as ``tokenizer.json``
next to the model; a resumed run reads it back, so the ids never change under a run.

Metrics: ``train_loss``/``val_loss``/``test_loss`` are mean next-token cross-entropies (nats per token),
``*_ppl = exp(loss)`` the perplexities, ``tokens_per_s`` the epoch's training throughput over all ranks;
after every evaluation a sample generated from ``sample.prompt`` (seeded by ``(seed, epoch)``, so
a resumed run prints the same text) is printed and stored in the record as ``sample``.
"""

from __future__ import annotations

import contextlib
import inspect
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ...data.base import BatchLoader, epoch_seed
from ...data.text import LMBlockDataset, LMSplits, encode_documents, load_corpus
from ...data.tokenizer import TOKENIZER_FILE, ByteTokenizer, load_tokenizer, train_bpe
from ...errors import UsageError
from ...losses import LMCrossEntropyLoss
from ...models._base import main_output
from ..build import TrainData, _usage, build_loss
from ..checkpoint import capture_rng_state, restore_rng_state
from ..config import DataConfig, ModelConfig, TrainConfig
from .base import Task

__all__ = ["LanguageModelingTask", "build_lm_data", "build_lm_model", "check_lm_fit", "build_tokenizer",
           "DEFAULT_BLOCK_SIZE", "DEFAULT_BPE_VOCAB"]

DEFAULT_BLOCK_SIZE = 128
DEFAULT_BPE_VOCAB = 1024
_ERRORS = (ValueError, TypeError, RuntimeError, IndexError, KeyError)


def _one_line(err: BaseException) -> str:
    text = str(err.args[0]) if isinstance(err, KeyError) and err.args else str(err)
    return " ".join(text.split()) or type(err).__name__


def build_tokenizer(cfg: DataConfig, train_docs: list[str], run_dir: Path | None = None) -> Any:
    """The tokenizer of ``data.tokenizer``; a run directory's saved ``tokenizer.json`` wins (resume)."""
    spec = cfg.tokenizer or "byte"
    if run_dir is not None and (Path(run_dir) / TOKENIZER_FILE).is_file():
        return load_tokenizer(Path(run_dir) / TOKENIZER_FILE)
    if spec == "byte":
        tok: Any = ByteTokenizer()
    elif spec == "bpe":
        try:
            return train_bpe(train_docs, cfg.vocab_size or DEFAULT_BPE_VOCAB)
        except (TypeError, ValueError) as err:
            raise _usage("data.vocab_size", err) from None
    elif spec.endswith(".json") or Path(spec).is_dir():
        try:
            tok = load_tokenizer(spec)
        except (FileNotFoundError, ValueError) as err:
            raise _usage("data.tokenizer", err) from None
    else:
        raise UsageError(f"data.tokenizer: expected 'byte', 'bpe' or the path of a tokenizer.json, got "
                         f"{spec!r}")
    if cfg.vocab_size is not None and cfg.vocab_size != tok.vocab_size:
        raise UsageError(f"data.vocab_size={cfg.vocab_size} but data.tokenizer={spec!r} has {tok.vocab_size} "
                         f"ids (vocab_size only sizes a trained bpe); leave it unset")
    return tok


def build_lm_data(cfg: DataConfig, seed: int, rank: int = 0, world_size: int = 1,
                  run_dir: Path | None = None) -> TrainData:
    """Corpus -> tokenizer -> packed blocks -> loaders (training order a pure function of (seed, epoch))."""
    if cfg.img_size is not None:
        raise UsageError(f"data.img_size={cfg.img_size} applies to image datasets, not the text corpus "
                         f"{cfg.name!r}; remove it")
    aug = cfg.augment
    if aug.mixup_alpha or aug.cutmix_alpha or aug.hflip or aug.crop_padding:
        raise UsageError(f"data.augment (Mixup/CutMix/flips/crops) applies to images, not the text corpus "
                         f"{cfg.name!r}; remove it")
    try:
        corpus = load_corpus(cfg.name, val_fraction=cfg.val_fraction, test_fraction=cfg.test_fraction,
                             split_seed=cfg.split_seed, root=cfg.root, **cfg.kwargs)
    except (TypeError, ValueError, FileNotFoundError) as err:
        raise _usage(f"data ({cfg.name})", err) from None
    tok = build_tokenizer(cfg, corpus.train, run_dir)
    block = cfg.block_size or DEFAULT_BLOCK_SIZE
    train, val, test = (LMBlockDataset(encode_documents(tok, docs), block)
                        for docs in (corpus.train, corpus.val, corpus.test))
    if len(train) == 0:
        raise UsageError(f"data ({cfg.name}): the training split holds {train.num_tokens} tokens, fewer than "
                         f"one block of data.block_size={block} (+1); lower data.block_size")
    splits = LMSplits(train=train, val=val, test=test, tokenizer=tok, block_size=block, name=corpus.name)
    loader = BatchLoader(train, cfg.batch_size, shuffle=True, drop_last=cfg.drop_last, seed=seed, rank=rank,
                         world_size=world_size)
    if len(loader) == 0:
        raise UsageError(f"data.batch_size={cfg.batch_size} with drop_last leaves no batch of "
                         f"{len(train)} training blocks")
    eval_batch = max(cfg.batch_size, 64)
    return TrainData(splits=splits, train_loader=loader, val_loader=BatchLoader(val, eval_batch),
                     test_loader=BatchLoader(test, eval_batch))


def build_lm_model(cfg: ModelConfig, splits: LMSplits) -> nn.Module:
    """``dlzoo.create_model(name, vocab_size=<the tokenizer's>, **kwargs)``."""
    from ...models import MODELS, _import_families, create_model

    _import_families()
    if cfg.name not in MODELS:
        raise _usage("model.name", MODELS._missing(cfg.name))
    task = MODELS.card(cfg.name).task
    if task and task != "causal-lm":
        raise UsageError(f"model {cfg.name!r} is a {task} model, not a causal language model; a text corpus "
                         f"(data.name) needs one (e.g. gpt_tiny, llama_tiny)")
    kwargs = dict(cfg.kwargs)
    kwargs.setdefault("vocab_size", splits.vocab_size)
    try:
        return create_model(cfg.name, **kwargs)
    except (TypeError, ValueError, KeyError) as err:
        raise _usage(f"model ({cfg.name}, kwargs {kwargs})", err) from None


def check_lm_fit(cfg: TrainConfig, data: TrainData, model: nn.Module | None = None) -> None:
    """Model vs tokenizer vs block size vs loss, by one dry forward of 2 real training blocks (eval mode,
    no grad, RNG states restored); :class:`UsageError` naming the config keys otherwise."""
    splits: LMSplits = data.splits
    rng = capture_rng_state()
    try:
        if model is None:
            with torch.device("meta"):
                model = build_lm_model(cfg.model, splits)
        vocab, context = getattr(model, "vocab_size", None), getattr(model, "max_seq_len", None)
        if not isinstance(vocab, int) or not isinstance(context, int):
            raise UsageError(f"model {cfg.model.name!r} is not a causal language model (no vocab_size/"
                             f"max_seq_len); data {cfg.data.name!r} is a text corpus and needs one (e.g. "
                             f"gpt_tiny, llama_tiny)")
        if vocab < splits.vocab_size:
            raise UsageError(f"model {cfg.model.name!r} has vocab_size={vocab} but the tokenizer "
                             f"(data.tokenizer={cfg.data.tokenizer or 'byte'!r}) emits {splits.vocab_size} "
                             f"ids; leave model.kwargs.vocab_size unset (it follows the tokenizer) or >= "
                             f"{splits.vocab_size}")
        if splits.block_size > context:
            raise UsageError(f"data.block_size={splits.block_size} is longer than the context of model "
                             f"{cfg.model.name!r} (max_seq_len={context}); lower data.block_size or raise "
                             f"model.kwargs.max_seq_len")
        device = next(model.parameters(), torch.empty(0)).device
        if device.type == "meta":
            return
        x, y = splits.train[: min(2, len(splits.train))]
        was_training = model.training
        try:
            with torch.no_grad():
                logits = main_output(model.eval()(x.to(device)))
        except _ERRORS as err:
            raise UsageError(f"model {cfg.model.name!r} fails on token blocks {tuple(x.shape)}: "
                             f"{_one_line(err)}") from None
        finally:
            model.train(was_training)
        if tuple(logits.shape) != (*x.shape, vocab):
            raise UsageError(f"model {cfg.model.name!r} returns {tuple(logits.shape)} for token blocks "
                             f"{tuple(x.shape)}; a causal LM returns logits (B, T, vocab_size={vocab})")
        try:
            loss = build_loss(cfg.loss)(torch.zeros(logits.shape), y)
            if not isinstance(loss, Tensor) or loss.dim() != 0:
                raise ValueError(f"returns {getattr(loss, 'shape', type(loss).__name__)}, not a scalar")
        except _ERRORS as err:
            raise UsageError(f"loss.name={cfg.loss.name!r} cannot take next-token logits (B, T, V) with "
                             f"targets (B, T): {_one_line(err)}; use loss.name=lm_cross_entropy") from None
    finally:
        restore_rng_state(rng)


class LanguageModelingTask(Task):
    """See the module docstring."""

    name = "lm"
    unit = "tok"

    def build_data(self, rank: int = 0, world_size: int = 1, run_dir: Path | None = None) -> TrainData:
        self.data = build_lm_data(self.cfg.data, self.cfg.seed, rank, world_size, run_dir)
        return self.data

    def build_model(self, data: TrainData) -> nn.Module:
        return build_lm_model(self.cfg.model, data.splits)

    def check_fit(self, data: TrainData, model: nn.Module) -> None:
        check_lm_fit(self.cfg, data, model)

    def setup(self, data: TrainData, device: torch.device) -> None:
        self.tokenizer = data.splits.tokenizer
        self.loss_fn = build_loss(self.cfg.loss).to(device)
        self.eval_loss_fn = LMCrossEntropyLoss(reduction="sum").to(device)
        self.device = device

    def save_files(self, run_dir: Path) -> None:
        self.tokenizer.save(Path(run_dir) / TOKENIZER_FILE)

    def sample_count(self, y: Tensor) -> int:
        return int(y.numel())

    def train_loss(self, model: nn.Module, x: Tensor, y: Tensor) -> tuple[Tensor, dict[str, float]]:
        logits = main_output(model(x))  # (B, T, V)
        return self.loss_fn(logits, y), {"count": float(y.numel())}

    def epoch_metrics(self, sums: dict[str, float]) -> dict[str, Any]:
        out = super().epoch_metrics(sums)
        return {**out, "train_ppl": _ppl(out["train_loss"])}

    def throughput(self, sums: dict[str, float]) -> dict[str, Any]:
        return {"tokens_per_s": sums["count"] / sums["time"] if sums.get("time") else None}

    @torch.no_grad()
    def evaluate(self, model: nn.Module, loader: Any, device: torch.device,
                 autocast: Callable[[], contextlib.AbstractContextManager]) -> dict[str, float]:
        """Mean next-token cross-entropy (nats/token) and perplexity over ``loader``."""
        was_training = model.training
        model.eval()
        loss_sum, count = 0.0, 0
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            with autocast():
                logits = main_output(model(x))
            loss_sum += self.eval_loss_fn(logits.float(), y).item()
            count += y.numel()
        model.train(was_training)
        loss = loss_sum / count if count else float("nan")
        return {"loss": loss, "ppl": _ppl(loss)}

    def after_eval(self, model: nn.Module, record: dict[str, Any], message: Callable[[str], None]) -> None:
        text = self.sample(model, epoch=int(record.get("epoch", 0)))
        if text is not None:
            record["sample"] = text
            message(f"sample: {text!r}")

    @torch.no_grad()
    def sample(self, model: nn.Module, epoch: int = 0) -> str | None:
        """Text generated from ``sample.prompt`` (all RNG states untouched; seeded by (seed, epoch))."""
        s = self.cfg.sample
        if s.max_new_tokens == 0 or not hasattr(model, "generate"):
            return None
        ids = self.tokenizer.encode(s.prompt) if s.prompt else []
        if not ids:
            eos = self.tokenizer.eos_token_id
            ids = [eos if eos is not None else 0]
        ids = ids[-(model.max_seq_len - 1):]
        new = min(s.max_new_tokens, model.max_seq_len - len(ids))
        prompt = torch.tensor([ids], dtype=torch.long, device=self.device)  # (1, P)
        kwargs: dict[str, Any] = {"do_sample": s.do_sample, "temperature": s.temperature, "top_k": s.top_k,
                                  "top_p": s.top_p}
        rng = capture_rng_state()
        was_training = model.training
        try:
            model.eval()
            seed = epoch_seed(self.cfg.seed, 1_000_003 + epoch)
            torch.manual_seed(seed)
            if "generator" in inspect.signature(model.generate).parameters:
                kwargs["generator"] = torch.Generator(device=self.device).manual_seed(seed)
            out = model.generate(prompt, new, **kwargs)
        finally:
            model.train(was_training)
            restore_rng_state(rng)
        return self.tokenizer.decode(out[0].tolist())

    def summary(self, prefix: str, metrics: dict[str, float]) -> str:
        return f"{prefix}_loss {metrics['loss']:.4f}  {prefix}_ppl {metrics['ppl']:.2f}"


def _ppl(loss: float) -> float:
    return math.exp(loss) if math.isfinite(loss) and loss < 700 else float("inf")
