"""dlzoo.nn: layers written from tensor ops, mirroring ``torch.nn`` names where torch has them."""

from .activations import GELU, Hardsigmoid, Hardswish, LeakyReLU, ReLU, ReLU6, Sigmoid, SiLU, Tanh
from .attention import Attention, MultiheadAttention, attention_weights, scaled_dot_product_attention
from .batchnorm import BatchNorm1d, BatchNorm2d, BatchNorm3d, BatchNormChannelsLast
from .conv import Conv1d, Conv2d, Conv3d, ConvTranspose1d, ConvTranspose2d, ConvTranspose3d
from .convert import NormConversionReport, convert_norm
from .derf import Derf
from .dyt import DyT
from .embedding import ConvStem, PatchEmbed
from .factory import NORMS, create_norm, get_norm_layer
from .ffn import Mlp, SwiGLU
from .groupnorm import GroupNorm, GroupNormChannelsLast, InstanceNorm2d, LocalResponseNorm
from .linear import Identity, Linear
from .grn import GlobalResponseNorm
from .mode import reference_mode, use_fused
from .norms import LayerNorm, LayerNorm2d, RMSNorm
from .norms_extra import BandRMS, LogitNorm, PartialRMSNorm
from .pooling import (
    AdaptiveAvgPool1d,
    AdaptiveAvgPool2d,
    AdaptiveAvgPool3d,
    AdaptiveMaxPool1d,
    AdaptiveMaxPool2d,
    AvgPool1d,
    AvgPool2d,
    AvgPool3d,
    MaxPool1d,
    MaxPool2d,
    MaxPool3d,
)
from .regularization import Dropout, DropPath, drop_path
from .squeeze_excite import CBAM, SqueezeExcite
from .patch_merging import PatchMerging
from .window_attention import WindowAttention

__all__ = [
    "PatchMerging",
    "WindowAttention",
    "DyT",
    "GlobalResponseNorm",
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
    "Identity",
    "Linear",
    "Dropout",
    "DropPath",
    "drop_path",
    "Mlp",
    "SwiGLU",
    "BatchNorm1d",
    "BatchNorm2d",
    "BatchNorm3d",
    "BatchNormChannelsLast",
    "GroupNorm",
    "GroupNormChannelsLast",
    "InstanceNorm2d",
    "LocalResponseNorm",
    "Attention",
    "MultiheadAttention",
    "attention_weights",
    "scaled_dot_product_attention",
    "NormConversionReport",
    "convert_norm",
    "ReLU",
    "ReLU6",
    "LeakyReLU",
    "GELU",
    "SiLU",
    "Hardswish",
    "Hardsigmoid",
    "Sigmoid",
    "Tanh",
    "MaxPool1d",
    "MaxPool2d",
    "MaxPool3d",
    "AvgPool1d",
    "AvgPool2d",
    "AvgPool3d",
    "AdaptiveAvgPool1d",
    "AdaptiveAvgPool2d",
    "AdaptiveAvgPool3d",
    "AdaptiveMaxPool1d",
    "AdaptiveMaxPool2d",
    "SqueezeExcite",
    "CBAM",
    "ConvStem",
    "PatchEmbed",
    "BandRMS",
    "Derf",
    "LogitNorm",
    "PartialRMSNorm",
]
