"""dlzoo.optim."""
