"""Recurrent layers mirroring ``torch.nn``: cells (one step) and multi-layer RNN / LSTM / GRU."""

from .cells import GRUCell, LSTMCell, RNNCell
from .rnn import GRU, LSTM, RNN

__all__ = ["RNNCell", "LSTMCell", "GRUCell", "RNN", "LSTM", "GRU"]
