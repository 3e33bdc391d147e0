"""Offline tokenizers: raw bytes, a byte-level BPE trained with Hugging Face ``tokenizers``, and any HF
``tokenizer.json``.

    tok = ByteTokenizer()                                  # ids 0..255 = bytes, 256 = <|endoftext|>
    tok = train_bpe(corpus.train, vocab_size=1024)         # byte-level BPE (GPT-2's scheme), deterministic
    tok.save(run_dir / "tokenizer.json"); load_tokenizer(run_dir / "tokenizer.json")

Every tokenizer has ``encode(text) -> list[int]``, ``decode(ids) -> str``, ``vocab_size``,
``eos_token_id`` and ``save(path)``, and is lossless: ``decode(encode(s)) == s`` for any string ``s``
(byte-level: every string is a byte sequence, and the BPE merges bytes, never drops them).

:class:`ByteTokenizer` writes its ``tokenizer.json`` in the Hugging Face format (a BPE over the 256 byte
symbols with no merges), so the same file loads with ``tokenizers.Tokenizer.from_file`` and gives the
same ids.

BPE: "Neural Machine Translation of Rare Words with Subword Units", Sennrich et al., 2016, arXiv 1508.07909;
byte-level with GPT-2's pre-tokenisation ("Language Models are Unsupervised Multitask Learners", 2019).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

__all__ = ["ByteTokenizer", "HFTokenizer", "train_bpe", "load_tokenizer", "EOS_TOKEN", "TOKENIZER_FILE"]

EOS_TOKEN = "<|endoftext|>"
TOKENIZER_FILE = "tokenizer.json"


def _check_ids(where: str, ids: Iterable[int], vocab_size: int) -> list[int]:
    ids = [int(i) for i in (ids.tolist() if hasattr(ids, "tolist") else ids)]
    bad = [i for i in ids if not 0 <= i < vocab_size]
    if bad:
        raise ValueError(f"{where}.decode: token ids must be in [0, {vocab_size}), got {bad[0]}")
    return ids


class ByteTokenizer:
    """UTF-8 bytes as ids 0..255, then ``special_tokens`` (default ``<|endoftext|>`` = 256).

    ``encode`` never emits a special token (they are added by the caller, e.g. between documents);
    ``decode`` writes a special token as its text and invalid UTF-8 (a cut multi-byte character) as U+FFFD.
    """

    def __init__(self, special_tokens: Sequence[str] = (EOS_TOKEN,)) -> None:
        if isinstance(special_tokens, str) or not all(isinstance(t, str) and t for t in special_tokens):
            raise TypeError(f"ByteTokenizer: special_tokens must be a sequence of non-empty strings, got "
                            f"{special_tokens!r}")
        if len(set(special_tokens)) != len(special_tokens):
            raise ValueError(f"ByteTokenizer: special_tokens must be distinct, got {list(special_tokens)}")
        self.special_tokens = list(special_tokens)

    @property
    def vocab_size(self) -> int:
        return 256 + len(self.special_tokens)

    @property
    def eos_token_id(self) -> int | None:
        return 256 + self.special_tokens.index(EOS_TOKEN) if EOS_TOKEN in self.special_tokens else None

    def token_to_id(self, token: str) -> int | None:
        return 256 + self.special_tokens.index(token) if token in self.special_tokens else None

    def encode(self, text: str) -> list[int]:
        if not isinstance(text, str):
            raise TypeError(f"ByteTokenizer.encode: text must be a str, got {type(text).__name__}")
        return list(text.encode("utf-8"))

    def decode(self, ids: Iterable[int]) -> str:
        out, run = [], bytearray()
        for i in _check_ids("ByteTokenizer", ids, self.vocab_size):
            if i < 256:
                run.append(i)
                continue
            out.append(run.decode("utf-8", errors="replace"))
            run = bytearray()
            out.append(self.special_tokens[i - 256])
        out.append(run.decode("utf-8", errors="replace"))
        return "".join(out)

    def to_hf(self) -> Any:
        """The same tokenizer as a ``tokenizers.Tokenizer`` (byte-level BPE, 256 byte symbols, no merges)."""
        from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

        alphabet = pre_tokenizers.ByteLevel.alphabet()  # the 256 printable stand-ins GPT-2 uses for bytes
        byte_char = _bytes_to_unicode()
        assert sorted(alphabet) == sorted(byte_char.values())
        vocab = {byte_char[b]: b for b in range(256)}
        tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
        tok.decoder = decoders.ByteLevel()
        tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in self.special_tokens])
        return tok

    def save(self, path: str | os.PathLike) -> Path:
        """Write ``tokenizer.json`` (Hugging Face format, loadable by :func:`load_tokenizer`)."""
        path = Path(path)
        self.to_hf().save(str(path))
        return path

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ByteTokenizer) and other.special_tokens == self.special_tokens

    def __repr__(self) -> str:
        return f"ByteTokenizer(vocab_size={self.vocab_size}, special_tokens={self.special_tokens})"


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte -> printable character table (the one ``tokenizers``' ByteLevel uses)."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) \
        + list(range(ord("®"), ord("ÿ") + 1))
    chars, extra = {}, 0
    for b in range(256):
        if b in keep:
            chars[b] = chr(b)
        else:
            chars[b] = chr(256 + extra)
            extra += 1
    return chars


class HFTokenizer:
    """A Hugging Face ``tokenizers.Tokenizer`` (a trained BPE or any loaded ``tokenizer.json``) behind the
    same interface as :class:`ByteTokenizer`. ``encode`` adds no special tokens (a special token's text that
    occurs in the input is read as that token, as HF does; ``decode`` writes it back, lossless)."""

    def __init__(self, tokenizer: Any, eos_token: str = EOS_TOKEN) -> None:
        from tokenizers import Tokenizer

        if not isinstance(tokenizer, Tokenizer):
            raise TypeError(f"HFTokenizer: expected a tokenizers.Tokenizer, got {type(tokenizer).__name__}")
        self.tokenizer = tokenizer
        self.eos_token = eos_token

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.get_vocab_size(with_added_tokens=True)

    @property
    def eos_token_id(self) -> int | None:
        return self.tokenizer.token_to_id(self.eos_token)

    def token_to_id(self, token: str) -> int | None:
        return self.tokenizer.token_to_id(token)

    def encode(self, text: str) -> list[int]:
        if not isinstance(text, str):
            raise TypeError(f"HFTokenizer.encode: text must be a str, got {type(text).__name__}")
        return self.tokenizer.encode(text, add_special_tokens=False).ids

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        return [e.ids for e in self.tokenizer.encode_batch(list(texts), add_special_tokens=False)]

    def decode(self, ids: Iterable[int]) -> str:
        ids = _check_ids("HFTokenizer", ids, self.vocab_size)
        return self.tokenizer.decode(ids, skip_special_tokens=False)

    def to_hf(self) -> Any:
        return self.tokenizer

    def save(self, path: str | os.PathLike) -> Path:
        path = Path(path)
        self.tokenizer.save(str(path))
        return path

    def to_str(self) -> str:
        return self.tokenizer.to_str()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, HFTokenizer) and other.to_str() == self.to_str()

    def __repr__(self) -> str:
        return f"HFTokenizer(vocab_size={self.vocab_size}, model={type(self.tokenizer.model).__name__})"


def train_bpe(texts: Iterable[str], vocab_size: int, special_tokens: Sequence[str] = (EOS_TOKEN,),
              min_frequency: int = 2) -> HFTokenizer:
    """Train a byte-level BPE (GPT-2's pre-tokenisation and byte alphabet) on ``texts``.

    ``vocab_size`` counts the 256 byte symbols, the merges and ``special_tokens`` (which come first,
    ids 0..). Deterministic: the same texts give the same ``tokenizer.json``.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    if isinstance(vocab_size, bool) or not isinstance(vocab_size, int):
        raise TypeError(f"train_bpe: vocab_size must be an int, got {type(vocab_size).__name__}")
    floor = 256 + len(special_tokens)
    if vocab_size < floor:
        raise ValueError(f"train_bpe: vocab_size must be >= {floor} (256 bytes + {len(special_tokens)} "
                         f"special tokens), got {vocab_size}")
    texts = list(texts)
    if not texts or not any(texts):
        raise ValueError("train_bpe: no training text")
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=min_frequency,
                                  special_tokens=list(special_tokens), show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(texts, trainer=trainer, length=len(texts))
    return HFTokenizer(tok)


def load_tokenizer(path: str | os.PathLike) -> HFTokenizer:
    """A Hugging Face ``tokenizer.json`` (a file, or a directory holding one)."""
    from tokenizers import Tokenizer

    path = Path(path)
    if path.is_dir():
        path = path / TOKENIZER_FILE
    if not path.is_file():
        raise FileNotFoundError(f"load_tokenizer: {str(path)!r} does not exist")
    try:
        tok = Tokenizer.from_file(str(path))
    except Exception as err:  # tokenizers raises its own Exception type for malformed JSON
        raise ValueError(f"load_tokenizer: {str(path)!r} is not a Hugging Face tokenizer.json: "
                         f"{' '.join(str(err).split())}") from None
    return HFTokenizer(tok)
