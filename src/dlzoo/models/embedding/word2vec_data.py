"""word2vec's text pipeline: vocabulary, frequent-word subsampling, the noise distribution, training examples.

Mikolov, Sutskever, Chen, Corrado, Dean, "Distributed Representations of Words and Phrases and their
Compositionality", NeurIPS 2013, arXiv 1310.4546:

* subsampling (Sec. 2.3): each occurrence of word ``w`` is discarded with probability
  ``P(w) = 1 - sqrt(t / f(w))`` (``f(w)`` its relative frequency; kept with ``min(1, sqrt(t / f(w)))``).
  The paper suggests ``t ~ 1e-5`` for billion-word corpora; for the ~70k-token pydoc corpus the default
  here is gensim's ``1e-3`` (with ``1e-5`` nearly every occurrence of every word would go).
* noise distribution for negative sampling (Sec. 2.2): ``P_n(w) = U(w)^(3/4) / Z`` (``U`` the unigram counts).
* dynamic window (Mikolov et al., "Efficient Estimation of Word Representations in Vector Space", 2013,
  arXiv 1301.3781, and the reference C code): for each centre word a window ``b ~ U{1..window}``; the
  context is the words at distance ``<= b``.

Skip-gram examples are (centre, context) pairs; CBOW examples are (context words (2 window, padded with
-1), centre).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["Vocab", "tokenize", "build_vocab", "noise_distribution", "keep_probability", "subsample",
           "skipgram_pairs", "cbow_examples", "pydoc_tokens"]

_WORD = re.compile(r"[a-z][a-z0-9_]*")


def tokenize(text: str) -> list[str]:
    """Lower-cased words (letters, digits and underscores, starting with a letter)."""
    return _WORD.findall(text.lower())


def pydoc_tokens() -> list[str]:
    """Every word of the embedded pydoc corpus (:mod:`dlzoo.data.text`, all splits, in document order)."""
    from ...data.text import pydoc_documents

    return [w for _, text in pydoc_documents() for w in tokenize(text)]


@dataclass
class Vocab:
    """Words sorted by decreasing count (ties alphabetical) and their counts."""

    itos: list[str]
    counts: Tensor  # (V,) long

    def __post_init__(self) -> None:
        self.stoi = {w: i for i, w in enumerate(self.itos)}

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, tokens: Iterable[str]) -> Tensor:
        """Ids of the in-vocabulary tokens (out-of-vocabulary ones are dropped, as in word2vec)."""
        return torch.tensor([self.stoi[t] for t in tokens if t in self.stoi], dtype=torch.long)


def build_vocab(tokens: Iterable[str], min_count: int = 5) -> Vocab:
    """Words seen at least ``min_count`` times."""
    if min_count < 1:
        raise ValueError(f"build_vocab: min_count must be >= 1, got {min_count}")
    counts = Counter(tokens)
    words = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
    if not words:
        raise ValueError(f"build_vocab: no word occurs {min_count} times or more")
    return Vocab(words, torch.tensor([counts[w] for w in words], dtype=torch.long))


def noise_distribution(counts: Tensor, power: float = 0.75) -> Tensor:
    """``P_n(w) = counts^power / sum counts^power``, ``(V,)`` float64."""
    weights = counts.double() ** power
    return weights / weights.sum()


def keep_probability(counts: Tensor, t: float = 1e-3) -> Tensor:
    """``min(1, sqrt(t / f(w)))`` with ``f(w) = counts / sum(counts)``, ``(V,)`` float64."""
    if not t > 0:
        raise ValueError(f"keep_probability: t must be > 0, got {t}")
    freq = counts.double() / counts.sum()
    return torch.sqrt(t / freq).clamp(max=1.0)


def subsample(ids: Tensor, counts: Tensor, t: float = 1e-3,
              generator: torch.Generator | None = None) -> Tensor:
    """Drop each occurrence ``w`` with probability ``1 - keep_probability(w)``; returns the kept ids."""
    keep = keep_probability(counts, t)[ids]
    return ids[torch.rand(ids.shape, generator=generator, dtype=torch.float64) < keep]


def _windows(n: int, window: int, generator: torch.Generator | None) -> Tensor:
    if window < 1:
        raise ValueError(f"word2vec: window must be >= 1, got {window}")
    return torch.randint(1, window + 1, (n,), generator=generator)  # (n,) dynamic window per centre


def skipgram_pairs(ids: Tensor, window: int = 5, generator: torch.Generator | None = None) -> Tensor:
    """(centre, context) pairs ``(P, 2)`` within each centre's dynamic window."""
    n = ids.shape[0]
    b = _windows(n, window, generator)
    pos = torch.arange(n)
    pairs = []
    for d in range(1, window + 1):
        for sign in (-1, 1):
            ctx = pos + sign * d
            ok = (b >= d) & (ctx >= 0) & (ctx < n)
            pairs.append(torch.stack([ids[pos[ok]], ids[ctx[ok]]], 1))
    return torch.cat(pairs)


def cbow_examples(ids: Tensor, window: int = 5, generator: torch.Generator | None = None
                  ) -> tuple[Tensor, Tensor]:
    """(context ``(n, 2 window)`` padded with -1, centre ``(n,)``) for every centre with some context."""
    n = ids.shape[0]
    b = _windows(n, window, generator)
    pos = torch.arange(n)
    offsets = torch.cat([torch.arange(-window, 0), torch.arange(1, window + 1)])  # (2W,)
    where = pos[:, None] + offsets[None, :]  # (n, 2W)
    ok = (offsets.abs()[None, :] <= b[:, None]) & (where >= 0) & (where < n)
    context = torch.where(ok, ids[where.clamp(0, n - 1)], torch.full_like(where, -1))
    has = ok.any(1)
    return context[has], ids[has]
