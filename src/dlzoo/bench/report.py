"""Writing benchmark results: one JSON file (machine-readable) and one Markdown table per benchmark.

    meta = environment("cpu", rounds=10)
    write_results(RESULTS / "conv_cpu", "conv vs torch", COLUMNS, rows, meta, notes=["medians of ..."])

``COLUMNS`` is a list of ``(header, row key, format)``; ``rows`` are dicts (what goes to the JSON file).
"""

from __future__ import annotations

import json
import platform
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

__all__ = ["Column", "environment", "write_results"]

Column = tuple[str, str, str]  # (Markdown header, row key, str.format spec such as "{:.3f}")


def environment(device: str = "cpu", **extra: Any) -> dict[str, Any]:
    """What a timing depends on: device (and GPU name), torch version, thread count, CPU architecture."""
    gpu = torch.cuda.get_device_name() if device == "cuda" else None
    return {"device": device, "gpu": gpu, "torch": torch.__version__, "threads": torch.get_num_threads(),
            "machine": platform.machine(), **extra}


def write_results(stem: Path, title: str, columns: Sequence[Column], rows: Sequence[dict[str, Any]],
                  meta: dict[str, Any], notes: Sequence[str] = ()) -> str:
    """Write ``stem.json`` (``{"meta", "rows"}``) and ``stem.md`` (title, table, notes); return the md."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    stem.with_suffix(".json").write_text(json.dumps({"meta": meta, "rows": list(rows)}, indent=2) + "\n")
    numeric = [isinstance(rows[0][key], (int, float)) if rows else False for _, key, _ in columns]
    lines = [f"# {title}", "",
             "| " + " | ".join(header for header, _, _ in columns) + " |",
             "| " + " | ".join("---:" if num else "---" for num in numeric) + " |"]
    lines += ["| " + " | ".join(fmt.format(row[key]) for _, key, fmt in columns) + " |" for row in rows]
    lines += ["", *notes]
    markdown = "\n".join(lines).rstrip() + "\n"
    stem.with_suffix(".md").write_text(markdown)
    return markdown
