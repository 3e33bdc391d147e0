"""Imports every model family so its builders register (one line per family file)."""

# ruff: noqa: F401
from . import mlp
from . import convnext
from . import swin
from . import vit
from . import unet3d
