"""Projector mode: larger charts and text for the back of a room, fewer settings on screen.

A switch in the sidebar and `?projector=1` in the address turn it on; it lives in session state
(so it survives page switches) and in the address bar (so a reload or a shared link keeps it).
Figures grow through one hook in `dlbuilder.figures.style`; Streamlit's own text grows by CSS.
"""

from __future__ import annotations

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from dlbuilder.figures import style

PROJECTOR = "state.projector"
SWITCH = "dlb_projector"
QUERY_KEY = "projector"
FIGURE_SCALE = 1.5  # 16 px chart text -> 24 px (legends 20 px); lines and markers x1.25, heights x1.4
# Streamlit sizes its text, widgets and spacing in rem: a larger root size enlarges them all.
CSS = """<style>
html { font-size: 22px; }
[data-testid="stMainBlockContainer"] { padding-top: 4rem; }
[data-testid="stMainBlockContainer"] h1 { font-size: 2rem; padding: 0 0 0.5rem 0; }
[data-testid="stMetricValue"] > div { font-size: 2.2rem; }
.stButton button p { font-weight: 600; }
</style>"""


def enabled() -> bool:
    """Whether this viewer has projector mode on."""
    return bool(st.session_state.get(PROJECTOR, False))


def set_enabled(on: bool) -> None:
    st.session_state[PROJECTOR] = bool(on)
    st.session_state[SWITCH] = bool(on)


def figure_scale() -> float:
    """The current viewer's figure scale; 1 outside a page run (background threads, tests, CLI)."""
    if get_script_run_ctx(suppress_warning=True) is None:
        return 1.0
    return FIGURE_SCALE if st.session_state.get(PROJECTOR, False) else 1.0


style.set_scale_source(figure_scale)


def load_from_link() -> None:
    """On a session's first run, `?projector=1` (or true/on/yes) turns projector mode on."""
    if PROJECTOR in st.session_state:
        return
    value = st.query_params.get(QUERY_KEY, "")
    st.session_state[PROJECTOR] = isinstance(value, str) and value.strip().lower() in ("1", "true", "on", "yes")


def switch() -> None:
    """The sidebar switch, on every page; it keeps its value when the page changes."""
    st.session_state[SWITCH] = enabled()  # the widget's own state is dropped on pages that do not draw it
    st.toggle("Projector mode", key=SWITCH, on_change=lambda: set_enabled(st.session_state[SWITCH]),
              help="Large charts and text for a class; settings a lesson does not use are hidden. "
                   "The address gets ?projector=1, so a reload or a shared link keeps it.")


def apply_style() -> None:
    """Enlarge Streamlit's text and widgets (charts enlarge through `figure_scale`)."""
    if enabled():
        st.html(CSS)


def publish_link() -> None:
    """Keep `?projector=1` in the address bar while projector mode is on (and only then)."""
    if enabled():
        if st.query_params.get(QUERY_KEY) != "1":
            st.query_params[QUERY_KEY] = "1"
    elif QUERY_KEY in st.query_params:
        del st.query_params[QUERY_KEY]
