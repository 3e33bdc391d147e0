"""Task contracts every registered model meets (the whole-registry test checks them).

:class:`ClassifierMixin` is timm's classifier interface, shared by every image classifier of dlzoo:

    model.num_classes, model.num_features        # logits width, pooled-feature width
    model.forward_features(x)                    # (N, C_in, H, W) -> unpooled features
    model.forward_head(feats, pre_logits=False)  # -> logits (N, num_classes) or pooled (N, num_features)
    model.get_classifier()                       # the logits layer
    model.reset_classifier(num_classes, global_pool=None)  # new logits layer (0: none), new pooling
    model(x) == model.forward_head(model.forward_features(x))

After ``reset_classifier(0)``, ``model(x)`` returns pooled features of width ``num_features``.

Models with auxiliary training outputs (GoogLeNet's aux heads) return, in training mode, an object whose
first field is the logits and whose ``loss(criterion, target)`` method combines the terms as the paper
does; :func:`training_loss` is how the trainer (and anyone) turns any model output into the loss.

Causal language models (task ``"causal-lm"``: GPT-2, LLaMA) meet the contract of
:class:`dlzoo.models.language.generation.GenerationMixin`, which they mix in for ``generate``:

    model.vocab_size, model.max_seq_len                      # logits width, context length
    model(input_ids (B, T)) -> logits (B, T, vocab_size)     # token t sees tokens <= t only
    model(input_ids, kv_caches=caches)                       # positions start at caches[0].seq_len
    model.new_kv_caches(batch_size, max_seq_len, dtype=None, device=None) -> list[KVCache]  # per layer
    model.generate(input_ids, max_new_tokens, do_sample=False, temperature=1.0, top_k=None, top_p=None,
                   eos_token_id=None, use_cache=True, generator=None) -> (B, T + n)
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..nn.classifier import ClassifierHead, GlobalPool, check_num_classes, create_fc

__all__ = ["ClassifierMixin", "main_output", "training_loss"]


def main_output(output: object) -> Tensor:
    """The logits of a forward's output: the tensor itself, or the first field of a tuple of outputs."""
    if isinstance(output, Tensor):
        return output
    if isinstance(output, tuple) and output and isinstance(output[0], Tensor):
        return output[0]
    raise TypeError(f"expected logits or a tuple of outputs led by the logits, got {type(output).__name__}")


def training_loss(output: object, criterion, target: Tensor) -> Tensor:
    """``output.loss(criterion, target)`` when the output carries auxiliary terms, else
    ``criterion(output, target)``."""
    loss = getattr(output, "loss", None)
    return loss(criterion, target) if callable(loss) else criterion(main_output(output), target)


class ClassifierMixin:
    """timm's classifier contract (see module docstring). Mix into an ``nn.Module`` subclass.

    A model sets ``self.num_classes`` and ``self.num_features`` in ``__init__``, defines
    ``forward_features`` and ``forward_head``, and names where its head lives with two class attributes,
    so checkpoints of the reference implementation keep their keys:

    * ``classifier_name``: attribute path of the logits layer (``"fc"``, ``"head.fc"``, ``"classifier.6"``).
    * ``global_pool_name``: attribute path of its :class:`GlobalPool` (or of a :class:`ClassifierHead`),
      ``None`` when the pooling is fixed. Models with other pooling (ViT's class token) override
      :meth:`set_global_pool`.
    """

    classifier_name: str = "fc"
    global_pool_name: str | None = None

    def get_classifier(self) -> nn.Module:
        """The logits layer (an ``Identity`` when ``num_classes == 0``)."""
        return self.get_submodule(self.classifier_name)

    def set_global_pool(self, global_pool: str) -> None:
        """Switch the pooling type (``"avg"``, ``"max"``, ``"avgmax"``, ``""``); ``ValueError`` if fixed."""
        pool = self.get_submodule(self.global_pool_name) if self.global_pool_name else None
        if isinstance(pool, ClassifierHead):
            pool = pool.global_pool
        if not isinstance(pool, GlobalPool):
            raise ValueError(f"{type(self).__name__}: global pooling is fixed, cannot set global_pool="
                             f"{global_pool!r}")
        pool.set_pool_type(global_pool)

    def reset_classifier(self, num_classes: int, global_pool: str | None = None) -> None:
        """Replace the logits layer by a fresh ``Linear(num_features, num_classes)`` (``Identity`` for 0),
        on the old layer's device and dtype; optionally change the pooling first."""
        num_classes = check_num_classes(num_classes)
        if global_pool is not None:
            self.set_global_pool(global_pool)
        reference = next(iter(self.get_classifier().parameters()), None)
        if reference is None:
            reference = next(iter(self.parameters()), torch.empty(0))
        fc = create_fc(self.num_features, num_classes).to(device=reference.device, dtype=reference.dtype)
        self.init_classifier(fc)
        self.set_submodule(self.classifier_name, fc)
        self.num_classes = num_classes

    def init_classifier(self, fc: nn.Module) -> None:
        """Initialise a new logits layer (default: torch's Linear init). Models with their own head init
        (ViT's truncated normal) override this."""

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))
