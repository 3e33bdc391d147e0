"""Autoencoders and embeddings: matrix factorization, the linear autoencoder (PCA) and word2vec."""

from .linear_autoencoder import LinearAutoencoder
from .matrix_factorization import MatrixFactorization, eckart_young_error
from .word2vec import Word2Vec, Word2VecResult, nearest_neighbors, train_word2vec

__all__ = ["LinearAutoencoder", "MatrixFactorization", "eckart_young_error", "Word2Vec", "Word2VecResult",
           "nearest_neighbors", "train_word2vec"]
