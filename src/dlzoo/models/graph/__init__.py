"""Graph neural networks: node classifiers (GCN, GraphSAGE) and graph classifiers (GIN, DiffPool)."""
