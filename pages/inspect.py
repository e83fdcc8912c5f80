"""Inspect: look inside the current job's network (error surfaces, filters, weights, gradients)."""

import streamlit as st

from dlbuilder.ui import inspect_conv, inspect_landscape, inspect_panels, inspect_sequences, jobs, session
from dlbuilder.ui import lessons  # the open lesson's box

session.ensure_app_navigation()
st.title("Inspect")
session.show_notice()
lessons.lesson_box("inspect")
job = jobs.current()
loaded = None
if job is None:
    st.info("No network has been trained in this session yet: train one on the **Train** page first. "
            "The linear model's error surface works without one.")
    st.page_link("pages/train.py", label="Go to Train", icon="📈")
else:
    inspect_panels.refresh_button(job)
    with inspect_panels.panel("Train again on the Train page, then come back."):
        loaded = inspect_panels.inspection_setup(job)
        if loaded is None:
            st.info("The job has no weights yet: wait for its first update, then press **Use the latest weights**.")

tabs = inspect_panels.tabs(loaded, lessons.inspect_tab())
with tabs[inspect_panels.SURFACE], inspect_panels.panel("Reload the page."):
    inspect_panels.linear_surface_panel()
if inspect_panels.LANDSCAPE in tabs:
    with tabs[inspect_panels.LANDSCAPE]:
        inspect_landscape.landscape_panel(job, *loaded)
if inspect_panels.CONVOLUTION in tabs:
    with tabs[inspect_panels.CONVOLUTION]:
        inspect_conv.convolution_panel(*loaded)
if inspect_panels.SEQUENCES in tabs:
    with tabs[inspect_panels.SEQUENCES]:
        inspect_sequences.sequences_panel(job, *loaded)
if inspect_panels.WEIGHTS in tabs:
    with tabs[inspect_panels.WEIGHTS]:
        inspect_panels.weights_panel(job, *loaded)
if inspect_panels.BOTTLENECK in tabs:
    with tabs[inspect_panels.BOTTLENECK]:
        inspect_panels.bottleneck_panel(*loaded)
