"""word2vec: skip-gram and CBOW with negative sampling (SGNS).

Mikolov, Chen, Corrado, Dean, "Efficient Estimation of Word Representations in Vector Space", 2013, arXiv
1301.3781 (skip-gram, CBOW); Mikolov et al., "Distributed Representations of Words and Phrases and their
Compositionality", NeurIPS 2013, arXiv 1310.4546 (negative sampling, subsampling). Input vectors ``v_w``
(``embeddings``) and output vectors ``u_w`` (``context_embeddings``); the hidden vector of an example is
``h = v_c`` (skip-gram, one centre word) or the mean of the context words' ``v`` (CBOW). With the true
word ``o`` and ``K`` noise words ``w_k ~ P_n(w) ~ U(w)^(3/4)``::

    L = -log sigma(u_o^T h) - sum_k log sigma(-u_{w_k}^T h)                               (Eq. 4)

Initialisation of the reference C code: ``v ~ U(-0.5/D, 0.5/D)``, ``u = 0``. ``forward(inputs (B, C),
targets (B, T))`` returns the scores ``u_t^T h`` ``(B, T)`` (inputs equal to -1 are padding, for CBOW
windows cut at the text's ends); :meth:`Word2Vec.sgns_loss` takes targets whose first column is the true
word. :func:`train_word2vec` runs the whole pipeline of :mod:`.word2vec_data` with a dlzoo optimizer.
Parameters ``2 V D``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ...nn import Embedding
from ...nn.channel_affine import check_positive_int
from .. import register_model
from .word2vec_data import (
    Vocab,
    build_vocab,
    cbow_examples,
    noise_distribution,
    skipgram_pairs,
    subsample,
)

__all__ = ["Word2Vec", "word2vec", "train_word2vec", "Word2VecResult", "nearest_neighbors"]


class Word2Vec(nn.Module):
    """Skip-gram / CBOW word vectors trained with negative sampling (see module docstring)."""

    def __init__(self, vocab_size: int = 2000, embedding_dim: int = 100, mode: str = "skipgram") -> None:
        super().__init__()
        self.vocab_size = check_positive_int("Word2Vec", "vocab_size", vocab_size)
        self.embedding_dim = check_positive_int("Word2Vec", "embedding_dim", embedding_dim)
        if mode not in ("skipgram", "cbow"):
            raise ValueError(f"Word2Vec: mode must be 'skipgram' or 'cbow', got {mode!r}")
        self.mode = mode
        self.embeddings = Embedding(vocab_size, embedding_dim)  # v_w (V, D)
        self.context_embeddings = Embedding(vocab_size, embedding_dim)  # u_w (V, D)
        with torch.no_grad():
            self.embeddings.weight.uniform_(-0.5 / embedding_dim, 0.5 / embedding_dim)
            self.context_embeddings.weight.zero_()

    def _check_ids(self, ids: object, what: str, allow_padding: bool) -> Tensor:
        if not isinstance(ids, Tensor) or ids.is_floating_point() or ids.dim() != 2:
            raise ValueError(f"Word2Vec: expected integer {what} ids (B, L), got "
                             f"{tuple(ids.shape) if isinstance(ids, Tensor) else type(ids).__name__}")
        low = -1 if allow_padding else 0
        if ids.numel() and (int(ids.min()) < low or int(ids.max()) >= self.vocab_size):
            raise ValueError(f"Word2Vec: {what} ids must be in [{low}, {self.vocab_size}), got "
                             f"[{int(ids.min())}, {int(ids.max())}]")
        return ids

    def hidden(self, inputs: Tensor) -> Tensor:
        """``h``: the mean of the non-padding inputs' ``v`` vectors, ``(B, C) -> (B, D)``."""
        inputs = self._check_ids(inputs, "input", allow_padding=True)
        mask = (inputs >= 0).to(self.embeddings.weight.dtype)  # (B, C)
        vecs = self.embeddings(inputs.clamp_min(0)) * mask[..., None]  # (B, C, D)
        return vecs.sum(1) / mask.sum(1, keepdim=True).clamp_min(1)

    def forward(self, inputs: Tensor, targets: Tensor) -> Tensor:
        """Scores ``u_t^T h``: inputs ``(B, C)``, targets ``(B, T)`` -> ``(B, T)``."""
        targets = self._check_ids(targets, "target", allow_padding=False)
        h = self.hidden(inputs)  # (B, D)
        return (self.context_embeddings(targets) @ h[:, :, None]).squeeze(2)  # (B, T, D) @ (B, D, 1)

    def sgns_loss(self, inputs: Tensor, targets: Tensor) -> Tensor:
        """Mean of Eq. 4 over the batch; ``targets[:, 0]`` is the true word, the rest are noise words."""
        scores = self(inputs, targets)  # (B, 1 + K)
        return -(F.logsigmoid(scores[:, 0]) + F.logsigmoid(-scores[:, 1:]).sum(1)).mean()

    def extra_repr(self) -> str:
        return f"vocab_size={self.vocab_size}, embedding_dim={self.embedding_dim}, mode={self.mode!r}"


