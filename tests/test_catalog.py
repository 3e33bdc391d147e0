"""The committed catalog (README section and docs/catalog.md) is what `dlzoo catalog` generates now."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from dlzoo import catalog

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_committed_catalog_is_current():
    # a fresh interpreter: other tests register temporary entries (models, losses) in this process
    run = subprocess.run([sys.executable, "-m", "dlzoo.cli", "catalog", "--check", "--root", str(ROOT)],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr


def test_check_reports_a_stale_catalog(tmp_path, capsys):
    (tmp_path / "README.md").write_text(f"# x\n\n{catalog.START}\nSTALE-CATALOG-TEXT\n{catalog.END}\n")
    assert catalog.main(["--check", "--root", str(tmp_path)]) == 1
    assert "stale" in capsys.readouterr().out
    assert "STALE-CATALOG-TEXT" in (tmp_path / "README.md").read_text()  # --check writes nothing
    assert catalog.main(["--root", str(tmp_path)]) == 0
    readme = (tmp_path / "README.md").read_text()
    assert "STALE-CATALOG-TEXT" not in readme and "`dlzoo.create_model`" in readme
    page = (tmp_path / "docs" / "catalog.md").read_text()
    assert page.startswith("# Catalog")
    # MACs per sample at the card's input size: torchvision publishes 4.09 GFLOPS (= MACs) for resnet50
    resnet50 = next(line for line in page.splitlines() if "| `resnet50` |" in line)
    assert "| 4.09 G |" in resnet50, resnet50
    assert catalog.main(["--check", "--root", str(tmp_path)]) == 0


def test_readme_without_markers_is_a_usage_error(tmp_path):
    (tmp_path / "README.md").write_text("# x\n")
    with pytest.raises(catalog.UsageError, match="no catalog markers"):
        catalog.main(["--root", str(tmp_path)])
