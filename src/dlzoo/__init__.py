"""dlzoo: deep-learning components written from scratch and checked against independent references.

    import dlzoo
    model = dlzoo.create_model("vit_tiny_digits", norm_layer="dyt")
    dlzoo.save_pretrained(model, "out/"); dlzoo.from_pretrained("out/")
"""

from . import losses, nn, optim
from .hub import from_pretrained, save_pretrained
from .models import create_model, list_models, model_info
from .nn.mode import reference_mode

__version__ = "0.1.0"

__all__ = [
    "create_model",
    "from_pretrained",
    "list_models",
    "losses",
    "model_info",
    "nn",
    "optim",
    "reference_mode",
    "save_pretrained",
]
