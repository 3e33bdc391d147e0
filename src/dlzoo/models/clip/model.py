"""CLIP — Radford et al., "Learning Transferable Visual Models From Natural Language Supervision", ICML 2021,
arXiv:2103.00020 (Sec. 2.4-2.5, Fig. 3).

Two towers map an image and a caption into one embedding space, compared by cosine similarity:

    image tower (ViT, Sec. 2.4): z_0 = [x_class; x_p^1 E; ...; x_p^N E] + E_pos     (B, 1 + N, D_v)
                                 z_0 <- LN_pre(z_0)   (CLIP's extra layer norm before the blocks)
                                 z_L = pre-LN blocks (quick_gelu MLP)
                                 I_f = LN_post(z_L^0) W_i                           (B, D_v) -> (B, E)
    text tower (GPT-2 style):    h_0 = W_tok[ids] + E_pos[:T]                      (B, T, D_t)
                                 h_L = pre-LN blocks with a causal (and padding) mask
                                 T_f = LN_final(h_L)[b, eot_b] W_t                  (B, D_t) -> (B, E)
    logits_per_image = exp(t) * norm(I_f) norm(T_f)^T                               (B_img, B_txt)

``eot_b`` is the end-of-text position: ``argmax(ids_b)`` (OpenAI's tokenizer gives EOT the highest id; used
when ``eos_token_id`` is None), else the first position where ``ids_b == eos_token_id`` (as transformers).
``t`` is the learnable log temperature (``logit_scale``, init ``log(1 / 0.07)``). Train with
:class:`dlzoo.losses.ClipLoss` on ``get_image_features`` / ``get_text_features`` or with
:func:`dlzoo.losses.clip_contrastive_loss` and ``model.logit_scale``.

Both towers reuse dlzoo's ViT :class:`~dlzoo.models.vit.Block` (``norm1, attn.qkv, attn.proj, norm2,
mlp.fc1, mlp.fc2``) with an attention mask; transformers' ``CLIPModel`` directories load through
:mod:`._convert_hf` (q/k/v concatenated into ``qkv``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from ...nn.embedding import PatchEmbed
from ...nn.factory import get_norm_layer
from ...nn.linear import Linear
from ...nn.norms import LayerNorm
from ...nn.token_embedding import Embedding
from .. import register_model
from ..vit import Block

__all__ = ["CLIP", "CLIPOutput", "CLIPBlock", "CLIPVisionTransformer", "CLIPTextTransformer"]


@dataclass
class CLIPOutput:
    """CLIP forward: similarity logits both ways and the L2-normalised embeddings (as transformers)."""

    logits_per_image: Tensor  # (B_img, B_txt)
    logits_per_text: Tensor  # (B_txt, B_img)
    text_embeds: Tensor  # (B_txt, E), unit norm
    image_embeds: Tensor  # (B_img, E), unit norm

    @property
    def logits(self) -> Tensor:
        """The main output: ``logits_per_image``."""
        return self.logits_per_image


class CLIPBlock(Block):
    """ViT pre-LN block whose attention takes a mask: (B, N, D), mask broadcastable to (B, H, N, N)."""

    def forward(self, x: Tensor, attn_mask: Tensor | None = None) -> Tensor:
        x = x + self.drop_path1(self.ls1(self.attn(self.norm1(x), attn_mask)))
        x = x + self.drop_path2(self.ls2(self.mlp(self.norm2(x))))
        return x


def _blocks(width: int, layers: int, heads: int, mlp_dim: int, act: str, eps: float, attn_drop: float
            ) -> nn.ModuleList:
    make_norm = get_norm_layer("layernorm", eps=eps)
    return nn.ModuleList([CLIPBlock(width, heads, mlp_dim / width, qkv_bias=True, attn_drop=attn_drop,
                                    act_layer=act, norm_layer=make_norm) for _ in range(layers)])


def _check(layer: str, **values: int) -> None:
    for key, value in values.items():
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise ValueError(f"{layer}: {key} must be a positive int, got {value!r}")


class CLIPVisionTransformer(nn.Module):
    """Image tower: (B, C, H, W) -> pooled class token after ``norm`` (B, width)."""

    def __init__(self, image_size: int = 224, patch_size: int = 32, in_chans: int = 3, width: int = 768,
                 layers: int = 12, heads: int = 12, mlp_dim: int = 3072, act_layer: str = "quick_gelu",
                 norm_eps: float = 1e-5, attn_drop: float = 0.0) -> None:
        super().__init__()
        _check("CLIPVisionTransformer", image_size=image_size, patch_size=patch_size, width=width,
               layers=layers, heads=heads, mlp_dim=mlp_dim)
        self.width = width
        self.patch_embed = PatchEmbed(image_size, patch_size, in_chans, width, bias=False)
        self.cls_token = nn.Parameter(torch.zeros(width))
        self.pos_embed = nn.Parameter(torch.zeros(self.patch_embed.num_patches + 1, width))
        self.norm_pre = LayerNorm(width, eps=norm_eps)
        self.blocks = _blocks(width, layers, heads, mlp_dim, act_layer, norm_eps, attn_drop)
        self.norm = LayerNorm(width, eps=norm_eps)

    def forward(self, pixel_values: Tensor) -> Tensor:
        x = self.patch_embed(pixel_values)  # (B, N, D)
        cls = self.cls_token.expand(x.shape[0], 1, -1)  # (B, 1, D)
        x = torch.cat([cls, x], dim=1) + self.pos_embed  # (B, 1 + N, D)
        x = self.norm_pre(x)
        for block in self.blocks:
            x = block(x)
        return self.norm(x[:, 0])  # class token (B, D)


class CLIPTextTransformer(nn.Module):
    """Text tower: ids (B, T) [+ attention_mask (B, T), 1 = token] -> end-of-text features (B, width)."""

    def __init__(self, vocab_size: int = 49408, context_length: int = 77, width: int = 512, layers: int = 12,
                 heads: int = 8, mlp_dim: int = 2048, act_layer: str = "quick_gelu", norm_eps: float = 1e-5,
                 attn_drop: float = 0.0, eos_token_id: int | None = None) -> None:
        super().__init__()
        _check("CLIPTextTransformer", vocab_size=vocab_size, context_length=context_length, width=width,
               layers=layers, heads=heads, mlp_dim=mlp_dim)
        self.vocab_size, self.context_length, self.width = vocab_size, context_length, width
        self.eos_token_id = eos_token_id
        self.token_embedding = Embedding(vocab_size, width)
        self.pos_embed = nn.Parameter(torch.zeros(context_length, width))
        self.blocks = _blocks(width, layers, heads, mlp_dim, act_layer, norm_eps, attn_drop)
        self.norm = LayerNorm(width, eps=norm_eps)

    def _mask(self, T: int, attention_mask: Tensor | None, dtype: torch.dtype, device: torch.device
              ) -> Tensor:
        """Additive mask (B or 1, 1, T, T): 0 where query i may see key j (j <= i and j not padding), else
        the dtype's lowest value (as transformers: a fully padded row stays finite)."""
        allowed = torch.ones(T, T, dtype=torch.bool, device=device).tril()[None, None]  # (1, 1, T, T)
        if attention_mask is not None:
            allowed = allowed & attention_mask.bool()[:, None, None, :]  # (B, 1, T, T)
        return torch.zeros(allowed.shape, dtype=dtype, device=device).masked_fill(~allowed,
                                                                                 torch.finfo(dtype).min)

    def forward(self, input_ids: Tensor, attention_mask: Tensor | None = None) -> Tensor:
        if input_ids.dim() != 2 or input_ids.dtype not in (torch.int32, torch.int64):
            raise ValueError(f"CLIPTextTransformer: expected integer input_ids (B, T), got "
                             f"{input_ids.dtype} {list(input_ids.shape)}")
        B, T = input_ids.shape
        if T > self.context_length:
            raise ValueError(f"CLIPTextTransformer: sequence length {T} > context_length "
                             f"{self.context_length}")
        if attention_mask is not None and attention_mask.shape != input_ids.shape:
            raise ValueError(f"CLIPTextTransformer: attention_mask must have the shape of input_ids "
                             f"{list(input_ids.shape)}, got {list(attention_mask.shape)}")
        x = self.token_embedding(input_ids) + self.pos_embed[:T]  # (B, T, D)
        mask = self._mask(T, attention_mask, x.dtype, x.device)
        for block in self.blocks:
            x = block(x, mask)
        x = self.norm(x)
        if self.eos_token_id is None:
            eot = input_ids.argmax(dim=-1)  # OpenAI: EOT has the highest id
        else:
            eot = (input_ids == self.eos_token_id).int().argmax(dim=-1)  # first EOS position
        return x[torch.arange(B, device=x.device), eot]  # (B, D)


