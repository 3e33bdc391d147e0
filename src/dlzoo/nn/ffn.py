"""Position-wise feed-forward blocks of transformers (timm's names: ``fc1``, ``act``, ``fc2``).

* Mlp — the transformer FFN of Vaswani et al., "Attention Is All You Need", NeurIPS 2017,
  arXiv:1706.03762 (eq. 2), with GELU as in ViT (Dosovitskiy et al. 2021, arXiv:2010.11929):

      Mlp(x) = drop2(fc2(norm(drop1(act(fc1(x))))))

* SwiGLU — Shazeer, "GLU Variants Improve Transformer", 2020, arXiv:2002.05202 (FFN_SwiGLU):

      SwiGLU(x) = drop2(fc2(norm(drop1(Swish(fc1_g(x)) * fc1_x(x)))))

* GlobalResponseNormMlp — ConvNeXt V2's MLP (Woo et al. 2023, arXiv:2301.00808): Mlp with Global Response
  Normalization as the hidden norm (timm's key ``grn``).

Shapes: ``(*, in_features)`` -> ``(*, out_features)``; with ``use_conv=True`` the projections are 1x1
convolutions on ``(N, in_features, H, W)`` (timm's ``use_conv``, ConvNeXt's ``conv_mlp``).
"""

from __future__ import annotations

from torch import Tensor, nn

from . import grn  # noqa: F401  (registers the "grn" norm)
from .conv import Conv2d
from .create_act import ActSpec, create_act
from .factory import NormSpec, get_norm_layer
from .linear import Identity, Linear
from .regularization import Dropout

__all__ = ["Mlp", "SwiGLU", "GlobalResponseNormMlp"]


def _pair(drop: float | tuple[float, float]) -> tuple[float, float]:
    return (drop, drop) if isinstance(drop, (int, float)) else (drop[0], drop[1])


class _FeedForward(nn.Module):
    """Shared skeleton: input projection(s) ``fc1_names``, ``act``, ``drop1``, ``norm``, ``fc2``, ``drop2``.

    Subclasses define ``_hidden(x)``: ``(*, in_features)`` -> ``(*, hidden_features)`` (before ``drop1``);
    ``norm_key`` is the attribute (state-dict key) of the hidden norm.
    """

    norm_key = "norm"

    def __init__(
        self,
        fc1_names: tuple[str, ...],
        in_features: int,
        hidden_features: int | None,
        out_features: int | None,
        act_layer: ActSpec,
        norm_layer: NormSpec,
        bias: bool,
        drop: float | tuple[float, float],
        use_conv: bool = False,
    ) -> None:
        super().__init__()
        out_features = out_features or in_features
        hidden_features = hidden_features or in_features
        drop1, drop2 = _pair(drop)
        self.in_features = in_features
        self.use_conv = use_conv

        def projection(n_in: int, n_out: int) -> nn.Module:
            return Conv2d(n_in, n_out, 1, bias=bias) if use_conv else Linear(n_in, n_out, bias=bias)

        for name in fc1_names:
            self.add_module(name, projection(in_features, hidden_features))
        self.act = create_act(act_layer)
        self.drop1 = Dropout(drop1)
        make_norm = get_norm_layer(norm_layer, channels_first=use_conv) if norm_layer is not None else None
        self.add_module(self.norm_key, make_norm(hidden_features) if make_norm else Identity())
        self.fc2 = projection(hidden_features, out_features)
        self.drop2 = Dropout(drop2)

    def _hidden(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def forward(self, x: Tensor) -> Tensor:
        if self.use_conv and (x.dim() != 4 or x.shape[1] != self.in_features):
            raise ValueError(f"{type(self).__name__}: expected input (N, {self.in_features}, H, W), "
                             f"got shape {list(x.shape)}")
        if not self.use_conv and (x.dim() < 1 or x.shape[-1] != self.in_features):
            raise ValueError(
                f"{type(self).__name__}: expected input (*, {self.in_features}), got shape {list(x.shape)}"
            )
        x = self.drop1(self._hidden(x))  # (*, hidden) or (N, hidden, H, W)
        x = self.fc2(self._modules[self.norm_key](x))  # (*, out) or (N, out, H, W)
        return self.drop2(x)


class Mlp(_FeedForward):
    """Two-layer feed-forward block ``fc1 -> act -> drop -> [norm] -> fc2 -> drop`` (timm's ``Mlp``)."""

    def __init__(
        self,
        in_features: int,
        hidden_features: int | None = None,
        out_features: int | None = None,
        act_layer: ActSpec = "gelu",
        norm_layer: NormSpec = None,
        bias: bool = True,
        drop: float | tuple[float, float] = 0.0,
        use_conv: bool = False,
    ) -> None:
        super().__init__(
            ("fc1",), in_features, hidden_features, out_features, act_layer, norm_layer, bias, drop, use_conv
        )

    def _hidden(self, x: Tensor) -> Tensor:
        return self.act(self.fc1(x))


class GlobalResponseNormMlp(Mlp):
    """``fc1 -> act -> drop -> GRN -> fc2 -> drop`` (ConvNeXt V2's block MLP; timm's ``GlobalResponseNormMlp``
    keys ``fc1``, ``grn``, ``fc2``). GRN works in the MLP's layout (channels-first with ``use_conv``)."""

    norm_key = "grn"

    def __init__(
        self,
        in_features: int,
        hidden_features: int | None = None,
        out_features: int | None = None,
        act_layer: ActSpec = "gelu",
        bias: bool = True,
        drop: float | tuple[float, float] = 0.0,
        use_conv: bool = False,
    ) -> None:
        super().__init__(in_features, hidden_features, out_features, act_layer, "grn", bias, drop, use_conv)


class SwiGLU(_FeedForward):
    """Gated FFN ``fc2(Swish(fc1_g x) * fc1_x x)`` (Shazeer 2020; timm's ``SwiGLU`` key names)."""

    def __init__(
        self,
        in_features: int,
        hidden_features: int | None = None,
        out_features: int | None = None,
        act_layer: ActSpec = "silu",
        norm_layer: NormSpec = None,
        bias: bool = True,
        drop: float | tuple[float, float] = 0.0,
    ) -> None:
        super().__init__(
            ("fc1_g", "fc1_x"), in_features, hidden_features, out_features, act_layer, norm_layer, bias, drop
        )

    def _hidden(self, x: Tensor) -> Tensor:
        return self.act(self.fc1_g(x)) * self.fc1_x(x)
