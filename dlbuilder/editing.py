"""Graph edits a student makes in the editor, as pure functions: document in, new document out.

Returning new documents (never mutating) makes undo/redo a plain list of documents.
"""

from __future__ import annotations

import copy
import re

from dlbuilder.datasets import DATASETS
from dlbuilder.datasets.base import DatasetError
from dlbuilder.document import DataChoice, Document, Edge, Node
from dlbuilder.layers import LAYERS
# auto_layout and move_nodes are edits too: the editor imports every edit from this module
from dlbuilder.layout import COLUMN, auto_layout, move_nodes, shift_right  # noqa: F401
from dlbuilder.params import fill_defaults
from dlbuilder.presets import PRESETS
# Short names students see on the canvas: conv1, pool1 rather than conv2d1, maxpool2d1.
ID_PREFIXES = {"conv2d": "conv", "maxpool2d": "pool", "avgpool2d": "avgpool", "global_avg_pool": "gap",
               "self_attention": "attention", "cross_attention": "cross", "batchnorm": "bn",
               "layernorm": "norm", "leaky_relu": "lrelu", "positional_encoding": "position"}


class EditError(ValueError):
    """An edit that cannot be made; the message says why."""


def _copy(document: Document) -> Document:
    return copy.deepcopy(document)


def new_node_id(document: Document, layer_type: str) -> str:
    """The next free id for a layer type: dense1, dense2, ... (input/output without a number first)."""
    taken = {n.id for n in document.nodes}
    base = ID_PREFIXES.get(layer_type) or re.sub(r"[^a-z0-9_]", "", layer_type)[:30] or "node"
    if base in ("input", "output") and base not in taken:
        return base
    number = 1
    while f"{base}{number}" in taken:
        number += 1
    return f"{base}{number}"


def add_node(document: Document, layer_type: str, position: tuple[float, float] | None = None,
             params: dict | None = None) -> tuple[Document, str]:
    """Add a layer with default params; placed right of the rightmost node unless `position` is given."""
    if layer_type not in LAYERS:
        raise EditError(f"unknown layer type {layer_type!r}")
    result = _copy(document)
    node_id = new_node_id(result, layer_type)
    if position is None:
        placed = [n.position for n in result.nodes if n.position is not None]
        position = (max((p[0] for p in placed), default=-COLUMN) + COLUMN, 0.0)
    result.nodes.append(Node(node_id, layer_type, fill_defaults(LAYERS[layer_type].params, params or {}),
                             position))
    return result, node_id


def remove_node(document: Document, node_id: str) -> Document:
    """Delete a node and keep the path through it: its input now feeds each node it fed, in the same slots.

    A merge (Add, Concat, ...) has several inputs; its first input (the main path) takes
    its place and the other branches are left open, for the student to reconnect or delete (the
    checks name them). A node without inputs (an Input) just leaves its targets unconnected.
    """
    result = _copy(document)
    incoming = sorted((e for e in result.edges if e.target == node_id), key=lambda e: e.slot)
    outgoing = [e for e in result.edges if e.source == node_id]
    result.nodes = [n for n in result.nodes if n.id != node_id]
    result.edges = [e for e in result.edges if node_id not in (e.source, e.target)]
    if incoming:
        source = incoming[0].source
        for edge in outgoing:
            if not any(e.source == source and e.target == edge.target for e in result.edges):
                result.edges.append(Edge(source, edge.target, edge.slot))  # the slot just freed
    return _renumber_slots(result)


def connect(document: Document, source: str, target: str) -> Document:
    """Add an edge into the next free input slot of `target`."""
    ids = {n.id for n in document.nodes}
    if source not in ids or target not in ids:
        raise EditError(f"cannot connect {source} to {target}: both must be nodes of the network")
    if any(e.source == source and e.target == target for e in document.edges):
        return document
    result = _copy(document)
    slot = len([e for e in result.edges if e.target == target])
    result.edges.append(Edge(source, target, slot))
    return result


def disconnect(document: Document, source: str, target: str) -> Document:
    """Remove the edge(s) from `source` into `target`."""
    result = _copy(document)
    result.edges = [e for e in result.edges if not (e.source == source and e.target == target)]
    return _renumber_slots(result)


