"""Energy-based models: Hopfield networks (associative memories) and restricted Boltzmann machines."""

from .hopfield import HopfieldNetwork, HopfieldNetworkOptimized, capacity_curve, recall_rate
from .rbm import RBM

__all__ = ["HopfieldNetwork", "HopfieldNetworkOptimized", "recall_rate", "capacity_curve", "RBM"]
