"""Imports every model family so its builders register (one line per family file)."""

# ruff: noqa: F401
from . import mlp
from . import convnext
from . import swin
from . import vit
from . import unet3d
from . import resnet
from . import vgg
from . import alexnet
from . import lenet
from . import nin
from . import googlenet
from . import densenet
from . import mobilenetv4
