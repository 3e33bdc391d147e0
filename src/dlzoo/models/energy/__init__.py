"""Energy-based models: Hopfield networks (associative memories) and restricted Boltzmann machines."""

from .hopfield import HopfieldNetwork, HopfieldNetworkOptimized, recall_rate
from .rbm import RBM

__all__ = ["HopfieldNetwork", "HopfieldNetworkOptimized", "recall_rate", "RBM"]
