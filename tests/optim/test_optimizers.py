"""dlzoo.optim optimizers vs torch.optim: identical 200-step trajectories in float64 on a small real model
with several param groups, state_dict round trips (ours -> ours, ours <-> torch), closures, bad input."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

import dlzoo.optim as dopt

STEPS = 200


class TinyNet(nn.Module):
    """2-layer MLP with a LayerNorm: Linear(6, 16) -> LayerNorm(16) -> tanh -> Linear(16, 3)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(6, 16)
        self.norm = nn.LayerNorm(16)
        self.fc2 = nn.Linear(16, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(torch.tanh(self.norm(self.fc1(x))))


def make_model() -> nn.Module:
    torch.manual_seed(0)
    return TinyNet().double()


def groups(model: nn.Module, lrs: tuple[float, float, float], wds: tuple[float, float, float]) -> list[dict]:
    """Three groups with different lr / weight decay: fc1, norm, fc2."""
    return [
        {"params": list(model.fc1.parameters()), "lr": lrs[0], "weight_decay": wds[0]},
        {"params": list(model.norm.parameters()), "lr": lrs[1], "weight_decay": wds[1]},
        {"params": list(model.fc2.parameters()), "lr": lrs[2], "weight_decay": wds[2]},
    ]


def batches(n: int, seed: int = 1) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    return [
        (torch.randn(8, 6, generator=g, dtype=torch.float64), torch.randint(0, 3, (8,), generator=g))
        for _ in range(n)
    ]


def train(model: nn.Module, opt: torch.optim.Optimizer, data, closure: bool = False) -> list[torch.Tensor]:
    """Run ``opt`` over ``data``; return a flat copy of the parameters after every step."""
    traj = []
    for x, y in data:

        def loss_fn(x: torch.Tensor = x, y: torch.Tensor = y) -> torch.Tensor:
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(x), y)
            if any(g.get("maximize", False) for g in opt.param_groups):
                loss = -loss  # maximize -CE: a stable trajectory (maximizing CE itself diverges chaotically)
            loss.backward()
            return loss

        if closure:
            opt.step(loss_fn)
        else:
            loss_fn()
            opt.step()
        traj.append(torch.cat([p.detach().flatten().clone() for p in model.parameters()]))
    return traj


# name -> (ours, torch reference, list of kwargs combos); lrs/wds are per group.
CASES = {
    "SGD": (
        dopt.SGD,
        torch.optim.SGD,
        [
            {},
            {"momentum": 0.9, "nesterov": True},
            {"momentum": 0.8, "dampening": 0.1, "maximize": True},
        ],
    ),
    "Adagrad": (
        dopt.Adagrad,
        torch.optim.Adagrad,
        [
            {},
            {"lr_decay": 0.01, "initial_accumulator_value": 0.1, "eps": 1e-8, "maximize": True},
        ],
    ),
    "RMSprop": (
        dopt.RMSprop,
        torch.optim.RMSprop,
        [
            {},
            {"centered": True, "momentum": 0.9},
            {"momentum": 0.5, "alpha": 0.9, "maximize": True},
        ],
    ),
    "Adadelta": (dopt.Adadelta, torch.optim.Adadelta, [{}, {"rho": 0.95, "eps": 1e-5, "maximize": True}]),
    "Adam": (
        dopt.Adam,
        torch.optim.Adam,
        [
            {},
            {"amsgrad": True, "betas": (0.8, 0.99), "eps": 1e-6},
            {"maximize": True, "decoupled_weight_decay": True},
        ],
    ),
    "AdamW": (dopt.AdamW, torch.optim.AdamW, [{}, {"amsgrad": True, "maximize": True, "eps": 1e-3}]),
    "Adamax": (dopt.Adamax, torch.optim.Adamax, [{}, {"betas": (0.8, 0.99), "maximize": True}]),
    "NAdam": (
        dopt.NAdam,
        torch.optim.NAdam,
        [
            {},
            {"decoupled_weight_decay": True, "momentum_decay": 0.01, "maximize": True},
        ],
    ),
    "RAdam": (dopt.RAdam, torch.optim.RAdam, [{}, {"decoupled_weight_decay": True, "maximize": True}]),
    "Adafactor": (
        dopt.Adafactor,
        torch.optim.Adafactor,
        [
            {},
            {"d": 2.0, "beta2_decay": -0.5, "eps": (1e-30, 1e-3), "maximize": True},
        ],
    ),
    "Muon": (dopt.Muon, torch.optim.Muon, [{}, {"nesterov": False, "adjust_lr_fn": "match_rms_adamw"}]),
    "ASGD": (
        dopt.ASGD,
        torch.optim.ASGD,
        [{}, {"lambd": 0.05, "alpha": 0.5, "t0": 60, "maximize": True}],  # averaging starts at step 61
    ),
    "Rprop": (
        dopt.Rprop,
        torch.optim.Rprop,
        [{}, {"etas": (0.3, 1.5), "step_sizes": (1e-4, 0.02), "maximize": True}],
    ),
}
LRS = {
    "default": (1e-2, 3e-3, 5e-3),
    "SGD": (0.1, 0.03, 0.05),
    "Adadelta": (1.0, 0.5, 0.8),
    "Muon": (0.02, 0.0, 0.01),
    "ASGD": (0.1, 0.03, 0.05),
}
WDS = (0.1, 0.0, 0.02)
PARAMS = [(name, i) for name, (_, _, combos) in CASES.items() for i in range(len(combos))]


