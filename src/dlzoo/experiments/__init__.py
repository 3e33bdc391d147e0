"""dlzoo.experiments."""
