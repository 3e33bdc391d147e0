"""KANLinear: a Kolmogorov-Arnold layer, one learnable B-spline function per input-output edge.

Liu, Wang, Vaidya, Ruehle, Halverson, Soljacic, Hou, Tegmark, "KAN: Kolmogorov-Arnold Networks", 2024,
arXiv:2404.19756, Eq. 2.10-2.12:

    y_o = sum_i phi_{o,i}(x_i),   phi(x) = w_b silu(x) + w_s spline(x),   spline(x) = sum_j c_j B_j(x)

``B_j`` are the degree-``k`` (``spline_order``) B-splines on a uniform grid of ``grid_size`` intervals over
``grid_range``, extended by ``k`` knots on each side (``G + k`` basis functions per input), evaluated with
the Cox-de Boor recursion

    B_{j,0}(x) = [t_j <= x < t_{j+1}],
    B_{j,p}(x) = (x - t_j) / (t_{j+p} - t_j) B_{j,p-1}(x)
               + (t_{j+p+1} - x) / (t_{j+p+1} - t_{j+1}) B_{j+1,p-1}(x).

``w_b`` is ``base_weight`` (out, in), ``c`` is ``spline_weight`` (out, in, G + k) and ``w_s`` the
``spline_scaler`` (out, in). :meth:`KANLinear.update_grid` moves the knots to the data (a mix of quantile
and uniform grids, weight ``grid_eps``, paper Sec. 2.5) and refits ``c`` by least squares so the spline
branch keeps its values on that data.

Inputs outside the current grid range (where the B-splines no longer sum to 1) raise a one-line
``ValueError``; call ``update_grid`` on representative data or widen ``grid_range`` (``check_range=False``
evaluates the bases anyway: they fall to 0 beyond the extended knots).

Shapes: ``x (*, in_features)`` -> ``(*, out_features)``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .channel_affine import check_positive_int
from .create_act import ActSpec, create_act

__all__ = ["KANLinear", "b_spline_basis"]


def b_spline_basis(x: Tensor, grid: Tensor, order: int) -> Tensor:
    """Cox-de Boor: ``x (N, in)``, knots ``grid (in, G + 2k + 1)`` -> bases ``(N, in, G + k)``."""
    x = x.unsqueeze(-1)  # (N, in, 1)
    bases = ((x >= grid[:, :-1]) & (x < grid[:, 1:])).to(x.dtype)  # (N, in, G + 2k): degree 0
    for p in range(1, order + 1):
        left = (x - grid[:, : -(p + 1)]) / (grid[:, p:-1] - grid[:, : -(p + 1)]) * bases[..., :-1]
        right = (grid[:, p + 1:] - x) / (grid[:, p + 1:] - grid[:, 1:-p]) * bases[..., 1:]
        bases = left + right  # (N, in, G + 2k - p)
    return bases


class KANLinear(nn.Module):
    """One KAN layer (see module docstring); argument names follow efficient-kan's ``KANLinear``."""

    def __init__(self, in_features: int, out_features: int, grid_size: int = 5, spline_order: int = 3,
                 scale_noise: float = 0.1, scale_base: float = 1.0, scale_spline: float = 1.0,
                 base_activation: ActSpec = "silu", grid_eps: float = 0.02,
                 grid_range: tuple[float, float] = (-1.0, 1.0), check_range: bool = True) -> None:
        super().__init__()
        name = "KANLinear"
        self.in_features = check_positive_int(name, "in_features", in_features)
        self.out_features = check_positive_int(name, "out_features", out_features)
        self.grid_size = check_positive_int(name, "grid_size", grid_size)
        self.spline_order = check_positive_int(name, "spline_order", spline_order)
        if not grid_range[0] < grid_range[1]:
            raise ValueError(f"{name}: grid_range must be (low, high) with low < high, got {grid_range}")
        self.scale_noise, self.scale_base, self.scale_spline = scale_noise, scale_base, scale_spline
        self.grid_eps, self.check_range = grid_eps, check_range
        h = (grid_range[1] - grid_range[0]) / grid_size
        steps = torch.arange(-spline_order, grid_size + spline_order + 1, dtype=torch.float32)
        knots = steps * h + grid_range[0]
        self.register_buffer("grid", knots.expand(in_features, -1).contiguous())  # (in, G + 2k + 1)
        self.base_weight = nn.Parameter(torch.empty(out_features, in_features))
        self.spline_weight = nn.Parameter(torch.empty(out_features, in_features, grid_size + spline_order))
        self.spline_scaler = nn.Parameter(torch.empty(out_features, in_features))
        self.base_activation = create_act(base_activation)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.kaiming_uniform_(self.base_weight, a=math.sqrt(5) * self.scale_base)
        with torch.no_grad():
            g = self.grid_size
            x = self.grid.T[self.spline_order: -self.spline_order]  # (G + 1, in): the interior knots
            noise = (torch.rand(g + 1, self.in_features, self.out_features) - 0.5) * self.scale_noise / g
            self.spline_weight.copy_(self.curve2coeff(x, noise))
        nn.init.kaiming_uniform_(self.spline_scaler, a=math.sqrt(5) * self.scale_spline)

    def b_splines(self, x: Tensor) -> Tensor:
        """``(N, in)`` -> ``(N, in, G + k)``."""
        return b_spline_basis(x, self.grid.to(x.dtype), self.spline_order)

    def curve2coeff(self, x: Tensor, y: Tensor) -> Tensor:
        """Least-squares coefficients ``(out, in, G + k)`` whose splines take values ``y (N, in, out)`` at
        ``x (N, in)``."""
        a = self.b_splines(x).transpose(0, 1)  # (in, N, G + k)
        sol = torch.linalg.lstsq(a, y.transpose(0, 1).to(a.dtype)).solution  # (in, G + k, out)
        return sol.permute(2, 0, 1).contiguous()

    @property
    def scaled_spline_weight(self) -> Tensor:
        return self.spline_weight * self.spline_scaler.unsqueeze(-1)  # (out, in, G + k)

    def _check(self, x: Tensor) -> None:
        if x.dim() < 1 or x.shape[-1] != self.in_features:
            raise ValueError(f"KANLinear: expected input (*, {self.in_features}), got {list(x.shape)}")
        if self.check_range:
            k = self.spline_order
            lo, hi = self.grid[:, k], self.grid[:, -k - 1]
            flat = x.detach().reshape(-1, self.in_features)
            if bool(((flat < lo) | (flat > hi)).any()):
                raise ValueError(
                    f"KANLinear: input outside the spline grid [{lo.min().item():.4g}, "
                    f"{hi.max().item():.4g}] (got [{flat.min().item():.4g}, {flat.max().item():.4g}]); "
                    "call update_grid(x) or widen "
                    "grid_range")

    def forward(self, x: Tensor) -> Tensor:
        self._check(x)
        shape = x.shape
        x = x.reshape(-1, self.in_features)  # (N, in)
        base = F.linear(self.base_activation(x), self.base_weight)  # (N, out)
        spline = F.linear(self.b_splines(x).flatten(1), self.scaled_spline_weight.flatten(1))  # (N, out)
        return (base + spline).reshape(*shape[:-1], self.out_features)

    @torch.no_grad()
    def update_grid(self, x: Tensor, margin: float = 0.01) -> None:
        """Move the knots to the data ``x (N, in)`` and refit ``spline_weight`` (values kept on ``x``)."""
        x = x.reshape(-1, self.in_features)
        n, k, g = x.shape[0], self.spline_order, self.grid_size
        bases = self.b_splines(x)  # (N, in, G + k) on the old grid
        old = torch.einsum("nic,oic->nio", bases, self.scaled_spline_weight)  # (N, in, out)
        xs = x.sort(dim=0).values
        adaptive = xs[torch.linspace(0, n - 1, g + 1, dtype=torch.float64).round().long()]  # (G + 1, in)
        step = (xs[-1] - xs[0] + 2 * margin) / g
        uniform = torch.arange(g + 1, dtype=x.dtype)[:, None] * step + xs[0] - margin
        grid = self.grid_eps * uniform + (1 - self.grid_eps) * adaptive
        ext = torch.arange(1, k + 1, dtype=x.dtype)[:, None] * step
        grid = torch.cat([grid[:1] - ext.flip(0), grid, grid[-1:] + ext])  # (G + 2k + 1, in)
        self.grid.copy_(grid.T)
        self.spline_weight.copy_(self.curve2coeff(x, old) / self.spline_scaler.unsqueeze(-1))

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"grid_size={self.grid_size}, "
                f"spline_order={self.spline_order}")
