"""dlzoo.nn Transformer family against torch.nn (same weights via state_dict, float64, outputs and gradients).

torch.nn.TransformerEncoderLayer / DecoderLayer / Encoder / Decoder / Transformer are the references; train
mode uses dropout 0 so both sides are deterministic; eval mode keeps dropout 0.1 (it must be ignored).
"""

from __future__ import annotations

import functools
import itertools

import pytest
import torch
import torch.nn.functional as F

import dlzoo
from dlzoo.nn import (
    DyT,
    Transformer,
    TransformerDecoder,
    TransformerDecoderLayer,
    TransformerEncoder,
    TransformerEncoderLayer,
)

pytestmark = [
    pytest.mark.filterwarnings("ignore:enable_nested_tensor is True"),
    pytest.mark.filterwarnings("ignore:Support for mismatched key_padding_mask"),
]

D, H, FF = 8, 2, 16
S, T, N = 5, 4, 3
DT = torch.float64


def _seq(n, batch_first, requires_grad=True, batched=True):
    shape = ((N, n, D) if batch_first else (n, N, D)) if batched else (n, D)
    return torch.randn(shape, dtype=DT, requires_grad=requires_grad)


def _pair(ours_cls, ref_cls, *args, **kwargs):
    ref = ref_cls(*args, **kwargs).to(DT)
    ours = ours_cls(*args, **kwargs).to(DT)
    missing, unexpected = ours.load_state_dict(ref.state_dict(), strict=True)
    assert not missing and not unexpected
    return ours, ref


def _run(module, call, tensors):
    """Output of ``call(module, *tensors)`` and the gradients of (tensors, params) for a fixed cotangent."""
    xs = [t.detach().clone().requires_grad_(True) for t in tensors]
    out = call(module, *xs)
    g = torch.linspace(-1, 1, out.numel(), dtype=out.dtype).reshape(out.shape)
    params = [p for _, p in module.named_parameters()]
    grads = torch.autograd.grad(out, xs + params, g)
    return out.detach(), grads


def _assert_same(ours, ref, call, tensors, tol=1e-10):
    out_o, g_o = _run(ours, call, tensors)
    out_r, g_r = _run(ref, call, tensors)
    torch.testing.assert_close(out_o, out_r, rtol=tol, atol=tol)
    assert len(g_o) == len(g_r)
    for a, b in zip(g_o, g_r):
        torch.testing.assert_close(a, b, rtol=tol, atol=tol)


def _masks(kind, L, Sk, batch, dtype=DT):
    """(attn_mask, key_padding_mask) in torch MHA's convention (True / -inf = blocked)."""
    g = torch.Generator().manual_seed(1)
    pad = torch.zeros(batch, Sk, dtype=torch.bool)
    pad[0, -2:] = True
    pad[-1, -1] = True
    if kind == "none":
        return None, None
    if kind == "causal":
        return torch.nn.Transformer.generate_square_subsequent_mask(L, dtype=dtype), None
    if kind == "bool_attn":
        m = torch.rand(L, Sk, generator=g) > 0.6
        m[:, 0] = False  # every query keeps one key
        return m, None
    if kind == "float_attn":
        return torch.randn(L, Sk, generator=g, dtype=dtype), None
    if kind == "bool_pad":
        return None, pad
    if kind == "float_pad":
        return None, torch.zeros(batch, Sk, dtype=dtype).masked_fill(pad, float("-inf"))
    if kind == "causal_and_pad":
        return torch.ones(L, Sk, dtype=torch.bool).triu(1), pad
    raise ValueError(kind)


MASKS = ["none", "causal", "bool_attn", "float_attn", "bool_pad", "float_pad", "causal_and_pad"]
LAYOUTS = list(itertools.product([False, True], [False, True]))  # (norm_first, batch_first)


@pytest.mark.parametrize("norm_first,batch_first", LAYOUTS)
@pytest.mark.parametrize("mask", MASKS)
def test_encoder_layer_matches_torch(norm_first, batch_first, mask):
    torch.manual_seed(0)
    ours, ref = _pair(
        TransformerEncoderLayer,
        torch.nn.TransformerEncoderLayer,
        D,
        H,
        FF,
        dropout=0.0,
        batch_first=batch_first,
        norm_first=norm_first,
    )
    attn_mask, kpm = _masks(mask, S, S, N)
    src = _seq(S, batch_first)

    def call(m, x):
        return m(x, src_mask=attn_mask, src_key_padding_mask=kpm)

    for training in (True, False):
        ours.train(training)
        ref.train(training)
        _assert_same(ours, ref, call, [src])


