"""dlzoo.analysis."""
