"""The network document: one versioned JSON holding network, dataset, training settings and seed.

Loading always goes through one pipeline: parse (bounded) -> upgrade old versions ->
check structure (unknown keys, layer types and datasets are rejected) -> fill defaults.
Value ranges and the graph itself are checked afterwards by `dlbuilder.validation`, so an
editor can still open a broken network and show what to fix.
"""

from __future__ import annotations

import json
import keyword
import math
import re
from dataclasses import dataclass, field
from typing import Any, Callable

from dlbuilder.datasets import DATASETS
from dlbuilder.layers import LAYERS
from dlbuilder.params import fill_defaults, unknown_keys
from dlbuilder.training.settings import TRAINING_PARAMS

SCHEMA_VERSION = 1
MAX_DOCUMENT_BYTES = 1_000_000
MAX_NODES = 1_000  # hard structural bound; the (lower) configurable cap is in limits.py
MAX_EDGES = 4_000
MAX_TEXT = 2_000
MAX_NESTING = 16  # a valid document nests 6 levels; deeper ones could overflow the stack later
ID_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
# Names generated code and nn.Module already use; a node may not be called like them.
RESERVED_IDS = frozenset({"self", "torch", "nn", "x", "inputs", "model", "forward", "training",
                          "type", "float", "double", "half", "cuda", "cpu", "to", "train", "eval",
                          "apply", "state_dict", "parameters", "modules", "children", "capture"})

TOP_KEYS = ("schema_version", "name", "description", "network", "data", "training", "seed")
NODE_KEYS = ("id", "type", "params", "position")
EDGE_KEYS = ("source", "target", "slot")
DATA_KEYS = ("name", "params")


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
        check_nesting(raw)
        raw = upgrade(raw)
        reader = _Reader()
        document = reader.document(raw)
        if reader.problems:
            raise DocumentError(reader.problems)
        return document


# Each entry upgrades a dict of version N to version N + 1.
UPGRADES: dict[int, Callable[[dict], dict]] = {}


def upgrade(raw: Any) -> dict:
    """Bring an older document up to SCHEMA_VERSION; refuse unknown or newer versions."""
    if not isinstance(raw, dict):
        raise DocumentError([f"a document must be a JSON object, not {type(raw).__name__}"])
    version = raw.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise DocumentError([f"schema_version must be a whole number from 1 to {SCHEMA_VERSION}, "
                             f"got {str(version)[:20]!r}"])
    if version > SCHEMA_VERSION:
        raise DocumentError([f"this document has schema_version {version}, made by a newer dlbuilder "
                             f"(this one reads up to {SCHEMA_VERSION}): update dlbuilder"])
    while version < SCHEMA_VERSION:
        raw = UPGRADES[version](raw)
        version += 1
    return raw


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
        return json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise DocumentError(["document is nested too deeply to be a network"]) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DocumentError([f"not valid JSON: {error}"]) from None


def _reject_constant(name: str) -> None:
    raise DocumentError([f"{name} is not a number a network can use: write a finite number"])


def load_document(source: str | bytes | dict) -> Document:
    """The one load pipeline for files, uploads, share links and presets."""
    raw = source if isinstance(source, dict) else parse_json(source)
    return Document.from_dict(raw)


