"""VisionTransformer: published parameter counts, block equations vs torch.nn.TransformerEncoderLayer,
the uniform model interface, norm swapping (LayerNorm/RMSNorm/DyT) and save/from_pretrained round trips.
Full-model logit parity with Hugging Face ViT is in tests/interop/test_hf_vit.py."""

from __future__ import annotations

import pytest
import torch

import dlzoo
from dlzoo.models.vit import NORM_DEFAULTS, Block
from dlzoo.nn import DyT, LayerNorm, RMSNorm, get_norm_layer

VIT_LN = get_norm_layer("layernorm", defaults=NORM_DEFAULTS)  # ViT's LayerNorm, eps 1e-6

# timm model cards (vit_*_patch16_224.augreg_in21k_ft_in1k) / torchvision vit_b_16: exact counts
PUBLISHED_EXACT = {
    "vit_tiny_patch16_224": 5_717_416,
    "vit_small_patch16_224": 22_050_664,
    "vit_base_patch16_224": 86_567_656,
}
# Xiao et al. 2021 ("Early Convolutions Help Transformers See Better") report params in millions
PUBLISHED_MILLIONS = {"vit_tiny_convstem": 4.6, "vit_small_convstem": 17.8, "vit_base_convstem": 81.6}


def _count(name: str, **kw) -> int:
    with torch.device("meta"):
        model = dlzoo.create_model(name, **kw)
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name", sorted(PUBLISHED_EXACT))
def test_vit_param_counts_match_published(name):
    assert _count(name) == PUBLISHED_EXACT[name] == dlzoo.model_info(name).reference_params


@pytest.mark.parametrize("name", sorted(PUBLISHED_MILLIONS))
def test_convstem_param_counts_match_paper(name):
    count = _count(name)
    assert round(count / 1e6, 1) == PUBLISHED_MILLIONS[name]
    assert count == dlzoo.model_info(name).reference_params
    # the conv stem trades one transformer block: ViT_C-4GF is ViT_P-4GF (18.5M, depth 12, mlp 3) minus a
    # block plus the stem; the paper's ViT_P-4GF count checks the rest of the design
    if name == "vit_small_convstem":
        assert round(_count("vit_small_patch16_224", mlp_ratio=3.0) / 1e6, 1) == 18.5


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_block_matches_torch_transformer_encoder_layer(dtype):
    dim, heads, hidden = 16, 4, 40
    ref = torch.nn.TransformerEncoderLayer(dim, heads, hidden, dropout=0.0, activation="gelu",
                                           layer_norm_eps=1e-6, batch_first=True, norm_first=True,
                                           dtype=dtype)
    ours = Block(dim, heads, mlp_ratio=hidden / dim, norm_layer=VIT_LN).to(dtype)
    with torch.no_grad():
        for p in ref.parameters():
            p.copy_(torch.randn_like(p) * 0.3)
    r = ref.state_dict()
    ours.load_state_dict({
        "norm1.weight": r["norm1.weight"], "norm1.bias": r["norm1.bias"],
        "attn.qkv.weight": r["self_attn.in_proj_weight"], "attn.qkv.bias": r["self_attn.in_proj_bias"],
        "attn.proj.weight": r["self_attn.out_proj.weight"], "attn.proj.bias": r["self_attn.out_proj.bias"],
        "norm2.weight": r["norm2.weight"], "norm2.bias": r["norm2.bias"],
        "mlp.fc1.weight": r["linear1.weight"], "mlp.fc1.bias": r["linear1.bias"],
        "mlp.fc2.weight": r["linear2.weight"], "mlp.fc2.bias": r["linear2.bias"],
    })
    ref.eval()
    ours.eval()
    x = torch.randn(2, 7, dim, dtype=dtype, requires_grad=True)
    expected = ref(x)
    g = torch.randn_like(expected)
    tol = 1e-10 if dtype == torch.float64 else 2e-5
    (rgx,) = torch.autograd.grad(expected, x, g)
    for reference in (False, True):
        with dlzoo.reference_mode(reference):
            out = ours(x)
        torch.testing.assert_close(out, expected, atol=tol, rtol=tol)
        (gx,) = torch.autograd.grad(out, x, g)
        torch.testing.assert_close(gx, rgx, atol=tol * 10, rtol=tol * 10)
    grads = torch.autograd.grad(ours(x), [ours.attn.qkv.weight, ours.mlp.fc1.weight], g)
    rgrads = torch.autograd.grad(ref(x), [ref.self_attn.in_proj_weight, ref.linear1.weight], g)
    for a, b in zip(grads, rgrads, strict=True):
        torch.testing.assert_close(a, b, atol=tol * 10, rtol=tol * 10)


def test_vit_tiny_digits_interface():
    model = dlzoo.create_model("vit_tiny_digits").eval()
    x = torch.randn(4, 1, 8, 8)
    feats = model.forward_features(x)
    assert feats.shape == (4, 16, 64)  # 8x8 / patch 2 = 16 tokens, avg pooling -> no class token
    assert model.num_features == 64
    pooled = model.forward_head(feats, pre_logits=True)
    torch.testing.assert_close(pooled, model.fc_norm(feats.mean(1)))
    torch.testing.assert_close(model(x), model.head(pooled))
    model.reset_classifier(3)
    assert model(x).shape == (4, 3)
    model.reset_classifier(0)
    assert model(x).shape == (4, 64)
    with pytest.raises(ValueError, match=r"PatchEmbed: expected input \(B, 1, 8, 8\)"):
        model(torch.randn(4, 3, 8, 8))


