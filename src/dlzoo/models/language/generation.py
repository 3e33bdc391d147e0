"""Autoregressive decoding for causal language models: greedy and sampled ``generate`` with a KV cache.

Any model gets :meth:`GenerationMixin.generate` by mixing the class in and meeting the causal-LM contract
(:mod:`dlzoo.models._base`):

    model.vocab_size, model.max_seq_len                          # logits width, context length
    model(input_ids, kv_caches=None) -> logits (B, T, V)         # with caches, positions start at
                                                                 # kv_caches[0].seq_len; caches grow by T
    model.new_kv_caches(batch_size, max_seq_len, dtype=None, device=None) -> list[KVCache]  # one per layer

Decoding follows Hugging Face transformers' ``GenerationMixin._sample`` step for step, so greedy output is
identical to ``transformers``' ``generate(do_sample=False)`` on the same weights, and sampled output is
identical to theirs under the same seed:

    scores_t = logits[:, -1] (as float32)  -> / temperature -> top-k filter -> top-p filter
    next_t = argmax(scores_t)                             (greedy)
    next_t ~ Categorical(softmax(scores_t))               (sampling: torch.multinomial)

Top-k (Fan et al., "Hierarchical Neural Story Generation", 2018, arXiv:1805.04833) keeps the k highest scores
(ties with the k-th kept); top-p / nucleus sampling (Holtzman et al., "The Curious Case of Neural Text
Degeneration", 2020, arXiv:1904.09751) keeps the smallest set of highest-probability tokens whose mass
exceeds p. Filtered scores become -inf. Once a sequence emits an ``eos_token_id`` every later token is that
eos id (HF's padding when no pad id is set), and decoding stops early when every sequence has finished, so the
result is ``(B, T + n)`` with ``n <= max_new_tokens``.

With ``use_cache=True`` the caches are preallocated once for ``T + max_new_tokens`` positions; the prompt is
run once (prefill) and each step feeds one token. ``use_cache=False`` re-runs the whole sequence every step
(the reference the cached path is tested against).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

__all__ = ["GenerationMixin", "check_token_ids", "top_k_filter", "top_p_filter"]


def check_token_ids(layer: str, input_ids: Tensor, vocab_size: int, max_seq_len: int | None = None) -> None:
    """Raise a one-line ``TypeError``/``ValueError`` unless ``input_ids`` is an integer ``(B, T)`` tensor
    with ids in ``[0, vocab_size)`` and (when given) ``T <= max_seq_len``. Values are not read on meta."""
    if not isinstance(input_ids, Tensor):
        raise TypeError(f"{layer}: input_ids must be a tensor of token ids, got {type(input_ids).__name__}")
    if input_ids.dtype.is_floating_point or input_ids.dtype.is_complex or input_ids.dtype == torch.bool:
        raise TypeError(f"{layer}: input_ids must be an integer tensor of token ids, got {input_ids.dtype}")
    if input_ids.dim() != 2:
        raise ValueError(f"{layer}: expected input_ids of shape (B, T), got {list(input_ids.shape)}")
    if max_seq_len is not None and input_ids.shape[1] > max_seq_len:
        raise ValueError(f"{layer}: sequence length {input_ids.shape[1]} exceeds the context length "
                         f"max_seq_len={max_seq_len}")
    if input_ids.numel() and not input_ids.is_meta:
        low, high = int(input_ids.min()), int(input_ids.max())
        if low < 0 or high >= vocab_size:
            bad = high if high >= vocab_size else low
            raise ValueError(f"{layer}: token ids must lie in [0, vocab_size={vocab_size}), got {bad}")


def top_k_filter(scores: Tensor, top_k: int, filter_value: float = float("-inf")) -> Tensor:
    """Keep the ``top_k`` highest scores of each row (and ties with the k-th); the rest -> ``filter_value``.

    ``scores (B, V)``; equal to transformers' ``TopKLogitsWarper(top_k)``.
    """
    k = min(top_k, scores.shape[-1])
    kth = torch.topk(scores, k, dim=-1).values[..., -1:]  # (B, 1), the k-th largest score
    return scores.masked_fill(scores < kth, filter_value)


def top_p_filter(scores: Tensor, top_p: float, filter_value: float = float("-inf"),
                 min_tokens_to_keep: int = 1) -> Tensor:
    """Nucleus filter: drop the lowest-probability tokens whose cumulative probability is <= ``1 - top_p``.

    ``scores (B, V)``; equal to transformers' ``TopPLogitsWarper(top_p)``: sorted ascending, a token is
    dropped when the probability mass at or below it is ``<= 1 - p``; the ``min_tokens_to_keep`` best
    always stay.
    """
    sorted_scores, order = torch.sort(scores, dim=-1, descending=False)  # (B, V), ascending
    cumulative = sorted_scores.softmax(dim=-1).cumsum(dim=-1)  # mass of the token and every worse one
    drop_sorted = cumulative <= (1 - top_p)
    drop_sorted[..., -min_tokens_to_keep:] = False
    drop = drop_sorted.scatter(-1, order, drop_sorted)  # back to vocabulary order
    return scores.masked_fill(drop, filter_value)


def _check_sampling_args(layer: str, max_new_tokens: int, temperature: float, top_k: int | None,
                         top_p: float | None) -> None:
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or max_new_tokens < 0:
        raise ValueError(f"{layer}.generate: max_new_tokens must be a non-negative int, "
                         f"got {max_new_tokens!r}")
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not temperature > 0:
        raise ValueError(f"{layer}.generate: temperature must be a positive number, got {temperature!r}")
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 0):
        raise ValueError(f"{layer}.generate: top_k must be None or a non-negative int (0 = off), "
                         f"got {top_k!r}")
    if top_p is not None and (isinstance(top_p, bool) or not isinstance(top_p, (int, float))
                              or not 0 < top_p <= 1):
        raise ValueError(f"{layer}.generate: top_p must be None or a number in (0, 1], got {top_p!r}")


def _eos_tensor(layer: str, eos_token_id: int | Sequence[int] | None, vocab_size: int,
                device: torch.device) -> Tensor | None:
    if eos_token_id is None:
        return None
    ids = [eos_token_id] if isinstance(eos_token_id, int) else list(eos_token_id)
    valid = all(isinstance(i, int) and not isinstance(i, bool) and 0 <= i < vocab_size for i in ids)
    if not ids or not valid:
        raise ValueError(f"{layer}.generate: eos_token_id must be an id or ids in "
                         f"[0, vocab_size={vocab_size}), got {eos_token_id!r}")
    return torch.tensor(ids, dtype=torch.long, device=device)


class GenerationMixin:
    """``generate`` for causal LMs (see module docstring). Mix into an ``nn.Module`` subclass that defines
    ``vocab_size``, ``max_seq_len``, ``forward(input_ids, kv_caches=None)`` and ``new_kv_caches``."""

    vocab_size: int
    max_seq_len: int

    @torch.no_grad()
    def generate(
        self,
        input_ids: Tensor,
        max_new_tokens: int,
        do_sample: bool = False,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        eos_token_id: int | Sequence[int] | None = None,
        use_cache: bool = True,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Extend ``input_ids (B, T)`` by up to ``max_new_tokens`` tokens; returns ``(B, T + n)`` ids.

        Args:
            input_ids: prompt token ids ``(B, T)``, each in ``[0, vocab_size)``, ``T >= 1``.
            max_new_tokens: tokens to append; ``T + max_new_tokens`` must fit ``max_seq_len``.
            do_sample: sample from the filtered distribution instead of taking the argmax.
            temperature, top_k, top_p: sampling filters (HF's order: temperature, top-k, top-p); ignored when
                greedy. ``top_k`` None or 0 and ``top_p`` None or 1 mean off.
            eos_token_id: id (or ids) that end a sequence; later positions repeat the first eos id.
            use_cache: decode with preallocated KV caches (one forward of one token per step).
            generator: RNG for sampling (default: torch's global one, so ``torch.manual_seed`` fixes it).
        """
        layer = type(self).__name__
        _check_sampling_args(layer, max_new_tokens, temperature, top_k, top_p)
        check_token_ids(f"{layer}.generate", input_ids, self.vocab_size)
        batch, prompt_len = input_ids.shape
        if prompt_len == 0:
            raise ValueError(f"{layer}.generate: the prompt must hold at least one token, got shape "
                             f"{list(input_ids.shape)}")
        total = prompt_len + max_new_tokens
        if total > self.max_seq_len:
            raise ValueError(f"{layer}.generate: prompt length {prompt_len} + max_new_tokens "
                             f"{max_new_tokens} = {total} exceeds the context length "
                             f"max_seq_len={self.max_seq_len}")
        eos = _eos_tensor(layer, eos_token_id, self.vocab_size, input_ids.device)
        if max_new_tokens == 0:
            return input_ids.clone()

        out = torch.empty(batch, total, dtype=input_ids.dtype, device=input_ids.device)  # (B, T + new)
        out[:, :prompt_len] = input_ids
        unfinished = torch.ones(batch, dtype=torch.bool, device=input_ids.device)
        caches = self.new_kv_caches(batch, total, device=input_ids.device) if use_cache else None
        step_input = input_ids
        length = prompt_len
        while length < total:
            logits = self(step_input, kv_caches=caches) if use_cache else self(out[:, :length])  # (B, t, V)
            scores = logits[:, -1].float()  # (B, V); HF decodes on float32 scores
            if do_sample:
                if temperature != 1.0:
                    scores = scores / temperature
                if top_k:
                    scores = top_k_filter(scores, top_k)
                if top_p is not None and top_p < 1.0:
                    scores = top_p_filter(scores, top_p)
                next_tokens = torch.multinomial(scores.softmax(dim=-1), 1, generator=generator).squeeze(1)
            else:
                next_tokens = scores.argmax(dim=-1)  # (B,)
            next_tokens = next_tokens.to(out.dtype)
            if eos is not None:
                next_tokens = torch.where(unfinished, next_tokens, eos[0])
            out[:, length] = next_tokens
            length += 1
            step_input = out[:, length - 1:length]  # (B, 1)
            if eos is not None:
                unfinished &= ~torch.isin(next_tokens, eos)
                if not bool(unfinished.any()):
                    break
        return out[:, :length]
