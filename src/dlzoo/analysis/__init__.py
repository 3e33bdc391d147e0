"""dlzoo.analysis: norm-layer S-curves, calibration, activation statistics of trained models."""

from .scurve import NormIO, collect_norm_io, find_norm_layers, norm_layer_types, remove_affine, tail_stats

__all__ = ["NormIO", "collect_norm_io", "find_norm_layers", "norm_layer_types", "remove_affine", "tail_stats"]
