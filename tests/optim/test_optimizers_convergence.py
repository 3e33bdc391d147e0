"""Every dlzoo optimizer converges: Rosenbrock's valley (minimum f(1, 1) = 0) and sklearn's digits; plus
Lion (not in torch) checked against the paper's update rule (Chen et al. 2023, arXiv:2302.06675,
Program 1) written out here, one tensor at a time."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import dlzoo.optim as dopt
from dlzoo.optim import warmup_cosine

# (hyper-parameters, steps) per optimizer; every run uses warmup_cosine with 5% warmup.
ROSENBROCK = {
    "SGD": (dict(lr=3e-3, momentum=0.9), 1000),
    "Adagrad": (dict(lr=3.0), 2000),
    "RMSprop": (dict(lr=0.03, momentum=0.9), 1000),
    "Adadelta": (dict(lr=1.0), 2000),
    "Adam": (dict(lr=0.3), 1000),
    "AdamW": (dict(lr=0.3, weight_decay=0.0), 1000),
    "Adamax": (dict(lr=1.0), 1000),
    "NAdam": (dict(lr=0.1), 2000),
    "RAdam": (dict(lr=0.3), 2000),
    "Adafactor": (dict(lr=1.0), 2000),
    "Muon": (dict(lr=0.03, weight_decay=0.0), 1000),
    "Lion": (dict(lr=0.03), 1000),
}


def rosenbrock(p: torch.Tensor) -> float:
    x, y = p.detach().flatten().tolist()
    return (1 - x) ** 2 + 100 * (y - x * x) ** 2


def rosenbrock_grad(p: torch.Tensor) -> torch.Tensor:
    """Analytic gradient of f(x, y) = (1 - x)^2 + 100 (y - x^2)^2 (cheaper than autograd)."""
    x, y = p.detach().flatten().tolist()
    return torch.tensor([-2 * (1 - x) - 400 * x * (y - x * x), 200 * (y - x * x)], dtype=p.dtype).view_as(p)


def test_rosenbrock_gradient_is_right() -> None:
    p = torch.tensor([[-1.2, 1.0]], dtype=torch.float64, requires_grad=True)
    x, y = p.flatten()
    ((1 - x) ** 2 + 100 * (y - x * x) ** 2).backward()
    torch.testing.assert_close(rosenbrock_grad(p), p.grad)


@pytest.mark.parametrize("name", list(ROSENBROCK))
def test_rosenbrock(name: str) -> None:
    kwargs, steps = ROSENBROCK[name]
    p = torch.tensor([[-1.2, 1.0]], dtype=torch.float64, requires_grad=True)  # classic start, f = 24.2
    opt = dopt.create_optimizer(name, [p], **kwargs)
    sched = warmup_cosine(opt, steps // 20, steps)
    for _ in range(steps):
        p.grad = rosenbrock_grad(p)
        opt.step()
        sched.step()
    assert rosenbrock(p) < 0.05, f"{name} ended at {p.detach().flatten().tolist()}"
    assert torch.allclose(p.detach().flatten(), torch.ones(2, dtype=torch.float64), atol=0.25)


DIGITS = {
    "SGD": dict(lr=0.1, momentum=0.9),
    "Adagrad": dict(lr=0.05),
    "RMSprop": dict(lr=1e-3),
    "Adadelta": dict(lr=1.0),
    "Adam": dict(lr=1e-2),
    "AdamW": dict(lr=1e-2, weight_decay=0.01),
    "Adamax": dict(lr=1e-2),
    "NAdam": dict(lr=1e-2),
    "RAdam": dict(lr=1e-2),
    "Adafactor": dict(lr=1e-2),
    "Muon": dict(lr=0.05),
    "Lion": dict(lr=1e-3),
}


@pytest.fixture(scope="module")
def digits() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    datasets = pytest.importorskip("sklearn.datasets")
    x, y = datasets.load_digits(return_X_y=True)
    x = torch.tensor(x / 16.0, dtype=torch.float32)
    y = torch.tensor(y)
    g = torch.Generator().manual_seed(0)
    perm = torch.randperm(len(y), generator=g)
    train, test = perm[:1400], perm[1400:]
    return x[train], y[train], x[test], y[test]


@pytest.mark.parametrize("name", list(DIGITS))
def test_digits_classification(name: str, digits) -> None:
    x, y, x_test, y_test = digits
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 32), nn.LayerNorm(32), nn.GELU(), nn.Linear(32, 10))
    if name == "Muon":  # Muon for the weight matrices, AdamW for biases and norm parameters
        mats = [p for p in model.parameters() if p.ndim == 2]
        rest = [p for p in model.parameters() if p.ndim != 2]
        opts = [dopt.Muon(mats, **DIGITS[name]), dopt.AdamW(rest, lr=1e-2)]
    else:
        opts = [dopt.create_optimizer(name, model.parameters(), **DIGITS[name])]
    steps = 150
    for _ in range(steps):  # full-batch
        for opt in opts:
            opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        for opt in opts:
            opt.step()
    with torch.no_grad():
        acc = (model(x_test).argmax(1) == y_test).float().mean().item()
    assert acc > 0.9, f"{name}: held-out accuracy {acc:.3f}"


def lion_paper_step(params, grads, ms, lr: float, beta1: float, beta2: float, wd: float) -> None:
    """Program 1 of the paper, verbatim in spirit: one tensor at a time, plain tensor arithmetic."""
    for theta, g, m in zip(params, grads, ms):
        update = beta1 * m + (1 - beta1) * g  # interp(grad, m, beta1)
        update = torch.sign(update)
        m.copy_(beta2 * m + (1 - beta2) * g)  # interp(grad, m, beta2)
        update = update + wd * theta
        theta.sub_(lr * update)


@pytest.mark.parametrize("betas,wd", [((0.9, 0.99), 0.0), ((0.95, 0.98), 0.3)])
def test_lion_matches_paper_rule(betas: tuple[float, float], wd: float) -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 16), nn.LayerNorm(16), nn.Tanh(), nn.Linear(16, 3)).double()
    ref = [p.detach().clone() for p in net.parameters()]
    ms = [torch.zeros_like(p) for p in ref]
    lrs = [1e-3, 3e-4, 1e-3, 3e-4, 5e-4, 5e-4]  # one group per tensor: different lr and decay
    opt = dopt.Lion(
        [
            {"params": [p], "lr": lr, "weight_decay": wd * (i % 2)}
            for i, (p, lr) in enumerate(zip(net.parameters(), lrs))
        ],
        betas=betas,
    )
    g = torch.Generator().manual_seed(1)
    for _ in range(200):
        x = torch.randn(8, 6, generator=g, dtype=torch.float64)
        y = torch.randint(0, 3, (8,), generator=g)
        # the reference sees exactly the gradients the optimizer sees (same parameters, same batch)
        opt.zero_grad()
        nn.functional.cross_entropy(net(x), y).backward()
        grads = [p.grad.detach().clone() for p in net.parameters()]
        for i, (r, p) in enumerate(zip(ref, net.parameters())):
            torch.testing.assert_close(p.detach(), r, rtol=1e-10, atol=1e-14, msg=f"tensor {i}")
        opt.step()
        for i, (r, gr, m) in enumerate(zip(ref, grads, ms)):
            lion_paper_step([r], [gr], [m], lrs[i], betas[0], betas[1], wd * (i % 2))
    for r, p in zip(ref, net.parameters()):
        torch.testing.assert_close(p.detach(), r, rtol=1e-10, atol=1e-12)
    assert not torch.equal(ref[0], torch.zeros_like(ref[0]))
