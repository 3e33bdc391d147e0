"""Exceptions the command line turns into exit codes (2: usage/config error, no traceback)."""


class UsageError(ValueError):
    """Bad command-line usage or an invalid config. The CLI prints the message and exits 2."""


class FileLoadError(ValueError):
    """A file on disk (model directory, checkpoint) that cannot be read. The message is one line naming the
    file; the CLI prints it and exits 2. Subclasses: ``dlzoo.hub.PretrainedLoadError``,
    ``dlzoo.train.checkpoint.CheckpointError``."""
