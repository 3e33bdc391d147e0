"""Sequence models: recurrent classifiers and LMs, echo-state networks, seq2seq, the Transformer."""