def test_token_pooling_uses_class_token_after_final_norm():
    model = dlzoo.create_model("vit_tiny_digits", global_pool="token").eval()
    x = torch.randn(2, 1, 8, 8)
    feats = model.forward_features(x)
    assert feats.shape == (2, 17, 64) and isinstance(model.norm, LayerNorm)
    torch.testing.assert_close(model(x), model.head(feats[:, 0]))
    with pytest.raises(ValueError, match="global_pool"):
        dlzoo.create_model("vit_tiny_digits", global_pool="mean")
    with pytest.raises(ValueError, match="class_token"):
        dlzoo.create_model("vit_tiny_digits", global_pool="token", class_token=False)


@pytest.mark.parametrize("norm,kwargs,cls", [("layernorm", None, LayerNorm), ("rmsnorm", None, RMSNorm),
                                             ("dyt", {"alpha_init": 1.0}, DyT)])
def test_norm_swap_everywhere_and_all_params_learn(norm, kwargs, cls):
    model = dlzoo.create_model("vit_tiny_digits", norm_layer=norm, norm_kwargs=kwargs)
    norms = [m for m in model.modules() if isinstance(m, (LayerNorm, RMSNorm, DyT))]
    assert len(norms) == 4 * 2 + 1 and all(isinstance(m, cls) for m in norms)  # 2 per block + fc_norm
    if cls is DyT:
        assert all(m.alpha.item() == 1.0 for m in norms)
    if cls is LayerNorm:
        assert all(m.eps == 1e-6 for m in norms)  # ViT's eps, not torch's 1e-5
    loss = torch.nn.functional.cross_entropy(model(torch.randn(8, 1, 8, 8)), torch.arange(8))
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name


def test_save_pretrained_round_trip_with_dyt(tmp_path):
    model = dlzoo.create_model("vit_tiny_digits", norm_layer="dyt", norm_kwargs={"alpha_init": 1.0})
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, DyT):
                m.alpha.fill_(0.37)  # a trained value, not the init, must come back
    dlzoo.save_pretrained(model, tmp_path)
    loaded = dlzoo.from_pretrained(tmp_path)
    assert isinstance(loaded.blocks[0].norm1, DyT)
    assert loaded.blocks[0].norm1.alpha.item() == pytest.approx(0.37)
    x = torch.randn(3, 1, 8, 8)
    model.eval()
    loaded.eval()
    torch.testing.assert_close(loaded(x), model(x), rtol=0, atol=0)


def test_stochastic_depth_schedule_and_dropout_modes():
    model = dlzoo.create_model("vit_tiny_digits", drop_path_rate=0.3, drop_rate=0.1)
    rates = [b.drop_path1.drop_prob if hasattr(b.drop_path1, "drop_prob") else 0.0 for b in model.blocks]
    assert rates == pytest.approx([0.0, 0.1, 0.2, 0.3])
    x = torch.randn(16, 1, 8, 8)
    assert not torch.allclose(model(x), model(x))
    model.eval()
    torch.testing.assert_close(model(x), model(x))


def test_convstem_vit_small_input():
    model = dlzoo.create_model("vit_tiny_convstem", img_size=32, depth=1, num_classes=7).eval()
    assert model.patch_embed.num_patches == 4
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 7)
    assert dlzoo.model_info("vit_small_convstem").arxiv == "2106.14881"


@pytest.mark.slow
def test_vit_tiny_digits_learns_digits():
    from dlzoo.data.digits import digits

    sp = digits()
    torch.manual_seed(0)
    model = dlzoo.create_model("vit_tiny_digits")
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=0.05)
    g = torch.Generator().manual_seed(0)
    for _ in range(4):
        perm = torch.randperm(len(sp.train.y), generator=g)
        for i in range(0, len(perm), 64):
            idx = perm[i:i + 64]
            loss = torch.nn.functional.cross_entropy(model(sp.train.x[idx]), sp.train.y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        acc = (model(sp.test.x).argmax(-1) == sp.test.y).float().mean().item()
    assert acc > 0.8, acc  # chance is 0.1


def test_layer_scale_scales_residual_branches():
    block = Block(16, 4, init_values=1e-5, norm_layer=VIT_LN).double().eval()
    torch.testing.assert_close(block.ls1.gamma, torch.full((16,), 1e-5, dtype=torch.float64))
    x = torch.randn(2, 5, 16, dtype=torch.float64)
    g = block.ls1.gamma
    h = x + g * block.attn(block.norm1(x))
    torch.testing.assert_close(block(x), h + g * block.mlp(block.norm2(h)))


def test_classifier_contract_init_and_pool_switch():
    model = dlzoo.create_model("vit_tiny_patch16_224", img_size=32, depth=1)
    assert model.get_classifier() is model.head
    assert isinstance(model.blocks[0].mlp.act, dlzoo.nn.GELU)
    model.reset_classifier(1000, global_pool="avg")
    w = model.head.weight
    # timm's head init: trunc-normal std .02, zero bias (torch's Linear default would give std 0.042 here)
    assert abs(w.std().item() - 0.02) < 0.001 and model.head.bias.abs().max() == 0
    assert model.global_pool == "avg"
    with pytest.raises(ValueError, match="global_pool"):
        model.reset_classifier(3, global_pool="mean")
    no_cls = dlzoo.create_model("vit_tiny_digits")
    with pytest.raises(ValueError, match="class token"):
        no_cls.reset_classifier(3, global_pool="token")
    assert no_cls.no_weight_decay() == {"pos_embed"}
    assert model.no_weight_decay() == {"pos_embed", "cls_token"}


def test_convstem_activation_is_dlzoo_relu():
    model = dlzoo.create_model("vit_tiny_convstem", img_size=32, depth=1)
    acts = list(model.patch_embed.stem)[2::3]  # conv, norm, act per layer
    assert len(acts) == 4 and all(type(m) is dlzoo.nn.ReLU for m in acts)
