"""dlzoo.report."""
