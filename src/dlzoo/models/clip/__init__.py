"""CLIP (Radford et al. 2021, arXiv:2103.00020): contrastive image-text model; see :mod:`.model`."""

from .model import CLIP, CLIPOutput, CLIPTextTransformer, CLIPVisionTransformer

__all__ = ["CLIP", "CLIPOutput", "CLIPTextTransformer", "CLIPVisionTransformer"]
