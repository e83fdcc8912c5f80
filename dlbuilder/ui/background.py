"""Background tasks as the pages see them (`dlbuilder.tasks`): one task per named slot and session,
started with the arguments it computes for, followed by a fragment that redraws its progress and
latest result twice a second while it runs, with a Cancel button.

    if clicked("Refine", ...):
        background.start("plane", (version,), work, "Refining the landscape")
    background.follow("plane", (version,), draw)

A task stays alive only while its page keeps following it (the fragment's heartbeat); leaving the
page cancels it within `tasks.HEARTBEAT_TIMEOUT`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import streamlit as st

from dlbuilder.tasks import BackgroundTask, Reporter, submit
from dlbuilder.ui import text

TASKS = "state.tasks"  # slot -> (arguments, BackgroundTask)
POLL_SECONDS = 0.5


def task(slot: str, arguments: tuple) -> BackgroundTask | None:
    """This session's task in `slot` if it was started for these arguments."""
    found = st.session_state.get(TASKS, {}).get(slot)
    return found[1] if found is not None and found[0] == arguments else None


def start(slot: str, arguments: tuple, work: Callable[[Reporter], Any], label: str) -> BackgroundTask:
    """Start `work` for these arguments, cancelling whatever the slot was computing before."""
    tasks = st.session_state.setdefault(TASKS, {})
    old = tasks.get(slot)
    if old is not None:
        old[1].cancel()
    started = submit(work, label)
    tasks[slot] = (arguments, started)
    return started


def running(slot: str, arguments: tuple) -> bool:
    found = task(slot, arguments)
    return found is not None and found.active


def follow(slot: str, arguments: tuple, draw: Callable[[Any], None], initial: Any = None) -> None:
    """Draw the task's latest result with `draw` (`initial` until the task has one); while it runs, also
    its progress and a Cancel button, refreshed every POLL_SECONDS."""
    found = task(slot, arguments)
    if found is None:
        if initial is not None:
            draw(initial)
        return
    st.fragment(run_every=POLL_SECONDS if found.active else None)(_follow)(slot, arguments, draw, initial,
                                                                           found.active)


def _follow(slot: str, arguments: tuple, draw: Callable[[Any], None], initial: Any, polling: bool) -> None:
    found = task(slot, arguments)
    if found is None:  # replaced by a newer task: the full rerun that started it draws that one
        return
    found.heartbeat()
    if polling and not found.active:
        st.rerun()  # finished: redraw the page once, without polling
    if found.active:
        progress = found.progress
        left, right = st.columns([5, 1], vertical_alignment="center")
        where = f" ({progress.done:.0f} of {progress.total:.0f})" if progress.total else ""
        left.progress(progress.fraction, text=text.plain(f"{found.label}: {progress.message}{where}"))
        right.button("Cancel", key=f"dlb_task_cancel_{slot}", on_click=found.cancel,
                     help="Stop this computation; what it has finished so far stays on the page.")
    elif found.status == "cancelled":
        st.caption("Cancelled: press the button again to start over.")
    elif found.status == "error":
        text.show("error", found.error or "The computation failed.")
    latest = found.partial if found.partial is not None else initial
    if latest is not None:
        draw(latest)
