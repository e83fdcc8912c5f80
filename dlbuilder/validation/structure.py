"""Checks of the settings and of the graph's structure: edges, loops, ends, arity, reachability."""

from __future__ import annotations

import networkx as nx

from dlbuilder.datasets import DATASETS
from dlbuilder.datasets.base import DatasetError
from dlbuilder.document import Document
from dlbuilder.layers import LAYERS
from dlbuilder.limits import ResourceLimits
from dlbuilder.params import check_params
from dlbuilder.training.settings import TRAINING_PARAMS
from dlbuilder.validation.report import Problem, ValidationReport

MASKED_LAYERS = ("self_attention", "cross_attention", "rnn", "lstm", "gru")  # last slot: token ids to mask


def check_node_count(document: Document, report: ValidationReport, limits: ResourceLimits) -> None:
    if len(document.nodes) > limits.max_nodes:
        report.problems.append(Problem("limits", None, f"the network has {len(document.nodes)} nodes; "
                                       f"this server allows {limits.max_nodes}: remove some"))


def check_settings(document: Document, report: ValidationReport, limits: ResourceLimits) -> None:
    _, errors = check_params(TRAINING_PARAMS, document.training)
    report.problems += [Problem("training", None, f"training: {e}") for e in errors]
    if document.data is None:
        return
    spec = DATASETS[document.data.name]
    cleaned, errors = check_params(spec.params, document.data.params)
    report.problems += [Problem("data", None, f"data ({spec.name}): {e}") for e in errors]
    if not errors:
        try:
            report.data_info = spec.describe(cleaned)
        except DatasetError as error:
            report.problems.append(Problem("data", None, f"data ({spec.name}): {error}"))


def check_params_of_nodes(document: Document, report: ValidationReport, limits: ResourceLimits) -> None:
    for node in document.nodes:
        layer = LAYERS[node.type]
        cleaned, errors = check_params(layer.params, node.params)
        report.problems += [Problem("params", node.id, e) for e in errors]
        if errors:
            continue
        report.params[node.id] = cleaned
        for name in layer.width_params:
            if cleaned[name] > limits.max_width:
                report.problems.append(Problem("limits", node.id, f"{name}={cleaned[name]} is above this "
                                               f"server's limit of {limits.max_width}: make it smaller"))


def check_edges(document: Document, report: ValidationReport, limits: ResourceLimits) -> None:
    ids = {n.id: n for n in document.nodes}
    seen = set()
    for edge in document.edges:
        # A merge may take the same source on two slots (Add(x, x) = 2x); other layers may not.
        merge = edge.target in ids and LAYERS[ids[edge.target].type].max_inputs != 1
        key = (edge.source, edge.target, edge.slot) if merge else (edge.source, edge.target)
        missing = [end for end in (edge.source, edge.target) if end not in ids]
        if missing:
            report.problems.append(Problem("edges", None, f"edge {edge.source} -> {edge.target}: there is no "
                                           f"node {missing[0]!r}: delete the edge"))
        elif edge.source == edge.target:
            report.problems.append(Problem("edges", edge.source, "is connected to itself: delete that edge"))
        elif key in seen:
            report.problems.append(Problem("edges", edge.target, f"is connected to {edge.source} twice: "
                                           "delete one edge"))
        seen.add(key)


def build_graph(document: Document) -> nx.DiGraph:
    """The network as a networkx graph (valid edges only)."""
    graph = nx.DiGraph()
    graph.add_nodes_from(n.id for n in document.nodes)
    graph.add_edges_from((e.source, e.target) for e in document.edges
                         if e.source in graph and e.target in graph and e.source != e.target)
    return graph


def check_cycles(document: Document, report: ValidationReport, limits: ResourceLimits) -> None:
    graph = build_graph(document)
    try:
        cycle = nx.find_cycle(graph)
    except nx.NetworkXNoCycle:
        report.order = list(nx.lexicographical_topological_sort(graph, key=_position_key(document)))
        return
    loop = " -> ".join([a for a, _ in cycle] + [cycle[0][0]])
    report.problems.append(Problem("cycle", cycle[0][0], f"is part of a loop ({loop}): data must flow one "
                                   "way; delete one of these edges"))