class CLIP(nn.Module):
    """CLIP (see module docstring). ``forward(input_ids, pixel_values, attention_mask=None)`` ->
    :class:`CLIPOutput`; ``get_image_features`` (B, C, H, W) -> (B, E);
    ``get_text_features`` (B, T) -> (B, E).
    """

    def __init__(
        self,
        embed_dim: int = 512,
        image_size: int = 224,
        patch_size: int = 32,
        in_chans: int = 3,
        vision_width: int = 768,
        vision_layers: int = 12,
        vision_heads: int = 12,
        vision_mlp_dim: int = 3072,
        vocab_size: int = 49408,
        context_length: int = 77,
        text_width: int = 512,
        text_layers: int = 12,
        text_heads: int = 8,
        text_mlp_dim: int = 2048,
        act_layer: str = "quick_gelu",
        norm_eps: float = 1e-5,
        attn_drop: float = 0.0,
        eos_token_id: int | None = None,
        logit_scale_init: float = math.log(1 / 0.07),
    ) -> None:
        super().__init__()
        _check("CLIP", embed_dim=embed_dim)
        self.embed_dim = embed_dim
        self.vocab_size, self.context_length = vocab_size, context_length
        self.image_size, self.in_chans = image_size, in_chans
        self.vision_model = CLIPVisionTransformer(image_size, patch_size, in_chans, vision_width,
                                                  vision_layers, vision_heads, vision_mlp_dim, act_layer,
                                                  norm_eps, attn_drop)
        self.text_model = CLIPTextTransformer(vocab_size, context_length, text_width, text_layers, text_heads,
                                              text_mlp_dim, act_layer, norm_eps, attn_drop, eos_token_id)
        self.visual_projection = Linear(vision_width, embed_dim, bias=False)
        self.text_projection = Linear(text_width, embed_dim, bias=False)
        self.logit_scale = nn.Parameter(torch.tensor(float(logit_scale_init)))
        self.init_weights()

    @torch.no_grad()
    def init_weights(self) -> None:
        """OpenAI's CLIP init (as transformers' ``CLIPPreTrainedModel``): token N(0, .02^2), position and
        patch N(0, .02^2), class token N(0, 1/D); attention in-projections N(0, 1/(2 L D)), out N(0, 1/D);
        fc1 N(0, 1/(2D)), fc2 N(0, 1/(2 L D)); projections N(0, 1/D); zero biases, unit layer norms."""
        nn.init.normal_(self.text_model.token_embedding.weight, std=0.02)
        nn.init.normal_(self.text_model.pos_embed, std=0.01)
        v = self.vision_model
        nn.init.normal_(v.cls_token, std=v.width**-0.5)
        nn.init.normal_(v.patch_embed.proj.weight, std=0.02)
        nn.init.normal_(v.pos_embed, std=0.02)
        for tower in (self.vision_model, self.text_model):
            d, n = tower.width, len(tower.blocks)
            in_std = d**-0.5 * (2 * n) ** -0.5
            for block in tower.blocks:
                nn.init.normal_(block.attn.qkv.weight, std=in_std)
                nn.init.normal_(block.attn.proj.weight, std=d**-0.5)
                nn.init.normal_(block.mlp.fc1.weight, std=(2 * d) ** -0.5)
                nn.init.normal_(block.mlp.fc2.weight, std=in_std)
                for lin in (block.attn.qkv, block.attn.proj, block.mlp.fc1, block.mlp.fc2):
                    nn.init.zeros_(lin.bias)
        nn.init.normal_(self.visual_projection.weight, std=self.vision_model.width**-0.5)
        nn.init.normal_(self.text_projection.weight, std=self.text_model.width**-0.5)

    def get_image_features(self, pixel_values: Tensor) -> Tensor:
        """Projected image features (B, C, H, W) -> (B, E), not normalised."""
        return self.visual_projection(self.vision_model(pixel_values))

    def get_text_features(self, input_ids: Tensor, attention_mask: Tensor | None = None) -> Tensor:
        """Projected text features (B, T) -> (B, E), not normalised."""
        return self.text_projection(self.text_model(input_ids, attention_mask))

    def forward(self, input_ids: Tensor, pixel_values: Tensor, attention_mask: Tensor | None = None
                ) -> CLIPOutput:
        image = self.get_image_features(pixel_values)
        text = self.get_text_features(input_ids, attention_mask)
        image = image / image.norm(dim=-1, keepdim=True)  # (B_img, E)
        text = text / text.norm(dim=-1, keepdim=True)  # (B_txt, E)
        logits_per_text = self.logit_scale.exp() * text @ image.t()  # (B_txt, B_img)
        return CLIPOutput(logits_per_image=logits_per_text.t(), logits_per_text=logits_per_text,
                          text_embeds=text, image_embeds=image)


