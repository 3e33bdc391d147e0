"""A small report document rendered to Markdown and to a self-contained HTML page.

A :class:`Report` is a list of blocks (headings, paragraphs, tables, figures, preformatted text) built
from measured data. Both renderings come from the same blocks, so no Markdown-to-HTML conversion is
needed: the Markdown links figures by relative path (``plots/x.png``), the HTML inlines them as
base64 ``data:`` URIs so the single file can be mailed or opened anywhere. All text is escaped.

    rep = Report("Norm comparison")
    rep.heading("Results")
    rep.table(["norm", "acc"], [["layernorm", "95.1%"]])
    rep.figure(out / "plots" / "curves.png", "Loss curves")
    md_path, html_path = rep.write(out)          # out/report.md, out/report.html
"""

from __future__ import annotations

import base64
import html
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Report", "markdown_escape"]

_MD_SPECIAL = "\\`*_{}[]<>#|"


def markdown_escape(text: str) -> str:
    """Escape Markdown control characters so measured names/values render literally.

    Intraword underscores (``mlp_digits``) are left alone: CommonMark never reads them as emphasis.
    """
    text = str(text)
    out = []
    for i, ch in enumerate(text):
        if ch == "_" and 0 < i < len(text) - 1 and text[i - 1].isalnum() and text[i + 1].isalnum():
            out.append(ch)
        elif ch in _MD_SPECIAL:
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out)


@dataclass
class _Block:
    kind: str  # heading | paragraph | table | figure | pre
    data: dict[str, Any] = field(default_factory=dict)


