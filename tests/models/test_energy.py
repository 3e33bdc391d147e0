"""Energy-based models against their definitions and scikit-learn.

Hopfield: the Hebbian matrix written as a sum of outer products, the energy never increasing under
asynchronous updates, stored digits recalled from corrupted copies, and the capacity curve around the
0.138 N estimate (Amit et al. 1985). RBM: free energy and conditionals against brute-force enumeration of a
tiny model (exact p(v) = exp(-F(v)) / Z), the Gibbs chain's empirical distribution against exact p(v),
the free energy against scikit-learn's ``BernoulliRBM._free_energy`` on its weights, and the
pseudo-log-likelihood of PCD training against ``BernoulliRBM`` with the same hidden size and epochs.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from dlzoo.models.energy import RBM, HopfieldNetwork, HopfieldNetworkOptimized, capacity_curve, recall_rate


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _bipolar(p, n, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 2, (p, n), generator=g).double() * 2 - 1


def _binarised_digits():
    from sklearn.datasets import load_digits

    d = load_digits()
    return torch.tensor(d.data > 7, dtype=torch.float64), torch.tensor(d.target)


# ------------------------------------------------------------------------------------------------ Hopfield
def test_hebbian_weights_are_the_sum_of_outer_products():
    xi = _bipolar(3, 10)
    m = HopfieldNetwork(10).double().store(xi)
    expected = sum(torch.outer(p, p) for p in xi) / 10
    expected.fill_diagonal_(0)
    torch.testing.assert_close(m.weight, expected)
    s = _bipolar(4, 10, seed=1)
    torch.testing.assert_close(m.energy(s), torch.stack([-0.5 * v @ expected @ v for v in s]))


@pytest.mark.parametrize("cls", [HopfieldNetwork, HopfieldNetworkOptimized])
def test_energy_never_increases_under_asynchronous_updates(cls):
    m = cls(40).double().store(_bipolar(12, 40))  # load 0.3: many spurious minima, many flips
    s = _bipolar(8, 40, seed=3)
    g = torch.Generator().manual_seed(0)
    trace = [m.energy(s)]
    for _ in range(5):
        s = m.async_sweep(s, g, trace)
    energies = torch.stack(trace)  # (updates + 1, B)
    assert (energies.diff(dim=0) <= 1e-12).all()
    assert (energies[-1] < energies[0]).all()  # it did move


def test_optimized_async_equals_plain_async_with_the_same_weights():
    """The incremental-field sweep is the same dynamics as recomputing each unit's field."""
    xi = _bipolar(6, 30)
    opt = HopfieldNetworkOptimized(30).double().store(xi)
    plain = HopfieldNetwork(30).double()
    plain.weight.copy_(opt.weight)
    s = _bipolar(5, 30, seed=2)
    a = opt.recall(s, "async", generator=torch.Generator().manual_seed(4))
    b = plain.recall(s, "async", generator=torch.Generator().manual_seed(4))
    torch.testing.assert_close(a, b)


def test_pseudo_inverse_rule_is_the_projector_and_stores_patterns_exactly():
    xi = _bipolar(20, 50)  # load 0.4, far above the Hebbian capacity
    m = HopfieldNetworkOptimized(50).double().store(xi)
    proj = torch.tensor(np.linalg.pinv(xi.numpy()) @ xi.numpy())  # Xi^+ Xi = Xi^T (Xi Xi^T)^-1 Xi
    proj.fill_diagonal_(0)
    torch.testing.assert_close(m.weight, proj)
    assert torch.equal(m.step(xi), xi)


def test_synchronous_updates_can_cycle_where_asynchronous_converge():
    m = HopfieldNetwork(2).double()
    m.weight.copy_(torch.tensor([[0.0, -1.0], [-1.0, 0.0]]))
    s = torch.tensor([[1.0, 1.0]], dtype=torch.float64)
    assert torch.equal(m.step(m.step(s)), s) and not torch.equal(m.step(s), s)  # period two
    out = m.recall(s, "async", generator=torch.Generator().manual_seed(0))
    assert torch.equal(m.step(out), out)  # a fixed point


