"""HF transformers CLIPModel (random small config, saved offline) -> dlzoo CLIP: logits, features, grads."""

from __future__ import annotations

import sys

import pytest
import torch

import dlzoo
from dlzoo.hub import PretrainedLoadError
from dlzoo.models.clip._convert_hf import convert_clip

try:  # a torchvision built for another torch breaks transformers' import; CLIP does not need it
    import torchvision  # noqa: F401
except Exception:  # pragma: no cover - environment dependent
    sys.modules["torchvision"] = None  # type: ignore[assignment]

transformers = pytest.importorskip("transformers")

V, T = 99, 12


def _config(eos_token_id=2, **text_kw):
    text = dict(vocab_size=V, hidden_size=32, intermediate_size=37, num_hidden_layers=2,
                num_attention_heads=4, max_position_embeddings=16, eos_token_id=eos_token_id, bos_token_id=0,
                pad_token_id=1,
                **text_kw)
    vision = dict(image_size=16, patch_size=4, hidden_size=32, intermediate_size=37, num_hidden_layers=2,
                  num_attention_heads=4, num_channels=3)
    return transformers.CLIPConfig(text_config=text, vision_config=vision, projection_dim=24)


def _hf(**kw):
    torch.manual_seed(0)
    hf = transformers.CLIPModel(_config(**kw))
    with torch.no_grad():  # LayerNorm ones/zeros and zero biases would hide mapping mistakes
        for name, p in hf.named_parameters():
            if "norm" in name or name.endswith("bias"):
                centre = 1.0 if "norm" in name and name.endswith("weight") else 0.0
                p.copy_(torch.randn_like(p) * 0.2 + centre)
        hf.logit_scale.fill_(1.3)
    return hf.eval()


def _inputs(seed=1, batch_txt=3, batch_img=2):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(2, V - 1, (batch_txt, T), generator=g)
    pixels = torch.randn(batch_img, 3, 16, 16, generator=g)
    return ids, pixels


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    directory = tmp_path_factory.mktemp("clip")
    hf = _hf()
    hf.save_pretrained(directory)
    return hf, directory, dlzoo.from_pretrained(directory)


def test_logits_equal_float32_reference_mode_and_float64(pair):
    hf, directory, ours = pair
    assert type(ours).__name__ == "CLIP" and not ours.training
    ids, pixels = _inputs()
    with torch.no_grad():
        ref = hf(input_ids=ids, pixel_values=pixels)
        out = ours(input_ids=ids, pixel_values=pixels)
        assert out.logits_per_image.shape == (2, 3)
        torch.testing.assert_close(out.logits_per_image, ref.logits_per_image, atol=1e-4, rtol=0)
        torch.testing.assert_close(out.logits_per_text, ref.logits_per_text, atol=1e-4, rtol=0)
        torch.testing.assert_close(out.image_embeds, ref.image_embeds, atol=1e-5, rtol=0)
        torch.testing.assert_close(out.text_embeds, ref.text_embeds, atol=1e-5, rtol=0)
        with dlzoo.reference_mode():
            torch.testing.assert_close(ours(ids, pixels).logits_per_image, ref.logits_per_image, atol=1e-4,
                                       rtol=0)
    hf64, ours64 = hf.double(), dlzoo.from_pretrained(directory).double()
    try:
        with torch.no_grad():
            ref = hf64(input_ids=ids, pixel_values=pixels.double())
            torch.testing.assert_close(ours64(ids, pixels.double()).logits_per_image, ref.logits_per_image,
                                       atol=1e-10, rtol=0)
            torch.testing.assert_close(ours64.get_image_features(pixels.double()),
                                       hf64.get_image_features(pixel_values=pixels.double()).pooler_output,
                                       atol=1e-10, rtol=0)
            torch.testing.assert_close(ours64.get_text_features(ids),
                                       hf64.get_text_features(input_ids=ids).pooler_output,
                                       atol=1e-10, rtol=0)
    finally:
        hf.float()


def test_gradients_of_every_weight_and_the_pixels_equal_in_float64(pair):
    hf, directory, _ = pair
    hf64, ours = _hf().double(), dlzoo.from_pretrained(directory).double()
    ids, pixels = _inputs(seed=2)
    pixels = pixels.double()
    px_ref, px_ours = pixels.clone().requires_grad_(), pixels.clone().requires_grad_()
    (hf64(input_ids=ids, pixel_values=px_ref).logits_per_image ** 2).mean().backward()
    (ours(ids, px_ours).logits_per_image ** 2).mean().backward()
    torch.testing.assert_close(px_ours.grad, px_ref.grad, atol=1e-10, rtol=0)
    # the converter maps HF gradients to our names exactly as it maps the weights
    _, _, ref_grads = convert_clip(_config().to_dict(), {n: p.grad for n, p in hf64.named_parameters()})
    ours_grads = {n: p.grad for n, p in ours.named_parameters()}
    assert ref_grads.keys() == ours_grads.keys()
    for name, g in ours_grads.items():
        torch.testing.assert_close(g, ref_grads[name], atol=1e-10, rtol=0, msg=name)