class Report:
    """An ordered list of report blocks with Markdown and HTML renderers."""

    def __init__(self, title: str) -> None:
        self.title = title
        self.blocks: list[_Block] = []

    # -- building ---------------------------------------------------------------------------------
    def heading(self, text: str, level: int = 2) -> Report:
        if not 1 <= level <= 6:
            raise ValueError(f"Report.heading: level must be in 1..6, got {level}")
        self.blocks.append(_Block("heading", {"text": text, "level": level}))
        return self

    def paragraph(self, text: str) -> Report:
        self.blocks.append(_Block("paragraph", {"text": text}))
        return self

    def bullets(self, items: list[str]) -> Report:
        self.blocks.append(_Block("bullets", {"items": [str(i) for i in items]}))
        return self

    def table(self, headers: list[str], rows: list[list[Any]], align: list[str] | None = None) -> Report:
        """A table; ``align`` per column is ``"l"`` or ``"r"`` (default: right for numbers)."""
        width = len(headers)
        for i, row in enumerate(rows):
            if len(row) != width:
                raise ValueError(f"Report.table: row {i} has {len(row)} cells, expected {width} (headers)")
        if align is None:
            align = ["r" if rows and isinstance(rows[0][j], int | float) else "l" for j in range(width)]
        cells = [[_fmt_cell(c) for c in row] for row in rows]
        self.blocks.append(_Block("table", {"headers": list(headers), "rows": cells, "align": align}))
        return self

    def figure(self, path: str | os.PathLike, caption: str = "") -> Report:
        """A PNG figure (path on disk; linked relatively in Markdown, inlined in HTML)."""
        self.blocks.append(_Block("figure", {"path": Path(path), "caption": caption}))
        return self

    def pre(self, text: str) -> Report:
        self.blocks.append(_Block("pre", {"text": text}))
        return self

    # -- rendering --------------------------------------------------------------------------------
    def to_markdown(self, base_dir: str | os.PathLike | None = None) -> str:
        """Markdown text; figure paths are written relative to ``base_dir`` when given."""
        out = [f"# {markdown_escape(self.title)}", ""]
        for b in self.blocks:
            d = b.data
            if b.kind == "heading":
                out += ["#" * d["level"] + " " + markdown_escape(d["text"]), ""]
            elif b.kind == "paragraph":
                out += [markdown_escape(d["text"]), ""]
            elif b.kind == "bullets":
                out += [f"- {markdown_escape(i)}" for i in d["items"]] + [""]
            elif b.kind == "table":
                out.append("| " + " | ".join(markdown_escape(h) for h in d["headers"]) + " |")
                out.append("|" + "|".join("---:" if a == "r" else "---" for a in d["align"]) + "|")
                out += ["| " + " | ".join(markdown_escape(c) for c in row) + " |" for row in d["rows"]]
                out.append("")
            elif b.kind == "figure":
                path = d["path"]
                rel = os.path.relpath(path, base_dir) if base_dir is not None else str(path)
                out += [f"![{markdown_escape(d['caption'])}]({Path(rel).as_posix()})", ""]
                if d["caption"]:
                    out += [f"*{markdown_escape(d['caption'])}*", ""]
            elif b.kind == "pre":
                fence = "````" if "```" in d["text"] else "```"
                out += [fence, d["text"], fence, ""]
        return "\n".join(out)

    def to_html(self) -> str:
        """A self-contained HTML page: inline CSS, figures embedded as base64 PNG data URIs."""
        e = html.escape
        body = [f"<h1>{e(self.title)}</h1>"]
        for b in self.blocks:
            d = b.data
            if b.kind == "heading":
                body.append(f"<h{d['level']}>{e(d['text'])}</h{d['level']}>")
            elif b.kind == "paragraph":
                body.append(f"<p>{e(d['text'])}</p>")
            elif b.kind == "bullets":
                body.append("<ul>" + "".join(f"<li>{e(i)}</li>" for i in d["items"]) + "</ul>")
            elif b.kind == "table":
                head = "".join(f"<th>{e(h)}</th>" for h in d["headers"])
                cls = ["num" if a == "r" else "txt" for a in d["align"]]
                rows = "".join(
                    "<tr>" + "".join(f'<td class="{k}">{e(c)}</td>' for c, k in zip(row, cls)) + "</tr>"
                    for row in d["rows"]
                )
                body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
            elif b.kind == "figure":
                data = base64.b64encode(Path(d["path"]).read_bytes()).decode("ascii")
                cap = f"<figcaption>{e(d['caption'])}</figcaption>" if d["caption"] else ""
                body.append(
                    f'<figure><img alt="{e(d["caption"], quote=True)}" '
                    f'src="data:image/png;base64,{data}">{cap}</figure>'
                )
            elif b.kind == "pre":
                body.append(f"<pre>{e(d['text'])}</pre>")
        return _HTML_TEMPLATE.format(title=e(self.title), body="\n".join(body))

    def write(self, out_dir: str | os.PathLike, stem: str = "report") -> tuple[Path, Path]:
        """Write ``<stem>.md`` and ``<stem>.html`` into ``out_dir``; returns both paths."""
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        md_path, html_path = out_dir / f"{stem}.md", out_dir / f"{stem}.html"
        md_path.write_text(self.to_markdown(out_dir), encoding="utf-8")
        html_path.write_text(self.to_html(), encoding="utf-8")
        return md_path, html_path


def _fmt_cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


_HTML_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>
body {{ font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; max-width: 1100px;
       margin: 2em auto; padding: 0 1em; color: #222; line-height: 1.45; }}
table {{ border-collapse: collapse; margin: 1em 0; }}
th, td {{ border: 1px solid #ccc; padding: 4px 10px; }}
th {{ background: #f2f2f2; }}
td.num {{ text-align: right; font-variant-numeric: tabular-nums; }}
figure {{ margin: 1.5em 0; }}
figure img {{ max-width: 100%; border: 1px solid #eee; }}
figcaption {{ color: #555; font-size: 0.9em; }}
pre {{ background: #f7f7f7; padding: 0.8em; overflow-x: auto; }}
</style>
</head>
<body>
{body}
</body>
</html>
"""
