"""GenerationMixin.generate on a toy causal LM, and its top-k / top-p filters against transformers.

The toy LM's logits at position p after token x are ``emb[x] + pos[p]``; its "cache" only counts tokens, so
the cached path is right only if positions continue at ``kv_caches[0].seq_len``. The GPT-2 / LLaMA tests
compare ``generate`` with transformers' ``generate`` on real models.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from dlzoo.models.language.generation import GenerationMixin, check_token_ids, top_k_filter, top_p_filter


class _CountingCache:
    def __init__(self) -> None:
        self.seq_len = 0


class ToyLM(GenerationMixin, nn.Module):
    def __init__(self, vocab_size: int = 11, max_seq_len: int = 16, seed: int = 0) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.vocab_size, self.max_seq_len = vocab_size, max_seq_len
        self.emb = nn.Parameter(torch.randn(vocab_size, vocab_size, generator=g))
        self.pos = nn.Parameter(torch.randn(max_seq_len, vocab_size, generator=g))
        self.calls: list[int] = []  # lengths of the inputs of each forward

    def new_kv_caches(self, batch_size, max_seq_len, dtype=None, device=None):
        return [_CountingCache()]

    def forward(self, input_ids, kv_caches=None):
        check_token_ids("ToyLM", input_ids, self.vocab_size)
        start = kv_caches[0].seq_len if kv_caches is not None else 0
        self.calls.append(input_ids.shape[1])
        positions = torch.arange(start, start + input_ids.shape[1])
        if kv_caches is not None:
            kv_caches[0].seq_len += input_ids.shape[1]
        return self.emb[input_ids] + self.pos[positions]  # (B, T, V)


def _greedy_loop(model: ToyLM, ids: torch.Tensor, n: int) -> torch.Tensor:
    for _ in range(n):
        ids = torch.cat([ids, model(ids)[:, -1].argmax(-1, keepdim=True)], dim=1)
    return ids


def test_greedy_cached_equals_uncached_and_a_plain_argmax_loop():
    model = ToyLM()
    ids = torch.randint(0, 11, (3, 4))
    expected = _greedy_loop(model, ids, 6)
    model.calls.clear()
    cached = model.generate(ids, max_new_tokens=6)
    assert model.calls == [4, 1, 1, 1, 1, 1]  # prefill once, then one token per step
    uncached = model.generate(ids, max_new_tokens=6, use_cache=False)
    assert torch.equal(cached, expected) and torch.equal(uncached, expected)
    assert torch.equal(model.generate(ids, max_new_tokens=0), ids)


def test_sampling_is_reproducible_under_a_seed_and_a_generator():
    model = ToyLM()
    ids = torch.randint(0, 11, (4, 2))
    kwargs = dict(max_new_tokens=10, do_sample=True, temperature=1.5, top_k=6, top_p=0.9)
    torch.manual_seed(3)
    a = model.generate(ids, **kwargs)
    torch.manual_seed(3)
    b = model.generate(ids, **kwargs, use_cache=False)
    assert torch.equal(a, b)
    c = model.generate(ids, **kwargs, generator=torch.Generator().manual_seed(5))
    d = model.generate(ids, **kwargs, generator=torch.Generator().manual_seed(5))
    assert torch.equal(c, d)
    others = [model.generate(ids, **kwargs, generator=torch.Generator().manual_seed(s)) for s in range(6, 9)]
    assert any(not torch.equal(c, o) for o in others)  # it does sample


def test_sampling_draws_follow_the_filtered_distribution():
    """top_k=1 sampling is greedy; with top_p tiny only the argmax survives as well."""
    model = ToyLM()
    ids = torch.randint(0, 11, (2, 3))
    greedy = model.generate(ids, max_new_tokens=5)
    assert torch.equal(model.generate(ids, max_new_tokens=5, do_sample=True, top_k=1), greedy)
    assert torch.equal(model.generate(ids, max_new_tokens=5, do_sample=True, top_p=1e-6), greedy)


def test_eos_pads_finished_sequences_and_stops_when_all_are_done():
    model = ToyLM(vocab_size=5, max_seq_len=16)
    with torch.no_grad():  # token 0 -> always emits 4; everything else emits 0 (position terms zero)
        model.pos.zero_()
        model.emb.zero_()
        model.emb[0, 4] = 1.0
        model.emb[1:, 0] = 1.0
    ids = torch.tensor([[0], [1]])
    # HF semantics: row 0 emits 4 (eos) first and pads with 4; row 1 emits 0, then 4; then all are done.
    out = model.generate(ids, max_new_tokens=8, eos_token_id=4)
    assert out.tolist() == [[0, 4, 4], [1, 0, 4]]
    # several eos ids: any ends a sequence, the padding is the first one (HF's pad_token_id = eos_token_id[0])
    out = model.generate(ids, max_new_tokens=8, eos_token_id=[3, 4], use_cache=False)
    assert out.tolist() == [[0, 4, 3], [1, 0, 4]]
    # without eos it runs to max_new_tokens
    assert model.generate(ids, max_new_tokens=8).shape == (2, 9)


def test_bad_inputs_give_one_line_errors():
    model = ToyLM(vocab_size=11, max_seq_len=16)
    ids = torch.zeros(1, 10, dtype=torch.long)
    cases = [
        (dict(input_ids=ids, max_new_tokens=7), ValueError,
         r"10 \+ max_new_tokens 7 = 17 exceeds the context length max_seq_len=16"),
        (dict(input_ids=torch.tensor([[3, 11]]), max_new_tokens=1), ValueError,
         r"\[0, vocab_size=11\), got 11"),
        (dict(input_ids=torch.tensor([[-1]]), max_new_tokens=1), ValueError, r"got -1"),
        (dict(input_ids=torch.zeros(1, 2), max_new_tokens=1), TypeError, "integer tensor"),
        (dict(input_ids=torch.zeros(2, dtype=torch.long), max_new_tokens=1), ValueError, r"\(B, T\)"),
        (dict(input_ids=ids, max_new_tokens=1, do_sample=True, temperature=0.0), ValueError, "temperature"),
        (dict(input_ids=ids, max_new_tokens=1, top_k=-2), ValueError, "top_k"),
        (dict(input_ids=ids, max_new_tokens=1, top_p=1.5), ValueError, "top_p"),
        (dict(input_ids=ids, max_new_tokens=1, eos_token_id=11), ValueError, "eos_token_id"),
        (dict(input_ids=ids, max_new_tokens=-1), ValueError, "max_new_tokens"),
    ]
    for kwargs, error, message in cases:
        with pytest.raises(error, match=message) as info:
            model.generate(**kwargs)
        assert "\n" not in str(info.value) and "ToyLM" in str(info.value)


def _scores(seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    scores = torch.randn(6, 40, generator=g)
    scores[0, :5] = scores[0, 5]  # ties around the cut
    scores[1] = 0.0  # a flat row
    scores[2, 7] = 30.0  # one dominant token
    return scores


@pytest.mark.parametrize("k", [1, 3, 6, 40, 100])
def test_top_k_filter_equals_transformers(k):
    logits_process = pytest.importorskip("transformers.generation.logits_process")
    scores = _scores(k)
    ours = top_k_filter(scores, k)
    theirs = logits_process.TopKLogitsWarper(top_k=k)(None, scores.clone())
    assert torch.equal(ours, theirs)
    kept = torch.isfinite(ours).sum(-1)
    assert (kept[3:] == min(k, 40)).all()  # no ties: exactly k survive


@pytest.mark.parametrize("p", [0.05, 0.3, 0.7, 0.9, 0.999, 1.0])
def test_top_p_filter_equals_transformers_and_the_nucleus_definition(p):
    scores = _scores(int(p * 1000))
    ours = top_p_filter(scores, p)
    logits_process = pytest.importorskip("transformers.generation.logits_process")
    theirs = logits_process.TopPLogitsWarper(top_p=p)(None, scores.clone())
    assert torch.equal(ours, theirs)
    # Holtzman et al.: the smallest top set of tokens whose probability mass reaches p (rows without ties)
    for row in range(2, 6):
        probs = scores[row].softmax(-1)
        order = probs.argsort(descending=True)
        mass = probs[order].cumsum(0)
        size = int((mass < p - 1e-6).sum()) + 1
        expected = torch.zeros(40, dtype=torch.bool)
        expected[order[:size] if p < 1 else order] = True  # p = 1: everything
        assert torch.equal(torch.isfinite(ours[row]), expected), (p, row)
