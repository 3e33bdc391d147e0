"""dlzoo.losses."""
