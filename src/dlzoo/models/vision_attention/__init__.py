"""Visual-attention networks: spatial transformer network, recurrent attention model."""