def _position_key(document: Document):
    index = {n.id: i for i, n in enumerate(document.nodes)}
    return lambda node_id: f"{index[node_id]:06d}"


def check_ends(document: Document, report: ValidationReport, limits: ResourceLimits) -> None:
    inputs = [n.id for n in document.nodes if n.type == "input"]
    outputs = [n.id for n in document.nodes if n.type == "output"]
    if not inputs:
        report.problems.append(Problem("ends", None, "the network has no Input: add one from the palette"))
    if not outputs:
        report.problems.append(Problem("ends", None, "the network has no Output: add one from the palette"))
    for extra in outputs[1:]:
        report.problems.append(Problem("ends", extra, f"is a second Output ({outputs[0]} is the first): "
                                       "a network trains one output; delete one"))
    for edge in document.edges:
        if edge.source in outputs:
            report.problems.append(Problem("ends", edge.source, f"is the Output, so it cannot feed "
                                           f"{edge.target}: delete that edge"))


def check_arity(document: Document, report: ValidationReport, limits: ResourceLimits) -> None:
    ids = {n.id for n in document.nodes}
    for node in document.nodes:
        layer = LAYERS[node.type]
        incoming = [e for e in document.incoming(node.id) if e.source in ids and e.source != node.id]
        count = len(incoming)
        if layer.max_inputs == 0 and count:
            report.problems.append(Problem("arity", node.id, f"is an {layer.title} and takes no inputs: "
                                           f"delete the edge from {incoming[0].source}"))
        elif count < layer.min_inputs:
            need = "one input" if layer.min_inputs == 1 else f"{layer.min_inputs} inputs"
            report.problems.append(Problem("arity", node.id, f"{layer.title} needs {need} but has {count}: "
                                           "connect a layer into it"))
        elif layer.max_inputs is not None and count > layer.max_inputs:
            fix = ("delete the extra edge (the last slot is only for the token Input whose padding to mask)"
                   if layer.name in MASKED_LAYERS else "merge them first with Add or Concat")
            report.problems.append(Problem("arity", node.id, f"{layer.title} takes {layer.max_inputs} "
                                           f"input(s) but has {count}: {fix}"))
        elif sorted(e.slot for e in incoming) != list(range(count)):
            slots = ", ".join(str(e.slot) for e in incoming)
            report.problems.append(Problem("arity", node.id, f"its inputs use slots {slots}; they must be "
                                           f"0 to {count - 1}, each once: reconnect them in order"))


def check_reachable(document: Document, report: ValidationReport, limits: ResourceLimits) -> None:
    graph = build_graph(document)
    inputs = [n.id for n in document.nodes if n.type == "input"]
    outputs = [n.id for n in document.nodes if n.type == "output"]
    if not inputs or not outputs:
        return
    fed = set(inputs).union(*(nx.descendants(graph, i) for i in inputs))
    used = set(outputs[:1]) | nx.ancestors(graph, outputs[0])
    already = {p.node for p in report.problems if p.check in ("arity", "ends")}  # one message per node is enough
    for node in document.nodes:
        if node.id in already:
            continue
        if node.id not in fed and node.id not in used:
            report.problems.append(Problem("reachable", node.id, "is not connected: connect it between the "
                                           "input and the output, or delete it"))
        elif node.id not in fed:
            report.problems.append(Problem("reachable", node.id, "gets no data from an Input: connect an "
                                           "input into it or delete it"))
        elif node.id not in used:
            named = "" if outputs[0] == "output" else f" {outputs[0]}"  # not "the output output"
            report.problems.append(Problem("reachable", node.id, f"does not lead to the output{named}: "
                                           "connect it onwards or delete it"))