class _Reader:
    """Reads raw JSON into a Document, collecting every structural problem instead of stopping."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def fail(self, message: str) -> None:
        self.problems.append(message)

    def keys(self, where: str, value: dict, allowed: tuple[str, ...]) -> None:
        for key in value:
            if key not in allowed:
                self.fail(f"{where}: unknown key {str(key)[:40]!r} (allowed: {', '.join(allowed)})")

    def document(self, raw: dict) -> Document | None:
        self.keys("document", raw, TOP_KEYS)
        network = raw.get("network")
        if not isinstance(network, dict):
            self.fail("document: 'network' must be an object with 'nodes' and 'edges'")
            return None
        self.keys("network", network, ("nodes", "edges"))
        nodes = self.nodes(network.get("nodes"))
        edges = self.edges(network.get("edges", []))
        return Document(
            nodes=nodes, edges=edges,
            name=self.text("name", raw.get("name", "untitled")),
            description=self.text("description", raw.get("description", "")),
            data=self.data(raw.get("data")),
            training=self.section("training", raw.get("training", {}), TRAINING_PARAMS),
            seed=self.seed(raw.get("seed", 0)),
        )

    def text(self, where: str, value: Any) -> str:
        if not isinstance(value, str) or len(value) > MAX_TEXT:
            self.fail(f"{where} must be a text of at most {MAX_TEXT} characters")
            return ""
        return value

    def seed(self, value: Any) -> int:
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**31:
            self.fail(f"seed must be a whole number from 0 to {2**31 - 1}")
            return 0
        return value

    def section(self, where: str, value: Any, schema) -> dict:
        if not isinstance(value, dict):
            self.fail(f"{where} must be an object")
            return fill_defaults(schema, {})
        for key in unknown_keys(schema, value):
            self.fail(f"{where}: unknown setting {str(key)[:40]!r}")
        return fill_defaults(schema, value)

    def data(self, value: Any) -> DataChoice | None:
        if value is None:
            return None
        if not isinstance(value, dict) or not isinstance(value.get("name"), str):
            self.fail("data must be an object with a dataset 'name' and 'params'")
            return None
        self.keys("data", value, DATA_KEYS)
        spec = DATASETS.get(value["name"])
        if spec is None:
            self.fail(f"data: unknown dataset {value['name'][:40]!r} (known: {', '.join(DATASETS)})")
            return None
        return DataChoice(spec.name, self.section(f"data ({spec.name})", value.get("params", {}), spec.params))

    def nodes(self, value: Any) -> list[Node]:
        if not isinstance(value, list):
            self.fail("network: 'nodes' must be a list")
            return []
        if len(value) > MAX_NODES:
            self.fail(f"network has {len(value):,} nodes; at most {MAX_NODES:,} can be read")
            return []
        nodes, seen = [], set()
        for index, entry in enumerate(value):
            node = self.node(index, entry)
            if node is None:
                continue
            if node.id in seen:
                self.fail(f"{node.id}: two nodes have this id: rename one")
                continue
            seen.add(node.id)
            nodes.append(node)
        return nodes

    def node(self, index: int, entry: Any) -> Node | None:
        if not isinstance(entry, dict):
            self.fail(f"node #{index + 1} must be an object with 'id' and 'type'")
            return None
        node_id = entry.get("id")
        if not isinstance(node_id, str) or not ID_PATTERN.match(node_id) or keyword.iskeyword(node_id):
            self.fail(f"node #{index + 1}: id {str(node_id)[:40]!r} must start with a lowercase letter and "
                      "use only a-z, 0-9 and _ (at most 40 characters)")
            return None
        if node_id in RESERVED_IDS:
            self.fail(f"{node_id}: this id is reserved by Python/PyTorch: rename the node")
            return None
        self.keys(node_id, entry, NODE_KEYS)
        layer = LAYERS.get(entry.get("type")) if isinstance(entry.get("type"), str) else None
        if layer is None:
            self.fail(f"{node_id}: unknown layer type {str(entry.get('type'))[:40]!r} "
                      f"(known: {', '.join(LAYERS)})")
            return None
        params = entry.get("params", {})
        if not isinstance(params, dict):
            self.fail(f"{node_id}: params must be an object")
            return None
        for key in unknown_keys(layer.params, params):
            known = ", ".join(p.name for p in layer.params) or "none"
            self.fail(f"{node_id}: {layer.title} has no parameter {str(key)[:40]!r} (it has: {known})")
        return Node(node_id, layer.name, fill_defaults(layer.params, params), self.position(node_id, entry))

    def position(self, node_id: str, entry: dict) -> tuple[float, float] | None:
        value = entry.get("position")
        if value is None:
            return None
        if (isinstance(value, list) and len(value) == 2
                and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                        and abs(v) <= 1e6 for v in value)):
            return (float(value[0]), float(value[1]))
        self.fail(f"{node_id}: position must be two numbers [x, y]")
        return None

    def edges(self, value: Any) -> list[Edge]:
        if not isinstance(value, list) or len(value) > MAX_EDGES:
            self.fail(f"network: 'edges' must be a list of at most {MAX_EDGES:,}")
            return []
        edges = []
        for index, entry in enumerate(value):
            ok = (isinstance(entry, dict) and isinstance(entry.get("source"), str)
                  and isinstance(entry.get("target"), str)
                  and isinstance(entry.get("slot", 0), int) and not isinstance(entry.get("slot", 0), bool)
                  and 0 <= entry.get("slot", 0) < 64)
            if not ok:
                self.fail(f"edge #{index + 1} must be {{'source': id, 'target': id, 'slot': 0-63}}")
                continue
            self.keys(f"edge #{index + 1}", entry, EDGE_KEYS)
            if max(len(entry["source"]), len(entry["target"])) > 40:
                self.fail(f"edge #{index + 1}: node ids have at most 40 characters")
                continue
            edges.append(Edge(entry["source"], entry["target"], entry.get("slot", 0)))
        return edges
