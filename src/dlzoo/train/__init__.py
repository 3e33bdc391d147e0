"""dlzoo.train: typed configs, the resumable training loop, checkpoints and metric sinks.

    from dlzoo.train import TrainConfig, load_config, train, TrainResult
    cfg = load_config("configs/vit_digits.yaml", overrides=["optim.lr=3e-3", "model.kwargs.norm_layer=dyt"])
    result = train(cfg)            # runs/<cfg.name>/<timestamp>/
    result.history[-1]["val_acc"], result.test["acc"]
"""

from .config import TrainConfig, load_config
from .entry import resume, train
from .trainer import TrainingDiverged, TrainResult

__all__ = ["TrainConfig", "TrainResult", "TrainingDiverged", "load_config", "resume", "train"]
