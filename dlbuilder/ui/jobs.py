"""Training jobs as the pages see them: one shared runner per server, one job per browser session."""

from __future__ import annotations

import os
import secrets

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from dlbuilder.document import Document
from dlbuilder.inspection.run_paths import RunPath, earlier_run
from dlbuilder.training.device import set_worker_threads
from dlbuilder.training.job import JobHandle
from dlbuilder.training.metrics import EpochRecord
from dlbuilder.training.process_runner import ProcessJobHandle, ProcessRunner
from dlbuilder.training.scheduler import Refused, Scheduler, SessionRunner, from_env
from dlbuilder.ui.session import notify
from dlbuilder.validation import validate

# The server draws probes (decision boundaries) with torch too: one thread, as in the workers.
# With torch's default of one thread per core, those tiny forwards took ~60 ms instead of ~3 ms
# while a worker kept the other core busy.
set_worker_threads()

JOB = "state.job"
PREVIOUS = "state.previous_run"  # the last run's epoch records, for A/B overlays
EARLIER = "state.earlier_runs"  # the last KEPT_RUNS runs' weight paths (RunPath), newest first
RUN_NUMBER = "state.run_number"  # how many jobs this session has started: the current job's number
KEPT_RUNS = 3  # earlier runs a session keeps for the landscape's shared plane (each thinned to <= 16 MB)
STATUS_SLOT = "state.status_slot"  # the sidebar's placeholder for the job's status line
HEARTBEAT_TIMEOUT = 30.0  # seconds without a live page before a job stops itself
STOP_WAIT_SECONDS = 1.0  # a job stops between two updates, usually within ~0.1 s
RUN_KEY = "run"  # ?run=<server>.<number> while this session has a run: a reload after a restart says so
SERVER = secrets.token_hex(4)  # this server process; a restart makes another
RUN_CHECKED = "state.run_link_checked"
RUNNERS = ("process", "thread", "ray")


@st.cache_resource(show_spinner=False)
def runner() -> Scheduler:
    """The server's one scheduler (see training/scheduler.py: DLBUILDER_MAX_JOBS, DLBUILDER_JOBS_PER_SESSION...).

    Jobs train in worker processes (DLBUILDER_RUNNER=process, the default) so they never compete
    with the web server for Python's GIL; DLBUILDER_RUNNER=thread keeps them in this process, and
    DLBUILDER_RUNNER=ray runs each as a Ray actor (RAY_ADDRESS: an existing cluster; else a local one).
    """
    kind = os.environ.get("DLBUILDER_RUNNER", "process").strip().lower()
    if kind not in RUNNERS:
        raise RuntimeError(f"DLBUILDER_RUNNER={kind[:20]!r} is not one of {', '.join(RUNNERS)}: fix the server's setting")
    if kind == "thread":
        handle_type = JobHandle
    elif kind == "ray":
        from dlbuilder.training.ray_runner import RayJobHandle, RayRunner

        RayRunner().warm_up()  # connects in the background; each job's start waits for it (and reports errors)
        handle_type = RayJobHandle
    else:
        ProcessRunner().warm_up()  # the forkserver imports torch while the first student reads the page
        handle_type = ProcessJobHandle
    return from_env(handle_type, heartbeat_timeout=HEARTBEAT_TIMEOUT)


def session_id() -> str:
    """This browser session's key for fair turns (Streamlit's own id; never shown or stored)."""
    context = get_script_run_ctx()
    return context.session_id if context is not None else ""


def session_runner() -> SessionRunner:
    """The scheduler as this session's sweeps use it (read it in the page's script run)."""
    return runner().for_session(session_id())


def warm_up() -> None:
    """Create the server's runner at the first page view: its worker pool starts in the background."""
    runner()


def current() -> JobHandle | None:
    return st.session_state.get(JOB)


def previous_run() -> list[EpochRecord] | None:
    return st.session_state.get(PREVIOUS)


