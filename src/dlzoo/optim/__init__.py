"""dlzoo.optim."""
from .clip import clip_grad_norm_, clip_grad_value_
