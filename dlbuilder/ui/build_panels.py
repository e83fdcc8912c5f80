"""The Build page's panels: toolbar, palette, inspector, summary. Wiring between widgets and the engine."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dlbuilder.datasets import DATASETS
from dlbuilder.document import Document
from dlbuilder.editing import (
    EditError,
    add_node,
    auto_layout,
    blank_network_for_dataset,
    insert_after,
    insert_before,
    network_for_dataset,
    remove_node,
    set_dataset,
    set_inputs,
    set_params,
)
from dlbuilder.layers import LAYERS
from dlbuilder.layout import wrap_layout
from dlbuilder.presets import PRESETS
from dlbuilder.ui import session
from dlbuilder.ui.flow import output_summary
from dlbuilder.ui.forms import param_input
from dlbuilder.ui.text import plain
from dlbuilder.validation import ValidationReport

PALETTE_ORDER = ("input/output", "core", "activation", "regularisation", "convolution", "recurrent",
                 "attention", "merge")


def toolbar(document: Document) -> None:
    """Presets, dataset, tidy, undo/redo; below them a fresh or a blank network for the dataset."""
    preset_col, data_col, tidy_col, undo_col, redo_col = st.columns([3, 3, 1, 1, 1], vertical_alignment="bottom")
    preset_col.selectbox("Start from a preset", list(PRESETS), format_func=lambda n: PRESETS[n].title,
                         index=None, placeholder="Choose a ready-made network…", key="dlb_preset",
                         on_change=_load_preset, help="Replaces the current network (Undo brings it back).")
    datasets = list(DATASETS)
    current = document.data.name if document.data else None
    st.session_state["dlb_dataset_choice"] = current  # follow the document (presets, undo, links)
    data_col.selectbox("Dataset (sets input and output sizes)", datasets, index=None,
                       placeholder="Choose a dataset…",
                       format_func=lambda n: f"{DATASETS[n].title} ({DATASETS[n].category})",
                       key="dlb_dataset_choice", on_change=_choose_dataset)
    tidy_col.button("Tidy", key="dlb_tidy", width="stretch",
                    help="Lay the layers out left to right by depth, in rows that fit the canvas.",
                    on_click=lambda: session.commit(auto_layout(session.document())))
    undo_col.button("↶ Undo", disabled=not session.can_undo(), width="stretch", key="dlb_undo",
                    on_click=session.undo)
    redo_col.button("↷ Redo", disabled=not session.can_redo(), width="stretch", key="dlb_redo",
                    on_click=session.redo)
    # A row of their own: beside the others the labels no longer fit a 1280-pixel projector.
    fresh_col, blank_col, _ = st.columns([2, 2.4, 4.6], vertical_alignment="bottom")
    fresh_col.button("New network for it", disabled=current is None, width="stretch", key="dlb_fresh",
                     on_click=lambda: session.commit(network_for_dataset(current)),
                     help="A small starting network sized for this dataset (two hidden layers, or a small CNN).")
    blank_col.button("Blank: Input → Output", disabled=current is None, width="stretch", key="dlb_blank",
                     on_click=lambda: session.commit(blank_network_for_dataset(current)),
                     help="Just an Input and an Output sized for this dataset (a Flatten between for images): "
                          "add every layer yourself.")


def _load_preset() -> None:
    name = st.session_state.get("dlb_preset")
    if name:
        session.commit(wrap_layout(PRESETS[name].load()))  # long presets in rows: legible text
        session.notify("success", f"Loaded the preset '{PRESETS[name].title}'.")
        st.session_state["dlb_preset"] = None


def _choose_dataset() -> None:
    name = st.session_state.get("dlb_dataset_choice")
    if name:
        session.commit(set_dataset(session.document(), name))


def palette(document: Document, selected: str | None) -> None:
    """Buttons that add layers: after the selected layer (before the Output), wired in; else at the end."""
    st.markdown("### Add a layer")
    st.caption(_placement(document, selected))
    for category in PALETTE_ORDER:
        with st.expander(category.capitalize(), expanded=category in ("input/output", "core")):
            for layer in (layer for layer in LAYERS.values() if layer.category == category):
                st.button(layer.title, key=f"dlb_add_{layer.name}", help=f"Add {layer.title}: {layer.doc}",
                          width="stretch", icon=":material/add:", on_click=_add_layer, args=(layer.name,))


def _placement(document: Document, selected: str | None) -> str:
    """Where a new layer will go, in the words of the palette's caption."""
    if selected is None or selected not in {n.id for n in document.nodes}:
        return "Select a layer on the canvas first to insert after it."
    if document.node(selected).type == "output":
        feeding = [e.source for e in document.incoming(selected)]
        where = f"between **{feeding[0]}** and **{selected}**" if feeding else f"feeding **{selected}**"
        return f"New layers go before the output, {where}. (Input and Output start unconnected.)"
    return f"New layers go after **{selected}** and take over its connections. (Input and Output start " \
           "unconnected.)"


