"""Experiments: sweeps over one or two settings (the lectures' tables, live), and any two runs compared."""

import streamlit as st

from dlbuilder.ui import background, experiment_results, experiments, guard, lessons, session

session.ensure_app_navigation()
st.title("Experiments")
session.show_notice()
lessons.lesson_box("experiments")
experiments.source_from_link()
with guard.guarded("Reload the page, or pick another sweep."):
    experiments.sweep_form()
last = experiments.started()
if last is None:
    st.info("Pick one or two settings and their values, then press **Start the sweep**. On a plain chain of "
            "Dense layers, runs that differ only in seed, learning rate, initialisation or L2 train together, "
            "vectorised; the others train as separate jobs.")
else:
    background.follow(experiments.SLOT, (last[0],), experiment_results.draw)
