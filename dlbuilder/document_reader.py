"""Reading raw JSON into a Document, collecting every structural problem instead of stopping.

Unknown keys, layer types and datasets, bad node ids and malformed edges are refused here;
value ranges and the graph itself are checked later by `dlbuilder.validation`.
"""

from __future__ import annotations

import keyword
import math
import re
from typing import Any

from dlbuilder.compile import GraphModel
from dlbuilder.datasets import DATASETS
from dlbuilder.document import (MAX_EDGES, MAX_NODES, MAX_TEXT, DataChoice, Document, DocumentError, Edge, Node,
                                shown)
from dlbuilder.layers import LAYERS
from dlbuilder.params import fill_defaults, unknown_keys
from dlbuilder.training.settings import TRAINING_PARAMS

ID_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,39}")  # always fullmatch: "$" would allow a final newline
# A node id becomes an attribute of the compiled GraphModel (and of the exported class) and a
# local name in generated code, so it may not be any attribute a model has (nn.Module's methods,
# GraphModel's own, those set in __init__ such as `training` and `steps`), a Python keyword, or
# a name the generated file uses.
GENERATED_CODE_NAMES = frozenset({"self", "torch", "nn", "super", "print", "model", "x", "inputs"})
RESERVED_IDS = frozenset(name for name in set(dir(GraphModel({}, [], {}, "output"))) | GENERATED_CODE_NAMES
                         | set(keyword.kwlist) if ID_PATTERN.fullmatch(name))

TOP_KEYS = ("schema_version", "name", "description", "network", "data", "training", "seed")
NODE_KEYS = ("id", "type", "params", "position")
EDGE_KEYS = ("source", "target", "slot")
DATA_KEYS = ("name", "params")

def read_structure(raw: dict) -> Document:
    """A Document from an upgraded raw dict; raise DocumentError listing every problem."""
    reader = _Reader()
    document = reader.document(raw)
    if reader.problems:
        raise DocumentError(reader.problems)
    return document


class _Reader:
    """Reads raw JSON into a Document, collecting every structural problem instead of stopping."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def fail(self, message: str) -> None:
        self.problems.append(message)

    def keys(self, where: str, value: dict, allowed: tuple[str, ...]) -> None:
        for key in value:
            if key not in allowed:
                self.fail(f"{where}: unknown key {shown(key)!r} (allowed: {', '.join(allowed)})")

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
            self.fail(f"{where}: unknown setting {shown(key)!r}")
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
        if not isinstance(node_id, str) or not ID_PATTERN.fullmatch(node_id) or keyword.iskeyword(node_id):
            self.fail(f"node #{index + 1}: id {shown(node_id)!r} must start with a lowercase letter and "
                      "use only a-z, 0-9 and _ (at most 40 characters)")
            return None
        if node_id in RESERVED_IDS:
            self.fail(f"{node_id}: this id is reserved by Python/PyTorch: rename the node")
            return None
        self.keys(node_id, entry, NODE_KEYS)
        layer = LAYERS.get(entry.get("type")) if isinstance(entry.get("type"), str) else None
        if layer is None:
            self.fail(f"{node_id}: unknown layer type {shown(entry.get('type'))!r} "
                      f"(known: {', '.join(LAYERS)})")
            return None
        params = entry.get("params", {})
        if not isinstance(params, dict):
            self.fail(f"{node_id}: params must be an object")
            return None
        for key in unknown_keys(layer.params, params):
            known = ", ".join(p.name for p in layer.params) or "none"
            self.fail(f"{node_id}: {layer.title} has no parameter {shown(key)!r} (it has: {known})")
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
