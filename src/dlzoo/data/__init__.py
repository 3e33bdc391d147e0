"""dlzoo.data."""
