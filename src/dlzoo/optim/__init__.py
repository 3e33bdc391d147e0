"""dlzoo.optim."""
from .clip import clip_grad_norm_, clip_grad_value_  # noqa: F401  (re-export)
