"""Session state in one place: the current document, its undo/redo history, the share link.

Pages never touch `st.session_state` keys directly; they call these typed accessors.
"""

from __future__ import annotations

import logging
import secrets

import streamlit as st

from dlbuilder.document import Document
from dlbuilder.presets import PRESETS
from dlbuilder.share import decode_document, encode_document
from dlbuilder.ui import guard, text

DOCUMENT = "state.document"
UNDO = "state.undo"
REDO = "state.redo"
REVISION = "state.revision"  # bumps on every change: widget keys include it so forms reset
SELECTED = "state.selected"
NOTICE = "state.notice"
LINK_LOADED = "state.link_loaded"
UPLOAD_OWNER = "state.upload_owner"
HISTORY_LIMIT = 50
DEFAULT_PRESET = "playground"


def document() -> Document:
    """The document being edited (the Playground default on a first visit)."""
    if DOCUMENT not in st.session_state:
        st.session_state[DOCUMENT] = PRESETS[DEFAULT_PRESET].load()
    return st.session_state[DOCUMENT]


def revision() -> int:
    return st.session_state.get(REVISION, 0)


def commit(new: Document, undoable: bool = True) -> None:
    """Make `new` the current document; undoable edits go on the history and redraw the page."""
    old = document()
    st.session_state[DOCUMENT] = new
    if undoable:
        st.session_state[UNDO] = (st.session_state.get(UNDO, []) + [old])[-HISTORY_LIMIT:]
        st.session_state[REDO] = []
        st.session_state[REVISION] = revision() + 1


def can_undo() -> bool:
    return bool(st.session_state.get(UNDO))


def can_redo() -> bool:
    return bool(st.session_state.get(REDO))


def undo() -> None:
    if can_undo():
        st.session_state[REDO] = st.session_state.get(REDO, []) + [document()]
        st.session_state[DOCUMENT] = st.session_state[UNDO].pop()
        st.session_state[REVISION] = revision() + 1


def redo() -> None:
    if can_redo():
        st.session_state[UNDO] = st.session_state.get(UNDO, []) + [document()]
        st.session_state[DOCUMENT] = st.session_state[REDO].pop()
        st.session_state[REVISION] = revision() + 1


def selected() -> str | None:
    node_id = st.session_state.get(SELECTED)
    return node_id if node_id in {n.id for n in document().nodes} else None


def select(node_id: str | None) -> None:
    st.session_state[SELECTED] = node_id


def notify(kind: str, message: str) -> None:
    """A message ("success", "warning", "error") shown until the network is next edited.

    `message` is plain text (it may quote file names or links): `show_notice` never renders it as Markdown.
    """
    st.session_state[NOTICE] = (kind, message, revision())  # call after the commit it reports


def notice() -> tuple[str, str] | None:
    """The current message as (kind, text), or None once the network has changed since."""
    stored = st.session_state.get(NOTICE)
    if stored is None or revision() > stored[2]:
        return None
    return stored[0], stored[1]


def show_notice() -> None:
    """Show the current message, if any, as plain text."""
    current = notice()
    if current:
        text.show(*current)


def upload_owner() -> str:
    """An opaque key for this browser session: its uploads are kept (and bounded) under it."""
    return st.session_state.setdefault(UPLOAD_OWNER, secrets.token_hex(16))


def load_from_link() -> None:
    """On a session's first run, open the document in `?g=` if there is one (a shared link)."""
    if st.session_state.get(LINK_LOADED):
        return
    st.session_state[LINK_LOADED] = True
    link = st.query_params.get("g")
    if not link:
        return
    try:
        st.session_state[DOCUMENT] = decode_document(link)
        notify("success", "Opened the network from the shared link.")
    except Exception as error:  # noqa: BLE001 (a broken link must never stop the page)
        reason = guard.explain(error, "Ask for the link again, or build the network here.")
        notify("error", f"{reason} The Playground default network is shown instead.")


def publish_link() -> None:
    """Keep `?g=` in the address bar equal to the current document (Streamlit drops it on page switches)."""
    try:
        encoded = encode_document(document())
    except Exception:  # noqa: BLE001 (the page stays usable; only the address bar lags behind)
        logging.getLogger(__name__).exception("could not encode the share link")
        return
    if st.query_params.get("g") != encoded:
        st.query_params["g"] = encoded


def ensure_app_navigation() -> None:
    """Make the first visit after a server start honour app.py's navigation.

    Streamlit starts in its old multipage mode when a `pages/` folder exists, and if the very
    first visitor opens e.g. /build it runs that file directly, without app.py (no shared
    link loading, wrong menu). Switching the mode off and rerunning fixes that one run.
    """
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()
