"""The Lessons page's panels: the list by curriculum topic, what is not covered yet, a teacher's own
lesson files (open one, or save the current setup as one) and their links."""

from __future__ import annotations

import re

import pandas as pd
import streamlit as st

from dlbuilder.curriculum import TOPICS
from dlbuilder.document import Document
from dlbuilder.lessons import (LESSON_PROBLEMS, LESSONS, MAX_LESSON_BYTES, Lesson, LessonError, coverage,
                               encode_lesson, lesson_from_setup, lesson_url, lesson_views, read_lesson, save_lesson)
from dlbuilder.ui import guard, lessons, session, text

FILE_NAME = re.compile(r"[^a-z0-9_]+")


def lesson_list() -> None:
    """Every built-in lesson under its curriculum topic, in the lectures' order; one click opens it."""
    for topic in TOPICS.values():
        found = [lesson for lesson in LESSONS.values() if lesson.topic == topic.name]
        if not found:
            continue
        st.subheader(topic.title, anchor=False)
        for lesson in found:
            with st.container(border=True):
                about, button = st.columns([6, 1], vertical_alignment="center")
                about.markdown(f"**{text.plain(lesson.title)}** · {len(lesson.steps)} steps · on the "
                               f"{lesson_views(lesson, 0)['page'].capitalize()} page")
                if lesson.summary:
                    about.caption(text.plain(lesson.summary))
                button.button("Open", key=f"dlb_lesson_open_{lesson.name}", type="primary", width="stretch",
                              on_click=lessons.open_lesson, args=(lesson,))
    for name, problem in LESSON_PROBLEMS.items():
        text.show("error", f"The lesson file {name} was not loaded: {problem}")


def coverage_table() -> None:
    """Which curriculum topics have a lesson, and why the others do not yet."""
    with st.expander("Which topics of the lectures have a lesson", expanded=False):
        st.dataframe(pd.DataFrame(coverage()), hide_index=True, width="stretch")


def open_file_panel() -> None:
    """Open a lesson file a teacher wrote or saved (checked like the built-in ones)."""
    upload = st.file_uploader("Open a lesson file (.toml)", type=["toml"], key=f"dlb_lesson_upload_{session.revision()}",
                              help="A lesson written by hand or saved below; every field is checked.")
    if upload is None:
        return
    data = upload.getvalue()
    try:
        lesson = read_lesson(data[:MAX_LESSON_BYTES + 1], upload.name)
    except LessonError as error:
        st.error(f"{text.plain(upload.name)} is not a lesson dlbuilder can open:\n\n" + text.bullets(error.problems[:10]))
        return
    st.button(f"Open “{text.plain(lesson.title, limit=80)}”", key="dlb_lesson_open_upload", type="primary",
              on_click=_open_uploaded, args=(lesson,))


@guard.callback("Open the file again, or pick a built-in lesson.")
def _open_uploaded(lesson: Lesson) -> None:
    lessons.open_lesson(lesson, packed=encode_lesson(lesson))


def save_panel(document: Document) -> None:
    """Save the current setup as a lesson file, or a link, with one step of text (and the open lesson's
    later steps)."""
    current = lessons.active()
    st.markdown("The lesson starts from the network, data and settings you have now. Edit the file by hand "
                "for more steps: each step's changes are plain settings (see any built-in lesson).")
    key = f"dlb_lesson_save_{session.revision()}"
    title = st.text_input("Title", value=current.lesson.title if current else document.name, max_chars=100,
                          key=f"{key}_title")
    topics = list(TOPICS)
    topic = st.selectbox("Curriculum topic", topics, format_func=lambda name: TOPICS[name].title,
                         index=topics.index(current.lesson.topic) if current else 0, key=f"{key}_topic")
    summary = st.text_input("One line for the list", max_chars=300, key=f"{key}_summary")
    step = current.lesson.steps[current.step] if current else None
    do = st.text_area("What to do", value=step.do if step else "Press Start.", max_chars=800, key=f"{key}_do")
    look = st.text_area("What to look for", value=step.look if step else "", max_chars=800, key=f"{key}_look")
    ask = st.text_area("One question for the class", value=step.ask if step else "", max_chars=400,
                       key=f"{key}_ask")
    later = st.checkbox("Then the open lesson's later steps", value=current is not None, disabled=current is None,
                        key=f"{key}_later")
    steps = [{"title": step.title if step else "Train", "do": do, "look": look, "ask": ask}]
    if current and later:
        steps += [current.lesson.raw["steps"][index] for index in range(current.step + 1, len(current.lesson.steps))]
    views = _views_now(current)
    with guard.guarded("Change the texts, or save the network from the Build page instead."):
        try:
            lesson = lesson_from_setup(document, title, topic, steps, summary=summary, views=views)
        except LessonError as error:
            st.error("This lesson cannot be saved yet:\n\n" + text.bullets(error.problems[:10]))
            return
        name = FILE_NAME.sub("_", title.lower()).strip("_")[:60] or "lesson"
        st.download_button("Download the lesson file (.toml)", save_lesson(lesson), file_name=f"{name}.toml",
                           mime="application/toml", key="dlb_lesson_download", type="primary")
        base = str(st.context.url or "").split("?")[0] or "http://localhost:8501/"
        link = lesson_url(base, lesson)
        st.markdown("Or share it as a link: opening it loads the lesson at its first step.")
        st.code(link, language=None, wrap_lines=True)
        st.caption(f"{len(link):,} characters.")


def _views_now(current) -> dict:
    """The views open now: the open lesson's at its step, with the Train and Inspect switches as they are."""
    views = lesson_views(current.lesson, current.step) if current else {}
    views["settings"] = list(views.get("settings", ()))
    for name, key in lessons.WIDGETS.items():
        if key in st.session_state:
            views[name] = st.session_state[key]
    return views