@dataclass
class Word2VecResult:
    """A trained model, its vocabulary, the mean loss of every epoch and the noise distribution used."""

    model: Word2Vec
    vocab: Vocab
    losses: list[float] = field(default_factory=list)
    noise: Tensor | None = None


def train_word2vec(tokens: Sequence[str], mode: str = "skipgram", embedding_dim: int = 50, window: int = 5,
                   negatives: int = 5, min_count: int = 5, sample: float = 1e-3, epochs: int = 5,
                   batch_size: int = 512, lr: float = 0.01, optimizer: str = "adam", seed: int = 0
                   ) -> Word2VecResult:
    """Build the vocabulary, then per epoch: subsample, draw dynamic windows, draw ``negatives`` noise words
    per example from ``P_n ~ U^(3/4)``, and take mini-batch steps of :class:`dlzoo.optim.Adam` (or
    ``"sgd"``, the paper's choice, with ``lr`` decayed linearly to 0) on :meth:`Word2Vec.sgns_loss`."""
    from ...optim import SGD, Adam

    g = torch.Generator().manual_seed(seed)
    vocab = build_vocab(tokens, min_count)
    ids = vocab.encode(tokens)
    noise = noise_distribution(vocab.counts)
    torch.manual_seed(seed)
    model = Word2Vec(len(vocab), embedding_dim, mode)
    if optimizer not in ("adam", "sgd"):
        raise ValueError(f"train_word2vec: optimizer must be 'adam' or 'sgd', got {optimizer!r}")
    opt = Adam(model.parameters(), lr=lr) if optimizer == "adam" else SGD(model.parameters(), lr=lr)
    result = Word2VecResult(model, vocab, noise=noise)
    total_steps, step = None, 0
    for _ in range(epochs):
        kept = subsample(ids, vocab.counts, sample, g)
        if mode == "skipgram":
            pairs = skipgram_pairs(kept, window, g)
            inputs, true = pairs[:, :1], pairs[:, 1]
        else:
            inputs, true = cbow_examples(kept, window, g)
        order = torch.randperm(len(true), generator=g)
        inputs, true = inputs[order], true[order]
        noise_ids = torch.multinomial(noise, len(true) * negatives, replacement=True, generator=g)
        targets = torch.cat([true[:, None], noise_ids.view(len(true), negatives)], 1)  # (N, 1 + K)
        total_steps = total_steps or epochs * ((len(true) + batch_size - 1) // batch_size)
        running, batches = 0.0, 0
        for start in range(0, len(true), batch_size):
            if optimizer == "sgd":
                for group in opt.param_groups:
                    group["lr"] = lr * max(1e-4, 1 - step / total_steps)
            opt.zero_grad()
            loss = model.sgns_loss(inputs[start:start + batch_size], targets[start:start + batch_size])
            loss.backward()
            opt.step()
            running, batches, step = running + loss.item(), batches + 1, step + 1
        result.losses.append(running / max(batches, 1))
    return result


@torch.no_grad()
def nearest_neighbors(model: Word2Vec, vocab: Vocab, word: str, k: int = 5) -> list[tuple[str, float]]:
    """The ``k`` words whose input vectors have the highest cosine similarity to ``word``'s."""
    if word not in vocab.stoi:
        raise KeyError(f"nearest_neighbors: {word!r} is not in the vocabulary ({len(vocab)} words)")
    vecs = F.normalize(model.embeddings.weight, dim=1)  # (V, D)
    sims = vecs @ vecs[vocab.stoi[word]]
    sims[vocab.stoi[word]] = -2
    top = sims.topk(min(k, len(vocab) - 1))
    return [(vocab.itos[i], float(s)) for s, i in zip(top.values.tolist(), top.indices.tolist())]


@register_model(family="word2vec", paper="Distributed Representations of Words and Phrases and their "
                "Compositionality", year=2013, arxiv="1310.4546", input_size=(1, 6), test_input_size=(1, 6),
                task="word-embedding", reference_params=2 * 2000 * 100,
                source="closed form: 2 V D (input and output vectors), V = 2000, D = 100",
                test_kwargs={"vocab_size": 50, "embedding_dim": 8})
def word2vec(**kwargs: Any) -> Word2Vec:
    """Skip-gram with negative sampling, 2000 words, 100 dimensions."""
    return Word2Vec(**kwargs)


def main(words: Sequence[str] = ("class", "list", "int", "exception", "loop", "string"),
         mode: str = "skipgram", epochs: int = 3) -> None:
    """Train on the whole pydoc corpus and print each word's nearest neighbours
    (``python -c "from dlzoo.models.embedding.word2vec import main; main(mode='cbow')"``)."""
    from .word2vec_data import pydoc_tokens

    result = train_word2vec(pydoc_tokens(), mode=mode, epochs=epochs)
    losses = [round(x, 3) for x in result.losses]
    print(f"word2vec {mode}: {len(result.vocab)} words, loss per epoch {losses}")
    for w in words:
        near = ", ".join(f"{n} {s:.2f}" for n, s in nearest_neighbors(result.model, result.vocab, w, 5))
        print(f"  {w:>10}: {near}")
