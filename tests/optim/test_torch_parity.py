"""Every dlzoo optimizer takes exactly torch.optim's constructor arguments (names, kinds, defaults) and,
over a grid of those options (Tensor lr / betas / weight_decay included, implementation flags passed
through), follows torch.optim's parameter trajectory in float64; bad arguments raise errors naming them."""

from __future__ import annotations

import inspect
import itertools

import pytest
import torch
from torch import nn

import dlzoo.optim as dopt

STEPS = 25
# torch.optim classes without a dlzoo counterpart, and why
NOT_MIRRORED = {"SparseAdam": "sparse-gradient-only variant of Adam (dlzoo rejects sparse gradients)"}


def _torch_optimizers() -> list[str]:
    return sorted(
        n
        for n, c in vars(torch.optim).items()
        if isinstance(c, type) and issubclass(c, torch.optim.Optimizer) and c is not torch.optim.Optimizer
    )


def test_every_torch_optimizer_is_mirrored() -> None:
    missing = [n for n in _torch_optimizers() if n not in NOT_MIRRORED and not hasattr(dopt, n)]
    assert not missing, f"torch.optim optimizers missing from dlzoo.optim: {missing}"
    assert {"ASGD", "Rprop", "LBFGS", "Adafactor", "Muon"} <= set(_torch_optimizers())  # torch 2.13 has them


def _signature(cls: type) -> list[tuple[str, object, object]]:
    return [(p.name, p.kind, p.default) for p in inspect.signature(cls.__init__).parameters.values()]


@pytest.mark.parametrize("name", [n for n in _torch_optimizers() if n not in NOT_MIRRORED])
def test_constructor_signature_matches_torch(name: str) -> None:
    ours, ref = _signature(getattr(dopt, name)), _signature(getattr(torch.optim, name))
    assert [p[0] for p in ours] == [p[0] for p in ref], f"{name}: argument names/order differ"
    assert ours == ref, f"{name}: argument kinds or defaults differ"


@pytest.mark.parametrize("name", ["Adam", "AdamW", "NAdam", "RAdam"])
def test_decoupled_weight_decay_option(name: str) -> None:
    params = inspect.signature(getattr(torch.optim, name).__init__).parameters
    ours = inspect.signature(getattr(dopt, name).__init__).parameters
    assert ("decoupled_weight_decay" in params) == ("decoupled_weight_decay" in ours)


# ---------------------------------------------------------------------------------------------------
# trajectories over a grid of options
def _grid(**axes: list) -> list[dict]:
    keys = list(axes)
    return [dict(zip(keys, vals)) for vals in itertools.product(*(axes[k] for k in keys))]


def _sgd_ok(kw: dict) -> bool:
    return not kw.get("nesterov") or (kw["momentum"] > 0 and kw["dampening"] == 0)


GRIDS: dict[str, list[dict]] = {
    "SGD": [k for k in _grid(momentum=[0, 0.9], dampening=[0, 0.2], nesterov=[False, True],
                              maximize=[False, True], fused=[None, True]) if _sgd_ok(k)],
    "Adam": _grid(amsgrad=[False, True], maximize=[False, True], decoupled_weight_decay=[False, True],
                  foreach=[None, True]),
    "AdamW": _grid(amsgrad=[False, True], maximize=[False, True], fused=[None, True]),
    "Adagrad": _grid(lr_decay=[0, 0.05], initial_accumulator_value=[0, 0.1], maximize=[False, True]),
    "Adadelta": _grid(rho=[0.9, 0.5], eps=[1e-6, 1e-3], maximize=[False, True]),
    "Adamax": _grid(betas=[(0.9, 0.999), (0.5, 0.9)], maximize=[False, True]),
    "NAdam": _grid(momentum_decay=[4e-3, 0.05], decoupled_weight_decay=[False, True], maximize=[False, True]),
    "RAdam": _grid(betas=[(0.9, 0.999), (0.8, 0.9)], decoupled_weight_decay=[False, True],
                   maximize=[False, True]),
    "RMSprop": _grid(centered=[False, True], momentum=[0, 0.5], alpha=[0.99, 0.8], maximize=[False, True]),
    "ASGD": _grid(lambd=[1e-4, 0.05], alpha=[0.75, 0.5], t0=[1e6, 8], maximize=[False, True]),
    "Rprop": _grid(etas=[(0.5, 1.2), (0.2, 2.0)], step_sizes=[(1e-6, 50), (1e-3, 0.02)],
                   maximize=[False, True]),
    "Adafactor": _grid(beta2_decay=[-0.8, -0.5], d=[1.0, 2.0], eps=[(None, 1e-3), (1e-30, 1e-2)],
                       maximize=[False, True]),
    "Muon": _grid(nesterov=[True, False], adjust_lr_fn=[None, "original", "match_rms_adamw"],
                  momentum=[0.95, 0.5]),
}
LR = {"SGD": 0.05, "Adadelta": 0.5, "ASGD": 0.05, "Muon": 0.02, "Adagrad": 0.05}
TENSOR_BETAS = {"Adam", "AdamW"}  # torch accepts Tensor betas only there
FLAGS = ("foreach", "fused")  # implementation hints: passed to ours, torch always runs its for-loop code
CASES = [(n, i, t) for n, grid in GRIDS.items() for i in range(len(grid)) for t in (False, True)]


