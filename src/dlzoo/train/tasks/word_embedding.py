"""Word embeddings in the trainer: ``word2vec`` (card task ``word-embedding``) on a text corpus.

Mikolov et al., "Distributed Representations of Words and Phrases and their Compositionality", NeurIPS
2013, arXiv:1310.4546 (skip-gram / CBOW with negative sampling; the pipeline of
:mod:`dlzoo.models.embedding.word2vec_data`). ``data.name`` is a corpus of :data:`dlzoo.data.text.
TEXT_CORPORA` (``pydoc``: split by document), tokenised by :func:`~dlzoo.models.embedding.word2vec_data.
tokenize`; the vocabulary is the training split's words seen ``min_count`` times (``vocab_size`` of the
model follows from it). ``data.kwargs``: ``min_count`` (5), ``window`` (5), ``negatives`` (K = 5),
``sample`` (t = 1e-3), ``words`` (the query words whose nearest neighbours are written).

Training examples are drawn once, with ``seed``: the training ids subsampled (keep ``min(1, sqrt(t /
f(w)))``), then skip-gram pairs (centre, context) or CBOW (context window, centre) with dynamic windows
``b ~ U{1..window}`` (the reference code redraws these every epoch; here the loader reshuffles one draw).
Each step draws K noise words per example from ``P_n ~ U^(3/4)`` (the global RNG, checkpointed) and takes
the mean of Eq. 4, ``-log sigma(u_o^T h) - sum_k log sigma(-u_k^T h)`` (:meth:`Word2Vec.sgns_loss`).

Evaluation on the val / test text, drawn the same way (subsampled with the training counts, windows and
noise words drawn once with a fixed seed):
``loss`` (Eq. 4), ``untrained_loss`` = ``(1 + K) log 2`` (the loss of the reference initialisation, where
every score ``u^T h`` is 0 because ``u = 0``), and ``pair_auc``: the fraction of (true word, noise word)
pairs of an example where the true word scores higher (ties count 1/2; 0.5 is chance), next to
``unigram_pair_auc``, the same for the context-free score ``log count(w)`` (the true words follow the
unigram distribution, the noise words its 3/4 power, so frequency alone beats chance). After each
evaluation the run directory's ``neighbors.json`` gets the query words' 5 nearest neighbours (cosine of the
input vectors, :func:`~dlzoo.models.embedding.word2vec.nearest_neighbors`). One process only.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ...data.base import BatchLoader, DataSplits, TensorDataset
from ...errors import UsageError
from ..build import TrainData
from .base import Task, create_task_model

__all__ = ["WordEmbeddingTask"]

_KEYS = {
    "min_count": 5,
    "window": 5,
    "negatives": 5,
    "sample": 1e-3,
    "words": ["class", "list", "int", "exception", "loop", "string"],
}


def _unwrap(model: nn.Module) -> nn.Module:
    """The module under a ``torch.compile`` wrapper (``_orig_mod``)."""
    return getattr(model, "_orig_mod", model)


def _pair_wins(scores: Tensor) -> float:
    """The (true, noise) pairs of ``scores`` (B, 1 + K) ranking the true word (column 0) higher (ties 1/2)."""
    true, noise = scores[:, :1], scores[:, 1:]
    return float((true > noise).double().sum() + 0.5 * (true == noise).double().sum())


class WordEmbeddingTask(Task):
    """Trains word2vec on a text corpus (see the module docstring)."""

    name = "word-embedding"
    unit = "pair"

    def __init__(self, cfg) -> None:
        super().__init__(cfg)
        unknown = sorted(set(cfg.data.kwargs) - set(_KEYS))
        if unknown:
            raise UsageError(f"data.kwargs {unknown}: the word-embedding task takes {sorted(_KEYS)}")
        self.settings = {**_KEYS, **cfg.data.kwargs}
        for key in ("min_count", "window", "negatives"):
            value = self.settings[key]
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise UsageError(f"data.kwargs.{key} must be an integer >= 1, got {value!r}")
        words = self.settings["words"]
        if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
            raise UsageError(f"data.kwargs.words must be a list of words, got {words!r}")
        if not isinstance(self.settings["sample"], (int, float)) or not self.settings["sample"] > 0:
            raise UsageError(f"data.kwargs.sample must be a number > 0, got {self.settings['sample']!r}")
        self.mode = cfg.model.kwargs.get("mode", "skipgram")
        self.run_dir: Path | None = None

    # ------------------------------------------------------------------ building
    def _examples(self, ids: Tensor, g: torch.Generator) -> tuple[Tensor, Tensor]:
        """(inputs (N, C), true words (N,)): skip-gram C = 1, CBOW C = 2 window (padded with -1)."""
        from ...models.embedding.word2vec_data import cbow_examples, skipgram_pairs

        if self.mode == "cbow":
            return cbow_examples(ids, self.settings["window"], g)
        pairs = skipgram_pairs(ids, self.settings["window"], g)  # (P, 2)
        return pairs[:, :1], pairs[:, 1]

    def build_data(self, rank: int = 0, world_size: int = 1, run_dir: Path | None = None) -> TrainData:
        from ...data.text import TEXT_CORPORA, load_corpus
        from ...models.embedding.word2vec_data import build_vocab, noise_distribution, subsample, tokenize

        cfg = self.cfg.data
        if world_size > 1:
            raise UsageError("model word2vec trains in one process; run it without torchrun")
        if cfg.name not in TEXT_CORPORA:
            raise UsageError(
                f"data.name={cfg.name!r}: word2vec trains on a text corpus ("
                f"{', '.join(TEXT_CORPORA.names())})"
            )
        corpus = load_corpus(
            cfg.name,
            val_fraction=cfg.val_fraction,
            test_fraction=cfg.test_fraction,
            split_seed=cfg.split_seed,
            root=cfg.root,
        )
        tokens = {
            k: [w for doc in getattr(corpus, k) for w in tokenize(doc)] for k in ("train", "val", "test")
        }
        try:
            self.vocab = build_vocab(tokens["train"], self.settings["min_count"])
        except ValueError as err:
            raise UsageError(f"data ({cfg.name}): {err}") from None
        self.noise = noise_distribution(self.vocab.counts)  # (V,) P_n ~ U^(3/4)
        g = torch.Generator().manual_seed(self.cfg.seed)
        kept = subsample(self.vocab.encode(tokens["train"]), self.vocab.counts, self.settings["sample"], g)
        train = TensorDataset(*self._examples(kept, g))
        held_out = []
        for offset, split in enumerate(("val", "test"), start=1):
            g = torch.Generator().manual_seed(self.cfg.seed + 1000 * offset)
            ids = subsample(self.vocab.encode(tokens[split]), self.vocab.counts, self.settings["sample"], g)
            inputs, true = self._examples(ids, g)  # distributed as the training examples are
            noise = torch.multinomial(
                self.noise, max(len(true), 1) * self.settings["negatives"], replacement=True, generator=g
            ).view(-1, self.settings["negatives"])
            held_out.append(TensorDataset(inputs, torch.cat([true[:, None], noise[: len(true)]], 1)))
        if len(train) == 0:
            raise UsageError(f"data ({cfg.name}): no training examples (too few in-vocabulary words)")
        splits = DataSplits(
            train=train,
            val=held_out[0],
            test=held_out[1],
            num_classes=len(self.vocab),
            in_chans=train.x.shape[1],
            img_size=None,
            mean=torch.zeros(1),
            std=torch.ones(1),
            class_names=list(self.vocab.itos),
            name=cfg.name,
        )
        loaders = [
            BatchLoader(train, cfg.batch_size, shuffle=True, seed=self.cfg.seed),
            BatchLoader(held_out[0], max(cfg.batch_size, 4096)),
            BatchLoader(held_out[1], max(cfg.batch_size, 4096)),
        ]
        return TrainData(
            splits=splits, train_loader=loaders[0], val_loader=loaders[1], test_loader=loaders[2]
        )

    def build_model(self, data: TrainData) -> nn.Module:
        return create_task_model(self.cfg, "word-embedding", "word2vec", {"vocab_size": len(self.vocab)})

    def check_fit(self, data: TrainData, model: nn.Module) -> None:
        x, y = data.splits.val[:2]
        try:
            with torch.no_grad():
                scores = model(x, y)
        except (RuntimeError, ValueError, TypeError, IndexError) as err:
            raise UsageError(
                f"model ({self.cfg.model.name}) does not fit the data: {' '.join(str(err).split())[:300]}"
            ) from None
        if scores.shape != y.shape:
            raise UsageError(
                f"model ({self.cfg.model.name}) returns {tuple(scores.shape)} scores for targets "
                f"{tuple(y.shape)}"
            )

    def save_files(self, run_dir: Path) -> None:
        self.run_dir = run_dir  # where neighbors.json goes (main process only)

    # ------------------------------------------------------------------ training
    def train_loss(self, model: nn.Module, x: Tensor, y: Tensor) -> tuple[Tensor, dict[str, float]]:
        k = self.settings["negatives"]
        noise = torch.multinomial(self.noise.to(y.device), y.shape[0] * k, replacement=True)  # (B K,)
        targets = torch.cat([y[:, None], noise.view(-1, k)], 1)  # (B, 1 + K): the true word first
        return _unwrap(model).sgns_loss(x, targets), {"count": float(y.shape[0])}

    # ------------------------------------------------------------------ evaluation
    @torch.no_grad()
    def evaluate(
        self,
        model: nn.Module,
        loader: Any,
        device: torch.device,
        autocast: Callable[[], contextlib.AbstractContextManager],
    ) -> dict[str, float]:
        log_counts = self.vocab.counts.double().log().to(device)  # (V,) the context-free frequency score
        loss_sum, wins, unigram_wins, count = 0.0, 0.0, 0.0, 0
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            loss_sum += float(_unwrap(model).sgns_loss(x, y)) * y.shape[0]  # Eq. 4, mean over the batch
            wins += _pair_wins(model(x, y))  # scores (B, 1 + K), the true word's first
            unigram_wins += _pair_wins(log_counts[y])
            count += y.shape[0]
        k = self.settings["negatives"]
        out = {"loss": float("nan"), "pair_auc": float("nan"), "unigram_pair_auc": float("nan")}
        if count:
            pairs = count * k
            out = {
                "loss": loss_sum / count,
                "pair_auc": wins / pairs,
                "unigram_pair_auc": unigram_wins / pairs,
            }
        return {**out, "untrained_loss": (1 + k) * math.log(2)}

    def after_eval(self, model: nn.Module, record: dict[str, Any], message: Callable[[str], None]) -> None:
        from ...models.embedding.word2vec import nearest_neighbors

        words = [w for w in self.settings["words"] if w in self.vocab.stoi]
        near = {w: nearest_neighbors(_unwrap(model), self.vocab, w, 5) for w in words}
        if self.run_dir is not None:
            text = json.dumps(
                {w: dict(pairs) for w, pairs in near.items()}, indent=1
            )  # {word: {neighbour: cos}}
            (self.run_dir / "neighbors.json").write_text(text + "\n")
        if words:
            message(f"  {words[0]}: " + ", ".join(f"{n} {s:.2f}" for n, s in near[words[0]]))