@pytest.mark.parametrize("norm_first,batch_first", LAYOUTS)
@pytest.mark.parametrize("mask", ["none", "causal", "bool_attn", "float_pad", "causal_and_pad"])
def test_decoder_layer_matches_torch(norm_first, batch_first, mask):
    torch.manual_seed(0)
    ours, ref = _pair(
        TransformerDecoderLayer,
        torch.nn.TransformerDecoderLayer,
        D,
        H,
        FF,
        dropout=0.0,
        batch_first=batch_first,
        norm_first=norm_first,
    )
    tgt_mask, tgt_kpm = _masks(mask, T, T, N)
    mem_mask, mem_kpm = _masks(
        {"causal": "float_attn", "causal_and_pad": "bool_pad"}.get(mask, mask), T, S, N
    )
    tgt, memory = _seq(T, batch_first), _seq(S, batch_first)

    def call(m, t, mem):
        return m(
            t,
            mem,
            tgt_mask=tgt_mask,
            memory_mask=mem_mask,
            tgt_key_padding_mask=tgt_kpm,
            memory_key_padding_mask=mem_kpm,
        )

    _assert_same(ours, ref, call, [tgt, memory])


@pytest.mark.parametrize("norm_first,batch_first", LAYOUTS)
def test_stacks_match_torch_with_final_norm(norm_first, batch_first):
    torch.manual_seed(0)
    kw = dict(dropout=0.0, batch_first=batch_first, norm_first=norm_first)
    ref_enc = torch.nn.TransformerEncoder(
        torch.nn.TransformerEncoderLayer(D, H, FF, **kw), 2, torch.nn.LayerNorm(D), enable_nested_tensor=False
    ).to(DT)
    ref_dec = torch.nn.TransformerDecoder(
        torch.nn.TransformerDecoderLayer(D, H, FF, **kw), 2, torch.nn.LayerNorm(D)
    ).to(DT)
    enc = TransformerEncoder(TransformerEncoderLayer(D, H, FF, **kw), 2, dlzoo.nn.LayerNorm(D)).to(DT)
    dec = TransformerDecoder(TransformerDecoderLayer(D, H, FF, **kw), 2, dlzoo.nn.LayerNorm(D)).to(DT)
    enc.load_state_dict(ref_enc.state_dict())
    dec.load_state_dict(ref_dec.state_dict())
    _, kpm = _masks("bool_pad", S, S, N)
    causal = torch.nn.Transformer.generate_square_subsequent_mask(T, dtype=DT)
    src, tgt = _seq(S, batch_first), _seq(T, batch_first)
    _assert_same(enc, ref_enc, lambda m, x: m(x, src_key_padding_mask=kpm), [src])
    memory = ref_enc(src, src_key_padding_mask=kpm).detach()
    _assert_same(
        dec, ref_dec, lambda m, t, mem: m(t, mem, tgt_mask=causal, memory_key_padding_mask=kpm), [tgt, memory]
    )


@pytest.mark.parametrize("norm_first,batch_first", LAYOUTS)
@pytest.mark.parametrize("training", [True, False])
def test_full_transformer_matches_torch(norm_first, batch_first, training):
    torch.manual_seed(0)
    dropout = 0.0 if training else 0.1  # eval must ignore dropout
    ours, ref = _pair(
        Transformer,
        torch.nn.Transformer,
        D,
        H,
        2,
        2,
        FF,
        dropout,
        batch_first=batch_first,
        norm_first=norm_first,
    )
    ours.train(training)
    ref.train(training)
    src_kpm = _masks("bool_pad", S, S, N)[1]
    tgt_kpm = torch.zeros(N, T, dtype=torch.bool)
    tgt_kpm[1, -1] = True
    causal = Transformer.generate_square_subsequent_mask(T, dtype=DT)
    src, tgt = _seq(S, batch_first), _seq(T, batch_first)

    def call(m, s, t):
        return m(
            s,
            t,
            tgt_mask=causal,
            src_key_padding_mask=src_kpm,
            tgt_key_padding_mask=tgt_kpm,
            memory_key_padding_mask=src_kpm,
        )

    _assert_same(ours, ref, call, [src, tgt])