def _problem() -> tuple[nn.Module, list[tuple[torch.Tensor, torch.Tensor]]]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3)).double()
    g = torch.Generator().manual_seed(1)
    data = [(torch.randn(6, 5, generator=g, dtype=torch.float64), torch.randn(6, 3, generator=g,
                                                                             dtype=torch.float64))
            for _ in range(STEPS)]
    return model, data


def _run(name: str, kw: dict, tensors: bool, ours: bool) -> torch.Tensor:
    model, data = _problem()
    kw = dict(kw)
    lr = LR.get(name, 1e-2)
    if not ours:
        kw = {k: v for k, v in kw.items() if k not in FLAGS}
        if "foreach" in inspect.signature(torch.optim.__dict__[name].__init__).parameters:
            kw["foreach"] = False
    if tensors:  # one-element float64 tensors for the hyper-parameters torch lets be tensors
        lr = torch.tensor(lr, dtype=torch.float64)
        if name in TENSOR_BETAS:
            kw["betas"] = tuple(torch.tensor(b, dtype=torch.float64) for b in kw.get("betas", (0.9, 0.999)))
    first, second = model[0], model[2]
    wd = torch.tensor(0.02, dtype=torch.float64) if tensors and name == "SGD" else 0.02
    if name == "Muon":
        groups = [{"params": [first.weight], "weight_decay": 0.1}, {"params": [second.weight], "lr": 0.01}]
    elif name in ("Rprop",):
        groups = [{"params": list(first.parameters())}, {"params": list(second.parameters()), "lr": 0.003}]
    else:
        groups = [{"params": list(first.parameters()), "weight_decay": wd},
                  {"params": list(second.parameters()), "lr": 0.003, "weight_decay": 0.0}]
    cls = getattr(dopt if ours else torch.optim, name)
    opt = cls(groups, lr=lr, **kw)
    traj = []
    for x, y in data:
        opt.zero_grad()
        loss = nn.functional.mse_loss(model(x), y)
        (-loss if kw.get("maximize") else loss).backward()  # maximize -loss: a stable ascent
        opt.step()
        traj.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    # the final optimizer state too (e.g. ASGD's average ``ax`` never feeds back into the parameters)
    state = {(i, k): v for i, p in enumerate(model.parameters()) for k, v in opt.state[p].items()}
    return torch.stack(traj), state  # (STEPS, n_params), {(param index, key): value}


@pytest.mark.parametrize("name,idx,tensors", CASES)
def test_option_grid_trajectory_matches_torch(name: str, idx: int, tensors: bool) -> None:
    kw = GRIDS[name][idx]
    (ours, ours_state), (ref, ref_state) = _run(name, kw, tensors, True), _run(name, kw, tensors, False)
    assert not torch.equal(ref[-1], ref[0]), "reference did not move"
    torch.testing.assert_close(ours, ref, rtol=1e-9, atol=1e-12, msg=lambda m: f"{name}{kw}: {m}")
    assert set(ours_state) == set(ref_state)
    for key, value in ref_state.items():
        torch.testing.assert_close(
            ours_state[key], value, rtol=1e-9, atol=1e-12, msg=lambda m, k=key: f"{name} {k}: {m}"
        )


