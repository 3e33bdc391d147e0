"""dlzoo.experiments: registered experiments, each a pydantic config + ``run(cfg, out_dir) -> Path``.

    dlzoo experiment list
    dlzoo experiment run norm-comparison seeds=[0] epochs=2 norms=[layernorm,dyt]
"""

from .registry import EXPERIMENTS, Experiment, build_config, get_experiment, register_experiment

__all__ = ["EXPERIMENTS", "Experiment", "build_config", "get_experiment", "register_experiment"]
