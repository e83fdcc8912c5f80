"""Build: draw the network, see shapes and parameter counts, take the code away, share it."""

import streamlit as st

from dlbuilder.ui import build_panels, flow, guard, lessons, session, takeaway

session.ensure_app_navigation()

document = session.document()
report = guard.checked(document)
selected = session.selected()

st.title("Build a network")
session.show_notice()
lessons.lesson_box("build")
build_panels.toolbar(document)

with st.sidebar:
    build_panels.palette(document, selected)
canvas_col, inspector_col = st.columns([5, 2])
with canvas_col:
    edits = flow.draw(document, report, selected, session.revision())
    if edits.selected != selected and not edits.structural:
        session.select(edits.selected)
        st.rerun()
    if edits.structural or edits.positions:
        session.commit(flow.apply(document, edits), undoable=edits.structural)
        if edits.structural:
            st.rerun()
    build_panels.problems_box(report)
with inspector_col:
    build_panels.inspector(document, report, selected)

summary_tab, code_tab, file_tab, share_tab, playground_tab = st.tabs(
    ["Summary", "PyTorch code", "Save / open", "Share link", "Import from Playground"])
with summary_tab:
    build_panels.summary_table(document, report)
with code_tab:
    takeaway.code_panel(document, report)
with file_tab:
    takeaway.file_panel(document, report)
with share_tab:
    takeaway.share_panel(document)
with playground_tab:
    takeaway.playground_panel()
