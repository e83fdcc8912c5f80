"""What differs between two runs' documents: training settings, seed, data settings and layers."""

from __future__ import annotations

from typing import Any

from dlbuilder.document import Document
from dlbuilder.experiments.chain import ChainError, describe_widths, parse_chain


def flat_settings(document: Document) -> dict[str, Any]:
    """Every setting of a document under a readable name ("training: learning_rate", "layer dense1: units")."""
    flat: dict[str, Any] = {"seed": document.seed}
    flat.update({f"training: {name}": value for name, value in document.training.items()})
    if document.data is not None:
        flat["data: dataset"] = document.data.name
        flat.update({f"data: {name}": value for name, value in document.data.params.items()})
    try:
        flat["hidden layer widths"] = describe_widths(parse_chain(document).widths)
    except ChainError:
        pass  # not a plain chain: the per-layer entries below say it all
    for node in document.nodes:
        flat[f"layer {node.id}"] = node.type
        flat.update({f"layer {node.id}: {name}": value for name, value in node.params.items()})
    return flat


def settings_differences(first: Document, second: Document) -> list[dict[str, str]]:
    """One row per setting whose value differs (or exists in only one): setting, first, second."""
    a, b = flat_settings(first), flat_settings(second)
    rows = []
    for name in list(dict.fromkeys([*a, *b])):
        if a.get(name, "—") != b.get(name, "—"):
            rows.append({"setting": name, "first run": _text(a.get(name, "—")),
                         "second run": _text(b.get(name, "—"))})
    return rows


def _text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return str(value)
