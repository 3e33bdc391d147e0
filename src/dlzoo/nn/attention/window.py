"""Window multi-head self-attention with relative position bias, and the shifted-window helpers.

Liu, Lin, Cao, Hu, Wei, Zhang, Lin, Guo, "Swin Transformer: Hierarchical Vision Transformer using Shifted
Windows", ICCV 2021, arXiv:2103.14030, Sec. 3.2:

    Attention(Q, K, V) = SoftMax(Q K^T / sqrt(d) + B + M) V                                         (Eq. 4)

computed independently inside each non-overlapping M x M window (M = ``window_size``, N = M*M tokens).
B in R^{N x N} is gathered from a learnable table B_hat in R^{(2M-1) x (2M-1)} per head
(``relative_position_bias_table``) by the relative offset (dy, dx) in [-M+1, M-1]^2 of every token pair
(``relative_position_index``): :class:`~dlzoo.nn.attention.relative_position.RelativePositionBias2d`,
which :class:`WindowAttention` inherits so that its keys stay the flat timm/official
``relative_position_bias_table``. For shifted windows the feature map is rolled by (-s, -s) and M is an
additive mask (-100 between tokens that came from different regions of the un-rolled map, 0 otherwise).

Shapes: :func:`window_partition` (B, H, W, C) -> (B * H/M * W/M, M, M, C); :func:`window_reverse` inverts it;
:class:`WindowAttention` (B * nW, N, C) -> (B * nW, N, C) with an optional float mask (nW, N, N). A token
whose keys are all masked with -inf gets a zero attention output (see :mod:`dlzoo.nn.attention`), never NaN.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..channel_affine import check_positive_int
from ..linear import Linear
from ..regularization import Dropout
from .multihead import scaled_dot_product_attention
from .relative_position import RelativePositionBias2d, relative_position_index

__all__ = ["WindowAttention", "window_partition", "window_reverse", "relative_position_index",
           "shifted_window_mask"]


def window_partition(x: Tensor, window_size: int) -> Tensor:
    """Split (B, H, W, C) into non-overlapping windows: (B * H/M * W/M, M, M, C), row-major over windows."""
    if x.dim() != 4 or x.shape[1] % window_size or x.shape[2] % window_size:
        raise ValueError(f"window_partition: expected (B, H, W, C) with H, W divisible by {window_size}, "
                         f"got {list(x.shape)}")
    b, h, w, c = x.shape
    x = x.view(b, h // window_size, window_size, w // window_size, window_size, c)  # (B, h', M, w', M, C)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, window_size, window_size, c)  # (B*h'*w', M, M, C)


def window_reverse(windows: Tensor, window_size: int, height: int, width: int) -> Tensor:
    """Inverse of :func:`window_partition`: (B * H/M * W/M, M, M, C) -> (B, H, W, C)."""
    c = windows.shape[-1]
    x = windows.view(-1, height // window_size, width // window_size, window_size, window_size, c)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, height, width, c)  # (B, H, W, C)


def shifted_window_mask(height: int, width: int, window_size: int, shift_size: int) -> Tensor:
    """Additive mask (nW, N, N) for attention over cyclically shifted windows (0 or -100).

    After rolling by (-s, -s), each axis splits into regions [0, L-M), [L-M, L-s), [L-s, L); tokens in one
    window that come from different regions must not attend to each other.
    """
    img = torch.zeros(1, height, width, 1)
    region = 0
    for hs in (slice(0, -window_size), slice(-window_size, -shift_size), slice(-shift_size, None)):
        for ws in (slice(0, -window_size), slice(-window_size, -shift_size), slice(-shift_size, None)):
            img[:, hs, ws, :] = region
            region += 1
    ids = window_partition(img, window_size).flatten(1)  # (nW, N): region id of each token
    diff = ids[:, None, :] - ids[:, :, None]  # (nW, N, N)
    return torch.zeros_like(diff).masked_fill(diff != 0, -100.0)


class WindowAttention(RelativePositionBias2d):
    """Window MSA with relative position bias (Swin Eq. 4; timm's ``WindowAttention`` key names).

    The bias table, its index and :meth:`relative_position_bias` come from :class:`RelativePositionBias2d`
    (inherited, not a child module, so the state_dict keys are timm's: ``relative_position_bias_table``,
    ``qkv``, ``proj``). Shapes: x (B * nW, N, C) with N = window_size^2, mask (nW, N, N) or None ->
    (B * nW, N, C).
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        window_size: int = 7,
        qkv_bias: bool = True,
        attn_drop: float = 0.0,
        proj_drop: float = 0.0,
    ) -> None:
        dim = check_positive_int("WindowAttention", "dim", dim)
        num_heads = check_positive_int("WindowAttention", "num_heads", num_heads)
        window_size = check_positive_int("WindowAttention", "window_size", window_size)
        if dim % num_heads:
            raise ValueError(f"WindowAttention: dim {dim} is not divisible by num_heads {num_heads}")
        # relative_position_bias_table ((2M-1)^2, heads), trunc-normal(.02), and the index buffer (N, N)
        super().__init__(num_heads, window_size)
        self.dim = dim
        self.head_dim = dim // num_heads
        self.window_size = window_size
        self.scale = self.head_dim ** -0.5
        self.qkv = Linear(dim, dim * 3, bias=qkv_bias)
        self.attn_drop = attn_drop
        self.proj = Linear(dim, dim)
        self.proj_drop = Dropout(proj_drop)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        n = self.window_size ** 2
        if x.dim() != 3 or x.shape[1] != n or x.shape[2] != self.dim:
            raise ValueError(f"WindowAttention: expected (B*nW, {n}, {self.dim}) input, got {list(x.shape)}")
        bw = x.shape[0]
        qkv = self.qkv(x).view(bw, n, 3, self.num_heads, self.head_dim)  # (B', N, 3, h, d)
        qkv = qkv.permute(2, 0, 3, 1, 4)  # (3, B', h, N, d)
        q, k, v = qkv.unbind(0)
        bias = self.relative_position_bias().unsqueeze(0)  # (1, heads, N, N)
        if mask is not None:
            if not torch.is_floating_point(mask):  # a bool mask added as 0/1 would be silently wrong
                raise TypeError(f"WindowAttention: mask must be an additive float mask (0 = attend, -100 or "
                                f"-inf = blocked), got dtype {mask.dtype}")
            nw = mask.shape[0] if mask.dim() == 3 else 0
            if mask.dim() != 3 or mask.shape[1:] != (n, n) or nw == 0 or bw % nw:
                raise ValueError(f"WindowAttention: mask must be (nW, {n}, {n}) with B*nW={bw} divisible "
                                 f"by nW, got {list(mask.shape)}")
            bias = bias + mask.unsqueeze(1)  # (nW, heads, N, N)
            shape = (bw // nw, nw, self.num_heads, n, self.head_dim)
            q, k, v = (t.view(shape) for t in (q, k, v))  # (B, nW, h, N, d)
        drop = self.attn_drop if self.training else 0.0
        out = scaled_dot_product_attention(q, k, v, attn_mask=bias.to(q.dtype), dropout_p=drop,
                                           scale=self.scale)
        out = out.reshape(bw, self.num_heads, n, self.head_dim).transpose(1, 2).reshape(bw, n, self.dim)
        return self.proj_drop(self.proj(out))  # (B*nW, N, C)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, window_size={self.window_size}, num_heads={self.num_heads}"