def _renumber_slots(document: Document) -> Document:
    """Slots of each node's inputs become 0..n-1 again, keeping their order."""
    edges = []
    for target in dict.fromkeys(e.target for e in document.edges):
        incoming = sorted((e for e in document.edges if e.target == target), key=lambda e: e.slot)
        edges += [Edge(e.source, e.target, slot) for slot, e in enumerate(incoming)]
    document.edges = edges
    return document


def set_input_order(document: Document, node_id: str, sources: list[str]) -> Document:
    """Reorder the inputs of a merge (Concat, CrossAttention): slot i comes from sources[i]."""
    incoming = [e.source for e in document.incoming(node_id)]
    if sorted(incoming) != sorted(sources):
        raise EditError(f"{node_id} takes its inputs from {', '.join(incoming)}: reorder those")
    result = _copy(document)
    others = [e for e in result.edges if e.target != node_id]
    result.edges = others + [Edge(source, node_id, slot) for slot, source in enumerate(sources)]
    return result


def set_params(document: Document, node_id: str, params: dict) -> Document:
    """Replace some parameters of a node (values are checked by validation, not here)."""
    result = _copy(document)
    node = result.node(node_id)
    node.params = {**node.params, **params}
    return result


def set_dataset(document: Document, name: str) -> Document:
    """Choose a dataset (with its default settings); the first input and the output adapt to it."""
    if name not in DATASETS:
        raise EditError(f"unknown dataset {name!r}")
    result = _copy(document)
    result.data = DataChoice(name, fill_defaults(DATASETS[name].params, {}))
    try:
        info = DATASETS[name].describe(result.data.params)
    except DatasetError:
        return result  # e.g. a CSV not uploaded yet: nothing to adapt to
    _fit_ends(result, info)
    return result


def _fit_ends(document: Document, info) -> None:
    """Let explicit sizes that no longer fit follow the dataset (shape [] and units 0 mean "follow")."""
    inputs = [n for n in document.nodes if n.type == "input"]  # the network's input order
    for node, wanted in zip(inputs, info.inputs()):  # seq2seq data feeds two Inputs
        if node.params.get("shape") and tuple(node.params["shape"]) != tuple(wanted.shape):
            node.params["shape"] = []
        if 0 < node.params.get("vocab_size", 0) < wanted.vocab_size:
            node.params["vocab_size"] = 0
    for node in document.nodes:
        if node.type != "output" or node.params.get("task") == "reconstruction":
            continue
        node.params["task"] = info.task
        wanted = info.num_classes if info.task == "classification" else info.num_targets
        binary_single = info.task == "classification" and wanted == 2 and node.params.get("units") == 1
        if node.params.get("units") not in (0, wanted) and not binary_single:
            node.params["units"] = 0


def network_for_dataset(name: str) -> Document:
    """A sensible starting network sized for a dataset: an MLP for vectors, a small CNN for images,
    an LSTM for sequences (a tag per step for tagging data), the seq2seq preset for seq2seq data."""
    info = DATASETS[name].describe(fill_defaults(DATASETS[name].params, {}))
    if info.more_inputs:
        return _seq2seq_network(name, f"New network for {name}")
    task = "classification" if info.task == "classification" else "regression"
    if info.input_dtype == "long":  # token ids: an Embedding first; every step's state for tagging
        chain = [("input", {}), ("embedding", {"dim": 32}),
                 ("lstm", {"hidden_size": 32, "return_sequences": bool(info.target_steps)})]
    elif len(info.input_shape) == 2:  # a sequence of values (T, F): the LSTM's last state predicts
        chain = [("input", {}), ("lstm", {"hidden_size": 32, "return_sequences": False})]
    elif len(info.input_shape) == 3:
        chain = [("input", {}), ("conv2d", {"out_channels": 8, "padding": "same"}), ("maxpool2d", {}),
                 ("flatten", {}), ("dense", {"units": 32})]
    else:
        chain = [("input", {}), ("dense", {"units": 8}), ("dense", {"units": 8})]
    return _chain_network(name, f"New network for {name}", chain + [("output", {"task": task})])


