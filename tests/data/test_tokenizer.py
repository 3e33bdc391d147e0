"""Byte tokenizer, byte-level BPE trained with HF ``tokenizers``, tokenizer.json save/load."""

from __future__ import annotations

import pytest

from dlzoo.data.text import load_corpus
from dlzoo.data.tokenizer import ByteTokenizer, HFTokenizer, load_tokenizer, train_bpe

TEXTS = ["héllo wörld 🐍\n\tindent  two  spaces", "", "\x00\xff\u2028 end.", "def f(x):\n    return x ** 2\n"]


@pytest.fixture(scope="module")
def corpus():
    return load_corpus("pydoc", val_fraction=0.1, test_fraction=0.1)


@pytest.fixture(scope="module")
def bpe(corpus):
    return train_bpe(corpus.train, vocab_size=600)


def test_byte_tokenizer_is_utf8_and_lossless():
    tok = ByteTokenizer()
    assert tok.vocab_size == 257 and tok.eos_token_id == 256
    for s in TEXTS:
        assert tok.encode(s) == list(s.encode("utf-8"))
        assert tok.decode(tok.encode(s)) == s
    assert tok.decode([104, 105, 256, 33]) == "hi<|endoftext|>!"
    assert tok.decode([0xC3]) == "\ufffd"  # a cut multi-byte character
    with pytest.raises(ValueError, match=r"\[0, 257\)"):
        tok.decode([257])
    with pytest.raises(TypeError, match="str"):
        tok.encode(b"bytes")


def test_byte_tokenizer_json_loads_in_hf_tokenizers_with_the_same_ids(tmp_path):
    from tokenizers import Tokenizer

    tok = ByteTokenizer(special_tokens=["<|endoftext|>", "<pad>"])
    path = tok.save(tmp_path / "tokenizer.json")
    hf = Tokenizer.from_file(str(path))  # the independent library reads our file
    assert hf.get_vocab_size() == tok.vocab_size == 258
    assert hf.token_to_id("<pad>") == 257
    for s in TEXTS:
        assert hf.encode(s, add_special_tokens=False).ids == tok.encode(s)
        assert hf.decode(tok.encode(s)) == s
    loaded = load_tokenizer(tmp_path)
    assert loaded.vocab_size == 258 and loaded.eos_token_id == 256
    assert all(loaded.encode(s) == tok.encode(s) for s in TEXTS)


def test_bpe_vocab_round_trip_and_compression(bpe, corpus):
    assert isinstance(bpe, HFTokenizer)
    assert bpe.vocab_size == 600
    assert bpe.eos_token_id == 0  # special tokens first
    for s in TEXTS + corpus.val[:2]:
        assert bpe.decode(bpe.encode(s)) == s
    text = corpus.val[0]
    assert len(bpe.encode(text)) < 0.6 * len(text.encode())  # merges learned from the training split
    ids = bpe.encode("the return value")
    assert all(0 <= i < 600 for i in ids)


def test_bpe_is_deterministic_and_saves_loads_equal(bpe, corpus, tmp_path):
    again = train_bpe(corpus.train, vocab_size=600)
    assert again == bpe and again.to_str() == bpe.to_str()
    path = bpe.save(tmp_path / "tokenizer.json")
    loaded = load_tokenizer(path)
    assert loaded == bpe
    assert all(loaded.encode(s) == bpe.encode(s) for s in TEXTS + corpus.test[:2])


def test_tokenizer_errors(tmp_path):
    with pytest.raises(ValueError, match=">= 257"):
        train_bpe(["abc"], vocab_size=100)
    with pytest.raises(ValueError, match="no training text"):
        train_bpe([], vocab_size=300)
    with pytest.raises(FileNotFoundError):
        load_tokenizer(tmp_path / "none.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="not a Hugging Face tokenizer.json"):
        load_tokenizer(tmp_path / "bad.json")
