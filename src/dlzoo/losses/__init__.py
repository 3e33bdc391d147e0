"""dlzoo.losses: losses written from tensor ops, mirroring ``torch.nn`` names/arguments where torch has them.

Every loss is registered by name; ``create_loss(name, **kw)`` builds one from a config.
"""

from .anyloss import METRICS as ANYLOSS_METRICS
from .anyloss import AnyLoss, anyloss, approximation, confusion_metric, soft_confusion_matrix
from .calibration import (
    BrierScoreLoss,
    CalibratedCrossEntropy,
    brier_score,
    expected_calibration_error,
    soft_binned_ece,
)
from .classification import (
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    binary_cross_entropy_with_logits,
    cross_entropy,
    log_softmax,
)
from .factory import LOSSES, create_loss, list_losses, register_loss
from .focal import FocalLoss, SigmoidFocalLoss, focal_loss, sigmoid_focal_loss
from .goodhart import GoodhartAwareLoss
from .regression import (
    HuberLoss,
    L1Loss,
    MSELoss,
    SmoothL1Loss,
    huber_loss,
    l1_loss,
    mse_loss,
    smooth_l1_loss,
)

__all__ = [
    "ANYLOSS_METRICS",
    "AnyLoss",
    "BCEWithLogitsLoss",
    "BrierScoreLoss",
    "CalibratedCrossEntropy",
    "GoodhartAwareLoss",
    "brier_score",
    "expected_calibration_error",
    "soft_binned_ece",
    "CrossEntropyLoss",
    "FocalLoss",
    "HuberLoss",
    "L1Loss",
    "LOSSES",
    "MSELoss",
    "SigmoidFocalLoss",
    "SmoothL1Loss",
    "anyloss",
    "approximation",
    "binary_cross_entropy_with_logits",
    "confusion_metric",
    "create_loss",
    "cross_entropy",
    "focal_loss",
    "huber_loss",
    "l1_loss",
    "list_losses",
    "log_softmax",
    "mse_loss",
    "register_loss",
    "sigmoid_focal_loss",
    "smooth_l1_loss",
    "soft_confusion_matrix",
]
