"""The ``transformer`` model (Vaswani et al. 2017) against a pipeline around torch.nn.Transformer.

The reference: ids -> F.embedding with the model's (shared) table * sqrt(d_model) + the paper's sinusoids
(sec. 3.5, computed here) -> torch.nn.Transformer (batch_first, the model's transplanted weights, causal
target mask) -> logits = h E^T. Outputs and every gradient agree in float64; greedy ``generate`` equals an
argmax loop over that reference; the card's count equals the closed form at the paper's sizes.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import dlzoo
from dlzoo.models.sequence.transformer import TransformerSeq2Seq, transformer_params

V, D, H, FF, LE, LD = 17, 8, 2, 16, 2, 3
DT = torch.float64
pytestmark = [
    pytest.mark.filterwarnings("ignore:enable_nested_tensor is True"),
    pytest.mark.filterwarnings("ignore:Support for mismatched key_padding_mask"),
]


def _model(**kw):
    torch.manual_seed(0)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(DT)  # the sinusoid table is built in the default dtype
    try:
        args = dict(
            src_vocab_size=V,
            d_model=D,
            nhead=H,
            num_encoder_layers=LE,
            num_decoder_layers=LD,
            dim_feedforward=FF,
            dropout=0.0,
            max_len=32,
        )
        return TransformerSeq2Seq(**{**args, **kw})
    finally:
        torch.set_default_dtype(previous)


def _sinusoids(length, d):
    pos = torch.arange(length, dtype=DT)[:, None]
    i = torch.arange(0, d, 2, dtype=DT)[None, :]  # 2i
    pe = torch.zeros(length, d, dtype=DT)
    pe[:, 0::2] = torch.sin(pos / 10000 ** (i / d))
    pe[:, 1::2] = torch.cos(pos / 10000 ** (i / d))
    return pe


class _Reference:
    def __init__(self, model, norm_first=False):
        self.torch_tf = torch.nn.Transformer(
            D, H, LE, LD, FF, dropout=0.0, batch_first=True, norm_first=norm_first
        ).to(DT)
        self.torch_tf.load_state_dict(model.transformer.state_dict())
        self.table = model.src_embed.weight.detach().clone().requires_grad_(True)

    def __call__(self, src, tgt, src_pad=None):
        pe = _sinusoids(32, D)
        x = F.embedding(src, self.table) * math.sqrt(D) + pe[: src.shape[1]]
        y = F.embedding(tgt, self.table) * math.sqrt(D) + pe[: tgt.shape[1]]
        causal = torch.nn.Transformer.generate_square_subsequent_mask(tgt.shape[1], dtype=DT)
        h = self.torch_tf(
            x, y, tgt_mask=causal, src_key_padding_mask=src_pad, memory_key_padding_mask=src_pad
        )
        return h @ self.table.t()  # tied projection


SRC = torch.tensor([[3, 5, 7, 2, 9], [4, 4, 1, 0, 0]])
TGT = torch.tensor([[1, 6, 6, 8], [1, 2, 3, 16]])


@pytest.mark.parametrize("norm_first", [False, True])
def test_forward_and_gradients_equal_torch_transformer_pipeline(norm_first):
    model = _model(norm_first=norm_first).train()
    ref = _Reference(model, norm_first)
    pad = torch.tensor([[False] * 5, [False, False, False, True, True]])
    out = model(SRC, TGT, src_lengths=[5, 3])
    expected = ref(SRC, TGT, pad)
    torch.testing.assert_close(out, expected, rtol=1e-10, atol=1e-10)
    g = torch.randn(out.shape, dtype=DT)
    out.backward(g)
    expected.backward(g)
    torch.testing.assert_close(model.src_embed.weight.grad, ref.table.grad, rtol=1e-10, atol=1e-10)
    for name, p in ref.torch_tf.named_parameters():
        torch.testing.assert_close(model.transformer.get_parameter(name).grad, p.grad, rtol=1e-10, atol=1e-10)


def _greedy_reference(ref, src, steps, bos, eos=None):
    """Step-by-step argmax over the reference pipeline; finished rows repeat eos."""
    out = [[bos] for _ in range(src.shape[0])]
    for _ in range(steps):
        logits = ref(src, torch.tensor(out))[:, -1]
        for b, row in enumerate(out):
            finished = eos is not None and row[-1] == eos and len(row) > 1
            row.append(eos if finished else int(logits[b].argmax()))
        if eos is not None and all(row[-1] == eos for row in out):
            break
    return torch.tensor(out)


def test_generate_equals_reference_argmax_loop_with_and_without_eos():
    model = _model(dropout=0.1).eval()  # eval: dropout off
    ref = _Reference(model)
    src = torch.tensor([[3, 5, 7, 2, 9], [4, 4, 1, 11, 13], [16, 0, 2, 2, 5]])
    with torch.no_grad():
        expected = _greedy_reference(ref, src, 6, bos=1)
        got = model.generate(src, max_new_tokens=6, bos_token_id=1)
        assert torch.equal(got, expected) and got.shape == (3, 7)
        eos = int(expected[0, 3])  # row 0 emits this token by step 3, so it finishes early
        expected_eos = _greedy_reference(ref, src, 6, bos=1, eos=eos)
        got_eos = model.generate(src, max_new_tokens=6, bos_token_id=1, eos_token_id=eos)
    assert torch.equal(got_eos, expected_eos)
    assert (got_eos[0, 4:] == eos).all()
    assert model.generate(src, max_new_tokens=0, bos_token_id=1).shape == (3, 1)


def test_parameter_count_closed_form_and_card():
    d, ff, v = 512, 2048, 37000
    encoder_layer = (3 * d * d + 3 * d) + (d * d + d) + (d * ff + ff) + (ff * d + d) + 2 * (2 * d)
    decoder_layer = 2 * (4 * d * d + 4 * d) + (d * ff + ff) + (ff * d + d) + 3 * (2 * d)
    base = v * d + 6 * encoder_layer + 6 * decoder_layer + 2 * (2 * d)
    assert base == transformer_params() == dlzoo.model_info("transformer").reference_params == 63_084_544
    assert dlzoo.model_info("transformer_big").reference_params == transformer_params(d=1024, ff=4096)
    small = _model()
    assert sum(p.numel() for p in small.parameters()) == transformer_params(V, D, FF, LE, LD)


def test_shared_and_tied_weights_and_untied_options():
    model = _model()
    assert model.src_embed.weight is model.tgt_embed.weight is model.lm_head.weight
    assert torch.allclose(model.src_embed.weight.std(), torch.tensor(D**-0.5, dtype=DT), rtol=0.3)
    two = _model(tgt_vocab_size=11, share_embeddings=False)
    assert two.lm_head.weight is two.tgt_embed.weight and two.src_embed.weight is not two.tgt_embed.weight
    assert two(SRC, TGT.clamp(max=10)).shape == (2, 4, 11)
    untied = _model(tie_word_embeddings=False)
    assert untied.lm_head.weight is not untied.tgt_embed.weight
    count = sum(p.numel() for p in untied.parameters())
    assert count == transformer_params(V, D, FF, LE, LD) + V * D


def test_padding_from_lengths_mask_or_pad_token_agree():
    model = _model(pad_token_id=0).eval()
    src = torch.tensor([[3, 5, 7, 2, 9], [4, 4, 1, 0, 0]])
    mask = src == 0
    with torch.no_grad():
        by_token = model(src, TGT)
        by_mask = model(src, TGT, src_key_padding_mask=mask)
        by_lengths = model(src, TGT, src_lengths=torch.tensor([5, 3]))
        changed = src.clone()
        changed[1, 3:] = 0
        assert torch.equal(model(changed, TGT), by_token)
    torch.testing.assert_close(by_mask, by_token, rtol=0, atol=0)
    torch.testing.assert_close(by_lengths, by_token, rtol=0, atol=0)
    assert (model.src_embed.weight[0] == 0).all()


def test_decoder_is_causal():
    model = _model().eval()
    changed = TGT.clone()
    changed[:, -1] = 5
    with torch.no_grad():
        torch.testing.assert_close(model(SRC, changed)[:, :-1], model(SRC, TGT)[:, :-1], rtol=0, atol=0)


def test_norm_layer_dyt_swaps_every_norm():
    model = _model(norm_layer="dyt")
    norms = [m for m in model.modules() if type(m).__name__ == "DyT"]
    assert len(norms) == 2 * LE + 3 * LD + 2
    assert model(SRC, TGT).shape == (2, 4, V)


def test_bad_inputs_give_clear_errors():
    model = _model()
    with pytest.raises(ValueError, match=r"token ids must lie in \[0, vocab_size=17\)"):
        model(SRC, TGT + V)
    with pytest.raises(ValueError, match="exceeds the context length"):
        model(torch.zeros(1, 33, dtype=torch.long), TGT[:1])
    with pytest.raises(ValueError, match="batch sizes differ"):
        model(SRC, TGT[:1])
    with pytest.raises(TypeError, match="integer tensor"):
        model(SRC.float(), TGT)
    with pytest.raises(ValueError, match="src_lengths or src_key_padding_mask, not both"):
        model(SRC, TGT, src_lengths=[5, 3], src_key_padding_mask=SRC == 0)
    with pytest.raises(ValueError, match="src_key_padding_mask must have the shape"):
        model(SRC, TGT, src_key_padding_mask=torch.zeros(2, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="share_embeddings=True needs one vocabulary"):
        TransformerSeq2Seq(src_vocab_size=10, tgt_vocab_size=12, d_model=8, nhead=2)
    with pytest.raises(ValueError, match="bos_token_id must be an id"):
        model.generate(SRC, 3, bos_token_id=V)
    with pytest.raises(ValueError, match="max_new_tokens must be an int"):
        model.generate(SRC, -1, bos_token_id=1)
    with pytest.raises(ValueError, match="exceeds max_len"):
        model.generate(SRC, 40, bos_token_id=1)
