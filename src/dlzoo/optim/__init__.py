"""dlzoo.optim: optimizers (``torch.optim``-compatible names, arguments and state keys), LR schedules,
weight-decay param groups and by-name factories. Every update rule is written from its paper and
vectorised over a param group with ``torch._foreach_*`` ops."""

from . import schedulers
from .adam import Adam, AdamW
from .clip import clip_grad_norm_, clip_grad_value_  # noqa: F401  (re-export)
from .factory import OPTIMIZERS, create_optimizer
from .param_groups import weight_decay_groups
from .schedulers import create_scheduler, warmup_cosine

for _name, _cls, _paper, _year, _arxiv in (
    ("adam", Adam, "Adam: A Method for Stochastic Optimization", 2014, "1412.6980"),
    ("adamw", AdamW, "Decoupled Weight Decay Regularization", 2017, "1711.05101"),
):
    OPTIMIZERS.add(_name, _cls, paper=_paper, year=_year, arxiv=_arxiv)

__all__ = ["OPTIMIZERS", "create_optimizer", "weight_decay_groups", "schedulers", "create_scheduler",
           "warmup_cosine", "Adam", "AdamW", "clip_grad_norm_", "clip_grad_value_"]
