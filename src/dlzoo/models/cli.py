"""``dlzoo models [PATTERN]`` and ``dlzoo info MODEL``.

``dlzoo models PATTERN`` with no match prints a note naming the pattern on stderr and exits 1 (as ``grep``
does), so a script can tell an empty result from a listing.
"""

from __future__ import annotations

import sys

from ..errors import UsageError
from . import create_model, list_models, model_info
from .profile import format_macs, macs_at_input_size


def count_parameters(model) -> int:
    """Number of parameters, counting tied tensors once."""
    return sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())


MODELS_USAGE = """usage: dlzoo models [PATTERN]

Lists the registered models whose name matches the shell-style PATTERN (default *; quote it:
dlzoo models 'vit*'), one line each: name, family, paper. No match: a note on stderr, exit 1."""

INFO_USAGE = """usage: dlzoo info MODEL

Paper, year and arXiv id of MODEL, its parameter count (built on the meta device, nothing allocated)
against the published count, its default input size and MACs per sample. Names: dlzoo models."""


def main(command: str, argv: list[str]) -> int:
    usage = MODELS_USAGE if command == "models" else INFO_USAGE
    if any(a in ("-h", "--help") for a in argv):
        print(usage)
        return 0
    options = [a for a in argv if a.startswith("-")]
    if options:
        raise UsageError(f"unknown option {options[0]!r}\n{usage}")
    if command == "models":
        if len(argv) > 1:
            raise UsageError(f"give at most one PATTERN (quote it), got {argv}\n{usage}")
        pattern = argv[0] if argv else "*"
        names = list_models(pattern)
        if not names:
            print(f"dlzoo models: no registered model matches {pattern!r} (all: dlzoo models)",
                  file=sys.stderr)
            return 1
        for name in names:
            card = model_info(name)
            print(f"{name:<40} {card.family:<12} {card.paper}")
        return 0
    if len(argv) != 1:
        raise UsageError(usage)
    try:
        card = model_info(argv[0])
    except KeyError as err:
        raise UsageError(str(err.args[0])) from None
    import torch

    with torch.device("meta"):  # counts without allocating (llama3_8b would need 32 GB)
        params = count_parameters(create_model(argv[0]))
    print(f"model:      {card.name} ({card.family})")
    print(f"paper:      {card.paper} ({card.year}) {card.arxiv}")
    print(f"parameters: {params:,}")
    if card.reference_params is not None:
        status = "matches" if params == card.reference_params else "DIFFERS from"
        print(f"reference:  {card.reference_params:,} ({card.source}) — {status} the reference")
    if card.input_size:
        print(f"input size: {card.input_size}")
        macs = macs_at_input_size(argv[0], card.input_size)
        if macs is not None:
            print(f"MACs:       {format_macs(macs)} per sample (conv + linear)")
    return 0