def _build(name: str, which: int, model: nn.Module, idx: int):
    ours_cls, torch_cls, combos = CASES[name]
    cls = ours_cls if which == 0 else torch_cls
    kw = dict(combos[idx])
    if which == 1 and "foreach" in torch_cls.__init__.__code__.co_varnames:
        kw["foreach"] = False  # the plain for-loop reference
    lrs = LRS.get(name, LRS["default"])
    if name == "Muon":  # 2-D matrices only
        return cls(
            [
                {"params": [model.fc1.weight], "lr": lrs[0], "weight_decay": WDS[0]},
                {"params": [model.fc2.weight], "lr": lrs[2], "weight_decay": WDS[2]},
            ],
            **kw,
        )
    return cls(groups(model, lrs, WDS), **kw)


@pytest.mark.parametrize("name,idx", PARAMS)
def test_trajectory_matches_torch(name: str, idx: int) -> None:
    data = batches(STEPS)
    m_ours, m_ref = make_model(), make_model()
    ours_opt = _build(name, 0, m_ours, idx)
    if idx % 2 == 1:
        ours_opt.chunk_numel = 40  # split each group into several foreach chunks (default: one here)
    traj_ours = train(m_ours, ours_opt, data)
    traj_ref = train(m_ref, _build(name, 1, m_ref, idx), data)
    assert not torch.equal(traj_ref[-1], traj_ref[0]), "reference did not move"
    ours, ref = torch.stack(traj_ours), torch.stack(traj_ref)  # (STEPS, n_params)
    bad = ~torch.isclose(ours, ref, rtol=1e-10, atol=1e-12)
    first = int(bad.any(dim=1).nonzero()[0]) if bad.any() else -1
    assert first < 0, (
        f"{name}{CASES[name][2][idx]}: diverges from torch at step {first}, "
        f"max abs diff {(ours - ref).abs().max().item():.3g}"
    )


