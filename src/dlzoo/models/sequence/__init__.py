"""Sequence models: recurrent classifiers and language models, echo-state networks, seq2seq, the Transformer."""
