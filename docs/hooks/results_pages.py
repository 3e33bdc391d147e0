"""mkdocs hook: pages for the committed results and the API reference, generated at build time.

Nothing here is copied into ``docs/`` by hand, so the site can never show stale numbers:

- every ``benchmarks/results/<name>.md`` becomes ``benchmarks/<name>.md`` (with ``<name>.png`` shown under it
  when the benchmark wrote a plot of the same name), every ``benchmarks/results/<name>/`` folder that holds a
  ``report.md`` (an experiment's committed report) becomes ``experiments/<name>/report.md`` with its
  ``plots/`` and its self-contained ``report.html``, and every other folder of Markdown tables becomes
  ``benchmarks/<name>/<file>.md``; ``on_config`` lists all of them in the navigation;
- a line ``<!-- modules: dlzoo.nn.attention dlzoo.nn.create_attn -->`` in a page expands to one mkdocstrings
  ``::: module`` block per module found under those names on disk (a package stands for itself and all its
  modules, recursively), so a new module file shows up in the reference without editing the docs;
  ``<!-- modules-except: ... -->`` on the next line removes modules documented on another page.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results"
SRC = ROOT / "src"

_MODULES = re.compile(
    r"^<!-- modules: (?P<names>[\w. ]+) -->\n(?:<!-- modules-except: (?P<skip>[\w. ]+) -->\n)?", re.MULTILINE
)


def _title(md: Path) -> str:
    """The first ``# heading`` of a Markdown file, or its stem."""
    for line in md.read_text(encoding="utf-8").splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return md.stem


def _benchmark_tables() -> list[Path]:
    return sorted(RESULTS.glob("*.md"))


def _experiment_dirs() -> list[Path]:
    return sorted(d for d in RESULTS.iterdir() if d.is_dir() and (d / "report.md").is_file())


def _table_dirs() -> list[Path]:
    return sorted(
        d for d in RESULTS.iterdir() if d.is_dir() and not (d / "report.md").is_file() and any(d.glob("*.md"))
    )


def on_config(config: Any) -> Any:
    """Append the generated result pages to the ``Benchmarks`` and ``Experiments`` sections of ``nav``."""
    # nav labels are the file names (short and unique; several benchmarks share a title)
    bench: list[Any] = [{md.stem: f"benchmarks/{md.name}"} for md in _benchmark_tables()]
    for d in _table_dirs():
        bench.append({d.name: [{md.stem: f"benchmarks/{d.name}/{md.name}"} for md in sorted(d.glob("*.md"))]})
    reports = [{f"{d.name} report": f"experiments/{d.name}/report.md"} for d in _experiment_dirs()]
    for section in config["nav"]:
        if isinstance(section, dict) and "Benchmarks" in section:
            section["Benchmarks"].extend(bench)
        if isinstance(section, dict) and "Experiments" in section:
            section["Experiments"].extend(reports)
    return config


def _benchmark_page(md: Path) -> str:
    """The committed table, its plot (if the benchmark wrote one) under the title, and where it comes from;
    no table of contents, so the wide tables get the width."""
    title, _, body = md.read_text(encoding="utf-8").partition("\n")
    plot = md.with_suffix(".png")
    if plot.is_file():
        title += f"\n\n![{md.stem} benchmark plot]({plot.name})\n"
    rel = md.relative_to(ROOT).as_posix()
    source = f"*Generated from `{rel}` (and its `.json`) by the benchmark; rerun it to update.*"
    return f"---\nhide:\n  - toc\n---\n\n{title}\n{body}\n\n---\n\n{source}\n"


def _report_page(d: Path) -> str:
    text = (d / "report.md").read_text(encoding="utf-8")
    notes = d / "README.md"
    rel = d.relative_to(ROOT).as_posix()
    head = ""
    if notes.is_file():
        body = notes.read_text(encoding="utf-8").split("\n", 1)[-1].strip()  # drop its own title
        head = (
            '!!! note "How this report was produced"\n\n'
            + "".join(f"    {line}\n" if line else "\n" for line in body.splitlines())
            + "\n"
        )
    links = f"Committed copy: `{rel}/`"
    if (d / "report.html").is_file():
        links += " ([self-contained HTML version](report.html))"
    title, _, rest = text.partition("\n")
    return f"{title}\n\n{links}.\n\n{head}{rest}"


