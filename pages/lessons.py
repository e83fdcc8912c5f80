"""Lessons: ready-made demos from the lectures, opened in one click, stepped through in class."""

import streamlit as st

from dlbuilder.ui import lesson_panels, lessons, session

session.ensure_app_navigation()
lessons.follow("lessons")
st.title("Lessons")
session.show_notice()
st.markdown("Each lesson sets up a network, its data and training settings, opens the charts it needs and "
            "walks through a few steps: what to do, what to look for, one question for the class. "
            "**Open** loads it and goes to its page; the lesson box there has **Next step**. "
            "For a class, turn on **Projector mode** in the sidebar.")
lesson_panels.lesson_list()
lesson_panels.coverage_table()

st.header("Your own lessons", anchor=False)
open_tab, save_tab = st.tabs(["Open a lesson file", "Save the current setup as a lesson"])
with open_tab:
    lesson_panels.open_file_panel()
with save_tab:
    lesson_panels.save_panel(session.document())
