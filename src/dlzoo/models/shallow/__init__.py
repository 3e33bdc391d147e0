"""Shallow (linear) models, each compared with its scikit-learn counterpart: perceptrons, SVMs, least squares,
logistic and softmax regression. Input ``(B, F)`` float features."""

from ._base import LinearClassifier, LinearModel
from .least_squares import LeastSquaresRegression
from .logistic import LogisticRegression, SoftmaxRegression
from .perceptron import MulticlassPerceptron, Perceptron
from .svm import SVM, MulticlassSVM

__all__ = ["LinearModel", "LinearClassifier", "Perceptron", "MulticlassPerceptron", "SVM", "MulticlassSVM",
           "LeastSquaresRegression", "LogisticRegression", "SoftmaxRegression"]
