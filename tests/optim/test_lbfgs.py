"""dlzoo.optim.LBFGS vs torch.optim.LBFGS: same closure API, same trajectories (float64) and
function-evaluation counts with and without the strong-Wolfe line search, same state keys; the line
search's accepted steps satisfy the strong Wolfe conditions."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import dlzoo.optim as dopt
from dlzoo.optim.line_search import strong_wolfe


def _problem() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 3)).double()
    g = torch.Generator().manual_seed(1)
    x = torch.randn(40, 4, generator=g, dtype=torch.float64)
    y = torch.randint(0, 3, (40,), generator=g)
    return model, x, y


def _run(cls: type, steps: int = 4, **kw) -> tuple[torch.Tensor, list, dict]:
    model, x, y = _problem()
    opt = cls(model.parameters(), **kw)

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        return loss

    traj, losses = [], []
    for _ in range(steps):
        losses.append(float(opt.step(closure).detach()))
        traj.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    state = opt.state[next(model.parameters())]
    return torch.stack(traj), losses, state


OPTIONS = [
    {},
    {"line_search_fn": "strong_wolfe"},
    {"history_size": 2},
    {"history_size": 3, "line_search_fn": "strong_wolfe", "max_iter": 30},
    {"lr": 0.3, "max_iter": 5, "max_eval": 6},
    {"lr": torch.tensor(0.5, dtype=torch.float64), "line_search_fn": "strong_wolfe", "max_eval": 12},
    {"tolerance_change": 1e-3, "tolerance_grad": 1e-3},
]


@pytest.mark.parametrize("kw", OPTIONS, ids=[",".join(k) or "defaults" for k in OPTIONS])
def test_trajectory_and_counters_match_torch(kw: dict) -> None:
    ours, ours_loss, ours_state = _run(dopt.LBFGS, **kw)
    ref, ref_loss, ref_state = _run(torch.optim.LBFGS, **kw)
    assert not torch.equal(ref[0], ref[-1]) or kw.get("tolerance_grad"), "reference did not move"
    torch.testing.assert_close(ours, ref, rtol=1e-9, atol=1e-12)
    assert ours_loss == pytest.approx(ref_loss, rel=1e-12)
    assert (ours_state["func_evals"], ours_state["n_iter"]) == (ref_state["func_evals"], ref_state["n_iter"])
    assert set(ours_state) == set(ref_state)
    torch.testing.assert_close(ours_state["d"], ref_state["d"], rtol=1e-9, atol=1e-12)
    assert len(ours_state["old_dirs"]) == len(ref_state["old_dirs"])


def test_state_dict_round_trip_resumes_like_torch() -> None:
    """4 steps, state_dict into a fresh torch LBFGS, 2 more steps == 6 uninterrupted dlzoo steps."""
    full, _, _ = _run(dopt.LBFGS, steps=6, history_size=5)
    model, x, y = _problem()
    opt = dopt.LBFGS(model.parameters(), history_size=5)

    def closure(o: torch.optim.Optimizer) -> torch.Tensor:
        o.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        return loss

    for _ in range(4):
        opt.step(lambda: closure(opt))
    ref = torch.optim.LBFGS(model.parameters(), history_size=5)
    ref.load_state_dict(opt.state_dict())
    for _ in range(2):
        ref.step(lambda: closure(ref))
    torch.testing.assert_close(torch.cat([p.detach().flatten() for p in model.parameters()]), full[-1],
                               rtol=1e-9, atol=1e-12)


def test_complex_parameters_match_torch() -> None:
    outs = []
    for cls in (dopt.LBFGS, torch.optim.LBFGS):
        torch.manual_seed(0)
        z = torch.randn(5, dtype=torch.complex128, requires_grad=True)
        target = torch.randn(5, dtype=torch.complex128)
        opt = cls([z], line_search_fn="strong_wolfe", max_iter=10)

        def closure(opt=opt, z=z, target=target) -> torch.Tensor:
            opt.zero_grad()
            loss = ((z - target).abs() ** 4).sum()
            loss.backward()
            return loss

        opt.step(closure)
        outs.append(z.detach())
    torch.testing.assert_close(outs[0], outs[1], rtol=1e-9, atol=1e-12)


def test_line_search_satisfies_strong_wolfe() -> None:
    """On f(x) = sum(x^4 - x) from x0, along -grad: the accepted t meets both strong Wolfe conditions."""
    x0 = torch.linspace(-1.0, 2.0, 7, dtype=torch.float64)

    def f_and_grad(x: torch.Tensor) -> tuple[float, torch.Tensor]:
        return float((x**4 - x).sum()), 4 * x**3 - 1

    f0, g0 = f_and_grad(x0)
    d = -g0
    gtd = float(g0.dot(d))
    c1, c2 = 1e-4, 0.9
    for t0 in (1e-3, 1.0, 10.0):  # too short (extrapolation), about right, far too long (zoom)
        f_new, g_new, t, evals = strong_wolfe(lambda t: f_and_grad(x0 + t * d), t0, d, f0, g0, gtd, c1, c2)
        assert f_new <= f0 + c1 * t * gtd  # sufficient decrease
        assert abs(float(g_new.dot(d))) <= c2 * abs(gtd)  # curvature
        assert f_new == pytest.approx(f_and_grad(x0 + t * d)[0]) and 1 <= evals <= 25


def test_closure_and_param_group_errors() -> None:
    model, _, _ = _problem()
    opt = dopt.LBFGS(model.parameters())
    with pytest.raises(ValueError, match="closure"):
        opt.step(None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="param groups"):
        dopt.LBFGS([{"params": [model[0].weight]}, {"params": [model[2].weight]}])


def test_registered_in_factory() -> None:
    model, _, _ = _problem()
    assert isinstance(dopt.create_optimizer("lbfgs", model, line_search_fn="strong_wolfe"), dopt.LBFGS)
    assert isinstance(dopt.create_optimizer("ASGD", model), dopt.ASGD)
    assert isinstance(dopt.create_optimizer("rprop", model.parameters()), dopt.Rprop)
