"""Text corpora for language modelling and packed fixed-length next-token blocks.

    corpus = load_corpus("pydoc", val_fraction=0.1, test_fraction=0.1, split_seed=0)
    corpus.train[:2]                  # documents (str) of the training split
    tok = ByteTokenizer()
    blocks = LMBlockDataset(encode_documents(tok, corpus.train), block_size=128)
    x, y = blocks[:4]                 # (4, 128), (4, 128): y is x shifted left by one token

Corpora (registry :data:`TEXT_CORPORA`, the ``data.name`` of an LM config):

- ``pydoc``: the embedded default, the English text of the Python reference documentation that ships with
  CPython (``pydoc_data.topics``: 79 topics, ~465 KB). No download, same text on every machine with the
  same Python minor version. Split into train/val/test **by document** (topic).
- ``text_file``: one plain-text file (TinyShakespeare style). Documents are separated by ``separator``
  (default ``<|endoftext|>``, TinyStories' marker) when the file contains it and split by document;
  otherwise the file is cut into contiguous train/val/test ranges at line boundaries.
- ``text_folder``: every ``*.txt`` file under a folder (recursive, sorted) is one document.

Document splits are deterministic: a permutation of the sorted document names drawn from ``split_seed``,
the first ``test_fraction`` of it (rounded, at least one document when the fraction is > 0) for test, the
next ``val_fraction`` for validation, the rest for training.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..registry import Registry
from .base import TensorDataset

__all__ = ["TextCorpus", "TEXT_CORPORA", "register_corpus", "load_corpus", "pydoc_documents",
           "split_documents", "encode_documents", "LMBlockDataset", "LMSplits", "DOC_SEPARATOR"]

DOC_SEPARATOR = "<|endoftext|>"


@dataclass
class TextCorpus:
    """Train/val/test documents (lists of str) and where they came from."""

    train: list[str]
    val: list[str]
    test: list[str]
    name: str = ""

    def num_chars(self) -> dict[str, int]:
        return {k: sum(len(d) for d in getattr(self, k)) for k in ("train", "val", "test")}


TEXT_CORPORA: Registry[Callable[..., TextCorpus]] = Registry("text corpus")


def register_corpus(name: str | None = None, **card: Any):
    """Decorator: register ``builder(*, val_fraction, test_fraction, split_seed, root, **kw)``
    returning a :class:`TextCorpus`."""
    return TEXT_CORPORA.register(name, **card)


def _check_fractions(where: str, val_fraction: float, test_fraction: float) -> None:
    for name, f in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0.0 <= f < 1.0:
            raise ValueError(f"{where}: {name} must be in [0, 1), got {f}")
    if val_fraction + test_fraction >= 1.0:
        raise ValueError(f"{where}: val_fraction + test_fraction must be < 1, got {val_fraction} + "
                         f"{test_fraction}")


def split_documents(docs: Sequence[str], val_fraction: float, test_fraction: float, split_seed: int = 0,
                    where: str = "split_documents") -> tuple[list[str], list[str], list[str]]:
    """Split whole documents into (train, val, test), deterministically from ``split_seed``.

    A fraction > 0 gets at least one document; training keeps at least one."""
    _check_fractions(where, val_fraction, test_fraction)
    n = len(docs)
    n_test = max(1, round(test_fraction * n)) if test_fraction > 0 else 0
    n_val = max(1, round(val_fraction * n)) if val_fraction > 0 else 0
    if n - n_test - n_val < 1:
        raise ValueError(f"{where}: {n} documents cannot give {n_val} validation and {n_test} test documents "
                         f"and still leave one to train on")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(int(split_seed))).tolist()
    test = [docs[i] for i in sorted(perm[:n_test])]
    val = [docs[i] for i in sorted(perm[n_test:n_test + n_val])]
    train = [docs[i] for i in sorted(perm[n_test + n_val:])]
    return train, val, test


def pydoc_documents() -> list[tuple[str, str]]:
    """``(topic, text)`` of CPython's ``pydoc_data.topics``, sorted by topic name."""
    from pydoc_data.topics import topics

    return sorted(topics.items())


@register_corpus("pydoc", family="text", paper="Python reference documentation (pydoc_data.topics)")
def pydoc_corpus(*, val_fraction: float = 0.1, test_fraction: float = 0.1, split_seed: int = 0,
                 root: str | None = None) -> TextCorpus:
    """The embedded default corpus, split by topic (see the module docstring)."""
    if root is not None:
        raise ValueError(f"text corpus 'pydoc' is embedded and takes no root, got root={root!r}")
    docs = [text for _, text in pydoc_documents()]
    return TextCorpus(*split_documents(docs, val_fraction, test_fraction, split_seed, "pydoc"), name="pydoc")


def _contiguous_split(text: str, val_fraction: float, test_fraction: float, where: str
                      ) -> tuple[list[str], list[str], list[str]]:
    """train | val | test ranges of ``text`` in that order, each cut at a line boundary."""
    _check_fractions(where, val_fraction, test_fraction)

    def cut(frac: float) -> int:
        i = int(round(frac * len(text)))
        j = text.find("\n", i)
        return len(text) if j < 0 else j + 1

    a, b = cut(1.0 - val_fraction - test_fraction), cut(1.0 - test_fraction)
    parts = [text[:a], text[a:b], text[b:]]
    if not parts[0] or (val_fraction > 0 and not parts[1]) or (test_fraction > 0 and not parts[2]):
        raise ValueError(f"{where}: {len(text)} characters are too few to split into train/val/test "
                         f"({val_fraction}, {test_fraction})")
    return tuple([p] if p else [] for p in parts)  # type: ignore[return-value]


