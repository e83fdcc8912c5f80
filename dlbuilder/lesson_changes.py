"""Making the changes a lesson's start and steps describe: preset, dataset, removals, inserts, layer
parameters, data parameters, training settings, seed. Every value is checked against its schema;
every problem names the field (`steps[2].data.noise: ...`)."""

from __future__ import annotations

from typing import Any

from dlbuilder.datasets import DATASETS
from dlbuilder.document import Document, Edge, shown
from dlbuilder.document_reader import ID_PATTERN, RESERVED_IDS
from dlbuilder.editing import EditError, insert_after, remove_node, set_data_params, set_dataset, set_params, \
    set_training
from dlbuilder.layers import LAYERS
from dlbuilder.lessons import LessonError
from dlbuilder.params import Param, ParamError, check_value
from dlbuilder.presets import PRESETS
from dlbuilder.training.settings import TRAINING_PARAMS


def apply_changes(document: Document, changes: dict, where: str) -> Document:
    """`document` with `changes` made (preset, dataset, removals, inserts, layers, data, training, seed)."""
    try:
        if "preset" in changes:
            document = PRESETS[changes["preset"]].load()
        if "dataset" in changes:
            document = set_dataset(document, changes["dataset"])
        for node_id in changes.get("remove", []):
            document = remove_node(document, _node(document, node_id, f"{where}.remove"))
        for index, entry in enumerate(changes.get("insert", [])):
            document = _insert(document, entry, f"{where}.insert[{index + 1}]")
        for node_id, params in changes.get("layers", {}).items():
            node = document.node(_node(document, node_id, f"{where}.layers"))
            document = set_params(document, node.id, _params(params, LAYERS[node.type].params,
                                                             f"{where}.layers.{node.id}"))
        if "data" in changes:
            if document.data is None:
                raise LessonError([f"{where}.data: the network has no dataset yet: add dataset = \"...\""])
            document = set_data_params(document, _params(changes["data"], DATASETS[document.data.name].params,
                                                         f"{where}.data"))
        if "training" in changes:
            document = set_training(document, _params(changes["training"], TRAINING_PARAMS, f"{where}.training"))
        if "seed" in changes:
            seed = changes["seed"]
            if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**31:
                raise LessonError([f"{where}.seed: must be a whole number from 0 to {2**31 - 1}"])
            document = set_training(document, {}, seed)
    except EditError as error:
        raise LessonError([f"{where}: {error}"]) from None
    return document


def _node(document: Document, node_id: Any, where: str) -> str:
    ids = [node.id for node in document.nodes]
    if node_id not in ids:
        raise LessonError([f"{where}: no layer {shown(node_id)!r} in the network (it has: {', '.join(ids[:30])})"])
    return node_id


def _params(values: Any, schema: tuple[Param, ...], where: str) -> dict:
    if not isinstance(values, dict):
        raise LessonError([f"{where}: must be a table of parameter = value"])
    known = {param.name: param for param in schema}
    problems, cleaned = [], {}
    for key, value in values.items():
        if key not in known:
            problems.append(f"{where}.{shown(key)}: unknown parameter (it has: {', '.join(known) or 'none'})")
            continue
        try:
            cleaned[key] = check_value(known[key], value)
        except ParamError as error:
            problems.append(f"{where}.{key}: {error}")
    if problems:
        raise LessonError(problems)
    return {key: list(value) if isinstance(value, tuple) else value for key, value in cleaned.items()}


def _insert(document: Document, entry: dict, where: str) -> Document:
    """Insert a layer after another (it takes over that layer's outputs), optionally named and set."""
    document, new_id = insert_after(document, _node(document, entry["after"], f"{where}.after"), entry["type"])
    wanted = entry.get("id", new_id)
    if wanted != new_id:
        if not isinstance(wanted, str) or not ID_PATTERN.fullmatch(wanted) or wanted in RESERVED_IDS \
                or any(node.id == wanted for node in document.nodes):
            raise LessonError([f"{where}.id: {shown(wanted)!r} is taken or not a layer id (a-z, 0-9, _)"])
        for node in document.nodes:
            node.id = wanted if node.id == new_id else node.id
        document.edges = [Edge(wanted if edge.source == new_id else edge.source,
                               wanted if edge.target == new_id else edge.target, edge.slot) for edge in document.edges]
    if "params" in entry:
        document = set_params(document, wanted, _params(entry["params"], LAYERS[entry["type"]].params,
                                                        f"{where}.params"))
    return document
