"""Spatial transformer: affine sampling grids, bilinear sampling, and the module with its localisation net.

Jaderberg, Simonyan, Zisserman, Kavukcuoglu, "Spatial Transformer Networks", NeurIPS 2015, arXiv:1506.02025.

* :func:`affine_grid` (eq. 1): for each output pixel's normalised target coordinates ``(x^t, y^t)`` in
  ``[-1, 1]``, the source coordinates ``(x^s, y^s)^T = theta (x^t, y^t, 1)^T``; ``theta`` (N, 2, 3), grid
  (N, H, W, 2) holding (x, y). ``align_corners=True`` puts -1 / 1 on the centres of the corner pixels,
  ``False`` on their outer edges (torch.nn.functional.affine_grid's convention).
* :func:`grid_sample` (eq. 5, bilinear kernel): ``V_c(p) = sum_{n,m} U_c[n, m] max(0, 1 - |x^s - m|)
  max(0, 1 - |y^s - n|)``, i.e. the four neighbours of the unnormalised source point weighted by the
  bilinear areas. ``padding_mode="zeros"``: neighbours outside the image contribute 0; ``"border"``: the
  source coordinates are clipped to the image first. Input (N, C, H_in, W_in), grid (N, H, W, 2) -> (N, C,
  H, W); differentiable w.r.t. input and grid (eq. 6-7 through autograd; the floor has zero gradient).

Both are written from tensor ops and equal torch.nn.functional's in float64, values and gradients.
:class:`SpatialTransformer` uses the torch kernels by default and these functions under
``dlzoo.reference_mode()``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .linear import Linear
from .mode import use_fused

__all__ = ["affine_grid", "grid_sample", "SpatialTransformer"]

_PADDING = ("zeros", "border")


def _base_coords(steps: int, align_corners: bool, like: Tensor) -> Tensor:
    """Normalised pixel-centre coordinates along one axis, (steps,); one pixel sits at 0 (torch's rule)."""
    if steps <= 1:
        return torch.zeros(steps, dtype=like.dtype, device=like.device)
    coords = torch.linspace(-1.0, 1.0, steps, dtype=like.dtype, device=like.device)
    return coords if align_corners else coords * (steps - 1) / steps


def affine_grid(theta: Tensor, size: list[int] | tuple[int, ...] | torch.Size, align_corners: bool = False
                ) -> Tensor:
    """Sampling grid ``(N, H, W, 2)`` of the 2-D affine maps ``theta`` (N, 2, 3) for an output ``size``
    ``(N, C, H, W)``; the last dim holds ``(x, y)`` source coordinates in ``[-1, 1]`` (eq. 1)."""
    if not torch.is_floating_point(theta) or theta.dim() != 3 or tuple(theta.shape[1:]) != (2, 3):
        raise ValueError(f"affine_grid: expected theta of shape (N, 2, 3) and a floating dtype, got "
                         f"{tuple(theta.shape)} {theta.dtype}")
    if len(size) != 4 or size[0] != theta.shape[0]:
        raise ValueError(f"affine_grid: expected size (N, C, H, W) with N = {theta.shape[0]}, "
                         f"got {tuple(size)}")
    n, _, h, w = size
    xs = _base_coords(w, align_corners, theta)  # (W,)
    ys = _base_coords(h, align_corners, theta)  # (H,)
    base = torch.stack(
        [xs.view(1, w).expand(h, w), ys.view(h, 1).expand(h, w), torch.ones_like(xs).view(1, w).expand(h, w)],
        dim=-1,
    )  # (H, W, 3): (x^t, y^t, 1)
    grid = base.reshape(1, h * w, 3) @ theta.transpose(1, 2)  # (N, H*W, 2)
    return grid.view(n, h, w, 2)


def _unnormalize(coord: Tensor, size: int, align_corners: bool) -> Tensor:
    """[-1, 1] -> pixel index space [0, size - 1] (centres) or [-0.5, size - 0.5] (edges)."""
    if align_corners:
        return (coord + 1) / 2 * (size - 1)
    return ((coord + 1) * size - 1) / 2


def grid_sample(input: Tensor, grid: Tensor, mode: str = "bilinear", padding_mode: str = "zeros",
                align_corners: bool = False) -> Tensor:
    """Bilinear sampling of ``input`` (N, C, H_in, W_in) at ``grid`` (N, H, W, 2) -> (N, C, H, W) (eq. 5)."""
    if mode != "bilinear":
        raise ValueError(f"grid_sample: only mode='bilinear' is implemented, got {mode!r}")
    if padding_mode not in _PADDING:
        raise ValueError(f"grid_sample: padding_mode must be one of {_PADDING}, got {padding_mode!r}")
    if input.dim() != 4 or grid.dim() != 4 or grid.shape[-1] != 2 or grid.shape[0] != input.shape[0]:
        raise ValueError(f"grid_sample: expected input (N, C, H, W) and grid (N, H_out, W_out, 2) with the "
                         f"same N, got {tuple(input.shape)} and {tuple(grid.shape)}")
    n, c, h_in, w_in = input.shape
    _, h, w, _ = grid.shape
    ix = _unnormalize(grid[..., 0], w_in, align_corners)  # (N, H, W)
    iy = _unnormalize(grid[..., 1], h_in, align_corners)
    if padding_mode == "border":
        ix = ix.clamp(0, w_in - 1)
        iy = iy.clamp(0, h_in - 1)
    x0, y0 = torch.floor(ix), torch.floor(iy)
    x1, y1 = x0 + 1, y0 + 1
    wx1, wy1 = ix - x0, iy - y0  # bilinear areas: weight of the right / lower neighbour
    wx0, wy0 = 1 - wx1, 1 - wy1
    flat = input.reshape(n, c, h_in * w_in)  # (N, C, H_in*W_in)

    def corner(xc: Tensor, yc: Tensor) -> Tensor:
        inside = (xc >= 0) & (xc <= w_in - 1) & (yc >= 0) & (yc <= h_in - 1)  # (N, H, W)
        index = (yc.clamp(0, h_in - 1) * w_in + xc.clamp(0, w_in - 1)).long().view(n, 1, h * w)
        values = flat.gather(2, index.expand(n, c, h * w))  # (N, C, H*W)
        return values * inside.view(n, 1, h * w).to(values.dtype)

    out = (corner(x0, y0) * (wx0 * wy0).view(n, 1, h * w) + corner(x1, y0) * (wx1 * wy0).view(n, 1, h * w)
           + corner(x0, y1) * (wx0 * wy1).view(n, 1, h * w) + corner(x1, y1) * (wx1 * wy1).view(n, 1, h * w))
    return out.view(n, c, h, w)


class SpatialTransformer(nn.Module):
    """Localisation net -> ``theta`` (N, 2, 3) -> :func:`affine_grid` -> :func:`grid_sample` (Sec. 3).

    Args:
        localization: module mapping the input (N, C, H, W) to features (N, F) (flattened if not 2-D).
        loc_features: ``F``, the width of those features; ``fc_loc`` is ``Linear(F, 6)``, initialised to the
            identity transform (zero weight, bias ``[1, 0, 0, 0, 1, 0]``; Sec. 4.1 / the authors' code).
        out_size: ``(H, W)`` of the output grid (default: the input's).
        padding_mode, align_corners: as :func:`grid_sample`.
    """

    def __init__(self, localization: nn.Module, loc_features: int, out_size: tuple[int, int] | None = None,
                 padding_mode: str = "zeros", align_corners: bool = False) -> None:
        super().__init__()
        if padding_mode not in _PADDING:
            raise ValueError(f"SpatialTransformer: padding_mode must be one of {_PADDING}, "
                             f"got {padding_mode!r}")
        self.localization = localization
        self.fc_loc = Linear(loc_features, 6)
        self.out_size = None if out_size is None else tuple(out_size)
        self.padding_mode, self.align_corners = padding_mode, align_corners
        self.reset_identity()

    def reset_identity(self) -> None:
        """theta = identity: the transformer starts as a no-op."""
        with torch.no_grad():
            self.fc_loc.weight.zero_()
            self.fc_loc.bias.copy_(torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 0.0]))

    def theta(self, x: Tensor) -> Tensor:
        """Affine parameters ``(N, 2, 3)`` predicted from ``x``."""
        return self.fc_loc(self.localization(x).flatten(1)).view(-1, 2, 3)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4:
            raise ValueError(f"SpatialTransformer: expected input (N, C, H, W), got {tuple(x.shape)}")
        theta = self.theta(x)
        size = (x.shape[0], x.shape[1], *(self.out_size or x.shape[-2:]))
        if use_fused():
            grid = nn.functional.affine_grid(theta, list(size), align_corners=self.align_corners)
            return nn.functional.grid_sample(x, grid, "bilinear", self.padding_mode, self.align_corners)
        grid = affine_grid(theta, size, align_corners=self.align_corners)
        return grid_sample(x, grid, "bilinear", self.padding_mode, self.align_corners)  # (N, C, H, W)
