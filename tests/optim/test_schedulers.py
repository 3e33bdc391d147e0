"""dlzoo schedulers vs torch.optim.lr_scheduler: identical lr (and momentum) sequences for 500 steps on an
optimizer with two param groups, resume through state_dict mid-way, and the by-name factory."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from torch.optim import lr_scheduler as tls

import dlzoo.optim.schedulers as dls
from dlzoo.optim import create_scheduler

STEPS = 500


def make_opt(kind: str = "sgd") -> torch.optim.Optimizer:
    a, b = torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(3))
    groups = [{"params": [a], "lr": 0.1}, {"params": [b], "lr": 0.03}]
    if kind == "adam":
        return torch.optim.Adam(groups, betas=(0.9, 0.99))
    return torch.optim.SGD(groups, lr=0.1, momentum=0.9)


def metric(t: int) -> float:
    """A validation loss with plateaus and noise (deterministic)."""
    return 1.0 / (1 + t // 40) + 0.01 * math.sin(1.7 * t)


def run(sched, n: int, start: int = 0, plateau: bool = False) -> list[tuple[float, ...]]:
    """lr of every group (and momentum/beta1) after each of ``n`` steps."""
    out = []
    opt = sched.optimizer
    for t in range(start, start + n):
        opt.step()
        sched.step(metric(t)) if plateau else sched.step()
        g = opt.param_groups
        out.append(tuple(x["lr"] for x in g) + tuple(x.get("momentum", x.get("betas", (0,))[0]) for x in g))
    return out


def _sequential(mod, opt):
    warm = mod.LinearLR(opt, start_factor=0.01, end_factor=1.0, total_iters=50)
    cos = mod.CosineAnnealingLR(opt, T_max=STEPS - 50, eta_min=1e-4)
    return mod.SequentialLR(opt, [warm, cos], milestones=[50])


def _sequential3(mod, opt):
    a = mod.ExponentialLR(opt, gamma=0.99)
    b = mod.StepLR(opt, step_size=30, gamma=0.5)
    c = mod.MultiStepLR(opt, milestones=[20, 80], gamma=0.3)
    return mod.SequentialLR(opt, [a, b, c], milestones=[100, 250])


# name -> builder(module, optimizer); the same call builds ours (module dls) and torch's (module tls)
CASES = {
    "StepLR": lambda m, o: m.StepLR(o, step_size=37, gamma=0.7),
    "MultiStepLR": lambda m, o: m.MultiStepLR(o, milestones=[30, 200, 200, 450], gamma=0.5),
    "ExponentialLR": lambda m, o: m.ExponentialLR(o, gamma=0.995),
    "CosineAnnealingLR": lambda m, o: m.CosineAnnealingLR(o, T_max=STEPS, eta_min=1e-3),
    "CosineAnnealingLR-periodic": lambda m, o: m.CosineAnnealingLR(o, T_max=120),
    "CosineAnnealingWarmRestarts": lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=50, eta_min=1e-3),
    "CosineAnnealingWarmRestarts-mult": lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=20, T_mult=2),
    "LinearLR": lambda m, o: m.LinearLR(o, start_factor=0.05, end_factor=0.9, total_iters=300),
    "OneCycleLR": lambda m, o: m.OneCycleLR(o, max_lr=[1.0, 0.3], total_steps=STEPS + 1),
    "OneCycleLR-linear-3phase": lambda m, o: m.OneCycleLR(
        o,
        max_lr=0.5,
        epochs=10,
        steps_per_epoch=51,
        pct_start=0.25,
        anneal_strategy="linear",
        three_phase=True,
        div_factor=10.0,
    ),
    "ReduceLROnPlateau": lambda m, o: m.ReduceLROnPlateau(o, factor=0.5, patience=5, cooldown=3, min_lr=1e-3),
    "ReduceLROnPlateau-max-abs": lambda m, o: m.ReduceLROnPlateau(
        o, mode="max", threshold_mode="abs", threshold=0.01, patience=2, factor=0.8, min_lr=[1e-3, 1e-4]
    ),
    "SequentialLR": _sequential,
    "SequentialLR-3": _sequential3,
}
ADAM_CASES = {"OneCycleLR"}  # also cycle Adam's beta1


def _close(ours, ref, what: str) -> None:
    assert len(ours) == len(ref)
    for t, (a, b) in enumerate(zip(ours, ref)):
        assert a == pytest.approx(b, rel=1e-12, abs=1e-15), f"{what}: step {t + 1}: {a} != {b}"


@pytest.mark.parametrize("name,kind", [(n, "sgd") for n in CASES] + [(n, "adam") for n in ADAM_CASES])
def test_matches_torch_500_steps(name: str, kind: str) -> None:
    plateau = name.startswith("ReduceLROnPlateau")
    ours = CASES[name](dls, make_opt(kind))
    ref = CASES[name](tls, make_opt(kind))
    assert ours.get_last_lr() == pytest.approx(ref.get_last_lr(), rel=1e-12)
    a, b = run(ours, STEPS, plateau=plateau), run(ref, STEPS, plateau=plateau)
    assert len({x[0] for x in b}) > 3, "reference lr never changed: the case tests nothing"
    _close(a, b, name)


@pytest.mark.parametrize("name", list(CASES))
def test_resume_from_state_dict(name: str) -> None:
    plateau = name.startswith("ReduceLROnPlateau")
    full = run(CASES[name](dls, make_opt()), STEPS, plateau=plateau)
    opt = make_opt()
    first = CASES[name](dls, opt)
    run(first, 213, plateau=plateau)
    sched_sd = copy.deepcopy(first.state_dict())
    opt_sd = copy.deepcopy(opt.state_dict())
    # fresh optimizer + scheduler, as a trainer resuming from a checkpoint would build them
    opt2 = make_opt()
    second = CASES[name](dls, opt2)
    opt2.load_state_dict(opt_sd)
    second.load_state_dict(sched_sd)
    rest = run(second, STEPS - 213, start=213, plateau=plateau)
    _close(rest, full[213:], f"{name} resumed")


@pytest.mark.parametrize("name", ["StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR", "LinearLR"])
def test_closed_form_equals_chained(name: str) -> None:
    """The chainable update reproduces the closed-form equation (epoch passed explicitly)."""
    chained = run(CASES[name](dls, make_opt()), 400)
    sched = CASES[name](dls, make_opt())
    closed = []
    for t in range(1, 401):
        with pytest.warns(UserWarning):
            sched.step(t)
        closed.append(tuple(sched.get_last_lr()))
    for t, (a, b) in enumerate(zip(chained, closed)):
        assert a[:2] == pytest.approx(b, rel=1e-9, abs=1e-12), f"{name} epoch {t + 1}"


def test_warm_restarts_fractional_epochs_match_torch() -> None:
    ours = dls.CosineAnnealingWarmRestarts(make_opt(), T_0=3, T_mult=2, eta_min=0.001)
    ref = tls.CosineAnnealingWarmRestarts(make_opt(), T_0=3, T_mult=2, eta_min=0.001)
    for i in range(200):
        epoch = i / 7  # stepped per batch with 7 batches per epoch
        for s in (ours, ref):
            s.optimizer.step()
            s.step(epoch)
        assert ours.get_last_lr() == pytest.approx(ref.get_last_lr(), rel=1e-12), i


def test_cosine_equation_points() -> None:
    """SGDR Eq. 5 at hand-computed points: eta(T/2) = (eta_0 + eta_min) / 2, eta(T) = eta_min."""
    sched = dls.CosineAnnealingLR(make_opt(), T_max=100, eta_min=0.01)
    lrs = [x[0] for x in run(sched, 100)]
    assert lrs[49] == pytest.approx((0.1 + 0.01) / 2)
    assert lrs[99] == pytest.approx(0.01)


def test_factory_names() -> None:
    opt = make_opt()
    assert isinstance(create_scheduler("cosine", opt, T_max=10), dls.CosineAnnealingLR)
    assert isinstance(create_scheduler("StepLR", make_opt(), step_size=3), dls.StepLR)
    assert isinstance(create_scheduler("onecycle", make_opt(), max_lr=1.0, total_steps=10), dls.OneCycleLR)
    assert isinstance(create_scheduler("plateau", make_opt()), dls.ReduceLROnPlateau)
    assert set(dls.SCHEDULERS.names()) >= {
        "warmup_cosine",
        "cosine",
        "step",
        "none",
        "multistep",
        "exponential",
        "linear",
        "onecycle",
        "plateau",
        "cosine_restarts",
        "sequential",
    }


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="StepLR"):
        dls.StepLR(make_opt(), step_size=0)
    with pytest.raises(ValueError, match="OneCycleLR"):
        dls.OneCycleLR(make_opt(), max_lr=1.0)
    with pytest.raises(ValueError, match="SequentialLR"):
        opt = make_opt()
        dls.SequentialLR(opt, [dls.StepLR(opt, 3), dls.ExponentialLR(opt, 0.9)], milestones=[])
