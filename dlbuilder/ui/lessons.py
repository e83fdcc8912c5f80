"""The open lesson: its state, the lesson box on Train / Inspect / Build, and its link.

A page shows the box with one line, `lessons.lesson_box("train")`. Opening a lesson or moving to
another step happens in button callbacks (before the page runs, so widget values can still be
set); the page the step happens on is then opened by the box itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import streamlit as st

from dlbuilder.lessons import LESSONS, Lesson, LessonError, apply_step, decode_lesson, encode_lesson, \
    lesson_document, lesson_views, used_settings
from dlbuilder.share import ShareLinkError
from dlbuilder.ui import experiments, guard, jobs, projector, session, text

ACTIVE = "state.lesson"  # the open ActiveLesson
GO_TO = "state.lesson_go_to"  # the page a lesson callback asked for, opened at the next run
LINK_READ = "state.lesson_link_read"
PAGES = {"train": "pages/train.py", "inspect": "pages/inspect.py", "build": "pages/build.py",
         "lessons": "pages/lessons.py", "experiments": "pages/experiments.py"}
# Lesson views -> the widget keys they set on the Train and Inspect pages. The Train page's switches
# always take the lesson's values; Inspect's surface widgets only when the lesson names them.
WIDGETS = {"log_scale": "dlb_log_scale", "overlay": "dlb_overlay", "neurons": "dlb_neurons", "norms": "dlb_norms",
           "surface_rate": "dlb_surface_preset", "surface_race": "dlb_surface_race"}
NAMED_ONLY = ("surface_rate", "surface_race")
# Lesson files name Inspect's tabs briefly; the tabs' titles are the page's (inspect_panels)
TAB_TITLES = {"surface": "Error surface (linear model)", "landscape": "Loss landscape", "convolution": "Convolution",
              "sequences": "Sequences", "weights": "Weights & gradients", "bottleneck": "Bottleneck"}
NAME_KEY, PACKED_KEY, STEP_KEY = "lesson", "l", "step"
STEP_PATTERN = re.compile(r"[0-9]{1,2}")  # always fullmatch


@dataclass
class ActiveLesson:
    """The open lesson, the step shown (0 = first), and its packed link when it is not built in."""

    lesson: Lesson
    step: int
    packed: str | None = None


def active() -> ActiveLesson | None:
    return st.session_state.get(ACTIVE)


def open_lesson(lesson: Lesson, step: int = 0, packed: str | None = None, keep_document: bool = False) -> None:
    """Load a lesson at `step`: its document, its views, training if the step says so, then its page."""
    step = min(max(step, 0), len(lesson.steps) - 1)
    st.session_state[ACTIVE] = ActiveLesson(lesson, step, packed)
    if not keep_document:
        jobs.forget()  # runs from before the lesson are not its "previous run"
        st.session_state.pop(jobs.PREVIOUS, None)
        session.commit(lesson_document(lesson, step))
    _enter_step(lesson, step, start=not keep_document)


@guard.callback("Open the lesson again from the Lessons page.")
def go_to_step(step: int) -> None:
    """Button callback: move to `step`, making its changes on top of the current setup."""
    current = active()
    if current is None or not 0 <= step < len(current.lesson.steps):
        return
    lesson = current.lesson
    if step == current.step + 1:
        try:
            document = apply_step(session.document(), lesson, step)
        except LessonError:  # the teacher changed what the step edits: use the lesson's own setup
            document = lesson_document(lesson, step)
            session.notify("warning", "The network was changed by hand, so this step starts from the lesson's "
                                      "own setup for it.")
    else:
        document = lesson_document(lesson, step)
    current.step = step
    session.commit(document)
    _enter_step(lesson, step, start=True)


def _widgets(lesson: Lesson, step: int) -> dict[str, object]:
    """Widget key -> the value the lesson's views give it at `step`."""
    views = lesson_views(lesson, step)
    named = set(lesson.raw.get("views", {})).union(*(s.views for s in lesson.steps))
    return {key: views[name] for name, key in WIDGETS.items() if name not in NAMED_ONLY or name in named}


def _enter_step(lesson: Lesson, step: int, start: bool) -> None:
    views = lesson_views(lesson, step)
    for key, value in _widgets(lesson, step).items():
        st.session_state[key] = value
    if views.get("sweep"):  # a sweep lesson: the Experiments page opens with the lecture's sweep chosen
        experiments.choose_lecture_sweep(views["sweep"])
    if start and lesson.steps[step].train and views["page"] != "experiments":
        message = jobs.start(session.document())
        if message:
            session.notify("error", message)
    st.session_state[GO_TO] = views["page"]


def end_lesson() -> None:
    st.session_state.pop(ACTIVE, None)
    st.session_state.pop(GO_TO, None)