def test_same_seed_gives_torch_init_and_keys():
    for build in (
        lambda m: m.Transformer(D, H, 2, 3, FF),
        lambda m: m.TransformerEncoderLayer(D, H, FF),
        lambda m: m.TransformerDecoderLayer(D, H, FF, bias=False),
    ):
        torch.manual_seed(3)
        ref = build(torch.nn)
        torch.manual_seed(3)
        ours = build(dlzoo.nn)
        sd_r, sd_o = ref.state_dict(), ours.state_dict()
        assert list(sd_o) == list(sd_r)
        for k in sd_r:
            assert torch.equal(sd_o[k], sd_r[k]), k


def test_unbatched_bias_false_and_gelu_match_torch():
    torch.manual_seed(0)
    ours, ref = _pair(
        Transformer, torch.nn.Transformer, D, H, 1, 2, FF, 0.0, "gelu", bias=False, layer_norm_eps=1e-3
    )
    ours.train()
    ref.train()
    causal = Transformer.generate_square_subsequent_mask(T, dtype=DT)
    src_kpm = torch.zeros(S, dtype=torch.bool)
    src_kpm[-1] = True
    _assert_same(
        ours,
        ref,
        lambda m, s, t: m(s, t, tgt_mask=causal, src_key_padding_mask=src_kpm),
        [_seq(S, False, batched=False), _seq(T, False, batched=False)],
    )


@pytest.mark.parametrize(
    "activation",
    ["gelu", F.gelu, torch.nn.GELU(), dlzoo.nn.GELU, functools.partial(dlzoo.nn.GELU, approximate="none")],
)
def test_activation_forms_match_torch_gelu(activation):
    torch.manual_seed(0)
    ref = torch.nn.TransformerEncoderLayer(D, H, FF, 0.0, "gelu").to(DT)
    ours = TransformerEncoderLayer(D, H, FF, 0.0, activation).to(DT)
    ours.load_state_dict(ref.state_dict())
    _assert_same(ours, ref, lambda m, x: m(x), [_seq(S, False)])


