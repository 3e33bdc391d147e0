"""Griffe extension: keep the indentation a docstring's author wrote relative to its closing quotes.

Griffe cleans docstrings like ``inspect.cleandoc``: the common indentation of every line after the first is
removed. In a docstring whose body is *only* an indented example (the summary on the first line, then a
blank line and a four-space-indented block), that strips the block to column 0, and Markdown then renders
the example as a paragraph (and reads ``x[-1]["key"]`` as a cross-reference). The closing quotes' column is
where the author's text starts, so this extension dedents by that column instead and an indented block stays
a code block. Docstrings whose closing quotes share a line with text are left as griffe cleaned them.
"""

from __future__ import annotations

import ast
from typing import Any

from griffe import Extension, Object


def dedent_to_closing_quotes(raw: str) -> str | None:
    """``raw`` (the docstring as written) dedented by its closing quotes' column, or None to keep griffe's."""
    lines = raw.expandtabs().split("\n")
    if len(lines) < 2 or lines[-1].strip():
        return None
    base = len(lines[-1])
    body = [ln[base:] if not ln[:base].strip() else ln.lstrip() for ln in lines[1:]]
    text = "\n".join([lines[0].strip(), *body]).strip("\n")
    return text


class KeepDocstringIndent(Extension):
    def on_instance(self, *, node: ast.AST | Any, obj: Object, agent: Any, **kwargs: Any) -> None:
        if obj.docstring is None or not isinstance(
            node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
        ):
            return
        raw = ast.get_docstring(node, clean=False)
        fixed = dedent_to_closing_quotes(raw) if raw else None
        if fixed is not None:
            obj.docstring.value = fixed
