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

__all__ = ["Task", "create_task", "task_name", "is_text_data"]


def is_text_data(name: str) -> bool:
    """Whether ``data.name`` names a text corpus (a language-modelling run)."""
    from ...data.text import TEXT_CORPORA

    return name in TEXT_CORPORA


def task_name(cfg: TrainConfig) -> str:
    from .generative import is_generative_model
    from .graph import GRAPH_DATA
    from .matrix_factorization import is_matrix_factorization_model
    from .reconstruction import is_reconstruction_model
    from .regression import REGRESSION_DATA
    from .tabular import is_tabular_model
    from .word_embedding import is_word_embedding_model

    if is_generative_model(cfg.model.name):
        return "generative"
    if is_tabular_model(cfg.model.name):
        return "tabular"
    if is_reconstruction_model(cfg.model.name):
        return "reconstruction"
    if is_word_embedding_model(cfg.model.name):
        return "word-embedding"
    if is_matrix_factorization_model(cfg.model.name):
        return "matrix-factorization"
    if cfg.data.name in GRAPH_DATA:
        return "graph"
    if cfg.data.name in REGRESSION_DATA:
        return "regression"
    return "lm" if is_text_data(cfg.data.name) else "classification"


def create_task(cfg: TrainConfig) -> Task:
    """The :class:`Task` of ``cfg`` (see :func:`task_name`)."""
    if task_name(cfg) == "lm":
        from .lm import LanguageModelingTask

        return LanguageModelingTask(cfg)
    if task_name(cfg) == "graph":
        from .graph import GraphTask

        return GraphTask(cfg)
    if task_name(cfg) == "generative":
        from .generative import GenerativeTask

        return GenerativeTask(cfg)
    if task_name(cfg) == "tabular":
        from .tabular import TabularTask

        return TabularTask(cfg)
    if task_name(cfg) == "reconstruction":
        from .reconstruction import ReconstructionTask

        return ReconstructionTask(cfg)
    if task_name(cfg) == "word-embedding":
        from .word_embedding import WordEmbeddingTask

        return WordEmbeddingTask(cfg)
    if task_name(cfg) == "matrix-factorization":
        from .matrix_factorization import MatrixFactorizationTask

        return MatrixFactorizationTask(cfg)
    if task_name(cfg) == "regression":
        from .regression import RegressionTask

        return RegressionTask(cfg)
    from .classification import ClassificationTask

    return ClassificationTask(cfg)