def test_causal_hint_and_detection():
    """A causal mask is detected (tgt_is_causal=None) and is_causal=True without a mask builds one."""
    torch.manual_seed(0)
    ref = torch.nn.TransformerEncoder(
        torch.nn.TransformerEncoderLayer(D, H, FF, 0.0), 2, enable_nested_tensor=False
    ).to(DT)
    ours = TransformerEncoder(TransformerEncoderLayer(D, H, FF, 0.0), 2).to(DT)
    ours.load_state_dict(ref.state_dict())
    src = _seq(S, False)
    causal = Transformer.generate_square_subsequent_mask(S, dtype=DT)
    _assert_same(ours, ref, lambda m, x: m(x, mask=causal), [src])
    torch.testing.assert_close(ours(src, is_causal=True), ref(src, mask=causal), rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(
        Transformer.generate_square_subsequent_mask(6),
        torch.nn.Transformer.generate_square_subsequent_mask(6),
        rtol=0,
        atol=0,
    )


def test_inference_matches_torch_fast_path(monkeypatch):
    """torch's eval/no-grad path runs its fused encoder-layer kernel; our output equals it."""
    calls = []
    fused = torch._transformer_encoder_layer_fwd
    monkeypatch.setattr(
        torch, "_transformer_encoder_layer_fwd", lambda *a, **k: calls.append(1) or fused(*a, **k)
    )
    torch.manual_seed(0)
    ours, ref = _pair(Transformer, torch.nn.Transformer, D, H, 2, 2, FF, batch_first=True)
    ours.eval()
    ref.eval()
    src, tgt = _seq(S, True, False), _seq(T, True, False)
    causal = Transformer.generate_square_subsequent_mask(T, dtype=DT)
    with torch.inference_mode():
        torch.testing.assert_close(
            ours(src, tgt, tgt_mask=causal), ref(src, tgt, tgt_mask=causal), rtol=1e-10, atol=1e-10
        )
    assert len(calls) == 2  # both encoder layers took torch's fast path


def test_reference_mode_agrees_with_fused_path():
    torch.manual_seed(0)
    model = Transformer(D, H, 2, 2, FF, 0.0, batch_first=True).to(DT)
    src, tgt = _seq(S, True, False), _seq(T, True, False)
    kpm = _masks("bool_pad", S, S, N)[1]
    causal = Transformer.generate_square_subsequent_mask(T, dtype=DT)
    fused = model(src, tgt, tgt_mask=causal, src_key_padding_mask=kpm)
    with dlzoo.reference_mode():
        explicit = model(src, tgt, tgt_mask=causal, src_key_padding_mask=kpm)
    torch.testing.assert_close(explicit, fused, rtol=1e-10, atol=1e-10)


def test_norm_layer_dyt_equals_torch_layer_with_the_same_norms():
    """norm_layer='dyt' puts DyT where torch has LayerNorm; torch's layer with those DyT modules agrees."""
    torch.manual_seed(0)
    ours = TransformerDecoderLayer(D, H, FF, 0.0, norm_first=True, norm_layer="dyt").to(DT)
    assert all(isinstance(getattr(ours, f"norm{i}"), DyT) for i in (1, 2, 3))
    with torch.no_grad():
        for i in (1, 2, 3):
            getattr(ours, f"norm{i}").alpha.fill_(0.3 + 0.2 * i)
    ref = torch.nn.TransformerDecoderLayer(D, H, FF, 0.0, norm_first=True).to(DT)
    ref.load_state_dict(
        {k: v for k, v in ours.state_dict().items() if not k.startswith("norm")}, strict=False
    )
    for i in (1, 2, 3):
        setattr(ref, f"norm{i}", getattr(ours, f"norm{i}"))
    _assert_same(
        ours, ref, lambda m, t, mem: m(t, mem, tgt_is_causal=False), [_seq(T, False), _seq(S, False)]
    )
    model = Transformer(D, H, 1, 1, FF, norm_layer="dyt")
    assert isinstance(model.encoder.norm, DyT) and isinstance(model.decoder.layers[0].norm3, DyT)
    assert model(torch.randn(S, 2, D), torch.randn(T, 2, D)).shape == (T, 2, D)


def test_layer_norm_eps_reaches_layernorm():
    layer = TransformerEncoderLayer(D, H, FF, layer_norm_eps=1e-3, bias=False)
    assert layer.norm1.eps == 1e-3 and layer.norm2.bias is None


def test_train_mode_dropout_is_active():
    torch.manual_seed(0)
    model = Transformer(D, H, 1, 1, FF, dropout=0.5).train()
    src, tgt = torch.randn(S, 2, D), torch.randn(T, 2, D)
    assert not torch.equal(model(src, tgt), model(src, tgt))
    model.eval()
    assert torch.equal(model(src, tgt), model(src, tgt))


def test_bad_inputs_give_clear_errors():
    model = Transformer(D, H, 1, 1, FF)
    with pytest.raises(ValueError, match=r"Transformer: expected src of shape .*got \[5, 2, 7\]"):
        model(torch.randn(S, 2, D - 1), torch.randn(T, 2, D))
    with pytest.raises(ValueError, match="batch sizes of src"):
        model(torch.randn(S, 2, D), torch.randn(T, 3, D))
    with pytest.raises(ValueError, match="both be batched"):
        model(torch.randn(S, 2, D), torch.randn(T, D))
    with pytest.raises(ValueError, match="TransformerEncoderLayer: expected src"):
        model.encoder(torch.randn(2, S, 2, D))
    with pytest.raises(ValueError, match="TransformerDecoderLayer: tgt .* and memory"):
        model.decoder(torch.randn(T, 2, D), torch.randn(S, D))
    with pytest.raises(ValueError, match="attn_mask must have shape"):
        model(torch.randn(S, 2, D), torch.randn(T, 2, D), tgt_mask=torch.zeros(T, T + 1))
    with pytest.raises(ValueError, match="key_padding_mask must have shape"):
        model(
            torch.randn(S, 2, D), torch.randn(T, 2, D), src_key_padding_mask=torch.zeros(2, S + 1, dtype=bool)
        )
    with pytest.raises(TypeError, match="activation must be"):
        TransformerEncoderLayer(D, H, activation=3)
    with pytest.raises(KeyError):
        TransformerEncoderLayer(D, H, activation="no_such_act")
    with pytest.raises(ValueError, match="num_layers"):
        TransformerEncoder(TransformerEncoderLayer(D, H), -1)
    with pytest.raises(ValueError, match="multiple of num_heads"):
        TransformerEncoderLayer(D, 3)


def test_factory_kwargs_and_meta_device():
    model = Transformer(D, H, 1, 1, FF, dtype=torch.float64)
    assert {p.dtype for p in model.parameters()} == {torch.float64}
    dyt = TransformerEncoderLayer(D, H, FF, dtype=torch.float64, norm_layer="dyt")
    assert {p.dtype for p in dyt.parameters()} == {torch.float64}
    with torch.device("meta"):
        big = Transformer()  # the paper's base sizes, no memory
    count = sum(p.numel() for p in big.parameters())
    assert count == sum(p.numel() for p in torch.nn.Transformer(device="meta").parameters())
    assert all(p.is_meta for p in big.parameters())
