"""Penultimate features of a classifier and their 2-D embeddings (PCA, t-SNE).

Penultimate features are the input of the model's logits layer (``model.get_classifier()``, timm's
contract): for a model with ``forward_head(x, pre_logits=True)`` they are exactly what that returns
(pooled, after ``fc_norm`` and head dropout). They are captured with a forward pre-hook during the same
pass that computes the logits, so models whose ``forward`` is not ``forward_head(forward_features(x))``
are handled too.

PCA (Pearson 1901; Hotelling 1933) by the SVD of the centred data ``X - mean = U S V^T``: the scores are
``U S`` restricted to the first k columns, the components the first k rows of ``V^T``, the explained
variance ``S^2 / (N - 1)``. Signs follow scikit-learn's ``svd_flip(u_based_decision=False)``: each
component's largest-magnitude loading is positive.

t-SNE (van der Maaten & Hinton, "Visualizing Data using t-SNE", JMLR 2008) is scikit-learn's
``sklearn.manifold.TSNE`` with PCA initialisation; the perplexity is capped at ``(N - 1) / 3`` for small N.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

__all__ = ["logits_and_features", "PCAResult", "pca", "tsne"]


@torch.no_grad()
def logits_and_features(model: nn.Module, x: Tensor, batch: int = 512) -> tuple[Tensor, Tensor | None]:
    """Logits (N, K) of ``model`` on ``x`` (N, ...) and the penultimate features (N, D), or None when the
    model has no ``get_classifier()`` or its head is never called on a (B, D) tensor."""
    model.eval()
    head = model.get_classifier() if hasattr(model, "get_classifier") else None
    captured: list[Tensor] = []

    def grab(_module: nn.Module, args: tuple) -> None:
        if args and isinstance(args[0], Tensor):
            captured.append(args[0].detach().float())

    handle = head.register_forward_pre_hook(grab) if isinstance(head, nn.Module) else None
    logits, feats, ok = [], [], handle is not None
    try:
        for i in range(0, len(x), batch):
            captured.clear()
            chunk = x[i : i + batch]
            logits.append(model(chunk).float())  # (B, K)
            last = captured[-1] if captured else None
            ok = ok and last is not None and last.dim() == 2 and last.shape[0] == len(chunk)
            if ok:
                feats.append(last)  # (B, D)
    finally:
        if handle is not None:
            handle.remove()
    return torch.cat(logits), (torch.cat(feats) if ok and feats else None)


@dataclass
class PCAResult:
    """``scores`` (N, k), ``components`` (k, D), ``explained_variance`` (k,) and its ratio (k,)."""

    scores: np.ndarray
    components: np.ndarray
    explained_variance: np.ndarray
    explained_variance_ratio: np.ndarray
    mean: np.ndarray


def pca(x: Tensor | np.ndarray, n_components: int = 2) -> PCAResult:
    """Principal component analysis of ``x`` (N, D) by the SVD of the centred data (float64)."""
    a = torch.as_tensor(np.asarray(x), dtype=torch.float64)
    if a.dim() != 2 or a.shape[0] < 2:
        raise ValueError(f"pca: expected data of shape (N, D) with N >= 2, got {list(a.shape)}")
    if not 1 <= n_components <= min(a.shape):
        raise ValueError(f"pca: n_components must lie in [1, {min(a.shape)}], got {n_components}")
    mean = a.mean(0)  # (D,)
    u, s, vt = torch.linalg.svd(a - mean, full_matrices=False)  # (N, r), (r,), (r, D)
    signs = torch.sign(vt[torch.arange(vt.shape[0]), vt.abs().argmax(1)])  # largest loading positive
    signs[signs == 0] = 1.0
    u, vt = u * signs, vt * signs[:, None]
    var = s**2 / (a.shape[0] - 1)  # (r,)
    k = n_components
    total = var.sum()
    ratio = var[:k] / total if total > 0 else torch.zeros(k, dtype=var.dtype)
    return PCAResult((u[:, :k] * s[:k]).numpy(), vt[:k].numpy(), var[:k].numpy(), ratio.numpy(), mean.numpy())


def tsne(x: Tensor | np.ndarray, seed: int = 0, perplexity: float = 30.0) -> np.ndarray:
    """2-D t-SNE embedding (N, 2) of ``x`` (N, D) with scikit-learn (PCA init, seeded)."""
    from sklearn.manifold import TSNE

    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] < 5:
        raise ValueError(f"tsne: expected data of shape (N, D) with N >= 5, got {list(a.shape)}")
    perp = min(float(perplexity), (a.shape[0] - 1) / 3.0)
    return TSNE(n_components=2, perplexity=perp, init="pca", random_state=seed).fit_transform(a)
