"""What the trainer does per task: data, model, loss, metrics and evaluation (one :class:`Task` each).

- ``classification`` (:mod:`.classification`): image/vector datasets of :data:`dlzoo.data.DATASETS`,
  cross-entropy (+ auxiliary heads, Mixup/CutMix), accuracy.
- ``graph`` (:mod:`.graph`): node classification (karate club, citation files) and graph classification
  (synthetic graphs, TU files) with the graph models; accuracy over the split's nodes / graphs.
- ``regression`` (:mod:`.regression`): dense forecasting (the 3-D U-Net on advection-diffusion frames),
  MSE/MAE/R^2 and per-frame error next to the persistence baseline.
- ``lm`` (:mod:`.lm`): text corpora of :data:`dlzoo.data.text.TEXT_CORPORA`, causal language models,
  next-token cross-entropy over packed blocks, perplexity, tokens/s, a generated sample after each eval.
- ``generative`` (:mod:`.generative`): VAE, DDPM, DCGAN (alternating discriminator/generator updates) and
  the RBM on images in [0, 1], the model's own objective, a sample grid and sample-quality scores.
- ``tabular`` (:mod:`.tabular`): the shallow linear models on scikit-learn's embedded data sets, full-batch
  on the model's own (scikit-learn-scaled) objective, accuracy, and scikit-learn's fit of the same objective.
- ``reconstruction`` (:mod:`.reconstruction`): autoencoders on flattened images, squared reconstruction
  error, and scikit-learn PCA's error and principal angles to its subspace.
- ``word-embedding`` (:mod:`.word_embedding`): word2vec (skip-gram / CBOW, negative sampling) on a text
  corpus, held-out Eq. 4 loss and true-vs-noise pair AUC, nearest neighbours in ``neighbors.json``.
- ``matrix-factorization`` (:mod:`.matrix_factorization`): ``M ~ P Q^T`` on a seeded low-rank-plus-noise
  matrix by mini-batches of rows, against the Eckart-Young bound (the truncated SVD's error).

The task follows from the model, then from ``data.name``: a model whose card ``task`` is ``generative`` or
``energy`` means generative modelling, ``tabular-classification`` the tabular task, ``reconstruction`` the
reconstruction task, ``word-embedding`` / ``matrix-factorization`` theirs; otherwise a text corpus
means language modelling, a graph / regression dataset its task, anything else classification.
"""

from __future__ import annotations

from ..config import TrainConfig
from .base import Task

__all__ = ["Task", "create_task", "task_name", "is_text_data", "CARD_TASKS", "TASK_CLASSES"]


def is_text_data(name: str) -> bool:
    """Whether ``data.name`` names a text corpus (a language-modelling run)."""
    from ...data.text import TEXT_CORPORA

    return name in TEXT_CORPORA


# a model card's ``task`` -> the trainer task that trains it (models not listed: chosen from the data)
CARD_TASKS = {
    "generative": "generative",
    "energy": "generative",
    "tabular-classification": "tabular",
    "reconstruction": "reconstruction",
    "word-embedding": "word-embedding",
    "matrix-factorization": "matrix-factorization",
}
# trainer task -> (module of this package, its Task class)
TASK_CLASSES = {
    "classification": ("classification", "ClassificationTask"),
    "lm": ("lm", "LanguageModelingTask"),
    "graph": ("graph", "GraphTask"),
    "regression": ("regression", "RegressionTask"),
    "generative": ("generative", "GenerativeTask"),
    "tabular": ("tabular", "TabularTask"),
    "reconstruction": ("reconstruction", "ReconstructionTask"),
    "word-embedding": ("word_embedding", "WordEmbeddingTask"),
    "matrix-factorization": ("matrix_factorization", "MatrixFactorizationTask"),
}


def task_name(cfg: TrainConfig) -> str:
    """The trainer task of ``cfg``: from the model's card (:data:`CARD_TASKS`), else from ``data.name``."""
    from ...models import list_models, model_info
    from .graph import GRAPH_DATA
    from .regression import REGRESSION_DATA

    if cfg.model.name in list_models() and model_info(cfg.model.name).task in CARD_TASKS:
        return CARD_TASKS[model_info(cfg.model.name).task]
    if cfg.data.name in GRAPH_DATA:
        return "graph"
    if cfg.data.name in REGRESSION_DATA:
        return "regression"
    return "lm" if is_text_data(cfg.data.name) else "classification"


def create_task(cfg: TrainConfig) -> Task:
    """The :class:`Task` of ``cfg`` (see :func:`task_name`)."""
    import importlib

    module, cls = TASK_CLASSES[task_name(cfg)]
    return getattr(importlib.import_module(f".{module}", __package__), cls)(cfg)
