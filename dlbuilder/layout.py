"""Where nodes sit on the canvas: depth columns, wrapped into bands so a long network stays legible.

Positions never change the network itself; they only decide how big the canvas can draw it.
"""

from __future__ import annotations

import copy
import math

import networkx as nx

from dlbuilder.document import Document

COLUMN, ROW = 200, 130  # layout grid in canvas pixels
# Columns per band: 4 x 200 px fit a laptop's canvas (about 740 px wide) at full size, so the
# canvas's fit-view need not shrink the text; a longer network continues on the next band.
MAX_COLUMNS = 4
BAND_GAP = 110  # room between bands (beyond a row) for the edge that returns to the left
# Documents refuse positions beyond 1e6 px: a layout that would grow past this stays one band.
MAX_EXTENT = 100_000


def move_nodes(document: Document, positions: dict[str, tuple[float, float]]) -> Document:
    """Set editor positions (no effect on the network itself)."""
    result = copy.deepcopy(document)
    for node in result.nodes:
        if node.id in positions:
            node.position = (float(positions[node.id][0]), float(positions[node.id][1]))
    return result


def auto_layout(document: Document) -> Document:
    """Columns by depth from the inputs (left to right), rows spread around the middle, wrapped into bands."""
    graph = nx.DiGraph()
    graph.add_nodes_from(n.id for n in document.nodes)
    graph.add_edges_from((e.source, e.target) for e in document.edges
                         if e.source in graph and e.target in graph)
    if not nx.is_directed_acyclic_graph(graph):
        return document
    depth: dict[str, int] = {}
    for node_id in nx.topological_sort(graph):
        depth[node_id] = max((depth[p] + 1 for p in graph.predecessors(node_id)), default=0)
    columns: dict[int, list[str]] = {}
    for node in document.nodes:
        columns.setdefault(depth[node.id], []).append(node.id)
    positions = {}
    for column, members in columns.items():
        for row, node_id in enumerate(members):
            positions[node_id] = (column * COLUMN, (row - (len(members) - 1) / 2) * ROW)
    return wrap_layout(move_nodes(document, positions))


def wrap_layout(document: Document) -> Document:
    """A layout wider than MAX_COLUMNS columns, cut into bands stacked top to bottom (rows inside kept).

    Six columns become two bands of three, eight two of four: the canvas is taller than a
    network is high, so bands keep the zoom (and the text) near full size.
    """
    placed = [n for n in document.nodes if n.position is not None]
    if not placed:
        return document
    left = min(n.position[0] for n in placed)
    column_of = {n.id: max(0, round((n.position[0] - left) / COLUMN)) for n in placed}
    columns = max(column_of.values()) + 1
    if columns <= MAX_COLUMNS:
        return document
    bands = math.ceil(columns / MAX_COLUMNS)
    per_band = math.ceil(columns / bands)
    top, bottom = min(n.position[1] for n in placed), max(n.position[1] for n in placed)
    band_height = bottom - top + ROW + BAND_GAP
    if bands * band_height > MAX_EXTENT:
        return document
    positions = {}
    for node in placed:
        band = column_of[node.id] // per_band
        positions[node.id] = (node.position[0] - band * per_band * COLUMN, node.position[1] + band * band_height)
    return move_nodes(document, positions)


def shift_right(document: Document, anchor: tuple[float, float], include_column: bool) -> Document:
    """Make room in the anchor's band: nodes right of it (and in its column, if asked) move one column right."""
    x, y = anchor
    moved = {n.id: (n.position[0] + COLUMN, n.position[1]) for n in document.nodes
             if n.position is not None and abs(n.position[1] - y) <= ROW
             and (n.position[0] > x or (include_column and n.position[0] == x))}
    return move_nodes(document, moved)
