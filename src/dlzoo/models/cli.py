"""``dlzoo models [PATTERN]`` and ``dlzoo info MODEL``."""

from __future__ import annotations

from ..errors import UsageError
from . import create_model, list_models, model_info


def count_parameters(model) -> int:
    """Number of parameters, counting tied tensors once."""
    return sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())


def main(command: str, argv: list[str]) -> int:
    if command == "models":
        if len(argv) > 1:
            raise UsageError("usage: dlzoo models [PATTERN]")
        for name in list_models(argv[0] if argv else "*"):
            card = model_info(name)
            print(f"{name:<40} {card.family:<12} {card.paper}")
        return 0
    if len(argv) != 1:
        raise UsageError("usage: dlzoo info MODEL")
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
        macs = _macs_or_none(argv[0], card.input_size)
        if macs is not None:
            shown = f"{macs / 1e9:.2f} G" if macs >= 1e8 else f"{macs / 1e6:.2f} M"
            print(f"MACs:       {shown} per sample (conv + linear)")
    return 0


def _macs_or_none(name: str, input_size) -> int | None:
    """MACs of ``name`` at its default input size, built on the meta device; None where not countable."""
    import torch

    from .profile import count_macs

    try:
        with torch.device("meta"):
            return count_macs(create_model(name), input_size)
    except Exception:  # e.g. token-id models: a float dummy input does not apply
        return None
