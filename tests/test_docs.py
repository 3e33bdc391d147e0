"""The documentation site builds with ``mkdocs build --strict`` (mkdocs.yml; broken links, missing pages and
modules mkdocstrings cannot load fail it), and what it shows comes from the sources it claims to.

One build into a temporary directory is shared by the assertions (about 5 s of CPU).
"""

from __future__ import annotations

import importlib.util
import inspect
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def _hook():
    spec = importlib.util.spec_from_file_location(
        "docs_results_pages", ROOT / "docs" / "hooks" / "results_pages.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    run = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-5000:]
    return out


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def test_pages_of_the_nav_are_built(site):
    for page in [
        "index",
        "getting-started",
        "architecture",
        "catalog",
        "reference/index",
        "experiments/index",
        "benchmarks/index",
    ]:
        assert (site / f"{page}.html").is_file(), page
    for family in [
        "norms",
        "attention",
        "layers",
        "models",
        "optimizers",
        "schedulers",
        "losses",
        "analysis",
        "experiments",
        "training",
        "core",
    ]:
        assert (site / "reference" / f"{family}.html").is_file(), family


def test_catalog_page_is_the_generated_catalog(site):
    html = _text(site / "catalog.html")
    # every model row of docs/catalog.md (written by `dlzoo catalog`) is on the page
    names = re.findall(r"^\| [\w.-]+ \| `([\w.]+)` \|", _text(ROOT / "docs" / "catalog.md"), re.MULTILINE)
    assert len(names) > 40
    missing = [n for n in names if f"<code>{n}</code>" not in html]
    assert not missing, missing


def test_reference_pages_show_the_docstring_equations(site):
    # the equation lines of the DyT and RMSNorm module docstrings (read from the modules, not typed here)
    import dlzoo.nn.dyt
    import dlzoo.nn.norms

    norms = _text(site / "reference" / "norms.html")
    for module, marker in [(dlzoo.nn.dyt, "DyT(x) ="), (dlzoo.nn.norms, "y = x / sqrt(")]:
        line = next(ln.strip() for ln in module.__doc__.splitlines() if marker in ln)
        equation = line[line.index(marker) :].split(".")[0].split(" The ")[0]
        assert equation.replace(">", "&gt;") in norms, equation
    assert 'id="dlzoo.nn.dyt.DyT"' in norms
    # reST roles of the docstrings are not shown verbatim
    assert ":func:" not in norms and ":class:" not in norms


def test_every_module_has_a_reference_entry(site):
    """Each module file of the documented packages is rendered on exactly one reference page."""
    pages = {p.stem: _text(p) for p in (site / "reference").glob("*.html")}
    src = ROOT / "src"
    for package in [
        "nn",
        "optim",
        "losses",
        "analysis",
        "experiments",
        "models",
        "train",
        "data",
        "interop",
        "kernels",
        "report",
    ]:
        for path in (src / "dlzoo" / package).rglob("*.py"):
            rel = path.relative_to(src).with_suffix("")
            if any(part.startswith("_") for part in rel.parts):
                continue
            name = ".".join(rel.parts)
            hits = [stem for stem, html in pages.items() if f'id="{name}"' in html]
            assert len(hits) == 1, (name, hits)


def test_results_pages_come_from_benchmarks_results(site):
    for md in RESULTS.glob("*.md"):
        page = site / "benchmarks" / f"{md.stem}.html"
        assert page.is_file(), md.name
        # the first table row of the committed Markdown is on the page
        row = next(ln for ln in _text(md).splitlines() if ln.startswith("| ") and "---" not in ln)
        first_cell = row.split("|")[1].strip()
        assert first_cell.replace("&", "&amp;") in _text(page), (md.name, first_cell)
    for png in RESULTS.glob("*.png"):
        assert (site / "benchmarks" / png.name).read_bytes() == png.read_bytes()
        assert f'src="{png.name}"' in _text(site / "benchmarks" / f"{png.stem}.html")
    reports = [d for d in RESULTS.iterdir() if (d / "report.md").is_file()]
    assert reports, "no committed experiment report"
    for d in reports:
        html = _text(site / "experiments" / d.name / "report.html")
        for plot in d.glob("plots/*.png"):
            assert (site / "experiments" / d.name / "plots" / plot.name).is_file()
            assert f'src="plots/{plot.name}"' in html, plot.name
        assert f"{d.name}/report.md" in _text(site / "experiments" / "index.html").replace(".html", ".md")


def test_module_marker_expansion_follows_the_files_on_disk():
    hook = _hook()
    attention = sorted(
        p.stem for p in (ROOT / "src/dlzoo/nn/attention").glob("*.py") if not p.stem.startswith("_")
    )
    assert hook._modules("dlzoo.nn.attention") == ["dlzoo.nn.attention"] + [
        f"dlzoo.nn.attention.{m}" for m in attention
    ]
    md = "<!-- modules: dlzoo.optim -->\n<!-- modules-except: dlzoo.optim.schedulers -->\n"
    blocks = re.findall(r"^::: (\S+)", hook._MODULES.sub(hook._expand, md), re.MULTILINE)
    assert "dlzoo.optim.sgd" in blocks and "dlzoo.optim" in blocks
    assert not [b for b in blocks if b.startswith("dlzoo.optim.schedulers")]
    with pytest.raises(ValueError, match="dlzoo.nope"):
        hook._modules("dlzoo.nope")


def test_make_docs_regenerates_the_catalog_then_builds_strict():
    run = subprocess.run(["make", "-n", "docs"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    lines = [ln for ln in run.stdout.splitlines() if "dlzoo catalog" in ln or "mkdocs build" in ln]
    assert len(lines) == 2 and "dlzoo catalog" in lines[0], run.stdout
    assert "--strict" in lines[1] and "--site-dir site" in lines[1]
    assert "site/" in _text(ROOT / ".gitignore").splitlines()


def test_docstring_indent_extension_keeps_an_example_block_and_cleans_like_cleandoc_otherwise():
    spec = importlib.util.spec_from_file_location(
        "griffe_docstring_indent", ROOT / "docs" / "hooks" / "griffe_docstring_indent.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    dedent = module.dedent_to_closing_quotes
    # a module docstring whose body is only an example: cleandoc would move the block to column 0
    raw = 'Summary.\n\n    x = f()\n    x[-1]["key"]\n'
    assert inspect.cleandoc(raw).splitlines()[2] == "x = f()"
    assert dedent(raw) == 'Summary.\n\n    x = f()\n    x[-1]["key"]'
    # an ordinary method docstring (closing quotes at the body's indentation): the same as cleandoc
    raw = "Summary.\n\n        Args:\n            x: the input.\n\n        Returns:\n            y.\n        "
    assert dedent(raw) == inspect.cleandoc(raw)
    assert dedent("One line.") is None and dedent("Summary.\n    text\n    end.") is None
