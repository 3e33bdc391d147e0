"""dlzoo.bench."""