def earlier_runs(shapes: tuple) -> list[RunPath]:
    """This session's earlier runs (newest first) of a network with these parameter shapes."""
    return [run for run in st.session_state.get(EARLIER, []) if run.shapes == shapes]


def _keep_path(job: JobHandle) -> None:
    """Keep the weight path of the job being replaced (two snapshots at least) with a plain label."""
    snapshots = job.metrics.snapshots()
    if len(snapshots) >= 2:
        run = earlier_run(st.session_state.get(RUN_NUMBER, 1), job.document, snapshots)
        st.session_state[EARLIER] = [run, *st.session_state.get(EARLIER, [])][:KEPT_RUNS]


def start(document: Document) -> str | None:
    """Stop this session's job (keeping its curves as the previous run) and start a new one.

    Returns an error message for the student, or None when the job started.
    """
    if document.data is None:
        return "Choose a dataset first (Data, on the left)."
    report = validate(document)
    if not report.ok:
        return ("The network has problems; fix them on the Build page: "
                + "; ".join(str(p) for p in report.problems[:3]))
    old = current()
    if old is not None:
        old.stop()
        epochs = old.metrics.epochs()
        if epochs:
            st.session_state[PREVIOUS] = epochs
        _keep_path(old)
    try:
        st.session_state[JOB] = runner().submit(document, session=session_id())
    except Refused as error:
        return str(error)
    st.session_state[RUN_NUMBER] = st.session_state.get(RUN_NUMBER, 0) + 1
    return None


def stop() -> None:
    """Stop this session's job; wait a moment for it, so the page redraws once, already "Stopped"."""
    job = current()
    if job is not None:
        job.stop()
        job.wait(STOP_WAIT_SECONDS)


def forget() -> None:
    """Stop the job and drop it (Reset): the next start begins from the seed's initial weights."""
    stop()
    st.session_state.pop(JOB, None)


def check_run_link() -> None:
    """On a session's first run: a `?run=` from an earlier session means its run is gone; say so."""
    if st.session_state.get(RUN_CHECKED):
        return
    st.session_state[RUN_CHECKED] = True
    mark = st.query_params.get(RUN_KEY)
    if not mark or current() is not None:
        return
    del st.query_params[RUN_KEY]
    if mark.split(".")[0] != SERVER:
        notify("info", "This server has restarted since your run started, and runs do not survive a restart. "
                       "Your whole setup is in this link: press Start on the Train page to train it again.")
    else:
        notify("info", "This is a new session: the run you started earlier stopped when its page was closed. "
                       "Your whole setup is in this link: press Start on the Train page to train it again.")


def publish_run_link() -> None:
    """Keep `?run=` in the address bar while this session has a run, so a reload can tell it is gone."""
    wanted = f"{SERVER}.{st.session_state.get(RUN_NUMBER, 0)}" if current() is not None else None
    if wanted and st.query_params.get(RUN_KEY) != wanted:
        st.query_params[RUN_KEY] = wanted
    elif wanted is None and RUN_KEY in st.query_params:
        del st.query_params[RUN_KEY]


def keep_alive() -> None:
    """Runs on every page, in the sidebar: a slot for the job's status, and a heartbeat every 5 s."""
    st.session_state[STATUS_SLOT] = st.empty()
    _beat()


@st.fragment(run_every=5)
def _beat() -> None:
    """Tells the job its page is still open (without beats it stops itself) and refreshes the status."""
    job = current()
    if job is None:
        return
    job.heartbeat()
    show_status(job.snapshot())


def show_status(snapshot) -> None:
    """The sidebar's status line. The live dashboard calls it with the snapshot its counters show,
    so the two always agree (the 5 s heartbeat alone left it seconds behind, "pending" under load)."""
    slot = st.session_state.get(STATUS_SLOT)
    if slot is not None:
        slot.caption(f"Training: **{snapshot.status}** · epoch {snapshot.epoch}/{snapshot.total_epochs}")
