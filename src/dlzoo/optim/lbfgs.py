"""L-BFGS: Liu & Nocedal, "On the Limited Memory BFGS Method for Large Scale Optimization", Mathematical
Programming 45, 1989; the two-loop recursion of Nocedal, "Updating Quasi-Newton Matrices with Limited
Storage", Math. Comp. 35, 1980 (Nocedal & Wright, "Numerical Optimization", 2006, Algorithm 7.4), with the
initial scaling H_0 = s^T y / y^T y (Eq. 7.20). Following ``torch.optim.LBFGS`` (one param group; the
state lives on the first parameter under ``func_evals``, ``n_iter``, ``d``, ``t``, ``old_dirs`` (the y_i),
``old_stps`` (the s_i), ``ro``, ``H_diag``, ``al``, ``prev_flat_grad``, ``prev_loss``). Per iteration k::

    d_k   = -H_k g_k                       (two-loop recursion over the last ``history_size`` pairs)
    t_k   = lr   (first iteration: min(1, 1 / ||g_0||_1) lr),  or a strong-Wolfe line search from there
    x_k+1 = x_k + t_k d_k
    s_k = t_k d_k,  y_k = g_k+1 - g_k      (the pair is kept only if y^T s > 1e-10: curvature condition)

``step(closure)`` runs up to ``max_iter`` iterations (``max_eval`` closure calls) and stops early on
``max |g| <= tolerance_grad``, ``max |t d| <= tolerance_change`` or ``|f_k+1 - f_k| < tolerance_change``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor
from torch.optim import Optimizer

from .base import ParamsT, value
from .line_search import strong_wolfe
from .validation import check_choice, check_hparam, check_int

__all__ = ["LBFGS"]


class LBFGS(Optimizer):
    """L-BFGS (``torch.optim.LBFGS``-compatible arguments, defaults, closure API and state keys).

    Args:
        params: the parameters (a single param group; real or complex, on one device).
        lr: step length (may be a one-element tensor). max_iter: iterations per ``step``.
        max_eval: closure evaluations per ``step`` (default ``max_iter * 5 // 4``).
        tolerance_grad, tolerance_change: termination tolerances (see the module docstring).
        history_size: number of (s, y) pairs kept. line_search_fn: ``None`` or ``"strong_wolfe"``.

    ``step(closure)`` needs a closure that zeroes the gradients, computes the loss, calls ``backward()`` and
    returns the loss; ``step`` returns the loss of the first evaluation, like torch.
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 1,
        max_iter: int = 20,
        max_eval: int | None = None,
        tolerance_grad: float = 1e-7,
        tolerance_change: float = 1e-9,
        history_size: int = 100,
        line_search_fn: str | None = None,
    ) -> None:
        check_hparam("LBFGS", "lr", lr)
        check_int("LBFGS", "max_iter", max_iter, 1)
        if max_eval is None:
            max_eval = max_iter * 5 // 4
        check_int("LBFGS", "max_eval", max_eval, 1)
        check_hparam("LBFGS", "tolerance_grad", tolerance_grad)
        check_hparam("LBFGS", "tolerance_change", tolerance_change)
        check_int("LBFGS", "history_size", history_size, 1)
        check_choice("LBFGS", "line_search_fn", line_search_fn, (None, "strong_wolfe"))
        defaults = dict(
            lr=lr,
            max_iter=max_iter,
            max_eval=max_eval,
            tolerance_grad=tolerance_grad,
            tolerance_change=tolerance_change,
            history_size=history_size,
            line_search_fn=line_search_fn,
        )
        super().__init__(params, defaults)
        if len(self.param_groups) != 1:
            raise ValueError(
                f"LBFGS: per-parameter options are not supported, got {len(self.param_groups)} param groups"
            )
        self._params: list[Tensor] = self.param_groups[0]["params"]

    # ----------------------------------------------------------------------------------------------
    # the parameters as one flat vector (complex parameters as their real view)
    def _flat_grad(self) -> Tensor:
        views = []
        for p in self._params:
            if p.grad is None:
                g = p.new_zeros(p.shape)
            else:
                g = p.grad.to_dense() if p.grad.is_sparse else p.grad
            views.append((torch.view_as_real(g) if g.is_complex() else g).reshape(-1))
        return torch.cat(views)

    def _move(self, t: float | Tensor, d: Tensor) -> None:
        """x <- x + t d."""
        offset = 0
        for p in self._params:
            p = torch.view_as_real(p) if p.is_complex() else p
            n = p.numel()
            p.add_(d[offset : offset + n].view_as(p), alpha=t)
            offset += n

    @staticmethod
    def _two_loop(
        g: Tensor, s: list[Tensor], y: list[Tensor], rho: list[Tensor], h0: Any, al: list[Any]
    ) -> Tensor:
        """d = -H g by the two-loop recursion (N&W Algorithm 7.4); ``al`` receives the alpha_i."""
        q = g.neg()
        for i in range(len(s) - 1, -1, -1):
            al[i] = s[i].dot(q) * rho[i]  # alpha_i = rho_i s_i^T q
            q.add_(y[i], alpha=-al[i])  # q -= alpha_i y_i
        r = torch.mul(q, h0)  # H_0 q
        for i in range(len(s)):
            beta = y[i].dot(r) * rho[i]  # beta = rho_i y_i^T r
            r.add_(s[i], alpha=al[i] - beta)  # r += s_i (alpha_i - beta)
        return r

    @torch.no_grad()
    def step(self, closure: Callable[[], Any]) -> Any:  # type: ignore[override]
        """Up to ``max_iter`` L-BFGS iterations; ``closure`` re-evaluates the model and returns the loss."""
        if closure is None:
            raise ValueError("LBFGS.step needs a closure that re-evaluates the model and returns the loss")
        closure = torch.enable_grad()(closure)
        group = self.param_groups[0]
        lr, max_iter, max_eval = value(group["lr"]), group["max_iter"], group["max_eval"]
        tol_grad, tol_change = group["tolerance_grad"], group["tolerance_change"]
        history_size = group["history_size"]

        state = self.state[self._params[0]]
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)
        orig_loss = closure()
        loss = float(orig_loss)
        evals = 1
        state["func_evals"] += 1
        g = self._flat_grad()
        if g.abs().max() <= tol_grad:  # already optimal
            return orig_loss

        d, t = state.get("d"), state.get("t")
        ys_hist, ss_hist, rho = state.get("old_dirs"), state.get("old_stps"), state.get("ro")
        h0, prev_g, prev_loss = state.get("H_diag"), state.get("prev_flat_grad"), state.get("prev_loss")
        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            state["n_iter"] += 1
            if state["n_iter"] == 1:  # steepest descent, empty memory
                d = g.neg()
                ys_hist, ss_hist, rho, h0 = [], [], [], 1
            else:
                y = g.sub(prev_g)
                s = d.mul(t)
                ys = y.dot(s)
                if ys > 1e-10:  # curvature condition: keep the pair (H stays positive definite)
                    if len(ys_hist) == history_size:
                        ys_hist.pop(0)
                        ss_hist.pop(0)
                        rho.pop(0)
                    ys_hist.append(y)
                    ss_hist.append(s)
                    rho.append(1.0 / ys)
                    h0 = ys / y.dot(y)  # H_0 = s^T y / y^T y
                if "al" not in state:
                    state["al"] = [None] * history_size
                d = self._two_loop(g, ss_hist, ys_hist, rho, h0, state["al"])
            prev_g = g.clone(memory_format=torch.contiguous_format) if prev_g is None else prev_g.copy_(g)
            prev_loss = loss
            t = min(1.0, 1.0 / g.abs().sum()) * lr if state["n_iter"] == 1 else lr
            gtd = g.dot(d)  # directional derivative
            if gtd > -tol_change:  # not a descent direction (any more)
                break

            n_evals = 0
            opt_cond = False
            if group["line_search_fn"] == "strong_wolfe":
                x0 = [p.clone(memory_format=torch.contiguous_format) for p in self._params]
                phi = self._directional(closure, x0, d)
                max_ls = max_eval - evals
                loss, g, t, n_evals = strong_wolfe(phi, float(t), d, loss, g, float(gtd), max_ls=max_ls)
                self._move(t, d)
                opt_cond = bool(g.abs().max() <= tol_grad)
            else:
                self._move(t, d)
                if n_iter != max_iter:  # the last iteration's loss is evaluated by the next step
                    loss = float(closure())
                    g = self._flat_grad()
                    opt_cond = bool(g.abs().max() <= tol_grad)
                    n_evals = 1
            evals += n_evals
            state["func_evals"] += n_evals
            if n_iter == max_iter or evals >= max_eval or opt_cond:
                break
            if d.mul(t).abs().max() <= tol_change or abs(loss - prev_loss) < tol_change:  # no progress
                break

        state.update(
            d=d, t=t, old_dirs=ys_hist, old_stps=ss_hist, ro=rho, H_diag=h0, prev_flat_grad=prev_g,
            prev_loss=prev_loss,
        )
        return orig_loss

    def _directional(self, closure: Callable[[], Any], x0: list[Tensor], d: Tensor) -> Callable:
        """phi(t) for the line search: loss and flat gradient at x0 + t d (parameters restored after)."""

        def phi(t: float) -> tuple[float, Tensor]:
            self._move(t, d)
            loss = float(closure())
            g = self._flat_grad()
            for p, x in zip(self._params, x0):
                p.copy_(x)
            return loss, g

        return phi
