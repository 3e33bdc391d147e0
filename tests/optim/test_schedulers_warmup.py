"""warmup_cosine vs Hugging Face's cosine-with-warmup schedules (an independent implementation), resume
through state_dict, and the create_scheduler factory."""

from __future__ import annotations

import math

import pytest
import torch

from dlzoo.optim import create_scheduler, warmup_cosine
from dlzoo.optim.schedulers import ConstantSchedule, WarmupCosineLR

transformers_optimization = pytest.importorskip("transformers.optimization")


def _opt(lrs=(0.1, 0.02)) -> torch.optim.Optimizer:
    ps = [torch.nn.Parameter(torch.zeros(2)) for _ in lrs]
    return torch.optim.SGD([{"params": [p], "lr": lr} for p, lr in zip(ps, lrs)], lr=1.0)


def _run(sched, n: int) -> list[list[float]]:
    out = [list(sched.get_last_lr())]
    for _ in range(n):
        sched.optimizer.step()
        sched.step()
        out.append(list(sched.get_last_lr()))
    return out


@pytest.mark.parametrize("warmup,total,ratio", [(50, 500, 0.0), (0, 300, 0.0), (100, 500, 0.1), (9, 11, 0.2)])
def test_matches_huggingface(warmup: int, total: int, ratio: float) -> None:
    ours = _run(warmup_cosine(_opt(), warmup, total, min_lr_ratio=ratio), total)
    if ratio == 0.0:
        ref_sched = transformers_optimization.get_cosine_schedule_with_warmup(_opt(), warmup, total)
    else:
        ref_sched = transformers_optimization.get_cosine_with_min_lr_schedule_with_warmup(
            _opt(), warmup, total, min_lr_rate=ratio
        )
    ref = _run(ref_sched, total)
    for t, (a, b) in enumerate(zip(ours, ref)):
        assert a == pytest.approx(b, rel=1e-12, abs=1e-15), f"step {t}"


def test_equation_points_and_floor() -> None:
    sched = warmup_cosine(_opt((1.0,)), warmup_steps=10, total_steps=110, min_lr_ratio=0.2)
    lrs = [lr[0] for lr in _run(sched, 130)]
    assert lrs[0] == 0.0 and lrs[5] == pytest.approx(0.5) and lrs[10] == pytest.approx(1.0)
    assert lrs[60] == pytest.approx(0.2 + 0.8 * 0.5 * (1 + math.cos(math.pi * 0.5)))  # mid-cosine = 0.6
    assert lrs[110] == pytest.approx(0.2) and lrs[129] == pytest.approx(0.2)  # held at the floor


def test_resume_via_state_dict() -> None:
    full = _run(warmup_cosine(_opt(), 20, 200, 0.05), 200)
    a = warmup_cosine(_opt(), 20, 200, 0.05)
    _run(a, 77)
    sd = a.state_dict()
    opt_b = _opt()
    for g, lr in zip(opt_b.param_groups, a.get_last_lr()):
        g["lr"] = lr  # what optimizer.load_state_dict would restore
    b = warmup_cosine(opt_b, 20, 200, 0.05)
    b.load_state_dict(sd)
    assert _run(b, 123) == full[77:]


def test_create_scheduler_factory() -> None:
    s = create_scheduler("Warmup_Cosine", _opt(), warmup_steps=5, total_steps=50, min_lr_ratio=0.1)
    assert isinstance(s, WarmupCosineLR)
    s = create_scheduler("none", _opt())
    assert isinstance(s, ConstantSchedule) and _run(s, 5)[-1] == [0.1, 0.02]
    assert isinstance(create_scheduler(None, _opt()), ConstantSchedule)
    with pytest.raises(ValueError, match="valid names: .*warmup_cosine"):
        create_scheduler("cosinus", _opt())
    with pytest.raises(ValueError, match="bad arguments"):
        create_scheduler("warmup_cosine", _opt(), warmup=3)
    with pytest.raises(ValueError, match="WarmupCosineLR"):
        warmup_cosine(_opt(), 10, 5)
