"""Bernoulli restricted Boltzmann machine trained by contrastive divergence (CD-k) or persistent CD.

Smolensky, "Information processing in dynamical systems: foundations of harmony theory", 1986; CD-k:
Hinton, "Training Products of Experts by Minimizing Contrastive Divergence", Neural Computation 14(8), 2002;
PCD: Tieleman, "Training Restricted Boltzmann Machines using Approximations to the Likelihood Gradient",
ICML 2008. Binary visible ``v in {0,1}^V`` and hidden ``h in {0,1}^H``::

    E(v, h) = -b^T v - c^T h - h^T W v                     W: (H, V), b = v_bias (V,), c = h_bias (H,)
    p(h_j = 1 | v) = sigma(c_j + W_j v),     p(v_i = 1 | h) = sigma(b_i + W_:i^T h)
    F(v) = -log sum_h exp(-E(v, h)) = -b^T v - sum_j softplus(c_j + W_j v)      (free energy)
    p(v) = exp(-F(v)) / Z

The log-likelihood gradient is ``-dF(v_data)/dtheta + E_model[dF(v)/dtheta]``; CD-k estimates the model
term with ``k`` Gibbs steps started at the data, PCD with chains that persist across updates. Training
minimises ``mean F(v_data) - mean F(v_model)`` (``v_model`` detached) with :class:`dlzoo.optim.SGD`,
the update ``lr (<v h>_data - <v h>_model)`` of scikit-learn's ``BernoulliRBM`` (hidden probabilities,
not samples, in both terms). Pseudo-log-likelihood (Besag 1975): ``sum_i log p(v_i | v_-i)`` with
``log p(v_i | v_-i) = log sigma(F(v with bit i flipped) - F(v))``.

Shapes: visible ``(B, V)``; ``forward(v)`` returns the free energy ``(B,)``. Parameters ``H V + H + V``.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ...nn.channel_affine import check_positive_int
from .. import register_model

__all__ = ["RBM", "rbm"]


class RBM(nn.Module):
    """Bernoulli-Bernoulli RBM (see module docstring). ``weight ~ N(0, 0.01^2)`` (scikit-learn's init),
    biases zero."""

    def __init__(self, n_visible: int = 64, n_hidden: int = 256) -> None:
        super().__init__()
        self.n_visible = check_positive_int("RBM", "n_visible", n_visible)
        self.n_hidden = check_positive_int("RBM", "n_hidden", n_hidden)
        self.weight = nn.Parameter(torch.randn(n_hidden, n_visible) * 0.01)  # (H, V)
        self.h_bias = nn.Parameter(torch.zeros(n_hidden))  # (H,)
        self.v_bias = nn.Parameter(torch.zeros(n_visible))  # (V,)
        self.register_buffer("chain", torch.zeros(0, n_visible), persistent=False)  # PCD fantasy particles

    def check_visible(self, v: object) -> Tensor:
        if not isinstance(v, Tensor) or not v.is_floating_point():
            raise TypeError(f"RBM: expected float visible units (B, {self.n_visible}), got "
                            f"{v.dtype if isinstance(v, Tensor) else type(v).__name__}")
        if v.dim() != 2 or v.shape[1] != self.n_visible:
            raise ValueError(f"RBM: expected visible units (B, {self.n_visible}), got {tuple(v.shape)}")
        return v

    def free_energy(self, v: Tensor) -> Tensor:
        """``F(v) = -b^T v - sum_j softplus(c_j + W_j v)``, ``(B,)``."""
        v = self.check_visible(v)
        return -(v @ self.v_bias) - F.softplus(v @ self.weight.t() + self.h_bias).sum(1)

    def energy(self, v: Tensor, h: Tensor) -> Tensor:
        """``E(v, h) = -b^T v - c^T h - h^T W v``, ``(B,)``."""
        return -(v @ self.v_bias) - (h @ self.h_bias) - ((h @ self.weight) * v).sum(1)

    def forward(self, v: Tensor) -> Tensor:
        """Free energy ``(B, V) -> (B,)``."""
        return self.free_energy(v)

    def prob_h_given_v(self, v: Tensor) -> Tensor:
        return torch.sigmoid(v @ self.weight.t() + self.h_bias)  # (B, H)

    def prob_v_given_h(self, h: Tensor) -> Tensor:
        return torch.sigmoid(h @ self.weight + self.v_bias)  # (B, V)

    @torch.no_grad()
    def gibbs(self, v: Tensor, k: int = 1, generator: torch.Generator | None = None) -> Tensor:
        """``k`` steps of block Gibbs sampling ``v -> h ~ p(h|v) -> v ~ p(v|h)``; returns the last ``v``."""
        for _ in range(k):
            ph = self.prob_h_given_v(v)
            h = (torch.rand(ph.shape, generator=generator, dtype=ph.dtype, device=ph.device) < ph).to(v.dtype)
            pv = self.prob_v_given_h(h)
            v = (torch.rand(pv.shape, generator=generator, dtype=pv.dtype, device=pv.device) < pv).to(v.dtype)
        return v

    def cd_loss(self, v: Tensor, k: int = 1, persistent: bool = False,
                generator: torch.Generator | None = None) -> Tensor:
        """``mean F(v) - mean F(v_model)``: its gradient is the CD-k (or PCD) estimate of
        ``-d log p / d theta``.
        PCD chains (one per batch row) start at the first batch and continue across calls."""
        v = self.check_visible(v)
        if persistent:
            if self.chain.shape != v.shape:
                self.chain = v.detach().clone()
            start = self.chain
        else:
            start = v.detach()
        v_model = self.gibbs(start, k, generator)
        if persistent:
            self.chain = v_model
        return self.free_energy(v).mean() - self.free_energy(v_model).mean()

    def fit(self, v: Tensor, epochs: int = 10, batch_size: int = 10, lr: float = 0.1, k: int = 1,
            persistent: bool = True, seed: int = 0) -> RBM:
        """``epochs`` passes of mini-batch :class:`dlzoo.optim.SGD` on :meth:`cd_loss` (PCD by default, like
        scikit-learn's ``BernoulliRBM``). Returns ``self``."""
        from ...optim import SGD

        v = self.check_visible(v)
        check_positive_int("RBM.fit", "k", k)
        opt = SGD(self.parameters(), lr=lr)
        g = torch.Generator().manual_seed(seed)
        self.chain = v.new_zeros(0, self.n_visible)
        n = v.shape[0]
        for _ in range(epochs):
            order = torch.randperm(n, generator=g)
            for start in range(0, n - batch_size + 1, batch_size):
                opt.zero_grad()
                self.cd_loss(v[order[start:start + batch_size]], k, persistent, g).backward()
                opt.step()
        return self

    @torch.no_grad()
    def pseudo_log_likelihood(self, v: Tensor) -> Tensor:
        """Exact ``sum_i log sigma(F(v^(i)) - F(v))`` per sample, ``(B,)`` (``v^(i)``: bit ``i`` flipped)."""
        v = self.check_visible(v)
        base = self.free_energy(v)  # (B,)
        total = torch.zeros_like(base)
        for i in range(self.n_visible):
            flipped = v.clone()
            flipped[:, i] = 1 - flipped[:, i]
            total += F.logsigmoid(self.free_energy(flipped) - base)
        return total

    def extra_repr(self) -> str:
        return f"n_visible={self.n_visible}, n_hidden={self.n_hidden}"


@register_model(family="rbm", paper="Training Products of Experts by Minimizing Contrastive Divergence",
                year=2002, arxiv="Neural Computation 14(8):1771-1800", input_size=(64,),
                test_input_size=(12,), task="energy", reference_params=256 * 64 + 256 + 64,
                source="closed form: H V + H + V, V = 64 (8x8 digits), H = 256 (sklearn "
                "BernoulliRBM default)",
                test_kwargs={"n_visible": 12, "n_hidden": 5})
def rbm(**kwargs: Any) -> RBM:
    """Bernoulli RBM, 64 visible (binarised 8x8 digits), 256 hidden units."""
    return RBM(**kwargs)
