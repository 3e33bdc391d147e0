"""Text corpora (embedded pydoc, a text file, a folder of .txt files) and packed next-token blocks."""

from __future__ import annotations

import pytest
import torch

from dlzoo.data import BatchLoader
from dlzoo.data.text import (
    TEXT_CORPORA,
    LMBlockDataset,
    encode_documents,
    load_corpus,
    pydoc_documents,
    split_documents,
)
from dlzoo.data.tokenizer import ByteTokenizer


def test_pydoc_corpus_is_cpython_topics_split_by_document():
    from pydoc_data.topics import topics

    corpus = load_corpus("pydoc", val_fraction=0.1, test_fraction=0.1, split_seed=0)
    parts = [corpus.train, corpus.val, corpus.test]
    assert [len(p) for p in parts] == [len(topics) - 16, 8, 8]  # round(0.1 * 79) = 8 topics each
    # every topic lands in exactly one split, whole and unchanged
    assert sorted(corpus.train + corpus.val + corpus.test) == sorted(topics.values())
    assert not set(corpus.train) & set(corpus.val) and not set(corpus.val) & set(corpus.test)
    again = load_corpus("pydoc", val_fraction=0.1, test_fraction=0.1, split_seed=0)
    assert again.val == corpus.val and again.test == corpus.test  # deterministic
    other = load_corpus("pydoc", val_fraction=0.1, test_fraction=0.1, split_seed=1)
    assert other.val != corpus.val
    assert sum(corpus.num_chars().values()) == sum(len(t) for t in topics.values()) > 400_000
    assert [name for name, _ in pydoc_documents()] == sorted(topics)


def test_split_documents_rules():
    docs = [f"d{i}" for i in range(10)]
    train, val, test = split_documents(docs, 0.2, 0.1, split_seed=3)
    assert (len(train), len(val), len(test)) == (7, 2, 1)
    assert sorted(train + val + test) == sorted(docs)
    assert split_documents(docs, 0.0, 0.0)[0] == docs
    with pytest.raises(ValueError, match="leave one to train"):
        split_documents(["a", "b"], 0.4, 0.4)
    with pytest.raises(ValueError, match="val_fraction"):
        split_documents(docs, 1.2, 0.0)


def test_text_file_by_separator_and_contiguous(tmp_path):
    stories = [f"Once upon a time {i}.\nThe end." for i in range(10)]
    path = tmp_path / "stories.txt"
    path.write_text("\n<|endoftext|>\n".join(stories))
    corpus = load_corpus("text_file", root=str(path), val_fraction=0.2, test_fraction=0.1, split_seed=0)
    assert sorted(corpus.train + corpus.val + corpus.test) == sorted(stories)
    assert (len(corpus.train), len(corpus.val), len(corpus.test)) == (7, 2, 1)

    lines = [f"line {i:03d} of the play" for i in range(100)]
    plain = tmp_path / "shakespeare.txt"
    plain.write_text("\n".join(lines) + "\n")
    corpus = load_corpus("text_file", root=str(plain), val_fraction=0.1, test_fraction=0.1)
    (train,), (val,), (test,) = corpus.train, corpus.val, corpus.test
    assert train + val + test == plain.read_text()  # contiguous, in order, nothing lost
    assert train.endswith("\n") and val.endswith("\n")  # cut at line boundaries
    assert 0.75 < len(train) / len(plain.read_text()) < 0.85


def test_text_folder_one_document_per_file(tmp_path):
    for i in range(6):
        sub = tmp_path / ("a" if i % 2 else "b")
        sub.mkdir(exist_ok=True)
        (sub / f"{i}.txt").write_text(f"document {i} ü")
    (tmp_path / "ignored.md").write_text("not text")
    corpus = load_corpus("text_folder", root=str(tmp_path), val_fraction=0.2, test_fraction=0.2)
    assert sorted(corpus.train + corpus.val + corpus.test) == sorted(f"document {i} ü" for i in range(6))
    assert (len(corpus.val), len(corpus.test)) == (1, 1)


def test_corpus_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_corpus("text_file", root=str(tmp_path / "missing.txt"))
    with pytest.raises(ValueError, match="data.root"):
        load_corpus("text_folder")
    with pytest.raises(FileNotFoundError, match="no \\*.txt files"):
        load_corpus("text_folder", root=str(tmp_path))
    with pytest.raises(ValueError, match="takes no root"):
        load_corpus("pydoc", root="x")
    with pytest.raises(KeyError, match="pydoc"):
        load_corpus("pydocs")
    assert {"pydoc", "text_file", "text_folder"} <= set(TEXT_CORPORA.names())


def test_lm_blocks_are_the_stream_shifted_by_one():
    stream = torch.arange(23)
    blocks = LMBlockDataset(stream, block_size=5)
    assert len(blocks) == 4  # (23 - 1) // 5
    x, y = blocks[:]
    assert x.shape == y.shape == (4, 5)
    assert torch.equal(x.flatten(), stream[:20]) and torch.equal(y.flatten(), stream[1:21])
    assert torch.equal(y[:, :-1], x[:, 1:])  # next token of every position
    loader = BatchLoader(blocks, batch_size=3, shuffle=True, seed=0)
    xb, yb = next(loader.iter_epoch(0))
    assert torch.equal(yb - xb, torch.ones_like(xb))
    assert len(LMBlockDataset(torch.arange(5), block_size=5)) == 0
    with pytest.raises(ValueError, match="block_size"):
        LMBlockDataset(stream, block_size=0)
    with pytest.raises(TypeError, match="1-d torch.long"):
        LMBlockDataset(stream.float(), block_size=2)


def test_encode_documents_appends_end_of_text():
    tok = ByteTokenizer()
    ids = encode_documents(tok, ["ab", "c"])
    assert ids.tolist() == [97, 98, 256, 99, 256]
