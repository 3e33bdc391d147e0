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
from .capsule import MarginLoss, margin_loss
from .classification import (
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    binary_cross_entropy_with_logits,
    cross_entropy,
    log_softmax,
)
from .clustering import ClusteringLoss, soft_assignment, target_distribution
from .contrastive import ClipLoss, clip_contrastive_loss
from .deep_supervision import DeepSupervisionLoss
from .factory import LOSSES, create_loss, list_losses, register_loss
from .focal import FocalLoss, SigmoidFocalLoss, focal_loss, sigmoid_focal_loss
from .goodhart import GoodhartAwareLoss
from .language_modeling import LMCrossEntropyLoss
from .mdn import MDNLoss, mdn_log_prob, mdn_nll
from .preference import BinaryPreference, TriStatePreference, binary_preference, tri_state_preference
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
from .regularizers import (
    MaxNorm,
    elastic_net_penalty,
    l1_penalty,
    l2_penalty,
    max_norm_,
    orthogonality_penalty,
    soft_orthogonality,
    srip,
)
from .segmentation import DiceLoss, IoULoss, TverskyLoss, dice_loss, iou_loss, tversky_loss

__all__ = [
    "LMCrossEntropyLoss",
    "BinaryPreference",
    "ClusteringLoss",
    "DeepSupervisionLoss",
    "TriStatePreference",
    "binary_preference",
    "soft_assignment",
    "target_distribution",
    "tri_state_preference",
    "ANYLOSS_METRICS",
    "AnyLoss",
    "BCEWithLogitsLoss",
    "BrierScoreLoss",
    "CalibratedCrossEntropy",
    "ClipLoss",
    "CrossEntropyLoss",
    "DiceLoss",
    "FocalLoss",
    "GoodhartAwareLoss",
    "HuberLoss",
    "IoULoss",
    "L1Loss",
    "LOSSES",
    "MDNLoss",
    "MSELoss",
    "MarginLoss",
    "MaxNorm",
    "SigmoidFocalLoss",
    "SmoothL1Loss",
    "TverskyLoss",
    "anyloss",
    "approximation",
    "binary_cross_entropy_with_logits",
    "brier_score",
    "clip_contrastive_loss",
    "confusion_metric",
    "create_loss",
    "cross_entropy",
    "dice_loss",
    "elastic_net_penalty",
    "expected_calibration_error",
    "focal_loss",
    "huber_loss",
    "iou_loss",
    "l1_loss",
    "l1_penalty",
    "l2_penalty",
    "list_losses",
    "log_softmax",
    "margin_loss",
    "max_norm_",
    "mdn_log_prob",
    "mdn_nll",
    "mse_loss",
    "orthogonality_penalty",
    "register_loss",
    "sigmoid_focal_loss",
    "smooth_l1_loss",
    "soft_binned_ece",
    "soft_confusion_matrix",
    "soft_orthogonality",
    "srip",
    "tversky_loss",
]
