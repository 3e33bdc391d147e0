"""A rational tanh built from multiply/add/divide only, for fused DyT kernels.

Why: on this kind of CPU ``torch.tanh`` (and the SLEEF ``exp`` that ``torch.compile`` emits for
``sigmoid``) costs several ns per element, an order of magnitude more than the memory traffic of an
element-wise layer. A rational function is a handful of fused multiply-adds and one division, all of which
the compiler vectorises, so a compiled DyT runs at close to memory speed.

The approximation (odd, so exact symmetry and exact relative behaviour near 0):

    tanh(x) ~= x * P(x^2) / Q(x^2),   x clamped to [-CLAMP, CLAMP],
    P(u) = p0 + p1 u + ... + p4 u^4,   Q(u) = 1 + q1 u + ... + q4 u^4,

fitted here (:func:`fit_tanh_rational`, Lawson-weighted linearised least squares on the relative error,
float64) on [0, CLAMP]. Beyond CLAMP = 9, |1 - tanh(x)| < 3.1e-8, below half a float32 ulp of 1. Q >= 1
on the whole range (all coefficients positive), so the division is safe. Measured max error of the
float32 evaluation against float64 ``tanh`` over [-30, 30] and tiny |x|: about 4e-7 absolute and
relative (tested < 1e-6), vs about 3e-8 for ``torch.tanh``.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["CLAMP", "P_COEFFS", "Q_COEFFS", "fit_tanh_rational", "tanh_rational", "rational_error"]

CLAMP = 9.0
# produced by fit_tanh_rational(5, 4) (rounded to float64 repr); ascending powers of u = x^2
P_COEFFS = (0.9999999797078325, 0.13381014546075426, 0.003495572392305635, 2.0608732521028054e-05,
            1.3354040195397828e-08)
Q_COEFFS = (1.0, 0.4671433024490088, 0.02587692887910728, 0.00032856049718721293, 7.776330897043469e-07)


def tanh_rational(x: Tensor) -> Tensor:
    """tanh(x) from the rational approximation above (same shape and dtype as ``x``).

    The coefficients are written as literals (equal to :data:`P_COEFFS` / :data:`Q_COEFFS`, checked by a
    test) so that ``torch.compile(dynamic=True)`` inlines them instead of passing them as inputs.
    """
    x = x.clamp(-9.0, 9.0)  # CLAMP
    u = x * x
    p = u * 1.3354040195397828e-08 + 2.0608732521028054e-05  # Horner in u = x^2
    p = p * u + 0.003495572392305635
    p = p * u + 0.13381014546075426
    p = p * u + 0.9999999797078325
    q = u * 7.776330897043469e-07 + 0.00032856049718721293
    q = q * u + 0.02587692887910728
    q = q * u + 0.4671433024490088
    q = q * u + 1.0
    return x * p / q


def fit_tanh_rational(num_terms: int = 5, den_terms: int = 4, clamp: float = CLAMP,
                      iters: int = 60) -> tuple[list[float], list[float], float]:
    """Fit ``x * P(x^2) / Q(x^2)`` to tanh on [0, clamp] minimising the max relative error.

    Lawson's iteration on the linearised problem  x P(u_i) - tanh(x_i) Q(u_i) ~ 0  (q0 = 1), each pass
    weighted by 1 / (Q_prev * tanh) and by the previous pass's error. Returns ``(p, q, max_rel_err)``
    with the best pass's coefficients in ascending powers of u.
    """
    x = torch.cat([torch.linspace(1e-6, clamp, 20000, dtype=torch.float64),
                   torch.logspace(-6, 0, 2000, dtype=torch.float64)]).sort().values
    f, u = torch.tanh(x), x * x
    num_pows = u[:, None] ** torch.arange(num_terms, dtype=torch.float64)  # (n, num_terms)
    den_pows = u[:, None] ** torch.arange(1, den_terms + 1, dtype=torch.float64)  # (n, den_terms)
    design = torch.cat([x[:, None] * num_pows, -f[:, None] * den_pows], dim=1)
    q_prev, weight = torch.ones_like(x), torch.ones_like(x)
    best: tuple[list[float], list[float], float] | None = None
    for _ in range(iters):
        scale = weight.sqrt() / (q_prev * f)
        sol = torch.linalg.lstsq(design * scale[:, None], (f * scale)[:, None]).solution[:, 0]
        p, q = sol[:num_terms], torch.cat([sol.new_ones(1), sol[num_terms:]])
        q_prev = den_pows @ q[1:] + 1.0
        err = (x * (num_pows @ p) / q_prev - f) / f
        worst = float(err.abs().max())
        if best is None or worst < best[2]:
            best = (p.tolist(), q.tolist(), worst)
        weight = weight * err.abs()
        weight = weight / weight.sum()
    assert best is not None
    return best


def rational_error(dtype: torch.dtype = torch.float32) -> tuple[float, float]:
    """(max abs, max rel) error of :func:`tanh_rational` evaluated in ``dtype`` vs float64 tanh."""
    x = torch.cat([torch.linspace(-30, 30, 1_000_001, dtype=torch.float64),
                   torch.logspace(-30, 1, 20001, dtype=torch.float64)])
    x = torch.cat([x, -x]).to(dtype)
    ref = torch.tanh(x.double())
    err = (tanh_rational(x).double() - ref).abs()
    return float(err.max()), float((err / ref.abs().clamp_min(1e-300)).max())
