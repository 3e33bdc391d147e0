"""dlzoo.interop."""
