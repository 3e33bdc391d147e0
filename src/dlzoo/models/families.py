"""Imports every model family so its builders register (one line per family file)."""

# ruff: noqa: F401
from . import (
    alexnet,
    capsnet,
    clip,
    convnext,
    coshnet,
    densenet,
    depth_anything,
    googlenet,
    lenet,
    mlp,
    mobilenetv4,
    nin,
    resnet,
    simple_cnn,
    swin,
    unet3d,
    vgg,
    vit,
)
from .embedding import linear_autoencoder, matrix_factorization, word2vec
from .energy import hopfield, rbm
from .generative import dcgan, ddpm, vae
from .graph import diffpool, gnn
from .language import gpt2, llama
from .sequence import echo_state, rnn, seq2seq, transformer
from .shallow import least_squares, logistic, perceptron, svm
from .vision_attention import ram, stn
