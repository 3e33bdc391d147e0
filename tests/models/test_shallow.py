"""Shallow models vs scikit-learn on its embedded data sets (breast_cancer, iris, digits).

Same split (stratified 70/30, seed 0), same standardisation (fit on train), same objective and
regularisation. Exact where the algorithm is the same (the perceptron's weights, logistic / softmax
regression's L2 optimum, least squares), test accuracy within one point elsewhere (hinge SVMs, the
argmax perceptron, whose scikit-learn counterparts solve a slightly different problem).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import dlzoo
from dlzoo.models.shallow import (
    SVM,
    LeastSquaresRegression,
    LogisticRegression,
    MulticlassPerceptron,
    MulticlassSVM,
    Perceptron,
    SoftmaxRegression,
)

sklearn = pytest.importorskip("sklearn")
from sklearn import datasets, linear_model  # noqa: E402
from sklearn import svm as sk_svm  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny ops on shared cores
    yield
    torch.set_num_threads(threads)


def _data(name: str):
    bunch = getattr(datasets, f"load_{name}")()
    strat = bunch.target if name != "diabetes" else None
    xtr, xte, ytr, yte = train_test_split(bunch.data, bunch.target, test_size=0.3, random_state=0,
                                          stratify=strat)
    scaler = StandardScaler().fit(xtr)
    return scaler.transform(xtr), scaler.transform(xte), ytr, yte


def _t(a):
    return torch.tensor(a, dtype=torch.float64)


def _labels(a):
    return torch.tensor(a, dtype=torch.long)


def test_perceptron_weights_equal_sklearn_perceptron():
    """Same algorithm (eta0 = 1, zero init, no penalty, same order): the same hyperplane, bit for bit-ish."""
    xtr, xte, ytr, yte = _data("breast_cancer")
    sk = linear_model.Perceptron(tol=None, max_iter=3, shuffle=False).fit(xtr, ytr)
    ours = Perceptron(30).double().fit(_t(xtr), _labels(ytr), epochs=3, shuffle=False)
    np.testing.assert_allclose(ours.weight.detach().numpy(), sk.coef_, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(ours.bias.detach().numpy(), sk.intercept_, rtol=1e-10, atol=1e-10)
    assert ours.score(_t(xte), _labels(yte)) == pytest.approx(sk.score(xte, yte))


@pytest.mark.parametrize("name", ["iris", "digits"])
def test_multiclass_perceptron_reaches_sklearn_accuracy(name):
    xtr, xte, ytr, yte = _data(name)
    k = len(np.unique(ytr))
    sk = linear_model.Perceptron(tol=None, max_iter=5, shuffle=False).fit(xtr, ytr)  # one-vs-rest
    ours = MulticlassPerceptron(xtr.shape[1], k).double().fit(_t(xtr), _labels(ytr), epochs=5, seed=0)
    assert ours.score(_t(xte), _labels(yte)) >= sk.score(xte, yte) - 0.01


def test_multiclass_perceptron_update_is_the_argmax_rule():
    """One mistake: w_y += x, w_k* -= x (k* the first argmax), nothing else moves."""
    m = MulticlassPerceptron(3, 4).double()
    with torch.no_grad():
        m.weight[2] = torch.tensor([1.0, 0.0, 0.0])
    x, y = torch.tensor([[2.0, 1.0, -1.0]], dtype=torch.float64), torch.tensor([1])
    m.fit(x, y, epochs=1, shuffle=False)
    expected = torch.zeros(4, 3, dtype=torch.float64)
    expected[2] = torch.tensor([1.0, 0.0, 0.0]) - x[0]
    expected[1] = x[0]
    torch.testing.assert_close(m.weight.detach(), expected)
    torch.testing.assert_close(m.bias.detach(), torch.tensor([0.0, 1.0, -1.0, 0.0], dtype=torch.float64))


def test_svm_hinge_reaches_linear_svc_accuracy():
    xtr, xte, ytr, yte = _data("breast_cancer")
    sk = sk_svm.LinearSVC(loss="hinge", C=1.0, max_iter=100_000).fit(xtr, ytr)
    ours = SVM(30, C=1.0).double().fit(_t(xtr), _labels(ytr), max_iter=200)
    assert ours.score(_t(xte), _labels(yte)) >= sk.score(xte, yte) - 0.01


def test_squared_hinge_svm_reaches_its_optimum():
    """The squared hinge is smooth: L-BFGS's point has a zero gradient, and LinearSVC (which also penalises
    the intercept) lands on nearly the same hyperplane."""
    xtr, _, ytr, _ = _data("breast_cancer")
    x, y = _t(xtr), _labels(ytr)
    ours = SVM(30, C=0.1, loss="squared_hinge").double().fit(x, y, max_iter=300)
    ours.zero_grad()
    ours.objective(x, (2 * y - 1).double()).backward()
    assert ours.weight.grad.abs().max() < 1e-7
    sk = sk_svm.LinearSVC(loss="squared_hinge", C=0.1, tol=1e-10, max_iter=100_000).fit(xtr, ytr)
    cos = torch.nn.functional.cosine_similarity(ours.weight.detach()[0], _t(sk.coef_[0]), dim=0)
    assert cos > 0.99


@pytest.mark.parametrize("name", ["iris", "digits"])
def test_crammer_singer_svm_reaches_linear_svc_accuracy(name):
    xtr, xte, ytr, yte = _data(name)
    k = len(np.unique(ytr))
    sk = sk_svm.LinearSVC(multi_class="crammer_singer", C=1.0, max_iter=100_000).fit(xtr, ytr)
    ours = MulticlassSVM(xtr.shape[1], k, C=1.0).double().fit(_t(xtr), _labels(ytr), max_iter=200)
    assert ours.score(_t(xte), _labels(yte)) >= sk.score(xte, yte) - 0.01


@pytest.mark.parametrize("c", [1.0, 0.05])
def test_logistic_regression_reaches_sklearn_lbfgs_optimum(c):
    xtr, xte, ytr, yte = _data("breast_cancer")
    sk = linear_model.LogisticRegression(C=c, tol=1e-12, max_iter=10_000).fit(xtr, ytr)
    ours = LogisticRegression(30, C=c).double().fit(_t(xtr), _labels(ytr), max_iter=200)
    np.testing.assert_allclose(ours.weight.detach().numpy(), sk.coef_, atol=1e-5)
    np.testing.assert_allclose(ours.bias.detach().numpy(), sk.intercept_, atol=1e-5)
    np.testing.assert_allclose(ours.predict_proba(_t(xte)).numpy(), sk.predict_proba(xte), atol=1e-6)
    assert ours.score(_t(xte), _labels(yte)) == pytest.approx(sk.score(xte, yte))


@pytest.mark.parametrize("name", ["iris", "digits"])
def test_softmax_regression_reaches_sklearn_multinomial_optimum(name):
    xtr, xte, ytr, yte = _data(name)
    k = len(np.unique(ytr))
    sk = linear_model.LogisticRegression(C=1.0, tol=1e-12, max_iter=10_000).fit(xtr, ytr)  # multinomial
    ours = SoftmaxRegression(xtr.shape[1], k, C=1.0).double().fit(_t(xtr), _labels(ytr), max_iter=300)
    np.testing.assert_allclose(ours.weight.detach().numpy(), sk.coef_, atol=1e-4)
    np.testing.assert_allclose(ours.predict_proba(_t(xte)).numpy(), sk.predict_proba(xte), atol=1e-5)
    assert abs(ours.score(_t(xte), _labels(yte)) - sk.score(xte, yte)) <= 0.01


def test_least_squares_closed_form_and_gradient_equal_numpy_and_sklearn():
    xtr, xte, ytr, yte = _data("diabetes")
    design = np.hstack([xtr, np.ones((len(xtr), 1))])
    coef = np.linalg.lstsq(design, ytr, rcond=None)[0]
    sk = linear_model.LinearRegression().fit(xtr, ytr)
    closed = LeastSquaresRegression(10).double().fit(_t(xtr), _t(ytr))
    np.testing.assert_allclose(closed.weight.detach().numpy()[0], coef[:-1], rtol=1e-10, atol=1e-8)
    np.testing.assert_allclose(closed.bias.detach().numpy()[0], coef[-1], rtol=1e-10)
    np.testing.assert_allclose(closed.weight.detach().numpy()[0], sk.coef_, rtol=1e-8, atol=1e-8)
    assert closed.score(_t(xte), _t(yte)) == pytest.approx(sk.score(xte, yte), abs=1e-10)
    grad = LeastSquaresRegression(10).double().fit(_t(xtr), _t(ytr), method="lbfgs", max_iter=100)
    np.testing.assert_allclose(grad.weight.detach().numpy()[0], sk.coef_, atol=1e-6)
    sgd = LeastSquaresRegression(10).double().fit(_t(xtr), _t(ytr), method="adam", lr=0.5, epochs=600)
    assert sgd.score(_t(xte), _t(yte)) == pytest.approx(sk.score(xte, yte), abs=0.01)


def test_least_squares_multi_output():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(50, 4, generator=g, dtype=torch.float64)
    w = torch.randn(3, 4, generator=g, dtype=torch.float64)
    b = torch.randn(3, generator=g, dtype=torch.float64)
    y = x @ w.t() + b
    m = LeastSquaresRegression(4, 3).double().fit(x, y)
    torch.testing.assert_close(m.weight.detach(), w)
    torch.testing.assert_close(m.bias.detach(), b)
    assert m(x).shape == (50, 3)


@pytest.mark.parametrize("cls", [Perceptron, SVM, LogisticRegression])
def test_binary_models_reject_bad_labels_and_shapes(cls):
    m = cls(3)
    x = torch.randn(4, 3)
    with pytest.raises(ValueError, match=rf"{cls.__name__}: labels must be class indices.*negative label -1"):
        m.fit(x, torch.tensor([0, 1, -1, 1]))
    with pytest.raises(ValueError, match="labels must be class indices in \\[0, 2\\), got 2"):
        m.fit(x, torch.tensor([0, 1, 2, 1]))
    with pytest.raises(TypeError, match="integer class labels"):
        m.fit(x, torch.tensor([0.0, 1.0, 1.0, 0.0]))
    with pytest.raises(ValueError, match=rf"{cls.__name__}: expected labels \(4,\)"):
        m.fit(x, torch.tensor([0, 1]))
    with pytest.raises(ValueError, match=rf"{cls.__name__}: expected input \(B, 3\), got \(4, 5\)"):
        m(torch.randn(4, 5))
    with pytest.raises(ValueError, match="num_classes=2"):
        cls(3, num_classes=3)


@pytest.mark.parametrize("cls", [MulticlassPerceptron, MulticlassSVM, SoftmaxRegression])
def test_multiclass_models_reject_bad_labels_and_shapes(cls):
    m = cls(3, 4)
    with pytest.raises(ValueError, match="negative label -2"):
        m.fit(torch.randn(2, 3), torch.tensor([0, -2]))
    with pytest.raises(ValueError, match=r"expected input \(B, 3\), got \(3,\)"):
        m(torch.randn(3))
    with pytest.raises(ValueError, match="num_classes must be >= 2"):
        cls(3, 1)


def test_bad_hyperparameters_and_targets():
    with pytest.raises(ValueError, match="SVM: C"):
        SVM(3, C=0)
    with pytest.raises(ValueError, match="SVM: loss"):
        SVM(3, loss="log")
    with pytest.raises(ValueError, match="optimizer must be"):
        LogisticRegression(3).fit(torch.randn(4, 3), torch.tensor([0, 1, 0, 1]), optimizer="newton")
    with pytest.raises(ValueError, match=r"LeastSquaresRegression: expected targets \(4,\)"):
        LeastSquaresRegression(3).fit(torch.randn(4, 3), torch.randn(4, 2))
    with pytest.raises(TypeError, match="LeastSquaresRegression: expected float targets"):
        LeastSquaresRegression(3).fit(torch.randn(4, 3), torch.tensor([1, 2, 3, 4]))


def test_registered_builders_have_the_data_set_shapes():
    for name, out in [("perceptron", 1), ("svm", 1), ("logistic_regression", 1),
                      ("least_squares_regression", 1), ("multiclass_perceptron", 10), ("multiclass_svm", 10),
                      ("softmax_regression", 10)]:
        model = dlzoo.create_model(name)
        card = dlzoo.model_info(name)
        assert model.out_features == out and model.in_features == card.input_size[0], name
        assert sum(p.numel() for p in model.parameters()) == card.reference_params
