"""Plain-data summaries of the registries, for the start page and the command line."""

from __future__ import annotations

from dlbuilder.datasets import DATASETS
from dlbuilder.layers import CATEGORIES, LAYERS
from dlbuilder.presets import PRESETS
from dlbuilder.validation import validate


def preset_rows() -> list[dict]:
    """One row per preset: name, title, what it shows, dataset, nodes and parameters."""
    rows = []
    for name, preset in PRESETS.items():
        document = preset.load()
        report = validate(document)
        rows.append({"preset": name, "title": preset.title, "shows": preset.doc,
                     "dataset": document.data.name if document.data else "(none yet)",
                     "nodes": len(document.nodes), "parameters": report.total_params,
                     "valid": report.ok})
    return rows


def layer_rows() -> list[dict]:
    """One row per layer type, grouped by palette category."""
    order = {category: i for i, category in enumerate(CATEGORIES)}
    layers = sorted(LAYERS.values(), key=lambda layer: order[layer.category])
    return [{"category": layer.category, "layer": layer.title, "what it does": layer.doc} for layer in layers]


def dataset_rows() -> list[dict]:
    """One row per built-in dataset."""
    return [{"category": spec.category, "dataset": name, "title": spec.title, "what it is": spec.doc}
            for name, spec in DATASETS.items()]