def follow(page: str) -> None:
    """Open the page a lesson callback asked for, unless it is this one."""
    wanted = st.session_state.pop(GO_TO, None)
    if wanted in PAGES and wanted != page:
        st.switch_page(PAGES[wanted])


def lesson_box(page: str) -> None:
    """The open lesson's step on this page (nothing without a lesson); opens the step's page if asked."""
    follow(page)
    current = active()
    if current is None:
        return
    lesson, index = current.lesson, current.step
    step = lesson.steps[index]
    views = lesson_views(lesson, index)
    for key, value in _widgets(lesson, index).items():  # a widget's value is dropped on pages that do not draw it
        st.session_state.setdefault(key, value)
    # Two columns keep the box short, so the charts stay on a projector's screen.
    with st.container(border=True, key="dlb_lesson_box"):
        what, question = st.columns([3, 2], gap="medium")
        what.markdown(f"📘 **{text.plain(lesson.title)}** · step {index + 1} of {len(lesson.steps)}: "
                      f"**{text.plain(step.title)}**")
        what.markdown(f"**Do:** {text.plain(step.do)}")
        if step.look:
            what.markdown(f"**Look for:** {text.plain(step.look)}")
        if step.ask:
            question.markdown(f"**Ask the class:** {text.plain(step.ask)}")
        if views["page"] != page:
            question.caption(f"This step happens on the {views['page'].capitalize()} page.")
        with question:
            _step_buttons(current)


def _step_buttons(current: ActiveLesson) -> None:
    back, forward, leave = st.columns([0.8, 2, 1.1])
    back.button("◀", key="dlb_lesson_back", disabled=current.step == 0, width="stretch",
                on_click=go_to_step, args=(current.step - 1,), help="The previous step, as the lesson sets it up.")
    last = current.step == len(current.lesson.steps) - 1
    forward.button("Next step ▶", key="dlb_lesson_next", type="primary", disabled=last, width="stretch",
                   on_click=go_to_step, args=(current.step + 1,))
    leave.button("End", key="dlb_lesson_end", width="stretch", on_click=end_lesson,
                 help="Close the lesson; the network and its settings stay as they are.")


def shown_settings() -> set[str] | None:
    """The settings the Train page shows: in projector mode with a lesson, only those it uses; else all (None)."""
    current = active()
    if current is None or not projector.enabled():
        return None
    return used_settings(current.lesson)


def inspect_tab() -> str | None:
    """The title of the Inspect tab the lesson's step opens (None: the page's first tab)."""
    current = active()
    if current is None:
        return None
    return TAB_TITLES.get(lesson_views(current.lesson, current.step)["inspect_tab"])


# -- links: ?lesson=<built-in name> or ?l=<packed lesson>, with &step=<n> ------------------------------


def follow_link(on_default_page: bool) -> None:
    """On a session's first run, open the lesson a link names; from the Start page, go to its page."""
    if st.session_state.get(LINK_READ):
        return
    st.session_state[LINK_READ] = True
    name, packed = st.query_params.get(NAME_KEY), st.query_params.get(PACKED_KEY)
    if not name and not packed:
        return
    step_text = st.query_params.get(STEP_KEY, "1")
    step = int(step_text) - 1 if isinstance(step_text, str) and STEP_PATTERN.fullmatch(step_text) else 0
    try:
        lesson = LESSONS.get(name) if isinstance(name, str) else None
        if name and lesson is None:
            raise LessonError([f"this link names no built-in lesson ({name[:40]}): open the Lessons page "
                               "to pick one"])
        if lesson is None:
            lesson = decode_lesson(packed)
            packed = encode_lesson(lesson)
        else:
            packed = None
    except (LessonError, ShareLinkError) as error:
        session.notify("error", f"The lesson in this link could not be opened: {error}")
        return
    open_lesson(lesson, step, packed, keep_document=bool(st.query_params.get("g")))
    if on_default_page:
        follow("")  # a link to the app itself: go to the lesson's page
    st.session_state.pop(GO_TO, None)  # a link to a page: stay there


def publish_link() -> None:
    """Keep the open lesson (and its step) in the address bar, beside the document's ?g=."""
    current = active()
    wanted = {}
    if current is not None:
        wanted = {PACKED_KEY: current.packed} if current.packed else {NAME_KEY: current.lesson.name}
        wanted[STEP_KEY] = str(current.step + 1)
    for key in (NAME_KEY, PACKED_KEY, STEP_KEY):
        if key in wanted and st.query_params.get(key) != wanted[key]:
            st.query_params[key] = wanted[key]
        elif key not in wanted and key in st.query_params:
            del st.query_params[key]