def blank_network_for_dataset(name: str) -> Document:
    """The smallest network for a dataset: Input -> Output (Flatten between for images), units spelt out.

    The output's units are written in, not left at 0 ("as the dataset needs"), so the student
    sees them: one unit for two classes (a single score, as in Playground), else one per class
    or per value. Token ids pass an Embedding first (a tag per step stays per step); seq2seq data
    gets the seq2seq preset's layout, the smallest that feeds both of its inputs.
    """
    info = DATASETS[name].describe(fill_defaults(DATASETS[name].params, {}))
    if info.more_inputs:
        return _seq2seq_network(name, f"Blank network for {name}")
    if info.task == "classification":
        two = info.num_classes == 2 and not info.target_steps
        output = {"task": "classification", "units": 1 if two else info.num_classes}
    else:
        output = {"task": "regression", "units": info.num_targets}
    middle = [("embedding", {"dim": 16})] if info.input_dtype == "long" else []
    if (len(info.input_shape) > 1 or info.input_dtype == "long") and not info.target_steps:
        middle.append(("flatten", {}))
    return _chain_network(name, f"Blank network for {name}", [("input", {}), *middle, ("output", output)])


def _seq2seq_network(dataset: str, title: str) -> Document:
    """The seq2seq preset's encoder, decoder and attention, on `dataset` (sizes follow its data)."""
    document = set_dataset(PRESETS["seq2seq"].load(), dataset)
    document.name = title
    return document


def _chain_network(dataset: str, title: str, chain: list[tuple[str, dict]]) -> Document:
    """Layers joined one after the other, on `dataset`, laid out in bands."""
    document = set_dataset(Document(nodes=[], edges=[], name=title), dataset)
    previous = None
    for column, (layer_type, params) in enumerate(chain):
        document, node_id = add_node(document, layer_type, (column * COLUMN, 0.0), params)
        if previous:
            document = connect(document, previous, node_id)
        previous = node_id
    return auto_layout(document)


def insert_after(document: Document, node_id: str, layer_type: str) -> tuple[Document, str]:
    """Add a layer right after `node_id`: it takes over that node's outgoing edges; later nodes shift right."""
    x, y = document.node(node_id).position or (0.0, 0.0)
    result, new_id = add_node(shift_right(document, (x, y), include_column=False), layer_type, (x + COLUMN, y))
    if LAYERS[layer_type].max_inputs == 0:
        return result, new_id  # an Input takes nothing in
    outgoing = [e for e in result.edges if e.source == node_id]
    result.edges = [e for e in result.edges if e.source != node_id]
    result.edges += [Edge(new_id, e.target, e.slot) for e in outgoing] + [Edge(node_id, new_id, 0)]
    return result, new_id


def insert_before(document: Document, node_id: str, layer_type: str) -> tuple[Document, str]:
    """Add a layer right before `node_id` (the Output, say): it takes over that node's inputs and feeds it.

    The new layer takes the node's place on the canvas; the node and the layers right of it
    shift one column right.
    """
    x, y = document.node(node_id).position or (0.0, 0.0)
    result, new_id = add_node(shift_right(document, (x, y), include_column=True), layer_type, (x, y))
    if LAYERS[layer_type].max_inputs == 0:
        return result, new_id  # an Input takes nothing in
    incoming = [e for e in result.edges if e.target == node_id]
    result.edges = [e for e in result.edges if e.target != node_id]
    result.edges += [Edge(e.source, new_id, e.slot) for e in incoming] + [Edge(new_id, node_id, 0)]
    return result, new_id


def set_inputs(document: Document, node_id: str, sources: list[str]) -> Document:
    """Make `sources` (in this order: slot 0, 1, ...) the only inputs of `node_id`."""
    ids = {n.id for n in document.nodes}
    unknown = [s for s in sources if s not in ids or s == node_id]
    if unknown:
        raise EditError(f"{node_id} cannot take input from {unknown[0]}")
    result = _copy(document)
    result.edges = [e for e in result.edges if e.target != node_id]
    result.edges += [Edge(source, node_id, slot) for slot, source in enumerate(sources)]
    return result


def set_training(document: Document, settings: dict, seed: int | None = None) -> Document:
    """Replace the training settings (and the seed); values are checked by validation."""
    result = _copy(document)
    result.training = {**result.training, **settings}
    if seed is not None:
        result.seed = int(seed)
    return result


def set_data_params(document: Document, params: dict) -> Document:
    """Change the current dataset's settings (noise, split, input features, ...)."""
    result = _copy(document)
    result.data.params = {**result.data.params, **params}
    return result


def fit_to_data(document: Document) -> Document:
    """Adapt the first input and the output to the current dataset settings (after an upload, say)."""
    result = _copy(document)
    try:
        _fit_ends(result, DATASETS[result.data.name].describe(result.data.params))
    except DatasetError:
        pass
    return result
