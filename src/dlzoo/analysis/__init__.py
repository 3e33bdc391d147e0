"""dlzoo.analysis: S-curves, weight spectra, calibration, activation statistics, significance tests and
feature embeddings of trained models (``dlzoo analyze``, ``dlzoo compare``)."""

from .embedding import pca, tsne
from .powerlaw_fit import PowerLawFit, fit_power_law
from .scurve import (
    NormIO,
    collect_norm_io,
    find_norm_layers,
    layer_stats,
    linear_fit,
    norm_layer_types,
    remove_affine,
    tail_stats,
)
from .significance import exact_mcnemar, paired_bootstrap, wilson_interval
from .tanh_fit import TanhFit, fit_tanh, layer_tanh_fit
from .weight_spectra import LayerSpectrum, weight_spectra

__all__ = [
    "NormIO",
    "collect_norm_io",
    "find_norm_layers",
    "norm_layer_types",
    "remove_affine",
    "tail_stats",
    "layer_stats",
    "linear_fit",
    "TanhFit",
    "fit_tanh",
    "layer_tanh_fit",
    "LayerSpectrum",
    "weight_spectra",
    "PowerLawFit",
    "fit_power_law",
    "pca",
    "tsne",
    "exact_mcnemar",
    "paired_bootstrap",
    "wilson_interval",
]
