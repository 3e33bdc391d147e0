"""Exceptions the command line turns into exit codes (2: usage/config error, no traceback)."""


class UsageError(ValueError):
    """Bad command-line usage or an invalid config. The CLI prints the message and exits 2."""
