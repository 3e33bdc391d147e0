"""`dlzoo train` drives the recurrent attention model's hybrid loss: the classification task's training loss
on RAM is the written-out CE + REINFORCE + baseline-MSE objective of the same episode, and it reaches the
location policy (which the cross-entropy alone never does)."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from dlzoo.models.vision_attention.ram import RAMTrace
from dlzoo.train import load_config
from dlzoo.train.tasks import create_task, task_name


def _task_and_model():
    cfg = load_config(
        {
            "name": "ram",
            "model": {
                "name": "recurrent_attention",
                "kwargs": {"glimpse_hidden": 16, "loc_hidden": 16, "hidden_size": 32, "num_glimpses": 3},
            },
            "data": {"name": "digits", "batch_size": 8},
            "train": {"epochs": 1},
        }
    )
    task = create_task(cfg)
    data = task.build_data()
    torch.manual_seed(0)
    model = task.build_model(data)
    task.check_fit(data, model)  # eval mode: plain logits (B, 10)
    task.setup(data, torch.device("cpu"))
    x, y = next(data.train_loader.iter_epoch(0))
    return task, model.double(), x.double(), y


def test_classification_task_trains_the_hybrid_loss():
    task, model, x, y = _task_and_model()
    assert task.name == "classification"
    model.train()
    torch.manual_seed(1)
    loss, stats = task.train_loss(model, x, y)
    torch.manual_seed(1)  # the same location samples
    trace = model(x)
    assert isinstance(trace, RAMTrace) and trace.logits.shape == (x.shape[0], 10)
    r = (trace.logits.argmax(-1) == y).double()  # reward: the episode's classification is correct
    want = (
        F.cross_entropy(trace.logits, y)
        - (trace.log_probs * (r[:, None] - trace.baselines.detach())).sum(-1).mean()
        + (trace.baselines - r[:, None]).square().sum(-1).mean()
    )
    torch.testing.assert_close(loss, want)
    assert stats["correct"] == r.sum().item() and stats["count"] == x.shape[0]
    loss.backward()
    assert model.locator.weight.grad.abs().sum() > 0 and model.baseline.weight.grad.abs().sum() > 0
    model.zero_grad()
    F.cross_entropy(model(x).logits, y).backward()  # without the REINFORCE term the policy learns nothing
    assert model.locator.weight.grad is None or model.locator.weight.grad.abs().sum() == 0


def test_soft_targets_reward_the_hard_label_and_eval_returns_logits():
    task, model, x, y = _task_and_model()
    model.train()
    torch.manual_seed(2)
    trace = model(x)
    soft = F.one_hot(y, 10).double()
    torch.testing.assert_close(
        trace.loss(lambda logits, t: -(t * logits.log_softmax(-1)).sum(-1).mean(), soft),
        trace.loss(F.cross_entropy, y),
    )
    model.eval()
    with torch.no_grad():
        assert isinstance(model(x), torch.Tensor) and model(x).shape == (x.shape[0], 10)
    assert task_name(task.cfg) == "classification"
