"""Echo state network: a fixed random reservoir and a linear readout fitted in closed form.

Jaeger, "The 'echo state' approach to analysing and training recurrent neural networks", GMD Report 148,
2001; leaky-integrator reservoir of Jaeger, Lukosevicius, Popovici, Siewert, "Optimization and applications
of echo state networks with leaky-integrator neurons", Neural Networks 20(3), 2007:

    x_t = (1 - a) x_{t-1} + a tanh(W_in u_t + W x_{t-1} + b)       (reservoir, fixed)
    y_t = W_out x_t + b_out                                          (readout, learned)

``W`` is a sparse random matrix (a fraction ``sparsity`` of its entries zero, the rest ~ U(-1, 1)) rescaled
so its spectral radius (largest |eigenvalue|) is ``spectral_radius``; ``W_in ~ input_scaling * U(-1, 1)``;
``b ~ bias_scaling * U(-1, 1)``; ``a`` = ``leak_rate``. The reservoir tensors are buffers (drawn from
``seed``, so the same arguments give the same reservoir); only the readout ``Linear`` is a parameter.

:meth:`EchoStateNetwork.fit` sets the readout by ridge regression in closed form on the collected states,
with an unpenalised intercept (scikit-learn's ``Ridge(alpha=ridge, fit_intercept=True)``):

    W_out = (Y_c^T X_c) (X_c^T X_c + ridge I)^{-1},   b_out = mean(Y) - W_out mean(X)

with ``X_c``, ``Y_c`` the centred states and targets. Shapes: input ``(B, T, F)``, states ``(B, T, N)``,
output ``(B, T, out_features)``. Parameter count: ``(N + 1) * out_features``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from ...nn import Linear
from ...nn.channel_affine import check_positive_int
from .. import register_model

__all__ = ["EchoStateNetwork", "echo_state_network"]


class EchoStateNetwork(nn.Module):
    """Leaky echo state network with a ridge-regression readout (see module docstring); task
    ``sequence-regression``: ``(B, T, F) -> (B, T, out_features)``."""

    def __init__(
        self,
        in_features: int = 1,
        reservoir_size: int = 200,
        out_features: int = 1,
        spectral_radius: float = 0.9,
        leak_rate: float = 1.0,
        input_scaling: float = 1.0,
        sparsity: float = 0.9,
        bias_scaling: float = 0.0,
        seed: int = 0,
    ) -> None:
        super().__init__()
        name = "EchoStateNetwork"
        for arg, v in (
            ("in_features", in_features),
            ("reservoir_size", reservoir_size),
            ("out_features", out_features),
        ):
            check_positive_int(name, arg, v)
        if not spectral_radius > 0:
            raise ValueError(f"{name}: spectral_radius must be > 0, got {spectral_radius!r}")
        if not 0 < leak_rate <= 1:
            raise ValueError(f"{name}: leak_rate must be in (0, 1], got {leak_rate!r}")
        if not 0 <= sparsity < 1:
            raise ValueError(
                f"{name}: sparsity (fraction of zero reservoir weights) must be in [0, 1), got {sparsity!r}"
            )
        self.in_features, self.reservoir_size, self.out_features = in_features, reservoir_size, out_features
        self.spectral_radius, self.leak_rate, self.sparsity = (
            float(spectral_radius),
            float(leak_rate),
            sparsity,
        )
        self.input_scaling, self.bias_scaling = float(input_scaling), float(bias_scaling)
        w_in, w, b = self._draw(seed)
        target = torch.empty(0).device  # the ambient device (meta under `with torch.device("meta")`)
        self.register_buffer("weight_ih", w_in.to(target))  # (N, F)
        self.register_buffer("weight_hh", w.to(target))  # (N, N)
        self.register_buffer("bias", b.to(target))  # (N,)
        self.readout = Linear(reservoir_size, out_features)

    def _draw(self, seed: int) -> tuple[Tensor, Tensor, Tensor]:
        """The reservoir, drawn on the CPU in float64 and stored in the default dtype."""
        g = torch.Generator().manual_seed(seed)
        n, kw = self.reservoir_size, {"generator": g, "device": "cpu", "dtype": torch.float64}
        w_in = self.input_scaling * (2 * torch.rand(n, self.in_features, **kw) - 1)
        w = (2 * torch.rand(n, n, **kw) - 1) * (torch.rand(n, n, **kw) >= self.sparsity)
        radius = torch.linalg.eigvals(w).abs().max()
        if radius == 0:
            raise ValueError(
                f"EchoStateNetwork: the drawn reservoir is nilpotent (sparsity {self.sparsity} "
                f"too high for reservoir_size {n}); lower sparsity or change seed"
            )
        w = w * (self.spectral_radius / radius)
        b = self.bias_scaling * (2 * torch.rand(n, **kw) - 1)
        dtype = torch.get_default_dtype()
        return w_in.to(dtype), w.to(dtype), b.to(dtype)

    def reservoir_states(self, x: Tensor, state: Tensor | None = None) -> Tensor:
        """``(B, T, F) -> (B, T, N)``: ``x_t = (1 - a) x_{t-1} + a tanh(W_in u_t + W x_{t-1} + b)``."""
        if x.dim() != 3 or x.shape[-1] != self.in_features:
            raise ValueError(
                f"EchoStateNetwork: expected input (B, T, {self.in_features}), got {tuple(x.shape)}"
            )
        h = x.new_zeros(x.shape[0], self.reservoir_size) if state is None else state  # (B, N)
        drive = x @ self.weight_ih.t() + self.bias  # (B, T, N), the input part of every step at once
        a = self.leak_rate
        states = []
        for t in range(x.shape[1]):
            h = (1 - a) * h + a * torch.tanh(drive[:, t] + h @ self.weight_hh.t())
            states.append(h)
        return torch.stack(states, 1)  # (B, T, N)

    def forward(self, x: Tensor) -> Tensor:
        """``(B, T, F) -> (B, T, out_features)``."""
        return self.readout(self.reservoir_states(x))

    @torch.no_grad()
    def fit(self, x: Tensor, y: Tensor, ridge: float = 1e-6, washout: int = 0) -> EchoStateNetwork:
        """Fit the readout on inputs ``x (B, T, F)`` and targets ``y (B, T, out_features)`` by ridge
        regression (closed form, see module docstring), skipping the first ``washout`` steps of each
        sequence (the reservoir's transient). Returns ``self``."""
        name = "EchoStateNetwork.fit"
        if y.dim() != 3 or tuple(y.shape) != (*x.shape[:2], self.out_features):
            raise ValueError(
                f"{name}: expected targets {(*x.shape[:2], self.out_features)}, got {tuple(y.shape)}"
            )
        if not ridge >= 0:
            raise ValueError(f"{name}: ridge must be >= 0, got {ridge!r}")
        if not 0 <= washout < x.shape[1]:
            raise ValueError(f"{name}: washout must be in [0, T={x.shape[1]}), got {washout!r}")
        states = self.reservoir_states(x)[:, washout:].reshape(-1, self.reservoir_size).double()  # (M, N)
        targets = y[:, washout:].reshape(-1, self.out_features).double()  # (M, out)
        x_mean, y_mean = states.mean(0), targets.mean(0)
        xc, yc = states - x_mean, targets - y_mean
        gram = xc.t() @ xc + ridge * torch.eye(self.reservoir_size, dtype=torch.float64, device=xc.device)
        w_out = torch.linalg.solve(gram, xc.t() @ yc).t()  # (out, N)
        b_out = y_mean - w_out @ x_mean  # (out,)
        self.readout.weight.copy_(w_out)
        self.readout.bias.copy_(b_out)
        return self

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, reservoir_size={self.reservoir_size}, "
            f"out_features={self.out_features}, spectral_radius={self.spectral_radius}, "
            f"leak_rate={self.leak_rate}, sparsity={self.sparsity}"
        )


@register_model(
    family="echo_state",
    paper="The 'echo state' approach to analysing and training recurrent neural networks",
    year=2001,
    arxiv="GMD Report 148",
    input_size=(100, 1),
    test_input_size=(12, 1),
    task="sequence-regression",
    reference_params=(200 + 1) * 1,
    source="closed form: only the readout Linear(200, 1) is a parameter, (N + 1) * out",
    test_kwargs={"reservoir_size": 20},
)
def echo_state_network(**kwargs: Any) -> EchoStateNetwork:
    """200-unit reservoir (spectral radius 0.9, 90% sparse), 1 input, 1 output."""
    return EchoStateNetwork(**kwargs)
