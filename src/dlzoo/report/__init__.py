"""dlzoo.report: Markdown + self-contained HTML reports with matplotlib figures."""

from .document import Report, markdown_escape

__all__ = ["Report", "markdown_escape"]