_CARD = dict(family="clip", paper="Learning Transferable Visual Models From Natural Language Supervision",
             year=2021, arxiv="2103.00020", task="contrastive")


def _build(defaults: dict[str, Any], overrides: dict[str, Any]) -> CLIP:
    return CLIP(**{**defaults, **overrides})


@register_model(**_CARD, input_size=(3, 224, 224), reference_params=151_277_313,
                source="transformers CLIPModel(CLIPConfig()) = openai/clip-vit-base-patch32",
                test_input_size=(3, 64, 64), test_kwargs={"image_size": 64})
def clip_vit_base_patch32(**kwargs: Any) -> CLIP:
    """OpenAI CLIP ViT-B/32: image 224, patch 32, width 768, 12 layers, 12 heads; text 49408 tokens,
    context 77, width 512, 12 layers, 8 heads; embedding 512."""
    return _build({}, kwargs)


@register_model(**_CARD, input_size=(1, 8, 8), test_input_size=(1, 8, 8),
                source="dlzoo: trains on 8x8 digits with word-level captions (tests/models/test_clip.py)")
def clip_tiny(**kwargs: Any) -> CLIP:
    """Tiny CLIP for 8x8 grey digits: patch 2 (16 tokens), width 64, 2 layers, 4 heads; text vocabulary 32,
    context 16, width 64, 2 layers, 4 heads; embedding 32."""
    return _build(dict(embed_dim=32, image_size=8, patch_size=2, in_chans=1, vision_width=64, vision_layers=2,
                       vision_heads=4, vision_mlp_dim=128, vocab_size=32, context_length=16, text_width=64,
                       text_layers=2, text_heads=4, text_mlp_dim=128), kwargs)
