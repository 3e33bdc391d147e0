"""dlzoo.kernels."""