@pytest.mark.parametrize("name", list(CASES))
def test_state_dict_resume_and_torch_interop(name: str) -> None:
    data = batches(STEPS)
    idx = len(CASES[name][2]) - 1
    # uninterrupted run
    m_full = make_model()
    full = train(m_full, _build(name, 0, m_full, idx), data)[-1]
    # 100 steps, save, fresh model + optimizer, load, 100 more
    m_a = make_model()
    opt_a = _build(name, 0, m_a, idx)
    train(m_a, opt_a, data[: STEPS // 2])
    sd = copy.deepcopy(opt_a.state_dict())
    weights = copy.deepcopy(m_a.state_dict())
    m_b = make_model()
    m_b.load_state_dict(weights)
    opt_b = _build(name, 0, m_b, idx)
    opt_b.load_state_dict(copy.deepcopy(sd))  # load_state_dict may alias the saved tensors
    resumed = train(m_b, opt_b, data[STEPS // 2 :])[-1]
    torch.testing.assert_close(resumed, full, rtol=0, atol=0)
    # the state_dict uses torch's keys, so torch's optimizer can continue from it (and vice versa)
    m_t = make_model()
    m_t.load_state_dict(weights)
    opt_t = _build(name, 1, m_t, idx)
    assert set(sd["state"][0]) == _torch_state_keys(name, idx)
    opt_t.load_state_dict(copy.deepcopy(sd))
    via_torch = train(m_t, opt_t, data[STEPS // 2 :])[-1]
    # torch's load_state_dict casts ASGD's float32 eta/mu to float64, torch keeps them so (dlzoo casts back)
    tol = 1e-6 if name == "ASGD" else 1e-10
    torch.testing.assert_close(via_torch, full, rtol=tol, atol=tol * 1e-2)


def _torch_state_keys(name: str, idx: int) -> set[str]:
    model = make_model()
    opt = _build(name, 1, model, idx)
    train(model, opt, batches(1))
    return set(opt.state_dict()["state"][0])


def test_closure_returns_loss_and_matches_plain_step() -> None:
    data = batches(20)
    m1, m2 = make_model(), make_model()
    a = train(m1, dopt.AdamW(m1.parameters(), lr=1e-2), data, closure=True)[-1]
    b = train(m2, dopt.AdamW(m2.parameters(), lr=1e-2), data)[-1]
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    opt = dopt.AdamW(m1.parameters())
    x, y = data[0]
    loss = opt.step(lambda: nn.functional.cross_entropy(m1(x), y).backward() or torch.tensor(3.0))
    assert float(loss) == 3.0


def test_params_without_grad_are_untouched_and_zero_grad() -> None:
    model = make_model()
    model.norm.weight.requires_grad_(False)
    before = model.norm.weight.detach().clone()
    opt = dopt.AdamW(model.parameters(), lr=0.1, weight_decay=0.5)
    train(model, opt, batches(3))
    assert torch.equal(model.norm.weight, before)
    assert model.norm.weight not in opt.state
    opt.zero_grad()
    assert all(p.grad is None for p in model.parameters())


@pytest.mark.parametrize("kw", [{"lr": -1.0}, {"betas": (1.0, 0.9)}, {"eps": -1e-8}, {"weight_decay": -0.1}])
def test_invalid_hyperparameters(kw: dict) -> None:
    with pytest.raises(ValueError, match="AdamW"):
        dopt.AdamW(make_model().parameters(), **kw)


def test_complex_params_match_torch() -> None:
    torch.manual_seed(0)
    p0 = torch.randn(5, 3, dtype=torch.complex128)
    outs = []
    for cls in (dopt.AdamW, torch.optim.AdamW):
        p = p0.clone().requires_grad_(True)
        opt = cls([p], lr=0.05, weight_decay=0.1, amsgrad=True)
        for _ in range(30):
            opt.zero_grad()
            (p.abs() ** 2).sum().backward()
            opt.step()
        outs.append(p.detach())
    torch.testing.assert_close(outs[0], outs[1], rtol=1e-10, atol=1e-12)


@pytest.mark.gpu
@pytest.mark.parametrize("name", ["SGD", "AdamW", "NAdam", "Adafactor", "Muon"])
def test_cuda_matches_torch(name: str) -> None:
    """Same trajectory as torch.optim on CUDA (float32, 50 steps)."""
    data = [(x.float().cuda(), y.cuda()) for x, y in batches(50)]
    trajs = []
    for which in (0, 1):
        model = make_model().float().cuda()
        trajs.append(torch.stack(train(model, _build(name, which, model, 0), data)))
    torch.testing.assert_close(trajs[0], trajs[1], rtol=1e-4, atol=1e-6)


def test_plain_number_step_in_loaded_state_and_single_chunk() -> None:
    """A checkpoint whose ``step`` is a plain number (e.g. restored from JSON) resumes identically;
    ``chunk_numel = 0`` (one foreach chunk per group) gives the same trajectory as the default."""
    data = batches(40)
    m_full = make_model()
    full = train(m_full, dopt.AdamW(m_full.parameters(), lr=1e-2), data)[-1]
    m_a = make_model()
    opt_a = dopt.AdamW(m_a.parameters(), lr=1e-2)
    opt_a.chunk_numel = 0
    train(m_a, opt_a, data[:20])
    sd = copy.deepcopy(opt_a.state_dict())
    for state in sd["state"].values():
        state["step"] = float(state["step"])
    opt_b = dopt.AdamW(m_a.parameters(), lr=1e-2)
    opt_b.load_state_dict(sd)
    resumed = train(m_a, opt_b, data[20:])[-1]
    torch.testing.assert_close(resumed, full, rtol=0, atol=0)
    assert all(isinstance(s["step"], torch.Tensor) for s in opt_b.state.values())
