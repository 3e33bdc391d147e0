"""dlzoo.train."""