def on_files(files: Files, config: Any) -> Files:
    """Add the result pages, their plots and the reports' HTML versions to the build."""

    def add_page(uri: str, content: str) -> None:
        files.append(File.generated(config, uri, content=content))

    def add_file(uri: str, path: Path) -> None:
        files.append(File.generated(config, uri, abs_src_path=str(path)))

    for md in _benchmark_tables():
        add_page(f"benchmarks/{md.name}", _benchmark_page(md))
    for png in sorted(RESULTS.glob("*.png")):
        add_file(f"benchmarks/{png.name}", png)
    for d in _table_dirs():
        for md in sorted(d.glob("*.md")):
            add_page(f"benchmarks/{d.name}/{md.name}", _benchmark_page(md))
    for d in _experiment_dirs():
        add_page(f"experiments/{d.name}/report.md", _report_page(d))
        for extra in sorted(d.glob("plots/*.png")) + [d / "report.html"]:
            if extra.is_file():
                add_file(f"experiments/{d.name}/{extra.relative_to(d).as_posix()}", extra)
    return files


def _modules(name: str) -> list[str]:
    """``name`` and, when it is a package, every module below it (files starting with ``_`` skipped)."""
    path = SRC.joinpath(*name.split("."))
    if path.with_suffix(".py").is_file():
        return [name]
    if not (path / "__init__.py").is_file():
        raise ValueError(f"docs: <!-- modules: {name} --> names no module or package under src/")
    out = [name]
    for child in sorted(path.iterdir()):
        if child.name.startswith("_"):
            continue
        if child.suffix == ".py":
            out.append(f"{name}.{child.stem}")
        elif (child / "__init__.py").is_file():
            out.extend(_modules(f"{name}.{child.name}"))
    return out


def _expand(match: re.Match[str]) -> str:
    skip = set()
    for name in (match["skip"] or "").split():
        skip.update(_modules(name))
    mods = [m for name in match["names"].split() for m in _modules(name) if m not in skip]
    blocks = []
    for m in dict.fromkeys(mods):
        package = (SRC.joinpath(*m.split(".")) / "__init__.py").is_file()
        # a package's __init__ re-exports its modules' names: show only its docstring, not the copies
        blocks.append(f"::: {m}\n    options:\n      members: false\n\n" if package else f"::: {m}\n\n")
    return "".join(blocks)


_INDEX = re.compile(r"^<!-- results-index: (?P<kind>benchmarks|experiments) -->$", re.MULTILINE)


def _index(match: re.Match[str]) -> str:
    """A table of the generated result pages (links relative to the page holding the marker)."""
    if match["kind"] == "experiments":
        items = [
            f"- [{_title(d / 'report.md')}]({d.name}/report.md) (`benchmarks/results/{d.name}/`)"
            for d in _experiment_dirs()
        ]
    else:
        items = [f"- [{_title(md)}]({md.name}) (`{md.name}`)" for md in _benchmark_tables()]
        for d in _table_dirs():
            items += [
                f"- [{_title(md)}]({d.name}/{md.name}) (`{d.name}/{md.name}`)"
                for md in sorted(d.glob("*.md"))
            ]
    return "\n".join(items) + "\n"


def on_page_markdown(markdown: str, page: Any, config: Any, files: Files) -> str:
    """Expand ``<!-- modules: ... -->`` markers into mkdocstrings blocks and ``<!-- results-index: ... -->``
    markers into tables of the generated result pages; the generated catalog's wide tables get the whole
    width (no navigation sidebar)."""
    if page.file.src_uri == "catalog.md":
        page.meta.setdefault("hide", ["navigation"])
    return _INDEX.sub(_index, _MODULES.sub(_expand, markdown))


_RST_ROLE = re.compile(r":(?:func|class|meth|data|attr|mod|obj|exc|paramref):(<code>)")
_RST_LITERAL = re.compile(r"::(</p>)")


def on_page_content(html: str, page: Any, config: Any, files: Files) -> str:
    """Docstrings are written with reST roles (``:func:`x```) and literal-block markers (``text::``);
    Markdown renders them verbatim, so drop the role prefix and the doubled colon."""
    return _RST_LITERAL.sub(r":\1", _RST_ROLE.sub(r"\1", html))
