"""The trainer's word-embedding task: a three-epoch word2vec run on the pydoc corpus; its vocabulary and noise
distribution follow the paper (counted here with collections.Counter), the held-out loss is Eq. 4 and the
pair AUC is the true-vs-noise ranking, both recomputed here in numpy from the saved vectors; neighbors.json
holds the cosine nearest neighbours; bad input is refused in one line."""

from __future__ import annotations

import json
import math
from collections import Counter

import numpy as np
import pytest
import torch

from dlzoo.data.text import load_corpus
from dlzoo.errors import UsageError
from dlzoo.models.embedding.word2vec_data import tokenize
from dlzoo.train import load_config
from dlzoo.train.entry import train
from dlzoo.train.tasks import create_task, task_name


def _cfg(*overrides: str):
    base = {
        "name": "w2v",
        "model": {"name": "word2vec", "kwargs": {"embedding_dim": 16}},
        "data": {"name": "pydoc", "batch_size": 1024, "kwargs": {"min_count": 5, "negatives": 3}},
        "optim": {"name": "adam", "lr": 1e-2, "weight_decay": 0.0},
        "schedule": {"name": "constant"},
        "train": {"epochs": 3, "grad_clip": None},
        "checkpoint": {"every_epochs": 0},
    }
    return load_config(base, overrides=list(overrides))


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    torch.set_num_threads(1)
    return train(_cfg(f"output_dir={tmp_path_factory.mktemp('w2v')}"), progress=False)


def _logsigmoid(z: np.ndarray) -> np.ndarray:
    return -np.logaddexp(0.0, -z)


def test_vocabulary_and_noise_distribution_follow_the_paper():
    task = create_task(_cfg())
    task.build_data()
    corpus = load_corpus("pydoc", val_fraction=0.15, test_fraction=0.15, split_seed=0, root=None)
    counts = Counter(w for doc in corpus.train for w in tokenize(doc))
    kept = {w: c for w, c in counts.items() if c >= 5}
    assert set(task.vocab.itos) == set(kept)
    want = np.array([kept[w] for w in task.vocab.itos], dtype=np.float64) ** 0.75
    np.testing.assert_allclose(task.noise.numpy(), want / want.sum(), rtol=1e-12)


def test_run_reports_eq4_and_the_pair_auc_of_the_saved_vectors(run):
    test = json.loads((run.run_dir / "results.json").read_text())["test"]
    x, y = run.data.splits.test.x.numpy(), run.data.splits.test.y.numpy()  # (N, 1) centres, (N, 1 + K)
    v = run.model.embeddings.weight.detach().double().numpy()  # (V, D) input vectors
    u = run.model.context_embeddings.weight.detach().double().numpy()  # (V, D) output vectors
    scores = np.einsum("nkd,nd->nk", u[y], v[x[:, 0]])  # u_t^T v_c, (N, 1 + K)
    eq4 = -(_logsigmoid(scores[:, 0]) + _logsigmoid(-scores[:, 1:]).sum(1)).mean()
    assert test["loss"] == pytest.approx(eq4, rel=1e-5)
    auc = (scores[:, :1] > scores[:, 1:]).mean() + 0.5 * (scores[:, :1] == scores[:, 1:]).mean()
    assert test["pair_auc"] == pytest.approx(auc, abs=1e-6)
    assert test["untrained_loss"] == pytest.approx(4 * math.log(2))  # u = 0: every score 0, (1 + K) log 2
    # three epochs learn co-occurrence: below the untrained loss and above chance and the frequency ranking
    assert test["loss"] < 0.9 * test["untrained_loss"], test
    assert test["pair_auc"] > max(0.6, test["unigram_pair_auc"] + 0.1), test


def test_neighbors_are_the_cosine_nearest_input_vectors(run):
    near = json.loads((run.run_dir / "neighbors.json").read_text())
    task_vocab = run.data.splits.class_names
    v = run.model.embeddings.weight.detach().double().numpy()
    v = v / np.linalg.norm(v, axis=1, keepdims=True)
    assert set(near) == {"class", "list", "int", "exception", "loop", "string"} & set(task_vocab)
    word = "class"
    sims = v @ v[task_vocab.index(word)]
    sims[task_vocab.index(word)] = -2
    top = np.argsort(-sims)[:5]
    assert list(near[word]) == [task_vocab[i] for i in top]
    np.testing.assert_allclose(list(near[word].values()), sims[top], rtol=1e-5)


def test_selection_and_bad_input():
    assert task_name(_cfg()) == "word-embedding"
    with pytest.raises(UsageError, match=r"data.kwargs \['windw'\]: the word-embedding task takes"):
        create_task(_cfg("data.kwargs.windw=3"))
    with pytest.raises(UsageError, match="data.kwargs.negatives must be an integer >= 1, got 0"):
        create_task(_cfg("data.kwargs.negatives=0"))
    with pytest.raises(UsageError, match="data.name='digits': word2vec trains on a text corpus"):
        create_task(_cfg("data.name=digits")).build_data()
