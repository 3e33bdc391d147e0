"""Autoencoders and embeddings against closed forms and independent references.

Matrix factorization reaches the Eckart-Young error (truncated SVD, from ``torch.linalg.svdvals``) on a
noisy low-rank matrix; the linear autoencoder's decoder spans sklearn PCA's top-k subspace (principal angles
from scipy); word2vec's noise distribution and subsampling equal the paper's formulas computed from
``collections.Counter`` in numpy, its window pairs equal a plain loop, and training on the pydoc corpus lowers
the loss and puts co-occurring words closer than random pairs.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch

from dlzoo.models.embedding import (
    LinearAutoencoder,
    MatrixFactorization,
    Word2Vec,
    eckart_young_error,
    nearest_neighbors,
    train_word2vec,
)
from dlzoo.models.embedding import word2vec_data as w2v


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ------------------------------------------------------------------------------------ matrix factorization
def _noisy_low_rank(m=60, n=40, k=5, noise=0.1, seed=0):
    g = torch.Generator().manual_seed(seed)
    kw = {"generator": g, "dtype": torch.float64}
    return torch.randn(m, k, **kw) @ torch.randn(k, n, **kw) + noise * torch.randn(m, n, **kw)


def test_matrix_factorization_reaches_the_eckart_young_error():
    mat = _noisy_low_rank()
    u, s, vh = np.linalg.svd(mat.numpy())
    truncated = (u[:, :5] * s[:5]) @ vh[:5]
    best = ((mat.numpy() - truncated) ** 2).sum()
    assert eckart_young_error(mat, 5).item() == pytest.approx(best, rel=1e-10)
    torch.manual_seed(0)
    mf = MatrixFactorization(60, 40, 5).double().fit(mat, max_iter=400)
    err = ((mat - mf.reconstruction().detach()) ** 2).sum().item()
    assert err == pytest.approx(best, rel=1e-6)
    np.testing.assert_allclose(mf.reconstruction().detach().numpy(), truncated, atol=1e-4)
    torch.manual_seed(0)
    low = MatrixFactorization(60, 40, 3).double().fit(mat, max_iter=400)  # a lower rank cannot do better
    assert ((mat - low.reconstruction().detach()) ** 2).sum().item() == pytest.approx(
        eckart_young_error(mat, 3).item(), rel=1e-6)


def test_matrix_factorization_completes_missing_entries():
    mat = _noisy_low_rank(noise=0.0, k=3)
    mask = torch.rand(mat.shape, generator=torch.Generator().manual_seed(1)) < 0.6
    torch.manual_seed(0)
    mf = MatrixFactorization(60, 40, 3).double().fit(mat, mask=mask, max_iter=500)
    held_out = ((mat - mf.reconstruction().detach())[~mask] ** 2).mean() / (mat[~mask] ** 2).mean()
    assert held_out < 1e-4
    rows, cols = torch.tensor([0, 5, 7]), torch.tensor([1, 2, 39])
    torch.testing.assert_close(mf.predict(rows, cols), mf.reconstruction()[rows, cols])
    torch.testing.assert_close(mf(rows), mf.reconstruction()[rows])


def test_matrix_factorization_rejects_bad_input():
    mf = MatrixFactorization(4, 3, 2)
    with pytest.raises(ValueError, match=r"MatrixFactorization: row indices must be in \[0, 4\), got \[-1"):
        mf(torch.tensor([-1, 2]))
    with pytest.raises(ValueError, match=r"expected a matrix \(4, 3\), got \(3, 4\)"):
        mf.fit(torch.zeros(3, 4))
    with pytest.raises(TypeError, match="integer row indices"):
        mf(torch.zeros(2))


# ------------------------------------------------------------------------------------ linear autoencoder
def test_linear_autoencoder_learns_the_pca_subspace():
    from scipy.linalg import subspace_angles
    from sklearn.datasets import load_digits
    from sklearn.decomposition import PCA

    x = load_digits().data / 16.0
    torch.manual_seed(0)
    ae = LinearAutoencoder(64, 4).double().fit(torch.tensor(x), max_iter=300)
    pca = PCA(4).fit(x)
    angles = np.degrees(subspace_angles(ae.principal_subspace().numpy(), pca.components_.T))
    assert angles.max() < 0.5, angles
    # the optimum's error is PCA's: the variance outside the top-4 components
    err = 2 * ae.objective(torch.tensor(x)).item()
    pca_err = ((x - pca.inverse_transform(pca.transform(x))) ** 2).sum(1).mean()
    assert err == pytest.approx(pca_err, rel=1e-4)
    assert ae(torch.tensor(x[:3])).shape == (3, 64) and ae.encode(torch.tensor(x[:3])).shape == (3, 4)


def test_linear_autoencoder_rejects_bad_input():
    with pytest.raises(ValueError, match=r"LinearAutoencoder: expected float input \(B, 5\)"):
        LinearAutoencoder(5, 2)(torch.zeros(2, 4))
    with pytest.raises(ValueError, match="latent_dim must be <= in_features=5"):
        LinearAutoencoder(5, 6)


# ------------------------------------------------------------------------------------ word2vec
def test_noise_distribution_and_subsampling_follow_the_paper():
    tokens = "the cat sat on the mat the end cat".split() * 3
    vocab = w2v.build_vocab(tokens, min_count=1)
    counts = Counter(tokens)
    assert vocab.itos[0] == "the" and vocab.counts.tolist() == [counts[w] for w in vocab.itos]
    u = np.array([counts[w] for w in vocab.itos], dtype=np.float64)
    np.testing.assert_allclose(w2v.noise_distribution(vocab.counts).numpy(), u**0.75 / (u**0.75).sum())
    t = 0.05
    f = u / u.sum()
    np.testing.assert_allclose(w2v.keep_probability(vocab.counts, t).numpy(), np.minimum(1, np.sqrt(t / f)))
    # the empirical keep rate of the most frequent word matches 1 - P(discard) = sqrt(t / f)
    ids = torch.zeros(200_000, dtype=torch.long)
    kept = w2v.subsample(ids, vocab.counts, t, torch.Generator().manual_seed(0))
    assert len(kept) / len(ids) == pytest.approx(np.sqrt(t / f[0]), abs=0.005)


def test_window_pairs_equal_a_plain_loop():
    ids = torch.arange(20) + 100
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    pairs = w2v.skipgram_pairs(ids, 3, g1)
    b = torch.randint(1, 4, (20,), generator=g2)
    expected = {(100 + i, 100 + j) for i in range(20) for j in range(20) if 0 < abs(i - j) <= b[i]}
    assert {tuple(p) for p in pairs.tolist()} == expected and len(pairs) == len(expected)
    context, centre = w2v.cbow_examples(ids, 3, torch.Generator().manual_seed(3))
    for ctx, c in zip(context.tolist(), centre.tolist()):
        assert sorted(x for x in ctx if x >= 0) == sorted(j for i, j in expected if i == c)


def test_sgns_loss_is_equation_4():
    torch.manual_seed(0)
    m = Word2Vec(10, 4).double()
    torch.nn.init.normal_(m.context_embeddings.weight)
    inputs, targets = torch.tensor([[1], [2]]), torch.tensor([[3, 4, 5], [6, 7, 8]])
    v, u = m.embeddings.weight, m.context_embeddings.weight
    manual = torch.stack([-torch.log(torch.sigmoid(u[t[0]] @ v[i[0]]))
                          - sum(torch.log(torch.sigmoid(-u[n] @ v[i[0]])) for n in t[1:])
                          for i, t in zip(inputs, targets)]).mean()
    torch.testing.assert_close(m.sgns_loss(inputs, targets), manual)
    cbow = Word2Vec(10, 4, mode="cbow").double()
    h = cbow.hidden(torch.tensor([[1, 2, -1]]))
    torch.testing.assert_close(h[0], (cbow.embeddings.weight[1] + cbow.embeddings.weight[2]) / 2)


@pytest.mark.parametrize("mode", ["skipgram", "cbow"])
def test_word2vec_training_on_pydoc_lowers_the_loss_and_groups_cooccurring_words(mode):
    tokens = w2v.pydoc_tokens()[:20_000]
    batch = 1024 if mode == "skipgram" else 128  # CBOW has one example per centre word, not one per pair
    result = train_word2vec(tokens, mode=mode, embedding_dim=24, epochs=3, batch_size=batch, lr=0.02, seed=0)
    assert result.losses[-1] < result.losses[0] - 0.2, result.losses
    vocab, vecs = result.vocab, result.model.embeddings.weight.detach()
    vecs = torch.nn.functional.normalize(vecs - vecs.mean(0), dim=1)  # centred: the shared direction removed
    ids = vocab.encode(tokens)
    pairs = w2v.skipgram_pairs(ids, 2, torch.Generator().manual_seed(1))
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    g = torch.Generator().manual_seed(2)
    random_pairs = torch.randint(0, len(vocab), pairs.shape, generator=g)
    co = (vecs[pairs[:, 0]] * vecs[pairs[:, 1]]).sum(1).mean()
    rand = (vecs[random_pairs[:, 0]] * vecs[random_pairs[:, 1]]).sum(1).mean()
    assert co > rand + 0.1, (co, rand)
    neighbours = nearest_neighbors(result.model, vocab, "exception", 5)
    print(mode, "exception ->", neighbours)  # shown with -s
    assert len(neighbours) == 5 and all(w != "exception" for w, _ in neighbours)


def test_word2vec_rejects_bad_input():
    m = Word2Vec(10, 4)
    with pytest.raises(ValueError, match=r"Word2Vec: target ids must be in \[0, 10\), got \[0, 10\]"):
        m(torch.tensor([[1]]), torch.tensor([[0, 10]]))
    with pytest.raises(ValueError, match="mode must be"):
        Word2Vec(10, 4, mode="glove")
    with pytest.raises(KeyError, match="not in the vocabulary"):
        nearest_neighbors(m, w2v.build_vocab(["a"] * 5), "b")
