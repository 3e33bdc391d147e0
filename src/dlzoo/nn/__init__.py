"""dlzoo.nn: layers written from tensor ops, mirroring ``torch.nn`` names where torch has them."""

from .conv import Conv1d, Conv2d, Conv3d, ConvTranspose1d, ConvTranspose2d, ConvTranspose3d
from .dyt import DyT
from .factory import NORMS, create_norm, get_norm_layer
from .mode import reference_mode, use_fused
from .norms import LayerNorm, LayerNorm2d, RMSNorm

__all__ = [
    "DyT",
    "LayerNorm",
    "LayerNorm2d",
    "NORMS",
    "RMSNorm",
    "create_norm",
    "get_norm_layer",
    "reference_mode",
    "use_fused",
    "Conv1d",
    "Conv2d",
    "Conv3d",
    "ConvTranspose1d",
    "ConvTranspose2d",
    "ConvTranspose3d",
]