# ---------------------------------------------------------------------------------------------------
# bad arguments
def _params() -> list[torch.Tensor]:
    return [torch.zeros(2, 2, requires_grad=True)]


BAD = [
    (dopt.Muon, {"momentum": 2}, ValueError, "momentum"),
    (dopt.Muon, {"momentum": 1.0}, ValueError, "momentum"),
    (dopt.Muon, {"ns_steps": 2.5}, TypeError, "ns_steps"),
    (dopt.Muon, {"adjust_lr_fn": "rms"}, ValueError, "adjust_lr_fn"),
    (dopt.Muon, {"ns_coefficients": (1.0, 2.0)}, TypeError, "ns_coefficients"),
    (dopt.Lion, {"betas": (1.0, 0.99)}, ValueError, r"betas\[0\]"),
    (dopt.Lion, {"betas": (0.9, 1.0)}, ValueError, r"betas\[1\]"),
    (dopt.Lion, {"betas": (0.9, -0.1)}, ValueError, r"betas\[1\]"),
    (dopt.Lion, {"betas": 0.9}, TypeError, "betas"),
    (dopt.AdamW, {"lr": "abc"}, TypeError, "lr"),
    (dopt.AdamW, {"lr": None}, TypeError, "lr"),
    (dopt.AdamW, {"lr": torch.tensor([1e-3, 1e-3])}, ValueError, "lr"),
    (dopt.AdamW, {"lr": float("nan")}, ValueError, "lr"),
    (dopt.Adam, {"eps": -1e-8}, ValueError, "eps"),
    (dopt.Adam, {"betas": (0.9,)}, TypeError, "betas"),
    (dopt.Adam, {"capturable": True}, ValueError, "capturable"),
    (dopt.Adam, {"differentiable": True}, ValueError, "differentiable"),
    (dopt.Adam, {"fused": True, "foreach": True}, ValueError, "fused"),
    (dopt.SGD, {"lr": -0.1}, ValueError, "lr"),
    (dopt.SGD, {"weight_decay": -1.0}, ValueError, "weight_decay"),
    (dopt.SGD, {"nesterov": True}, ValueError, "nesterov"),
    (dopt.SGD, {"foreach": "yes"}, TypeError, "foreach"),
    (dopt.RMSprop, {"alpha": 1.5}, ValueError, "alpha"),
    (dopt.Adagrad, {"lr_decay": -1.0}, ValueError, "lr_decay"),
    (dopt.Adadelta, {"rho": 1.1}, ValueError, "rho"),
    (dopt.NAdam, {"momentum_decay": -1.0}, ValueError, "momentum_decay"),
    (dopt.Adafactor, {"beta2_decay": 0.5}, ValueError, "beta2_decay"),
    (dopt.Adafactor, {"eps": 1e-3}, TypeError, "eps"),
    (dopt.ASGD, {"t0": -1.0}, ValueError, "t0"),
    (dopt.ASGD, {"lambd": "x"}, TypeError, "lambd"),
    (dopt.Rprop, {"etas": (0.5, 0.9)}, ValueError, r"etas\[1\]"),
    (dopt.Rprop, {"etas": (1.5, 2.0)}, ValueError, r"etas\[0\]"),
    (dopt.Rprop, {"step_sizes": (1.0, 0.1)}, ValueError, r"step_sizes\[1\]"),
    (dopt.LBFGS, {"line_search_fn": "armijo"}, ValueError, "line_search_fn"),
    (dopt.LBFGS, {"max_iter": 0}, ValueError, "max_iter"),
    (dopt.LBFGS, {"history_size": 2.0}, TypeError, "history_size"),
]


@pytest.mark.parametrize("cls,kw,err,arg", BAD, ids=[f"{c.__name__}-{list(k)[0]}" for c, k, _, _ in BAD])
def test_bad_argument_names_the_argument(cls: type, kw: dict, err: type, arg: str) -> None:
    with pytest.raises(err, match=rf"{cls.__name__}: .*{arg}"):
        cls(_params(), **kw)