def _add_layer(layer_type: str) -> None:
    document, selected = session.document(), session.selected()
    if selected not in {n.id for n in document.nodes} or layer_type in ("input", "output"):
        new, node_id = add_node(document, layer_type)  # a second input or output starts its own path
    elif document.node(selected).type == "output":
        new, node_id = insert_before(document, selected, layer_type)
    else:
        new, node_id = insert_after(document, selected, layer_type)
    session.commit(new)
    session.select(node_id)


def _output_hint(node, report: ValidationReport) -> str | None:
    """For the Output: what its units come to and how that compares with Playground's single unit."""
    summary = output_summary(node, report)
    if summary is None or node.params.get("task") != "classification":
        return None
    units = report.shapes[node.id].shape[-1]
    if node.params.get("units"):
        return "One unit: a single score for two classes (above 0 means the second class), as in " \
               "Playground." if units == 1 else None
    return f"Units 0 means as many as the dataset needs: **{units}** here, one score per class." + \
        (" Set units to 1 for a single score, as Playground does." if units == 2 else "")


def inspector(document: Document, report: ValidationReport, selected: str | None) -> None:
    """The selected layer's form: every change is checked at once."""
    if selected is None:
        st.info("Click a layer on the canvas to edit it. Drag from a node's right edge to another "
                "node's left edge to connect them; right-click a node or edge to delete it.")
        return
    node = document.node(selected)
    layer = LAYERS[node.type]
    st.subheader(f"{node.id} · {layer.title}")
    st.caption(layer.doc)
    for problem in report.problems_for(node.id):
        st.error(plain(problem.message))  # may quote a value from a share link
    if node.id in report.shapes:
        st.markdown(f"Output shape **{report.shapes[node.id].label()}** · "
                    f"**{report.param_counts.get(node.id, 0):,}** parameters")
        if _output_hint(node, report):
            st.caption(_output_hint(node, report))
    key = f"{node.id}_{session.revision()}"
    values = {param.name: param_input(param, node.params.get(param.name), f"dlb_p_{key}_{param.name}")
              for param in layer.params}
    if values != {name: node.params.get(name) for name in values}:
        session.commit(set_params(document, node.id, values))
        st.rerun()
    _inputs_editor(document, node, layer, key)
    if st.button("Delete this layer", key=f"dlb_del_{key}", width="stretch"):
        session.commit(remove_node(document, node.id))
        session.select(None)
        st.rerun()


def _inputs_editor(document: Document, node, layer, key: str) -> None:
    if layer.max_inputs == 0:
        return
    others = [n.id for n in document.nodes if n.id != node.id and n.type != "output"]
    current = [e.source for e in document.incoming(node.id)]
    label = "Takes input from (in order: 1st, 2nd, …)" if layer.max_inputs != 1 else "Takes input from"
    chosen = st.multiselect(label, others, default=[c for c in current if c in others], key=f"dlb_in_{key}",
                            max_selections=layer.max_inputs, help="Same as drawing edges on the canvas.")
    if chosen != current:
        try:
            session.commit(set_inputs(document, node.id, chosen))
        except EditError as error:
            st.error(plain(error))
            return
        st.rerun()


def problems_box(report: ValidationReport) -> None:
    if report.ok:
        st.success(f"The network is valid: {len(report.order)} layers, {report.total_params:,} parameters.")
        return
    lines = "\n".join(f"- **{plain(p.node)}**: {plain(p.message)}" if p.node else f"- {plain(p.message)}"
                      for p in report.problems)
    st.error(f"{len(report.problems)} problem(s) to fix:\n\n{lines}")


def summary_table(document: Document, report: ValidationReport) -> None:
    rows = [{"layer": node_id, "type": LAYERS[document.node(node_id).type].title,
             "output shape": report.shapes[node_id].label() if node_id in report.shapes else "?",
             "parameters": report.param_counts.get(node_id, 0)} for node_id in report.order]
    st.table(pd.DataFrame(rows).set_index("layer") if rows else pd.DataFrame())
    st.markdown(f"**Total parameters: {report.total_params:,}**")
