"""dlzoo.nn: layers written from tensor ops, mirroring ``torch.nn`` names where torch has them."""

from .activations import (
    GELU,
    GLU,
    Hardsigmoid,
    Hardswish,
    LeakyReLU,
    Mish,
    QuickGELU,
    ReLU,
    ReLU6,
    Sigmoid,
    SiLU,
    Tanh,
)
from .attention import (
    AdditiveAttention,
    Attention,
    DotProductAttention,
    GroupedQueryAttention,
    KVCache,
    MultiheadAttention,
    RelativePositionBias2d,
    SparseMultiheadAttention,
    WindowAttention,
    attention_weights,
    scaled_dot_product_attention,
)
from .attention.differential import DifferentialMultiheadAttention
from .attention.hopfield import HopfieldAttention
from .attention.non_local import NonLocalAttention
from .batchnorm import BatchNorm1d, BatchNorm2d, BatchNorm3d, BatchNormChannelsLast
from .bitlinear import BitLinear
from .capsules import PrimaryCapsules, RoutingCapsules, squash
from .classifier import ClassifierHead, GlobalPool, create_fc
from .complex import ComplexAvgPool2d, ComplexConv2d, ComplexLinear, ComplexReLU, ComplexToReal, ModReLU
from .conv import Conv1d, Conv2d, Conv3d, ConvTranspose1d, ConvTranspose2d, ConvTranspose3d
from .convert import NormConversionReport, convert_norm
from .create_act import ACTIVATIONS, create_act, get_act_layer
from .create_attn import ATTENTIONS, create_attn, get_attn
from .derf import Derf
from .dyt import DyT
from .embedding import ConvStem, PatchEmbed
from .factory import NORMS, create_norm, get_norm_layer
from .ffn import GlobalResponseNormMlp, Mlp, SwiGLU
from .grn import GlobalResponseNorm
from .groupnorm import GroupNorm, GroupNormChannelsLast, InstanceNorm2d, LocalResponseNorm
from .kan import KANLinear
from .linear import Identity, Linear
from .mdn import MixtureDensityHead
from .mlp_variants import DifferentialFFN, GatedMLP, OrthoBlock, PowerMLP, SpatialGatingUnit
from .mode import reference_mode, use_fused
from .norms import LayerNorm, LayerNorm2d, RMSNorm
from .norms_extra import BandLogitNorm, BandRMS, LogitNorm, PartialRMSNorm
from .patch_merging import PatchMerging
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
from .positional import ALiBi, LearnedPositionalEmbedding, SinusoidalPositionalEncoding, alibi_slopes
from .recurrent import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell
from .regularization import Dropout, DropPath, drop_path, drop_path_rates
from .rotary import RotaryEmbedding, apply_rotary_pos_emb, rotate_half
from .shearlets import ShearletTransform
from .spatial_transformer import SpatialTransformer
from .squeeze_excite import CBAM, SqueezeExcite
from .token_embedding import Embedding
from .transformer import (
    Transformer,
    TransformerDecoder,
    TransformerDecoderLayer,
    TransformerEncoder,
    TransformerEncoderLayer,
)

__all__ = [
    "ComplexAvgPool2d",
    "ComplexConv2d",
    "ComplexLinear",
    "ComplexReLU",
    "ComplexToReal",
    "ModReLU",
    "ShearletTransform",
    "BandLogitNorm",
    "DifferentialFFN",
    "GatedMLP",
    "MixtureDensityHead",
    "OrthoBlock",
    "PowerMLP",
    "SpatialGatingUnit",
    "PrimaryCapsules",
    "RoutingCapsules",
    "squash",
    "KANLinear",
    "BitLinear",
    "DifferentialMultiheadAttention",
    "HopfieldAttention",
    "NonLocalAttention",
    "Embedding",
    "GLU",
    "Mish",
    "AdditiveAttention",
    "Transformer",
    "TransformerDecoder",
    "TransformerDecoderLayer",
    "TransformerEncoder",
    "TransformerEncoderLayer",
    "ALiBi",
    "alibi_slopes",
    "apply_rotary_pos_emb",
    "LearnedPositionalEmbedding",
    "RotaryEmbedding",
    "rotate_half",
    "SinusoidalPositionalEncoding",
    "GRU",
    "GRUCell",
    "LSTM",
    "LSTMCell",
    "RNN",
    "RNNCell",
    "ACTIVATIONS",
    "ATTENTIONS",
    "create_attn",
    "get_attn",
    "ClassifierHead",
    "create_act",
    "create_fc",
    "drop_path_rates",
    "get_act_layer",
    "GlobalPool",
    "GlobalResponseNormMlp",
    "AdaptiveAvgPool1d",
    "AdaptiveAvgPool2d",
    "AdaptiveAvgPool3d",
    "AdaptiveMaxPool1d",
    "AdaptiveMaxPool2d",
    "Attention",
    "attention_weights",
    "GroupedQueryAttention",
    "KVCache",
    "AvgPool1d",
    "AvgPool2d",
    "AvgPool3d",
    "BandRMS",
    "BatchNorm1d",
    "BatchNorm2d",
    "BatchNorm3d",
    "BatchNormChannelsLast",
    "CBAM",
    "Conv1d",
    "Conv2d",
    "Conv3d",
    "convert_norm",
    "ConvStem",
    "ConvTranspose1d",
    "ConvTranspose2d",
    "ConvTranspose3d",
    "create_norm",
    "Derf",
    "drop_path",
    "Dropout",
    "DropPath",
    "DyT",
    "GELU",
    "QuickGELU",
    "get_norm_layer",
    "GlobalResponseNorm",
    "GroupNorm",
    "GroupNormChannelsLast",
    "Hardsigmoid",
    "Hardswish",
    "Identity",
    "InstanceNorm2d",
    "LayerNorm",
    "LayerNorm2d",
    "LeakyReLU",
    "Linear",
    "LocalResponseNorm",
    "LogitNorm",
    "MaxPool1d",
    "MaxPool2d",
    "MaxPool3d",
    "Mlp",
    "MultiheadAttention",
    "NormConversionReport",
    "NORMS",
    "PartialRMSNorm",
    "PatchEmbed",
    "PatchMerging",
    "reference_mode",
    "ReLU",
    "ReLU6",
    "RMSNorm",
    "scaled_dot_product_attention",
    "Sigmoid",
    "SiLU",
    "SqueezeExcite",
    "SpatialTransformer",
    "SwiGLU",
    "Tanh",
    "use_fused",
    "WindowAttention",
    "DotProductAttention",
    "SparseMultiheadAttention",
    "RelativePositionBias2d",
]