def test_capacity_curve_against_0138_n():
    """N = 100, 5% of bits flipped: recall is near perfect well below 0.138 N and collapses above it."""
    m = HopfieldNetwork(100).double()
    below = recall_rate(m, 5, 0.05, trials=2)  # 0.05 N
    above = recall_rate(m, 30, 0.05, trials=2)  # 0.3 N
    near = recall_rate(m, 14, 0.05, trials=2)
    assert below >= 0.95 and above <= 0.1 and above < near < 1.0 + 1e-9
    curve = capacity_curve(m, (0.05, 0.1, 0.138, 0.2, 0.3))
    rates = [r for _, r in curve]
    assert rates[0] >= 0.95 and rates[-1] <= 0.1 and rates == sorted(rates, reverse=True), curve
    assert recall_rate(HopfieldNetworkOptimized(100).double(), 30, 0.05, trials=2) >= 0.95


@pytest.mark.parametrize("cls,classes", [(HopfieldNetwork, [0, 1]),
                                         (HopfieldNetworkOptimized, list(range(10)))])
def test_recall_of_binarised_digits(cls, classes):
    x, y = _binarised_digits()
    pats = torch.stack([x[y == c][0] for c in classes]) * 2 - 1  # (P, 64) bipolar
    m = cls(64).double().store(pats)
    g = torch.Generator().manual_seed(0)
    noisy = pats.clone()
    for p in range(len(pats)):
        noisy[p, torch.randperm(64, generator=g)[:6]] *= -1  # ~10% of the pixels flipped
    assert torch.equal(m.recall(noisy, "async", generator=g), pats)
    assert torch.equal(m(noisy), pats) or cls is HopfieldNetwork  # synchronous recall too (projector)


