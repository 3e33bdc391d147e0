"""Rotary position embedding (RoPE), "RoFormer" (Su et al., 2021, arXiv:2104.09864), Eq. 34.

Two layouts of the feature pairs are in use:

* ``rotate_half`` (HF transformers): feature ``i`` pairs with ``i + d/2``; cos/sin are ``cat([f, f])``.
* interleaved (Meta's original LLaMA / RoFormer): feature ``2i`` pairs with ``2i + 1``; cos/sin are
  ``f.repeat_interleave(2)``.

They are the same rotation after the permutation HF's LLaMA converter applies to the q/k projection rows.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["RotaryEmbedding", "rotate_half", "rotate_interleaved", "apply_rotary_pos_emb", "rope_inv_freq"]

_SCALING_KEYS = {
    "linear": {"factor"},
    "dynamic": {"factor"},
    "llama3": {"factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings"},
}


def rope_inv_freq(head_dim: int, base: float = 10000.0, dtype: torch.dtype = torch.float64) -> Tensor:
    """``theta_i = base^(-2i/d)``, i = 0..d/2-1 (RoFormer Eq. 15)."""
    return 1.0 / torch.pow(base, torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim).to(dtype)


def _llama3_inv_freq(
    inv_freq: Tensor,
    factor: float,
    low_freq_factor: float,
    high_freq_factor: float,
    original_max_position_embeddings: int,
) -> Tensor:
    """Llama 3.1 frequency scaling ("The Llama 3 Herd of Models", 2024, arXiv:2407.21783; Meta's reference
    ``apply_scaling``): wavelengths longer than ``L/low_freq_factor`` are divided by ``factor``, shorter than
    ``L/high_freq_factor`` are kept, and the band between is a linear blend in ``L/wavelen``."""
    wavelen = 2 * math.pi / inv_freq
    low_wavelen = original_max_position_embeddings / low_freq_factor
    high_wavelen = original_max_position_embeddings / high_freq_factor
    smooth = (original_max_position_embeddings / wavelen - low_freq_factor) / (
        high_freq_factor - low_freq_factor
    )
    blended = (1 - smooth) * inv_freq / factor + smooth * inv_freq
    out = torch.where(wavelen > low_wavelen, inv_freq / factor, inv_freq)
    medium = (wavelen >= high_wavelen) & (wavelen <= low_wavelen)
    return torch.where(medium, blended, out)


def rotate_half(x: Tensor) -> Tensor:
    """``[x1, x2] -> [-x2, x1]`` on the last dim (halves)."""
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


def rotate_interleaved(x: Tensor) -> Tensor:
    """``(x0, x1, x2, x3, ...) -> (-x1, x0, -x3, x2, ...)`` on the last dim (adjacent pairs)."""
    x_even, x_odd = x[..., 0::2], x[..., 1::2]
    return torch.stack((-x_odd, x_even), dim=-1).flatten(-2)


def apply_rotary_pos_emb(
    q: Tensor, k: Tensor, cos: Tensor, sin: Tensor, unsqueeze_dim: int = 1, interleaved: bool = False
) -> tuple[Tensor, Tensor]:
    """``x * cos + rotate(x) * sin`` for q and k (RoFormer Eq. 34).

    q, k: (B, H, T, D) with the default ``unsqueeze_dim=1``; cos, sin: (B, T, D) from :class:`RotaryEmbedding`
    (built with the same ``interleaved`` layout).
    """
    if cos.shape != sin.shape:
        raise ValueError(f"apply_rotary_pos_emb: cos {tuple(cos.shape)} and sin {tuple(sin.shape)} differ")
    if q.shape[-1] != cos.shape[-1] or k.shape[-1] != cos.shape[-1]:
        raise ValueError(
            f"apply_rotary_pos_emb: q {tuple(q.shape)} / k {tuple(k.shape)} last dim must equal "
            f"cos last dim {cos.shape[-1]}"
        )
    rot = rotate_interleaved if interleaved else rotate_half
    cos, sin = cos.unsqueeze(unsqueeze_dim), sin.unsqueeze(unsqueeze_dim)
    return q * cos + rot(q) * sin, k * cos + rot(k) * sin


class RotaryEmbedding(nn.Module):
    """Rotary position embedding: ``(cos, sin)`` of shape (B, T, head_dim) for ``position_ids`` (B, T).

    Args:
        head_dim: rotated feature count (even).
        max_position_embeddings: length of the cos/sin cache (and the trained context for dynamic NTK).
        base: ``theta`` base (``rope_theta``).
        scaling: None, or a dict with ``rope_type`` in {"linear", "dynamic", "llama3"} and its keys:
            linear ``factor`` (position interpolation, Chen et al., 2023, arXiv:2306.15595:
            ``theta / factor``); dynamic ``factor`` (dynamic NTK, bloc97/emozilla 2023: for a sequence of
            length ``s > L`` the base becomes ``base * (factor*s/L - (factor-1))^(d/(d-2))``, recomputed per
            call from the current length, so unlike HF's cached version it does not depend on earlier,
            longer calls);
            llama3 ``factor, low_freq_factor, high_freq_factor, original_max_position_embeddings``.
        interleaved: produce cos/sin in Meta's interleaved layout (then call
            ``apply_rotary_pos_emb(..., interleaved=True)``).

    Buffers ``inv_freq``, ``cos_cached``, ``sin_cached`` are non-persistent, computed in float64 and stored
    in the default dtype at construction.
    """

    def __init__(
        self,
        head_dim: int,
        max_position_embeddings: int = 2048,
        base: float = 10000.0,
        scaling: dict[str, Any] | None = None,
        interleaved: bool = False,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        if isinstance(head_dim, bool) or not isinstance(head_dim, int) or head_dim <= 0 or head_dim % 2:
            raise ValueError(f"{name}: head_dim must be a positive even int, got {head_dim!r}")
        if (
            isinstance(max_position_embeddings, bool)
            or not isinstance(max_position_embeddings, int)
            or max_position_embeddings <= 0
        ):
            raise ValueError(
                f"{name}: max_position_embeddings must be a positive int, got {max_position_embeddings!r}"
            )
        if not base > 0:
            raise ValueError(f"{name}: base must be positive, got {base!r}")
        self.rope_type = "default"
        self.scaling = dict(scaling) if scaling else None
        if self.scaling is not None:
            self.rope_type = self.scaling.pop("rope_type", self.scaling.pop("type", None))
            if self.rope_type not in _SCALING_KEYS:
                raise ValueError(
                    f"{name}: scaling rope_type must be one of {sorted(_SCALING_KEYS)}, "
                    f"got {self.rope_type!r}"
                )
            missing = _SCALING_KEYS[self.rope_type] - set(self.scaling)
            if missing:
                raise ValueError(f"{name}: scaling {self.rope_type!r} is missing {sorted(missing)}")
            if not self.scaling["factor"] > 0:
                raise ValueError(f"{name}: scaling factor must be positive, got {self.scaling['factor']!r}")
        self.head_dim, self.max_position_embeddings, self.base = (
            head_dim,
            max_position_embeddings,
            float(base),
        )
        self.interleaved = interleaved
        dtype = torch.get_default_dtype()
        inv_freq = self._inv_freq(max_position_embeddings)
        self.register_buffer("inv_freq", inv_freq.to(dtype), persistent=False)
        cos, sin = self._cos_sin(torch.arange(max_position_embeddings, dtype=torch.float64), inv_freq)
        self.register_buffer("cos_cached", cos.to(dtype), persistent=False)
        self.register_buffer("sin_cached", sin.to(dtype), persistent=False)

    def _inv_freq(self, seq_len: int) -> Tensor:
        """Scaled inverse frequencies (float64) for a sequence of ``seq_len`` positions."""
        d, base, s = self.head_dim, self.base, self.scaling
        if self.rope_type == "dynamic" and seq_len > self.max_position_embeddings:
            f, L = s["factor"], self.max_position_embeddings
            base = base * ((f * seq_len / L) - (f - 1)) ** (d / (d - 2))
        inv_freq = rope_inv_freq(d, base)
        if self.rope_type == "linear":
            inv_freq = inv_freq / s["factor"]
        elif self.rope_type == "llama3":
            inv_freq = _llama3_inv_freq(inv_freq, **{k: s[k] for k in _SCALING_KEYS["llama3"]})
        return inv_freq

    def _cos_sin(self, positions: Tensor, inv_freq: Tensor) -> tuple[Tensor, Tensor]:
        freqs = positions[..., None] * inv_freq  # (..., T, D/2)
        emb = freqs.repeat_interleave(2, dim=-1) if self.interleaved else torch.cat((freqs, freqs), dim=-1)
        return emb.cos(), emb.sin()

    def forward(self, x: Tensor, position_ids: Tensor) -> tuple[Tensor, Tensor]:
        """``x`` supplies dtype/device; ``position_ids`` (B, T) or (T,) ints. Returns cos, sin (B, T, D)."""
        name = type(self).__name__
        if position_ids.dtype not in (torch.int32, torch.int64):
            raise TypeError(f"{name}: position_ids must be an integer tensor, got {position_ids.dtype}")
        if position_ids.dim() == 1:
            position_ids = position_ids[None]
        if position_ids.numel() and int(position_ids.min()) < 0:
            raise ValueError(f"{name}: position_ids must be non-negative, got min {int(position_ids.min())}")
        seq_len = int(position_ids.max()) + 1 if position_ids.numel() else 0
        if seq_len <= self.max_position_embeddings:
            cos, sin = self.cos_cached[position_ids], self.sin_cached[position_ids]
        else:  # beyond the cache: compute directly (dynamic NTK rescales the base for this length)
            inv = self._inv_freq(seq_len).to(position_ids.device)
            cos, sin = self._cos_sin(position_ids.to(torch.float64), inv)
        return cos.to(device=x.device, dtype=x.dtype), sin.to(device=x.device, dtype=x.dtype)

    def extra_repr(self) -> str:
        return (
            f"head_dim={self.head_dim}, max_position_embeddings={self.max_position_embeddings}, "
            f"base={self.base}, rope_type={self.rope_type!r}, interleaved={self.interleaved}"
        )