def _require_path(where: str, root: str | os.PathLike | None, kind: str) -> Path:
    if root is None:
        raise ValueError(f"{where}: data.root must name the {kind} to read")
    path = Path(root).expanduser()
    if not (path.is_file() if kind == "file" else path.is_dir()):
        raise FileNotFoundError(f"{where}: {kind} {str(path)!r} does not exist")
    return path


@register_corpus("text_file", family="text", paper="a plain-text file (TinyShakespeare/TinyStories style)")
def text_file_corpus(*, val_fraction: float = 0.1, test_fraction: float = 0.1, split_seed: int = 0,
                     root: str | os.PathLike | None = None, separator: str = DOC_SEPARATOR,
                     encoding: str = "utf-8") -> TextCorpus:
    """One UTF-8 file: split by document when ``separator`` occurs in it, else contiguously."""
    path = _require_path("text_file", root, "file")
    text = path.read_text(encoding=encoding)
    if separator and separator in text:
        docs = [d.strip("\n") for d in text.split(separator)]
        docs = [d for d in docs if d.strip()]
        parts = split_documents(docs, val_fraction, test_fraction, split_seed, f"text_file {path}")
    else:
        parts = _contiguous_split(text, val_fraction, test_fraction, f"text_file {path}")
    return TextCorpus(*parts, name=f"text_file:{path.name}")


@register_corpus("text_folder", family="text", paper="a folder of .txt files, one document each")
def text_folder_corpus(*, val_fraction: float = 0.1, test_fraction: float = 0.1, split_seed: int = 0,
                       root: str | os.PathLike | None = None, pattern: str = "*.txt",
                       encoding: str = "utf-8") -> TextCorpus:
    """Every file matching ``pattern`` under ``root`` (recursive, sorted by relative path) is one document."""
    path = _require_path("text_folder", root, "folder")
    files = sorted(p for p in path.rglob(pattern) if p.is_file())
    if not files:
        raise FileNotFoundError(f"text_folder: no {pattern} files under {str(path)!r}")
    docs = [f.read_text(encoding=encoding) for f in files]
    parts = split_documents(docs, val_fraction, test_fraction, split_seed, f"text_folder {path}")
    return TextCorpus(*parts, name=f"text_folder:{path.name}")


def load_corpus(name: str, **kwargs: Any) -> TextCorpus:
    """Build the registered corpus ``name`` (``UnknownNameError`` with suggestions for a typo)."""
    return TEXT_CORPORA.get(name)(**kwargs)


def encode_documents(tokenizer: Any, docs: Iterable[str]) -> Tensor:
    """One token stream (long, (N,)): each document's ids followed by the tokenizer's end-of-text id
    (when it has one), as GPT-2 packs its training text."""
    eos = getattr(tokenizer, "eos_token_id", None)
    ids: list[int] = []
    for doc in docs:
        ids.extend(tokenizer.encode(doc))
        if eos is not None:
            ids.append(eos)
    return torch.tensor(ids, dtype=torch.long)


class LMBlockDataset(TensorDataset):
    """Packed next-token blocks of a token stream: block ``i`` is ``x = s[i*T : i*T+T]`` and
    ``y = s[i*T+1 : i*T+T+1]`` (the target is the input shifted left by one), ``T = block_size``.

    Non-overlapping, ``N = (len(s) - 1) // T`` blocks; the tail that does not fill a block is dropped.
    ``x`` and ``y`` are views of the stream, shape (N, T) each, so the whole-batch
    :class:`dlzoo.data.BatchLoader` (deterministic order, mid-epoch resume, DDP shards) iterates them.
    """

    def __init__(self, tokens: Tensor, block_size: int) -> None:
        if not isinstance(tokens, Tensor) or tokens.dim() != 1 or tokens.dtype != torch.long:
            got = f"{tokens.dtype} tensor of shape {tuple(tokens.shape)}" if isinstance(tokens, Tensor) \
                else type(tokens).__name__
            raise TypeError(f"LMBlockDataset: tokens must be a 1-d torch.long tensor, got {got}")
        if isinstance(block_size, bool) or not isinstance(block_size, int) or block_size < 1:
            raise ValueError(f"LMBlockDataset: block_size must be a positive int, got {block_size!r}")
        n = (tokens.numel() - 1) // block_size if tokens.numel() > 0 else 0
        x = tokens[: n * block_size].view(n, block_size)  # (N, T)
        y = tokens[1 : n * block_size + 1].view(n, block_size)  # (N, T)
        super().__init__(x, y)
        self.block_size = block_size
        self.num_tokens = int(tokens.numel())


@dataclass
class LMSplits:
    """Packed train/val/test blocks of one corpus and the tokenizer that made them."""

    train: LMBlockDataset
    val: LMBlockDataset
    test: LMBlockDataset
    tokenizer: Any
    block_size: int
    name: str = ""

    @property
    def vocab_size(self) -> int:
        return int(self.tokenizer.vocab_size)
