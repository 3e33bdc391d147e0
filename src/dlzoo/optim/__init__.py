"""dlzoo.optim: optimizers (``torch.optim``-compatible names, arguments and state keys), LR schedules,
weight-decay param groups and by-name factories. Every update rule is written from its paper and
vectorised over a param group with ``torch._foreach_*`` ops."""

from . import schedulers
from .adadelta import Adadelta
from .adafactor import Adafactor
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .adamax import Adamax
from .asgd import ASGD
from .clip import clip_grad_norm_, clip_grad_value_  # noqa: F401  (re-export)
from .factory import OPTIMIZERS, create_optimizer
from .lbfgs import LBFGS
from .lion import Lion
from .muon import Muon
from .nadam import NAdam
from .param_groups import weight_decay_groups
from .radam import RAdam
from .rmsprop import RMSprop
from .rprop import Rprop
from .schedulers import create_scheduler, warmup_cosine
from .sgd import SGD

for _name, _cls, _paper, _year, _arxiv in (
    ("adam", Adam, "Adam: A Method for Stochastic Optimization", 2014, "1412.6980"),
    ("adamw", AdamW, "Decoupled Weight Decay Regularization", 2017, "1711.05101"),
    ("sgd", SGD, "On the importance of initialization and momentum in deep learning", 2013, "ICML 2013"),
    ("adagrad", Adagrad, "Adaptive Subgradient Methods for Online Learning and Stochastic Optimization", 2011,
     "JMLR 12"),
    ("rmsprop", RMSprop, "Lecture 6.5 - rmsprop (Coursera NN for ML)", 2012, ""),
    ("adadelta", Adadelta, "ADADELTA: An Adaptive Learning Rate Method", 2012, "1212.5701"),
    ("adamax", Adamax, "Adam: A Method for Stochastic Optimization (Sec. 7.1)", 2014, "1412.6980"),
    ("nadam", NAdam, "Incorporating Nesterov Momentum into Adam", 2016, "ICLR 2016 workshop"),
    ("radam", RAdam, "On the Variance of the Adaptive Learning Rate and Beyond", 2019, "1908.03265"),
    ("adafactor", Adafactor, "Adafactor: Adaptive Learning Rates with Sublinear Memory Cost", 2018,
     "1804.04235"),
    ("muon", Muon, "Muon: An optimizer for hidden layers in neural networks", 2024, "kellerjordan.github.io"),
    ("lion", Lion, "Symbolic Discovery of Optimization Algorithms", 2023, "2302.06675"),
    ("asgd", ASGD, "Acceleration of Stochastic Approximation by Averaging", 1992,
     "SIAM J. Control Optim. 30(4)"),
    ("rprop", Rprop, "A Direct Adaptive Method for Faster Backpropagation Learning: The RPROP Algorithm",
     1993, "IEEE ICNN 1993"),
    ("lbfgs", LBFGS, "On the Limited Memory BFGS Method for Large Scale Optimization", 1989,
     "Math. Programming 45"),
):
    OPTIMIZERS.add(_name, _cls, paper=_paper, year=_year, arxiv=_arxiv)

__all__ = ["OPTIMIZERS", "create_optimizer", "weight_decay_groups", "schedulers", "create_scheduler",
           "warmup_cosine", "SGD", "Adagrad", "RMSprop", "Adadelta", "Adam", "AdamW", "Adamax", "NAdam",
           "RAdam",
           "ASGD", "Rprop", "LBFGS", "Adafactor", "Muon", "Lion", "clip_grad_norm_", "clip_grad_value_"]
