"""The canvas: the document drawn as a streamlit-flow graph, and the student's edits read back."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import streamlit as st
from streamlit_flow import streamlit_flow
from streamlit_flow.elements import StreamlitFlowEdge, StreamlitFlowNode
from streamlit_flow.state import StreamlitFlowState

from dlbuilder.document import Document
from dlbuilder.editing import connect, disconnect, move_nodes, remove_node
from dlbuilder.layers import LAYERS
from dlbuilder.ui.text import plain
from dlbuilder.validation import ValidationReport

FLOW_STATE = "state.flow"
FLOW_REVISION = "state.flow_revision"
FLOW_SEEN = "state.flow_seen"  # timestamp of the last component value already applied
FONT_SIZE = 15  # canvas pixels; shown at FONT_SIZE x zoom
# Fit-view zooms out until the whole network fits; below this zoom text gets too small to read
# from the back of a room (0.75 x 15 px = 11 px), so a wider network is panned instead (Tidy
# wraps it into bands that fit, see dlbuilder/layout.py).
MIN_ZOOM = 0.75

CATEGORY_COLOURS = {
    "input/output": "#e8f0fe", "core": "#fef7e0", "activation": "#fce8e6", "convolution": "#e6f4ea",
    "recurrent": "#f3e8fd", "attention": "#fde7f3", "merge": "#e4f7fb", "regularisation": "#f1f3f4",
}


@dataclass
class FlowEdits:
    """What the student changed on the canvas since the last run."""

    removed_nodes: list[str] = field(default_factory=list)
    added_edges: list[tuple[str, str]] = field(default_factory=list)
    removed_edges: list[tuple[str, str]] = field(default_factory=list)
    positions: dict[str, tuple[float, float]] = field(default_factory=dict)
    selected: str | None = None

    @property
    def structural(self) -> bool:
        return bool(self.removed_nodes or self.added_edges or self.removed_edges)


def node_label(node, report: ValidationReport) -> str:
    """Markdown shown inside a node: id and type, key params, output shape and parameters, problems."""
    layer = LAYERS[node.type]
    lines = [f"**{node.id}** · {layer.title}"]
    summary = output_summary(node, report) or layer.summary(node.params)
    if summary:
        lines.append(plain(summary))  # may quote a value from a share link: never Markdown or HTML
    if node.id in report.shapes:
        count = report.param_counts.get(node.id, 0)
        lines.append(f"`{report.shapes[node.id].label()}` · {count:,} params")
    for problem in report.problems_for(node.id)[:2]:
        lines.append(f"⚠️ {plain(problem.message, limit=90)}")
    return "\n\n".join(lines)


def output_summary(node, report: ValidationReport) -> str | None:
    """An Output's task and the units it really has, e.g. "classification, 2 units (from the dataset)".

    Units 0 in the document means "as the dataset needs"; the canvas says what that came to,
    so a student sees whether two classes got one unit or two. None for other layers.
    """
    if node.type != "output" or node.id not in report.shapes or node.params.get("task") == "reconstruction":
        return None
    units = report.shapes[node.id].shape[-1]
    parts = [node.params.get("task", ""), f"{units} unit{'' if units == 1 else 's'}"
             + ("" if node.params.get("units") else " (from the dataset)")]
    if node.params.get("activation", "identity") != "identity":
        parts.append(node.params["activation"])
    return ", ".join(parts)


def build_state(document: Document, report: ValidationReport, selected: str | None,
                timestamp: int) -> StreamlitFlowState:
    nodes = []
    for index, node in enumerate(document.nodes):
        broken = bool(report.problems_for(node.id))
        style = {"background": CATEGORY_COLOURS[LAYERS[node.type].category], "fontSize": f"{FONT_SIZE}px",
                 "width": "170px", "textAlign": "left", "padding": "6px 8px",
                 "border": "3px solid #d93025" if broken else ("2px solid #1a73e8" if node.id == selected
                                                               else "1px solid #9aa0a6")}
        kind = "input" if node.type == "input" else "output" if node.type == "output" else "default"
        position = node.position or (index * 220.0, 0.0)
        nodes.append(StreamlitFlowNode(node.id, position, {"content": node_label(node, report)}, kind,
                                       source_position="right", target_position="left", selectable=True,
                                       connectable=True, deletable=True, style=style))
    edges = [StreamlitFlowEdge(f"{e.source}->{e.target}", e.source, e.target, edge_type="default",
                               marker_end={"type": "arrowclosed"}, deletable=True, focusable=True,
                               label=str(e.slot + 1) if len(document.incoming(e.target)) > 1 else "")
             for e in document.edges]
    return StreamlitFlowState(nodes, edges, selected_id=selected, timestamp=timestamp)


def draw(document: Document, report: ValidationReport, selected: str | None, revision: int,
         height: int = 620) -> FlowEdits:
    """Render the canvas; return the edits made since the last run (empty when nothing new came back)."""
    if st.session_state.get(FLOW_REVISION) != revision or FLOW_STATE not in st.session_state:
        # A newer timestamp than anything the component has seen makes it take our graph.
        stamp = max(int(time.time() * 1000), st.session_state.get(FLOW_SEEN, 0) + 1)
        st.session_state[FLOW_STATE] = build_state(document, report, selected, stamp)
        st.session_state[FLOW_REVISION] = revision
    state = st.session_state[FLOW_STATE]
    returned = streamlit_flow("canvas", state, height=height, fit_view=True, allow_new_edges=True,
                              get_node_on_click=True, enable_node_menu=True, enable_edge_menu=True,
                              show_minimap=False, hide_watermark=True, min_zoom=MIN_ZOOM)
    if returned is state or returned.timestamp == st.session_state.get(FLOW_SEEN):
        return FlowEdits(selected=selected)
    st.session_state[FLOW_SEEN] = returned.timestamp
    if returned.timestamp < state.timestamp:
        return FlowEdits(selected=selected)  # the component's copy from before our last change
    return diff(document, returned, selected)


def diff(document: Document, returned: StreamlitFlowState, selected: str | None = None) -> FlowEdits:
    """Compare the component's graph with the document."""
    ids = {n.id for n in document.nodes}
    seen = {n.id: n for n in returned.nodes}
    # Only a click on a node changes the selection: after taking a new graph from us the
    # component reports "nothing selected", which must not clear the student's choice.
    edits = FlowEdits(selected=returned.selected_id if returned.selected_id in ids else selected)
    edits.removed_nodes = [node_id for node_id in ids if node_id not in seen]
    ours = {(e.source, e.target) for e in document.edges}
    theirs = {(e.source, e.target) for e in returned.edges if e.source in ids and e.target in ids}
    edits.added_edges = sorted(theirs - ours)
    edits.removed_edges = sorted(ours - theirs)
    for node in document.nodes:
        if node.id in seen:
            x, y = seen[node.id].position["x"], seen[node.id].position["y"]
            if node.position is None or abs(node.position[0] - x) > 0.5 or abs(node.position[1] - y) > 0.5:
                edits.positions[node.id] = (round(x, 1), round(y, 1))
    return edits


def apply(document: Document, edits: FlowEdits) -> Document:
    """The document with the canvas edits applied (positions first, then structure)."""
    result = move_nodes(document, edits.positions) if edits.positions else document
    for node_id in edits.removed_nodes:
        result = remove_node(result, node_id)
    for source, target in edits.removed_edges:
        result = disconnect(result, source, target)
    for source, target in edits.added_edges:
        if source != target:
            result = connect(result, source, target)
    return result