def test_hopfield_rejects_bad_states():
    m = HopfieldNetwork(4)
    with pytest.raises(ValueError, match=r"HopfieldNetwork: expected states \(B, 4\), got \(2, 5\)"):
        m(torch.ones(2, 5))
    with pytest.raises(ValueError, match="must be -1/\\+1"):
        m.store(torch.zeros(1, 4))
    with pytest.raises(TypeError, match="expected float"):
        m(torch.ones(2, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="mode must be"):
        m.recall(torch.ones(1, 4), mode="gauss")


# ------------------------------------------------------------------------------------------------ RBM
def _all_binary(n):
    return torch.tensor(list(itertools.product([0.0, 1.0], repeat=n)), dtype=torch.float64)


def _tiny_rbm(v=4, h=3):
    torch.manual_seed(0)
    m = RBM(v, h).double()
    with torch.no_grad():
        m.weight.normal_(0, 1.0)
        m.h_bias.normal_(0, 0.5)
        m.v_bias.normal_(0, 0.5)
    return m


def test_free_energy_and_marginal_equal_brute_force_enumeration():
    m = _tiny_rbm()
    vs, hs = _all_binary(4), _all_binary(3)  # (16, 4), (8, 3)
    with torch.no_grad():
        # E(v, h) from its definition, every pair
        e = torch.stack([torch.stack([-(m.v_bias @ v) - (m.h_bias @ h) - h @ m.weight @ v for h in hs])
                         for v in vs])
        torch.testing.assert_close(m.energy(vs.repeat_interleave(8, 0), hs.repeat(16, 1)), e.reshape(-1))
        unnorm = torch.exp(-e).sum(1)  # sum_h exp(-E(v, h)), (16,)
        torch.testing.assert_close(torch.exp(-m.free_energy(vs)), unnorm)
        z = unnorm.sum()
        p_joint = torch.exp(-e) / z  # (16, 8)
        torch.testing.assert_close((torch.exp(-m(vs)) / z).sum(), torch.tensor(1.0, dtype=torch.float64))
        torch.testing.assert_close(torch.exp(-m(vs)) / z, p_joint.sum(1))
        # conditionals p(h_j = 1 | v) and p(v_i = 1 | h) from the joint
        p_h = (p_joint[:, :, None] * hs[None]).sum(1) / p_joint.sum(1, keepdim=True)
        torch.testing.assert_close(m.prob_h_given_v(vs), p_h)
        p_v = (p_joint[:, :, None] * vs[:, None]).sum(0) / p_joint.sum(0)[:, None]
        torch.testing.assert_close(m.prob_v_given_h(hs), p_v)
        # pseudo-log-likelihood: sum_i log p(v_i | v_-i) from the exact marginal
        pv = p_joint.sum(1)
        index = {tuple(v.tolist()): i for i, v in enumerate(vs)}
        pll = []
        for v in vs:
            terms = []
            for i in range(4):
                f = v.clone()
                f[i] = 1 - f[i]
                terms.append(torch.log(pv[index[tuple(v.tolist())]] / (pv[index[tuple(v.tolist())]]
                                                                       + pv[index[tuple(f.tolist())]])))
            pll.append(sum(terms))
        torch.testing.assert_close(m.pseudo_log_likelihood(vs), torch.stack(pll))


def test_gibbs_chain_samples_the_exact_marginal():
    m = _tiny_rbm()
    vs = _all_binary(4)
    with torch.no_grad():
        p = torch.exp(-m(vs))
        p = p / p.sum()
        g = torch.Generator().manual_seed(0)
        chains = m.gibbs(torch.zeros(4000, 4, dtype=torch.float64), k=30, generator=g)
    codes = (chains * torch.tensor([8.0, 4.0, 2.0, 1.0], dtype=torch.float64)).sum(1).long()
    empirical = torch.bincount(codes, minlength=16).double() / len(codes)
    assert (empirical - p).abs().max() < 0.03  # 4000 samples: std <= 0.008 per state


def test_cd_loss_gradient_is_the_positive_minus_negative_statistics():
    m = _tiny_rbm()
    v = _all_binary(4)[[3, 5, 9, 14]]
    loss = m.cd_loss(v, k=1, generator=torch.Generator().manual_seed(0))
    loss.backward()
    v_neg = m.gibbs(v, 1, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        pos = m.prob_h_given_v(v).t() @ v / 4
        neg = m.prob_h_given_v(v_neg).t() @ v_neg / 4
    torch.testing.assert_close(-m.weight.grad, pos - neg)
    torch.testing.assert_close(-m.v_bias.grad, v.mean(0) - v_neg.mean(0))


def test_pcd_chains_persist_across_updates_and_cd_k_restarts_at_the_data():
    """PCD: the negative phase of call t + 1 starts where call t's chains ended (k Gibbs steps on from the
    stored fantasy particles); CD-k: every call restarts at the data batch."""
    m = _tiny_rbm()
    v = _all_binary(4)[[3, 5, 9, 14]]
    m.cd_loss(v, k=2, persistent=True, generator=torch.Generator().manual_seed(0))
    first = m.chain.clone()
    g = torch.Generator().manual_seed(1)
    m.cd_loss(v, k=2, persistent=True, generator=g)
    expected = m.gibbs(first, 2, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(m.chain, expected)
    before = m.chain.clone()
    m.cd_loss(v, k=3, persistent=False, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(m.chain, before)  # CD leaves the persistent chains alone
    cd = m.cd_loss(v, k=3, generator=torch.Generator().manual_seed(2))
    v_neg = m.gibbs(v, 3, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(cd, m(v).mean() - m(v_neg).mean())


def test_rbm_pseudo_likelihood_comparable_to_sklearn_bernoulli_rbm():
    from sklearn.model_selection import train_test_split
    from sklearn.neural_network import BernoulliRBM

    x, _ = _binarised_digits()
    xtr, xte = train_test_split(x.numpy(), test_size=0.3, random_state=0)
    sk = BernoulliRBM(n_components=64, learning_rate=0.1, batch_size=10, n_iter=10, random_state=0).fit(xtr)
    ref = RBM(64, 64).double()
    with torch.no_grad():
        ref.weight.copy_(torch.tensor(sk.components_))
        ref.h_bias.copy_(torch.tensor(sk.intercept_hidden_))
        ref.v_bias.copy_(torch.tensor(sk.intercept_visible_))
    np.testing.assert_allclose(ref.free_energy(torch.tensor(xte)).detach().numpy(), sk._free_energy(xte),
                               rtol=1e-12, atol=1e-10)
    torch.manual_seed(0)
    ours = RBM(64, 64).double()
    before = ours.pseudo_log_likelihood(torch.tensor(xte)).mean().item()
    ours.fit(torch.tensor(xtr), epochs=10, batch_size=10, lr=0.1, persistent=True)
    pll, pll_sk = (r.pseudo_log_likelihood(torch.tensor(xte)).mean().item() for r in (ours, ref))
    assert abs(pll - pll_sk) < 1.0, (pll, pll_sk)  # nats per 64-pixel image; untrained: ~ -44
    assert before < pll_sk - 20


def test_rbm_rejects_bad_input():
    m = RBM(6, 3)
    with pytest.raises(ValueError, match=r"RBM: expected visible units \(B, 6\), got \(2, 5\)"):
        m(torch.zeros(2, 5))
    with pytest.raises(TypeError, match="RBM: expected float"):
        m(torch.zeros(2, 6, dtype=torch.long))
