"""Train: pick data and settings, start, and watch the network learn live."""

import streamlit as st

from dlbuilder.ui import guard, jobs, lessons, live, projector, session, text, train_panels

session.ensure_app_navigation()
document = session.document()
report = guard.checked(document)
job = jobs.current()
snapshot = job.snapshot() if job else None

st.title("Train")
session.show_notice()
lessons.lesson_box("train")
if not report.ok:
    st.error("The network has problems; fix them on the **Build** page first:\n\n"
             + text.bullets(report.problems[:8]))
train_panels.controls(document, snapshot)

shown = lessons.shown_settings()  # projector mode with a lesson: only the settings it uses
# Projector mode moves the settings to the sidebar: the charts get the page's whole width.
settings_col, live_col = (st.sidebar, st.container()) if projector.enabled() else st.columns([1, 2.6])
with settings_col:
    with st.expander("Data", expanded=True):
        train_panels.data_panel(document, shown)
    train_panels.teacher_switches(document)
    train_panels.settings_panel(document, shown)
    if snapshot and snapshot.info and shown is None:
        st.caption(f"Device: **{snapshot.info.get('name', '?')}**")
    if shown is None:
        train_panels.takeaway(job)
with live_col:
    live.dashboard(train_panels.preview_bundle(document) if job is None and report.ok else None)
