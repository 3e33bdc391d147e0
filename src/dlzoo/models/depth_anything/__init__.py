"""Depth Anything (Yang et al. 2024, arXiv:2401.10891): DINOv2 ViT encoder + DPT neck + depth head."""

from .builders import depth_anything_small
from .model import (
    DepthAnythingDepthEstimationHead,
    DepthAnythingForDepthEstimation,
    DepthAnythingNeck,
)

__all__ = ["DepthAnythingForDepthEstimation", "DepthAnythingNeck", "DepthAnythingDepthEstimationHead",
           "depth_anything_small"]
