"""Report writer: Markdown and self-contained HTML from the same blocks; escaping; inlined figures."""

from __future__ import annotations

import base64
import re

import numpy as np
import pytest

from dlzoo.report import Report, markdown_escape
from dlzoo.report.plots import mean_band, plot_alpha_traces, plot_curves, plot_scurves

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _tiny_png(tmp_path):
    return plot_scurves({"l0": (np.array([0.0, 1.0]), np.array([0.0, 0.5]))}, tmp_path / "plots" / "s.png")


def test_markdown_and_html_render_same_content(tmp_path):
    fig = _tiny_png(tmp_path)
    rep = Report("Title <1>")
    rep.heading("Results").paragraph("a <b>bold</b> & *claim*")
    rep.table(["norm", "acc"], [["layer_norm|x", "95.00"], ["dyt", "90.00"]], align=["l", "r"])
    rep.figure(fig, "S & curve")
    rep.pre("x = 1 < 2")
    md_path, html_path = rep.write(tmp_path)
    md, page = md_path.read_text(), html_path.read_text()
    # markdown: escaped specials, table with alignment row, figure linked relatively
    assert "# Title \\<1\\>" in md
    assert "a \\<b\\>bold\\</b\\> & \\*claim\\*" in md
    assert "|---|---:|" in md
    assert "| layer_norm\\|x | 95.00 |" in md
    assert "](plots/s.png)" in md
    # html: text escaped, no external references, the figure's exact bytes inlined
    assert "<b>bold</b>" not in page and "a &lt;b&gt;bold&lt;/b&gt; &amp; *claim*" in page
    assert "<td class=\"txt\">layer_norm|x</td><td class=\"num\">95.00</td>" in page
    assert "x = 1 &lt; 2" in page
    srcs = re.findall(r'src="([^"]+)"', page)
    assert len(srcs) == 1 and srcs[0].startswith("data:image/png;base64,")
    assert base64.b64decode(srcs[0].split(",", 1)[1]) == fig.read_bytes()
    assert "plots/s.png" not in page


def test_table_rejects_ragged_rows():
    with pytest.raises(ValueError, match="row 1 has 1 cells, expected 2"):
        Report("t").table(["a", "b"], [["1", "2"], ["3"]])


def test_markdown_escape_keeps_intraword_underscore():
    assert markdown_escape("vit_tiny_digits") == "vit_tiny_digits"
    assert markdown_escape("_x_ [a](b) #1") == "\\_x\\_ \\[a\\](b) \\#1"


def test_mean_band_matches_numpy_and_skips_missing_values():
    h1 = [{"epoch": 1, "val_acc": 0.5}, {"epoch": 2, "val_acc": None}, {"epoch": 3, "val_acc": 0.9}]
    h2 = [{"epoch": 1, "val_acc": 0.7}, {"epoch": 2, "val_acc": None}, {"epoch": 3, "val_acc": 0.8}]
    epochs, mean, low, high = mean_band([h1, h2], "val_acc")
    np.testing.assert_array_equal(epochs, [1.0, 3.0])
    np.testing.assert_allclose(mean, [0.6, 0.85])
    np.testing.assert_allclose(low, [0.5, 0.8])
    np.testing.assert_allclose(high, [0.7, 0.9])
    with pytest.raises(ValueError, match="no history has key 'nope'"):
        mean_band([h1], "nope")


def test_plots_write_png_files(tmp_path):
    hist = [{"epoch": e, "train_loss": 1.0 / e, "val_acc": 0.1 * e} for e in range(1, 5)]
    groups = {"layernorm": [hist, hist], "dyt": [hist]}
    p1 = plot_curves(groups, [("train_loss", "loss"), ("val_acc", "acc")], tmp_path / "c.png", title="t")
    p2 = plot_alpha_traces({"dyt": {"blocks.0.alpha": [0.5, 0.6], "blocks.1.alpha": [0.5, 0.4]}},
                           tmp_path / "a.png", init={"dyt": 0.5})
    for p in (p1, p2):
        assert p.read_bytes()[:8] == PNG_MAGIC