def test_eos_token_id_pooling_and_padding_mask_match(tmp_path):
    eos = 3  # a small id: the first EOS position is not the argmax of the ids
    hf = _hf(eos_token_id=eos).double()
    hf.save_pretrained(tmp_path)
    ours = dlzoo.from_pretrained(tmp_path).double()
    assert ours.text_model.eos_token_id == eos
    ids, pixels = _inputs(seed=3)
    ids = ids.clamp(min=eos + 1)  # no EOS before the one placed below
    lengths = [T, 7, 4]
    mask = torch.zeros_like(ids)
    for b, n in enumerate(lengths):
        ids[b, n - 1] = eos  # EOS (not the largest id in every row) then padding ids after it
        ids[b, n:] = eos  # padding with the EOS id (pad == eos in many tokenizers): the first one counts
        mask[b, :n] = 1
    assert (ids.argmax(-1) != torch.tensor(lengths) - 1).all()  # argmax pooling would pick other tokens
    with torch.no_grad():
        ref = hf(input_ids=ids, pixel_values=pixels.double(), attention_mask=mask)
        out = ours(ids, pixels.double(), attention_mask=mask)
    torch.testing.assert_close(out.logits_per_image, ref.logits_per_image, atol=1e-10, rtol=0)
    torch.testing.assert_close(out.text_embeds, ref.text_embeds, atol=1e-10, rtol=0)


def test_openai_vit_b32_parameter_count_matches_transformers():
    with torch.device("meta"):
        hf = transformers.CLIPModel(transformers.CLIPConfig())
        ours = dlzoo.create_model("clip_vit_base_patch32")
    count = sum(p.numel() for p in hf.parameters())
    assert count == 151_277_313 == dlzoo.model_info("clip_vit_base_patch32").reference_params
    assert sum(p.numel() for p in ours.parameters()) == count


def test_unsupported_configs_are_refused_by_name(tmp_path):
    config = _config().to_dict()
    config["vision_config"]["hidden_act"] = "gelu"
    with pytest.raises(ValueError, match="hidden_act"):
        convert_clip(config, {})
    config = _config().to_dict()
    config["text_config"]["hidden_act"] = config["vision_config"]["hidden_act"] = "mish"
    with pytest.raises(ValueError, match="mish"):
        convert_clip(config, {})
    hf = _hf()
    hf.save_pretrained(tmp_path)
    from safetensors.torch import load_file, save_file

    state = load_file(tmp_path / "model.safetensors")
    state["vision_model.extra.weight"] = torch.zeros(1)
    save_file(state, tmp_path / "model.safetensors")
    with pytest.raises(PretrainedLoadError, match="vision_model.extra.weight"):
        dlzoo.from_pretrained(tmp_path)


def test_export_loads_in_transformers_with_equal_logits(tmp_path):
    torch.manual_seed(0)
    ours = dlzoo.create_model("clip_tiny", in_chans=3, eos_token_id=None).eval()
    with torch.no_grad():
        for name, p in ours.named_parameters():
            if "norm" in name or name.endswith("bias"):
                p.add_(torch.randn_like(p) * 0.2)
    dlzoo.save_pretrained(ours, tmp_path, format="hf")
    hf = transformers.CLIPModel.from_pretrained(tmp_path).eval()
    assert hf.config.text_config.eos_token_id == 2  # argmax pooling, as ours
    g = torch.Generator().manual_seed(4)
    ids, pixels = torch.randint(0, 32, (3, 9), generator=g), torch.randn(2, 3, 8, 8, generator=g)
    with torch.no_grad():
        torch.testing.assert_close(hf(input_ids=ids, pixel_values=pixels).logits_per_image,
                                   ours(ids, pixels).logits_per_image, atol=1e-5, rtol=0)
    back = dlzoo.from_pretrained(tmp_path)
    with torch.no_grad():
        torch.testing.assert_close(back(ids, pixels).logits_per_image, ours(ids, pixels).logits_per_image,
                                   atol=0, rtol=0)
