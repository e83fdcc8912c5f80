"""The network document: one versioned JSON holding network, dataset, training settings and seed.

Loading always goes through one pipeline: parse (bounded) -> upgrade old versions ->
check structure (unknown keys, layer types and datasets are rejected) -> fill defaults.
Value ranges and the graph itself are checked afterwards by `dlbuilder.validation`, so an
editor can still open a broken network and show what to fix.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Callable

from dlbuilder.params import fill_defaults
from dlbuilder.training.settings import TRAINING_PARAMS

SCHEMA_VERSION = 1
MAX_DOCUMENT_BYTES = 1_000_000
MAX_NODES = 1_000  # hard structural bound; the (lower) configurable cap is in limits.py
MAX_EDGES = 4_000
MAX_TEXT = 2_000
MAX_NESTING = 16  # a valid document nests 6 levels; deeper ones could overflow the stack later
# Characters of one number in the JSON text. A valid document needs at most ~25 (a float's
# repr); bounding them keeps Python's 4,300-digit int limit (a ValueError) out of reach.
MAX_NUMBER_CHARS = 100


class DocumentError(ValueError):
    """A document that cannot be read at all; `problems` lists every reason, one line each."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("; ".join(self.problems) if len(self.problems) < 4
                         else f"{'; '.join(self.problems[:3])}; and {len(self.problems) - 3} more")


@dataclass
class Node:
    """One layer in the diagram."""

    id: str
    type: str
    params: dict[str, Any] = field(default_factory=dict)
    position: tuple[float, float] | None = None


@dataclass(frozen=True)
class Edge:
    """Data flows from `source` into input `slot` of `target` (slots order Concat and attention)."""

    source: str
    target: str
    slot: int = 0


@dataclass
class DataChoice:
    """The dataset by registry name, with its parameters."""

    name: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class Document:
    """The whole shareable setup: network, dataset, training settings and seed."""

    nodes: list[Node]
    edges: list[Edge]
    name: str = "untitled"
    description: str = ""
    data: DataChoice | None = None
    training: dict[str, Any] = field(default_factory=lambda: fill_defaults(TRAINING_PARAMS, {}))
    seed: int = 0

    def node(self, node_id: str) -> Node:
        return next(n for n in self.nodes if n.id == node_id)

    def incoming(self, node_id: str) -> list[Edge]:
        """Edges into `node_id`, ordered by slot."""
        return sorted((e for e in self.edges if e.target == node_id), key=lambda e: e.slot)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (the file format, and what share links compress)."""
        nodes = []
        for node in self.nodes:
            entry = {"id": node.id, "type": node.type, "params": dict(node.params)}
            if node.position is not None:
                entry["position"] = [round(node.position[0], 1), round(node.position[1], 1)]
            nodes.append(entry)
        return {
            "schema_version": SCHEMA_VERSION,
            "name": self.name,
            "description": self.description,
            "network": {"nodes": nodes, "edges": [
                {"source": e.source, "target": e.target, "slot": e.slot} for e in self.edges]},
            "data": None if self.data is None else {"name": self.data.name, "params": dict(self.data.params)},
            "training": dict(self.training),
            "seed": self.seed,
        }

    def to_json(self, indent: int | None = 2) -> str:
        separators = (",", ":") if indent is None else None
        return json.dumps(self.to_dict(), indent=indent, separators=separators)

    @classmethod
    def from_dict(cls, raw: Any) -> "Document":
        """Upgrade, check the structure, fill defaults; raise DocumentError listing every problem."""
        from dlbuilder.document_reader import read_structure  # the reader builds these classes

        check_nesting(raw)
        return read_structure(upgrade(raw))


# Each entry upgrades a dict of version N to version N + 1.
UPGRADES: dict[int, Callable[[dict], dict]] = {}


def upgrade(raw: Any) -> dict:
    """Bring an older document up to SCHEMA_VERSION; refuse unknown or newer versions."""
    if not isinstance(raw, dict):
        raise DocumentError([f"a document must be a JSON object, not {type(raw).__name__}"])
    version = raw.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise DocumentError([f"schema_version must be a whole number from 1 to {SCHEMA_VERSION}, "
                             f"got {shown(version, 20)!r}"])
    if version > SCHEMA_VERSION:
        raise DocumentError([f"this document has schema_version {version}, made by a newer dlbuilder "
                             f"(this one reads up to {SCHEMA_VERSION}): update dlbuilder"])
    while version < SCHEMA_VERSION:
        raw = UPGRADES[version](raw)
        version += 1
    return raw


def shown(value: Any, limit: int = 40) -> str:
    """The start of `value` as text for a message; never fails (str() of a 5,000-digit int does)."""
    try:
        return str(value)[:limit]
    except ValueError:
        return "a very long number"


def check_nesting(raw: Any) -> None:
    """Refuse objects nested deeper than MAX_NESTING (checked without recursion)."""
    stack = [(raw, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, (dict, list)):
            if depth > MAX_NESTING:
                raise DocumentError(["document is nested too deeply to be a network"])
            stack.extend((item, depth + 1) for item in (value.values() if isinstance(value, dict) else value))


def parse_json(text: str | bytes) -> Any:
    """Parse JSON text with a size bound; raise DocumentError in one line if it is not JSON."""
    if len(text) > MAX_DOCUMENT_BYTES:
        raise DocumentError([f"document is {len(text):,} bytes; at most {MAX_DOCUMENT_BYTES:,} allowed"])
    try:
        return json.loads(text, parse_constant=_reject_constant, parse_int=_parse_int, parse_float=_parse_float)
    except RecursionError:
        raise DocumentError(["document is nested too deeply to be a network"]) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DocumentError([f"not valid JSON: {error}"]) from None


def _reject_constant(name: str) -> None:
    raise DocumentError([f"{name} is not a number a network can use: write a finite number"])


def _check_number_length(text: str) -> None:
    if len(text) > MAX_NUMBER_CHARS:
        raise DocumentError([f"a number in the document has {len(text):,} characters; at most "
                             f"{MAX_NUMBER_CHARS} are allowed: write a shorter number"])


def _parse_int(text: str) -> int:
    _check_number_length(text)
    return int(text)


def _parse_float(text: str) -> float:
    _check_number_length(text)
    value = float(text)
    if not math.isfinite(value):
        raise DocumentError([f"{text[:20]} is too large for a number a network can use: write a smaller one"])
    return value


def load_document(source: str | bytes | dict) -> Document:
    """The one load pipeline for files, uploads, share links and presets."""
    raw = source if isinstance(source, dict) else parse_json(source)
    return Document.from_dict(raw)
